# Copyright 2026 The gpuvirt-nova Authors
#
# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""Nova's fake libvirt under a real ``gpuvirt-nova-compute`` process.

The mini cloud's compute hosts have no libvirtd: this directory is put
first on their ``PYTHONPATH``, so Python runs this module at start. It
changes nothing until our driver module is imported (by then nova-compute
has parsed its configuration and chosen eventlet), then stubs what Nova's
own functional tests stub (``nova.tests.fixtures.LibvirtFixture`` and the
image, cgroups and os-brick fixtures) and gives the driver a fake libvirt
connection that keeps its domains in ``<state_path>/fake-libvirt``, as a
libvirtd outliving nova-compute would. The GPUs are the simulator's, as
``[gpuvirt] simulate`` says. Test use only.

Live migration crosses processes the way libvirtd does it, through the
domain stores: the source's ``migrateToURI3`` writes the destination XML
Nova hands it as a running domain into the destination host's store
(``<state_path>/../<destination host>/fake-libvirt``, the mini cloud's
layout), completes the job and, as libvirt does with
``VIR_MIGRATE_UNDEFINE_SOURCE``, undefines the source domain; the
destination process adopts a domain it finds in its store when Nova looks
it up or lists domains (``VIR_MIGRATE_PERSIST_DEST``: defined and running
there).
"""

import importlib.abc
import importlib.util
import sys

#: The module whose import applies the stand-in.
TRIGGER = 'gpuvirt_nova.virt.driver'
FAKE_LIBVIRT_VERSION = 8006000
FAKE_QEMU_VERSION = 8001000


def save_domain(store, uuid, xml, running):
    """Write one domain's record into a store, atomically."""
    import json
    import os
    os.makedirs(store, exist_ok=True)
    path = os.path.join(store, '%s.json' % uuid)
    with open(path + '.tmp', 'w') as f:
        json.dump({'xml': xml, 'running': running}, f)
    os.replace(path + '.tmp', path)


class _StoredDomains(object):
    """Mixin of a fake Connection: its domains in ``_store`` (JSON files)."""

    _store = None

    def _file(self, uuid):
        import os
        return os.path.join(self._store, '%s.json' % uuid)

    def _save(self, dom, running):
        save_domain(self._store, dom.UUIDString(), dom._def_xml, running)

    def _adopt(self, uuid):
        """Define (and start) a stored domain this process does not know.

        An earlier process's guest, or a live migration's incoming one.
        """
        import json
        try:
            with open(self._file(uuid)) as f:
                saved = json.load(f)
        except FileNotFoundError:
            return
        dom = self.defineXML(saved['xml'])
        if saved['running']:
            dom.create()

    def restore(self):
        """Adopt every stored domain not defined here yet."""
        import os
        if not os.path.isdir(self._store):
            return
        known = {vm.UUIDString() for vm in self._vms.values()}
        for name in sorted(os.listdir(self._store)):
            uuid, ext = os.path.splitext(name)
            if ext == '.json' and uuid not in known:
                self._adopt(uuid)

    def lookupByUUIDString(self, uuid):
        if uuid not in {vm.UUIDString() for vm in self._vms.values()}:
            self._adopt(uuid)
        return super().lookupByUUIDString(uuid)

    def listAllDomains(self, flags=None):
        self.restore()
        return super().listAllDomains(flags)

    def defineXML(self, xml):
        dom = super().defineXML(xml)
        dom._def_xml = xml
        self._save(dom, False)
        return dom

    def _mark_running(self, dom):
        super()._mark_running(dom)
        if getattr(dom, '_def_xml', None):
            self._save(dom, True)

    def _mark_not_running(self, dom):
        super()._mark_not_running(dom)
        if getattr(dom, '_def_xml', None) and dom.name() in self._vms:
            self._save(dom, False)

    def _undefine(self, dom):
        import os
        super()._undefine(dom)
        try:
            os.unlink(self._file(dom.UUIDString()))
        except FileNotFoundError:
            pass


def _persistent_connection_class(fakelibvirt, store):
    """A fake Connection whose domains survive the process (JSON files)."""
    return type('PersistentConnection',
                (_StoredDomains, fakelibvirt.Connection), {'_store': store})


def apply():
    """Stub libvirt and the host the way Nova's functional tests do."""
    import io
    import os
    from unittest import mock

    from nova import conf
    from nova.tests import fixtures as nova_fixtures
    from nova.tests.fixtures import libvirt as fakelibvirt

    CONF = conf.CONF
    for fixture in (nova_fixtures.LibvirtImageBackendFixture(),
                    nova_fixtures.CGroupsFixture(),
                    nova_fixtures.LibvirtFixture(),
                    nova_fixtures.OSBrickFixture()):
        fixture.setUp()
    from nova.virt.libvirt import utils as libvirt_utils

    def create_image(driver, context, instance, *args, **kwargs):
        # No disks, but the instance directory, as the real one makes it:
        # cold migration renames it, live migration's storage checks
        # write next to it.
        os.makedirs(libvirt_utils.get_instance_path(instance),
                    exist_ok=True)
        return False, False

    os.makedirs(CONF.instances_path, exist_ok=True)
    patches = {
        'nova.virt.libvirt.LibvirtDriver._create_image': create_image,
        'nova.virt.libvirt.LibvirtDriver._get_local_gb_info':
            mock.Mock(return_value={'total': 128, 'used': 4, 'free': 124}),
        # No real disks to move on resize or migration.
        'nova.virt.libvirt.LibvirtDriver._get_instance_disk_info':
            mock.Mock(return_value=[]),
        'nova.virt.libvirt.driver.libvirt_utils.is_valid_hostname':
            mock.Mock(return_value=True),
        'nova.virt.libvirt.driver.libvirt_utils.file_open':
            mock.Mock(side_effect=lambda *a, **k: io.BytesIO(b'')),
        'nova.privsep.utils.supports_direct_io':
            mock.Mock(return_value=True),
        'nova.virt.libvirt.host.Host.get_online_cpus':
            mock.Mock(return_value=set(range(16))),
    }
    for target, new in patches.items():
        mock.patch(target, new).start()
    connection_class = _persistent_connection_class(
        fakelibvirt, os.path.join(CONF.state_path, 'fake-libvirt'))
    connection = connection_class(
        'qemu:///system', version=FAKE_LIBVIRT_VERSION,
        hv_version=FAKE_QEMU_VERSION,
        host_info=fakelibvirt.HostInfo(cpu_nodes=2, cpu_sockets=1,
                                       cpu_cores=2, cpu_threads=2),
        hostname=CONF.host)
    connection.restore()
    mock.patch('nova.virt.libvirt.host.Host.get_connection',
               lambda self: connection).start()
    mock.patch.object(fakelibvirt.Domain, 'migrateToURI3',
                      _migrate_to_uri3(fakelibvirt, CONF)).start()


def _migrate_to_uri3(fakelibvirt, conf):
    """Domain.migrateToURI3 across processes (see the module docstring)."""
    import os
    from urllib import parse

    from lxml import etree

    def migrate_to_uri3(dom, dconnuri, params, flags):
        dest_host = parse.urlparse(dconnuri).hostname
        xml = params['destination_xml']
        uuid = etree.fromstring(xml).findtext('./uuid')
        dest_store = os.path.join(os.path.dirname(conf.state_path),
                                  dest_host, 'fake-libvirt')
        if not os.path.isdir(os.path.dirname(dest_store)):
            raise fakelibvirt.make_libvirtError(
                fakelibvirt.libvirtError,
                'no mini cloud host %r to migrate to' % dest_host,
                error_code=fakelibvirt.VIR_ERR_INTERNAL_ERROR,
                error_domain=fakelibvirt.VIR_FROM_QEMU)
        save_domain(dest_store, uuid, xml, True)
        dom.complete_job()
        if flags & fakelibvirt.VIR_MIGRATE_UNDEFINE_SOURCE:
            dom.destroy()
            dom.undefine()
    return migrate_to_uri3


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs :func:`apply` once :data:`TRIGGER` has been imported."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != TRIGGER:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        exec_module = spec.loader.exec_module

        def exec_then_apply(module):
            exec_module(module)
            apply()
        spec.loader.exec_module = exec_then_apply
        return spec


sys.meta_path.insert(0, _AfterImport())

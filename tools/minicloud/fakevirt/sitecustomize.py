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
"""

import importlib.abc
import importlib.util
import sys

#: The module whose import applies the stand-in.
TRIGGER = 'gpuvirt_nova.virt.driver'
FAKE_LIBVIRT_VERSION = 8006000
FAKE_QEMU_VERSION = 8001000


def _persistent_connection_class(fakelibvirt, store):
    """A fake Connection whose domains survive the process (JSON files)."""
    import json
    import os

    class PersistentConnection(fakelibvirt.Connection):
        def _file(self, dom):
            return os.path.join(store, '%s.json' % dom.UUIDString())

        def _save(self, dom, running):
            os.makedirs(store, exist_ok=True)
            with open(self._file(dom), 'w') as f:
                json.dump({'xml': dom._def_xml, 'running': running}, f)

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
            if getattr(dom, '_def_xml', None) and \
                    dom.name() in self._vms:
                self._save(dom, False)

        def _undefine(self, dom):
            super()._undefine(dom)
            try:
                os.unlink(self._file(dom))
            except FileNotFoundError:
                pass

        def restore(self):
            """Define (and start) the domains of an earlier process."""
            if not os.path.isdir(store):
                return
            for name in sorted(os.listdir(store)):
                with open(os.path.join(store, name)) as f:
                    saved = json.load(f)
                dom = self.defineXML(saved['xml'])
                if saved['running']:
                    dom.create()

    return PersistentConnection


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
    patches = {
        'nova.virt.libvirt.LibvirtDriver._create_image':
            mock.Mock(return_value=(False, False)),
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

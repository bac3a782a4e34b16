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

"""Pin every Nova method the driver overrides (see virt/hooks.py)."""

import importlib
import inspect
import re
from unittest import mock

from lxml import etree
from nova import objects
from nova.virt.libvirt import driver as libvirt_driver
from oslotest import base

from gpuvirt_nova.virt import driver
from gpuvirt_nova.virt import hooks
from gpuvirt_nova.virt import migrate


class TestHooks(base.BaseTestCase):

    def test_nova_signatures_unchanged(self):
        for name, expected in hooks.OVERRIDDEN.items():
            method = getattr(libvirt_driver.LibvirtDriver, name)
            params = tuple(inspect.signature(method).parameters)[1:]
            self.assertEqual(expected, params,
                             'LibvirtDriver.%s changed its signature: '
                             'review the override in gpuvirt_nova.virt.'
                             'driver' % name)

    def test_overrides_match_nova(self):
        for name in hooks.OVERRIDDEN:
            ours = inspect.signature(getattr(driver.GpuvirtLibvirtDriver,
                                             name))
            nova = inspect.signature(getattr(libvirt_driver.LibvirtDriver,
                                             name))
            self.assertEqual(list(nova.parameters), list(ours.parameters),
                             name)

    def test_every_override_is_listed(self):
        own = set()
        for cls in driver.GpuvirtLibvirtDriver.__mro__:
            if not cls.__module__.startswith('gpuvirt_nova.'):
                continue
            own |= {name for name, value in vars(cls).items()
                    if callable(value) and
                    hasattr(libvirt_driver.LibvirtDriver, name)}
        self.assertEqual(set(hooks.OVERRIDDEN), own - {'__init__'})

    def test_private_hook_still_builds_guest_xml(self):
        # spawn, hard reboot, rescue, finish_migration and revert must all
        # still go through _get_guest_xml for our hostdevs to be added.
        for caller in ('spawn', '_hard_reboot', 'finish_migration',
                       'finish_revert_migration', 'rescue'):
            source = inspect.getsource(getattr(libvirt_driver.LibvirtDriver,
                                               caller))
            self.assertIn('self._get_guest_xml(', source, caller)

    def test_every_public_path_to_guest_xml_holds_a_claim_scope(self):
        # A claim made outside a scope would never be dropped: every
        # public method that reaches _get_guest_xml must be wrapped.
        public = set()
        private = set()
        for name, method in inspect.getmembers(libvirt_driver.LibvirtDriver,
                                               inspect.isfunction):
            source = inspect.getsource(method)
            if any('self.%s(' % hook in source
                   for hook in hooks.GUEST_XML_PATHS):
                (private if name.startswith('_') else public).add(name)
        self.assertEqual(set(), private - set(hooks.GUEST_XML_PATHS),
                         'a new private path reaches _get_guest_xml')
        self.assertEqual(set(), public - set(hooks.CLAIM_SCOPED))
        for name in hooks.CLAIM_SCOPED:
            self.assertIn(name, hooks.OVERRIDDEN)
            source = inspect.getsource(getattr(driver.GpuvirtLibvirtDriver,
                                               name))
            self.assertIn('self._claim_scope(', source, name)

    def test_called_nova_internals_unchanged(self):
        for where, methods in hooks.CALLED.items():
            module, cls = where.split(':')
            nova_cls = getattr(importlib.import_module(module), cls)
            for name, expected in methods.items():
                params = tuple(inspect.signature(
                    getattr(nova_cls, name)).parameters)[1:]
                self.assertEqual(expected, params,
                                 '%s.%s changed its signature' % (cls, name))

    def test_read_attributes_still_exist(self):
        self.assertIsInstance(inspect.getattr_static(
            importlib.import_module('nova.virt.libvirt.guest').Guest,
            'uuid'), property)
        source = inspect.getsource(libvirt_driver.LibvirtDriver.__init__)
        self.assertIn('self._host = ', source)

    def test_every_called_internal_is_listed(self):
        # Each self._host.<x>( and reportclient.<x>( in the driver package
        # must be pinned above.
        source = inspect.getsource(driver) + inspect.getsource(migrate)
        host_calls = set(re.findall(r'self\._host\.(\w+)', source))
        report_calls = set(re.findall(r'reportclient\s*\\?\s*\.(\w+)',
                                      source))
        self.assertEqual(
            host_calls, set(hooks.CALLED['nova.virt.libvirt.host:Host']))
        self.assertEqual(report_calls, set(hooks.CALLED[
            'nova.scheduler.client.report:SchedulerReportClient']))


def _resolve(where):
    """'module:Class.attr' or 'module:function' -> the object."""
    module, _, path = where.partition(':')
    obj = importlib.import_module(module)
    for part in path.split('.'):
        obj = getattr(obj, part)
    return obj


GUEST_XML = """<domain type='kvm'><devices>
  <hostdev mode='subsystem' type='pci' managed='no'>
    <source><address domain='0x0000' bus='0x3b' slot='0x00'
                     function='0x4'/></source>
  </hostdev>
</devices></domain>"""


class TestLiveMigrationHandoff(base.BaseTestCase):
    """Pin the Nova internals of the live-migration hand-off."""

    handoff = hooks.LIVE_MIGRATION_HANDOFF

    def test_nova_sets_the_pci_map_before_our_hook_and_never_after(self):
        where, assignment, call = self.handoff['map_set_before_hook']
        source = inspect.getsource(_resolve(where))
        self.assertIn(assignment, source, where)
        self.assertIn(call, source, where)
        # Set before the call that reaches our override, and not again
        # after it (that would drop the destination's VFs).
        self.assertLess(source.index(assignment), source.index(call))
        self.assertNotIn(assignment, source[source.index(call):])

    def test_nova_hook_keeps_the_pci_map(self):
        # Nova's own check_source_migrate_data_at_dest (what our override
        # calls first) hands the map back as it was given, for a server
        # without mdevs, and sets no target_mdevs of its own.
        objects.register_all()
        data = objects.LibvirtLiveMigrateData(
            pci_dev_map_src_dst={'0000:81:00.1': '0000:82:00.1'})
        result = libvirt_driver.LibvirtDriver \
            .check_source_migrate_data_at_dest(
                mock.Mock(), mock.sentinel.ctxt, mock.Mock(), data,
                mock.sentinel.migration, mock.sentinel.limits, {})
        self.assertIn('pci_dev_map_src_dst', result)
        self.assertEqual({'0000:81:00.1': '0000:82:00.1'},
                         result.pci_dev_map_src_dst)
        self.assertNotIn('target_mdevs', result)

    def test_migrate_data_fields_exist(self):
        where, names = self.handoff['fields']
        cls = _resolve(where)
        for name in names:
            self.assertIn(name, cls.fields, '%s.%s' % (where, name))
            self.assertEqual('DictOfStringsField',
                             type(cls.fields[name]).__name__, name)

    def test_nova_xml_update_moves_the_pci_hostdev(self):
        where, params = self.handoff['xml_update']
        update = _resolve(where)
        self.assertEqual(params, tuple(inspect.signature(update).parameters))
        doc = update(etree.fromstring(GUEST_XML),
                     {'0000:3b:00.4': '0000:3b:01.2'})
        address = doc.find('./devices/hostdev/source/address')
        self.assertEqual(('0x0000', '0x3b', '0x01', '0x2'), tuple(
            address.get(k) for k in ('domain', 'bus', 'slot', 'function')))

    def test_nova_calls_the_xml_update_when_the_map_is_set(self):
        where, guard, call = self.handoff['xml_update_caller']
        source, guard, call = (re.sub(r'\s+', '', text) for text in (
            inspect.getsource(_resolve(where)), guard, call))
        self.assertIn(guard, source, where)
        self.assertIn(call, source, where)
        self.assertLess(source.index(guard), source.index(call))

    def test_empty_target_mdevs_rewrites_no_pci_hostdev(self):
        from nova.virt.libvirt import migration
        doc = migration._update_mdev_xml(etree.fromstring(GUEST_XML), {})
        self.assertEqual(
            etree.tostring(etree.fromstring(GUEST_XML)),
            etree.tostring(doc))

    def test_target_mdevs_makes_nova_roll_the_destination_back(self):
        where, sign = self.handoff['rollback_sign']
        self.assertIn(sign, inspect.getsource(_resolve(where)), where)
        # And through the real function: a shared instance path alone
        # would skip the destination's rollback; target_mdevs forces it.
        objects.register_all()
        manager = _resolve(where.rpartition('.')[0])
        data = objects.LibvirtLiveMigrateData(
            is_shared_instance_path=True, is_shared_block_storage=True)
        self.assertFalse(manager._live_migration_cleanup_flags(
            mock.Mock(), data)[0])
        data.target_mdevs = {}
        self.assertTrue(manager._live_migration_cleanup_flags(
            mock.Mock(), data)[0])

    def test_migration_status_lookup_unchanged(self):
        where, params, field = self.handoff['migration_status']
        lookup = _resolve(where)
        self.assertEqual(params, tuple(inspect.signature(lookup).parameters))
        self.assertIn(field, _resolve(where.rpartition('.')[0]).fields)

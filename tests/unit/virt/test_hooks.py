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

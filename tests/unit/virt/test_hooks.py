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

import inspect

from nova.virt.libvirt import driver as libvirt_driver
from oslotest import base

from gpuvirt_nova.virt import driver
from gpuvirt_nova.virt import hooks


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

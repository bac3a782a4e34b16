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

import sys
import types

import fixtures
from nova.virt import driver as nova_driver
from oslo_utils import importutils
from oslotest import base

from gpuvirt_nova.virt import driver
from gpuvirt_nova.virt import shim


class TestShim(base.BaseTestCase):

    def test_nova_finds_driver_by_conf_name(self):
        shim.install()
        shim.install()
        self.assertEqual(1, sum(isinstance(f, shim._Finder)
                                for f in sys.meta_path))
        # Exactly what nova.virt.driver.load_compute_driver imports.
        cls = importutils.import_class('nova.virt.%s' % shim.DRIVER_NAME)
        self.assertIs(driver.GpuvirtLibvirtDriver, cls)
        self.assertTrue(issubclass(cls, nova_driver.ComputeDriver))

    def test_shim_source_imports_driver(self):
        namespace = {}
        exec(compile(shim.SHIM_SOURCE, 'gpuvirt.py', 'exec'), namespace)
        self.assertIs(driver.GpuvirtLibvirtDriver,
                      namespace['GpuvirtLibvirtDriver'])

    def test_compute_command_installs_alias_before_nova_starts(self):
        seen = []

        def fake_main():
            seen.append(importutils.import_class(
                'nova.virt.%s' % shim.DRIVER_NAME))
            return 0

        # Importing the real nova.cmd.compute monkey-patches the process;
        # stand in for it.
        fake_module = types.ModuleType('nova.cmd.compute')
        fake_module.main = fake_main
        self.useFixture(fixtures.MonkeyPatch('nova.cmd.compute', fake_module))
        self.useFixture(fixtures.MonkeyPatch(
            'sys.modules', dict(sys.modules, **{
                'nova.cmd.compute': fake_module})))
        self.useFixture(fixtures.MonkeyPatch(
            'sys.meta_path', [f for f in sys.meta_path
                              if not isinstance(f, shim._Finder)]))
        self.assertEqual(0, shim.main())
        self.assertEqual([driver.GpuvirtLibvirtDriver], seen)

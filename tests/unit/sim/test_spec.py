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

import os

import fixtures
from oslotest import base

from gpuvirt_nova import exception
from gpuvirt_nova.sim import spec


class ParseStringTestCase(base.BaseTestCase):

    def test_count_model_mode(self):
        host = spec.parse_spec('2xA100-PCIE-40GB:mig')
        self.assertEqual(spec.DEFAULT_HOSTNAME, host.hostname)
        self.assertEqual(['0000:3b:00.0', '0000:5e:00.0'],
                         [g.address for g in host.gpus])
        self.assertEqual({'A100-PCIE-40GB'}, {g.model for g in host.gpus})
        self.assertTrue(all(g.mig_enabled for g in host.gpus))

    def test_alias_resolves_to_catalog_name(self):
        host = spec.parse_spec('A100-40GB:vfio')
        self.assertEqual('A100-PCIE-40GB', host.gpus[0].model)
        self.assertFalse(host.gpus[0].mig_enabled)

    def test_groups_and_hostname(self):
        host = spec.parse_spec('1xA100-PCIE-40GB:sriov-mdev+2xT4:mdev@node01')
        self.assertEqual('node01', host.hostname)
        self.assertEqual(['sriov-mdev', 'mdev', 'mdev'],
                         [g.mode for g in host.gpus])
        self.assertEqual(3, len({g.address for g in host.gpus}))

    def test_default_mode_prefers_vendor_vfio(self):
        self.assertEqual('vfio', spec.parse_spec('L40S').gpus[0].mode)
        self.assertEqual('mdev', spec.parse_spec('T4').gpus[0].mode)

    def test_numa_node_follows_pci_bus(self):
        host = spec.parse_spec('4xT4:mdev')
        numa = {g.address: g.numa_node for g in host.gpus}
        self.assertEqual(0, numa['0000:3b:00.0'])
        self.assertEqual(1, numa['0000:86:00.0'])

    def _error(self, text):
        return self.assertRaises(exception.UsageError, spec.parse_spec,
                                 text)

    def test_unknown_model_lists_models(self):
        exc = self._error('bogus')
        self.assertIn("unknown GPU model 'bogus'", str(exc))
        self.assertIn('A100-PCIE-40GB', str(exc))
        self.assertNotIn('\n', str(exc))

    def test_unknown_mode_lists_modes(self):
        exc = self._error('2xA100-PCIE-40GB:fast')
        self.assertIn("unknown mode 'fast'", str(exc))
        self.assertIn('sriov-mdev', str(exc))

    def test_mode_the_model_lacks(self):
        self.assertIn('T4 has no MIG', str(self._error('T4:mig')))
        self.assertIn('does not support mode mdev',
                      str(self._error('A100-PCIE-40GB:mdev')))

    def test_garbage_and_limits(self):
        self.assertIn('cannot read', str(self._error('3xT4 mdev')))
        self.assertIn('at most 16 GPUs', str(self._error('17xT4:mdev')))
        self.assertIn('bad hostname', str(self._error('T4@bad_name')))
        self.assertIn('empty', str(self._error('  ')))


class ParseYamlTestCase(base.BaseTestCase):

    def _write(self, text):
        path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                            'host.yaml')
        with open(path, 'w') as f:
            f.write(text)
        return path

    def test_options(self):
        path = self._write(
            'hostname: node07\n'
            'driver_version: "535.161.05"\n'
            'gpus:\n'
            '  - {model: A100-PCIE-40GB, count: 2, mode: vfio,\n'
            '     scheduling: mixed-size, numa_node: 1,\n'
            '     vfs_enabled: false,\n'
            '     addresses: ["0000:af:00.0", "86:00.0"]}\n')
        host = spec.parse_spec(path)
        self.assertEqual('node07', host.hostname)
        self.assertEqual('535.161.05', host.driver_version)
        self.assertEqual(['0000:86:00.0', '0000:af:00.0'],
                         [g.address for g in host.gpus])
        for gpu in host.gpus:
            self.assertEqual('mixed-size', gpu.scheduling)
            self.assertEqual(1, gpu.numa_node)
            self.assertFalse(gpu.vfs_enabled)

    def test_bad_field_is_named(self):
        path = self._write('gpus:\n  - {model: T4, mode: turbo}\n')
        exc = self.assertRaises(exception.UsageError, spec.parse_spec, path)
        self.assertIn('gpus.0.mode', str(exc))

    def test_unknown_key_is_refused(self):
        path = self._write('gpus: [{model: T4}]\ncolour: red\n')
        exc = self.assertRaises(exception.UsageError, spec.parse_spec, path)
        self.assertIn('colour', str(exc))

    def test_address_count_must_match(self):
        path = self._write('gpus: [{model: T4, count: 2, '
                           'addresses: ["0000:3b:00.0"]}]\n')
        exc = self.assertRaises(exception.UsageError, spec.parse_spec, path)
        self.assertIn('one address per GPU', str(exc))

    def test_mixed_size_needs_a_model_that_has_it(self):
        path = self._write('gpus: [{model: T4, scheduling: mixed-size}]\n')
        exc = self.assertRaises(exception.UsageError, spec.parse_spec, path)
        self.assertIn('gpus.0.scheduling: T4 has no mixed-size mode', str(exc))

    def test_missing_file(self):
        exc = self.assertRaises(exception.UsageError, spec.parse_spec,
                                '/nonexistent/host.yaml')
        self.assertIn('cannot read the YAML file', str(exc))

    def test_round_trip_through_dict(self):
        host = spec.parse_spec('2xA100-PCIE-40GB:mig+T4:mdev@n1')
        self.assertEqual(host, spec.HostSpec.from_dict(host.to_dict()))

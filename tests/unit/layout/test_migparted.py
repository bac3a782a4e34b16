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

"""Importing NVIDIA mig-parted config files as named layouts."""

import os
import textwrap

import yaml

from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.layout import migparted
from gpuvirt_nova.layout import spec
from gpuvirt_nova.layout import target
from tests.unit.layout import base

# Shaped after mig-parted's examples/config.yaml.
MIG_PARTED = textwrap.dedent('''\
    version: v1
    mig-configs:
      all-disabled:
        - devices: all
          mig-enabled: false
      all-1g.5gb:
        - devices: all
          mig-enabled: true
          mig-devices:
            "1g.5gb": 7
      custom-config:
        - devices: [0]
          mig-enabled: false
        - devices: [1]
          mig-enabled: true
          mig-devices:
            "1g.5gb": 2
            "2g.10gb": 1
            "3g.20gb": 1
      a100-only:
        - device-filter: "0x%s10DE"
          devices: all
          mig-enabled: true
          mig-devices:
            "3g.20gb": 2
    ''') % catalog.load().get('A100-PCIE-40GB').pci_device_ids[0].upper()


class TestMigParted(base.LayoutTestCase):

    def test_configs_become_named_layouts(self):
        layouts = migparted.convert(yaml.safe_load(MIG_PARTED))
        self.assertEqual({'all-disabled', 'all-1g.5gb', 'custom-config',
                          'a100-only'}, set(layouts))
        self.assertEqual([{'index': [0], 'mode': 'none', 'type': 'all'},
                          {'index': [1], 'mode': 'mig', 'type': 'all',
                           'vgpus': [
                               {'name': '1g.5gb', 'mig': '1g.5gb',
                                'count': 2},
                               {'name': '2g.10gb', 'mig': '2g.10gb'},
                               {'name': '3g.20gb', 'mig': '3g.20gb'}]}],
                         layouts['custom-config'])
        self.assertEqual('A100-PCIE-40GB', layouts['a100-only'][0]['type'])

    def test_imported_layout_applies_on_a_simulated_host(self):
        document = migparted.to_layout(yaml.safe_load(MIG_PARTED),
                                       'node01', 'custom-config')
        layout = spec.parse(document)
        sim_host = self.sim_host('2xA100-PCIE-40GB:mig@node01')
        targets = target.resolve_node(layout.node('node01'),
                                      self.read(sim_host))
        self.assertEqual(['none', 'mig'], [t.mode for t in targets])
        self.assertEqual(['1g.5gb', '1g.5gb', '2g.10gb', '3g.20gb'],
                         [r.mig_profile.name for r in targets[1].vgpus])

    def test_cli_import_prints_a_layout_document(self):
        path = os.path.join(self.tmp, 'config.yaml')
        with open(path, 'w') as stream:
            stream.write(MIG_PARTED)
        out_file = os.path.join(self.tmp, 'layout.yaml')
        rc, out, err = self.cli('layout', 'import-migparted', path,
                                '--host', 'node01', '--select',
                                'all-1g.5gb', '-o', out_file, '-f', 'yaml')
        self.assertEqual(0, rc, err)
        document = yaml.safe_load(out)
        self.assertEqual([{'host': 'node01', 'layout': 'all-1g.5gb'}],
                         document['gpu_cluster']['nodes'])
        with open(out_file) as stream:
            self.assertEqual(document, yaml.safe_load(stream))
        rc, out, err = self.cli('layout', 'validate', out_file)
        self.assertEqual(0, rc, err)

    def test_errors_name_the_mig_parted_path(self):
        cases = [
            ({'version': 'v2'}, 'version'),
            ({'version': 'v1'}, 'mig-configs'),
            ({'version': 'v1', 'mig-configs': {'a': [
                {'devices': 'all'}]}}, 'mig-configs.a[0].mig-enabled'),
            ({'version': 'v1', 'mig-configs': {'a': [
                {'devices': 'some', 'mig-enabled': True}]}},
             'mig-configs.a[0].devices'),
            ({'version': 'v1', 'mig-configs': {'a': [
                {'mig-enabled': False, 'mig-devices': {'1g.5gb': 1}}]}},
             'mig-configs.a[0].mig-devices'),
            ({'version': 'v1', 'mig-configs': {'a': [
                {'mig-enabled': True, 'device-filter': '0xFFFF10DE'}]}},
             'mig-configs.a[0].device-filter[0]'),
            ({'version': 'v1', 'mig-configs': {'a': [
                {'mig-enabled': True, 'colour': 'red'}]}},
             'mig-configs.a[0].colour'),
        ]
        for data, path in cases:
            exc = self.assertRaises(exception.UsageError, migparted.convert,
                                    data)
            self.assertIn(path, str(exc))

    def test_select_must_name_a_config(self):
        exc = self.assertRaises(exception.UsageError, migparted.to_layout,
                                yaml.safe_load(MIG_PARTED), 'node01', 'x')
        self.assertIn('--select x', str(exc))

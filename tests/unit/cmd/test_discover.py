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

"""``gpuvirt-nova discover`` run in process, on empty and simulated hosts."""

import csv
import io
import json
import os

import fixtures
from oslotest import base
import yaml

from gpuvirt_nova.conf import backends
from gpuvirt_nova.hardware import catalog
from tests import sim_fixture
from tests.unit.cmd import cli as cli_fixture


class DiscoverCommandBase(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.cli = self.useFixture(cli_fixture.CliFixture()).cli
        self.tmp = self.useFixture(fixtures.TempDir(
            rootdir=sim_fixture.scratch_dir())).path

    def run_cli(self, *argv):
        """(exit code, stdout, stderr lines) of one in-process run."""
        rc, out, err = self.cli(*argv)
        return rc, out, err.strip().splitlines()

    def empty_root(self):
        root = os.path.join(self.tmp, 'root')
        os.makedirs(os.path.join(root, 'sys', 'bus', 'pci', 'devices'))
        return root


class TestDiscoverCommandNoGpu(DiscoverCommandBase):

    def test_host_without_nvidia_gpu_is_empty_and_exits_0(self):
        rc, out, err = self.run_cli('discover', '--sysfs-root',
                                    self.empty_root(), '-f', 'json')
        self.assertEqual(0, rc)
        data = json.loads(out)
        self.assertEqual([], data['gpus'])
        self.assertIn('no NVIDIA GPU found', err)

    def test_yaml_output(self):
        rc, out, _err = self.run_cli('discover', '--sysfs-root',
                                     self.empty_root(), '-f', 'yaml')
        self.assertEqual(0, rc)
        self.assertEqual([], yaml.safe_load(out)['gpus'])

    def test_table_output_has_the_operator_columns(self):
        rc, out, _err = self.run_cli('discover', '--sysfs-root',
                                     self.empty_root(), '-f', 'csv')
        self.assertEqual(0, rc)
        # csv is read by tools: identifier keys, as in json and yaml.
        self.assertIn('"address","model","numa","vgpu_mode","mig"', out)

    def test_missing_sysfs_root_exits_2_with_one_line(self):
        missing = os.path.join(self.tmp, 'nowhere')
        rc, out, err = self.run_cli('discover', '--sysfs-root', missing)
        self.assertEqual(2, rc)
        self.assertEqual('', out)
        self.assertEqual(1, len(err), err)
        self.assertIn('--sysfs-root %s: no such directory' % missing,
                      err[0])

    def test_sysfs_root_without_pci_devices_exits_2(self):
        rc, _out, err = self.run_cli('discover', '--sysfs-root', self.tmp)
        self.assertEqual(2, rc)
        self.assertEqual(1, len(err), err)
        self.assertIn('there is no sys/bus/pci/devices under it', err[0])

    def test_configured_sysfs_root_is_named_in_the_error(self):
        conf_file = os.path.join(self.tmp, 'gpuvirt.conf')
        with open(conf_file, 'w') as f:
            f.write('[gpuvirt]\nsysfs_root = %s/nowhere\n' % self.tmp)
        rc, _out, err = self.run_cli('--config-file', conf_file, 'discover')
        self.assertEqual(2, rc)
        self.assertIn('[gpuvirt] sysfs_root', err[0])


class TestDiscoverCommandSimulated(DiscoverCommandBase):

    def test_mig_host_json_has_profiles_placements_and_mig_backed_types(self):
        rc, out, err = self.run_cli('discover', '--simulate',
                                    '2xA100-PCIE-40GB:mig', '-f', 'json')
        self.assertEqual(0, rc, err)
        self.assertEqual([], err)
        data = json.loads(out)
        self.assertEqual(2, len(data['gpus']))
        gpu_model = catalog.load().get('A100-PCIE-40GB')
        for gpu in data['gpus']:
            self.assertEqual('A100-PCIE-40GB', gpu['model'])
            self.assertTrue(gpu['mig_current'])
            profiles = {p['name']: p['placements']
                        for p in gpu['catalog']['mig_profiles']}
            self.assertEqual(
                {p.name: [{'start': pl.start, 'size': pl.size}
                          for pl in p.placements]
                 for p in gpu_model.mig_profiles}, profiles)
            backed = gpu['catalog']['mig_backed_vgpu_types']
            self.assertEqual(sorted(t.name for t in
                                    gpu_model.mig_backed_types()),
                             sorted(t['name'] for t in backed))
            self.assertTrue(all(t['mig_profile'] in profiles
                                for t in backed))

    def test_vfio_host_json_lists_vfs_with_creatable_types(self):
        rc, out, err = self.run_cli('discover', '--simulate',
                                    '8xH100-SXM5-80GB:vfio', '-f', 'json')
        self.assertEqual(0, rc, err)
        data = json.loads(out)
        self.assertEqual(8, len(data['gpus']))
        for gpu in data['gpus']:
            self.assertEqual('vfio', gpu['vgpu_mode'])
            self.assertTrue(gpu['vfs'])
            self.assertTrue(all(vf['creatable_types'] for vf in gpu['vfs']))

    def test_bogus_spec_exits_2_with_one_line(self):
        rc, out, err = self.run_cli('discover', '--simulate', 'bogus')
        self.assertEqual(2, rc)
        self.assertEqual('', out)
        self.assertEqual(1, len(err), err)
        self.assertIn("host spec 'bogus'", err[0])

    def test_table_has_one_row_per_gpu(self):
        rc, out, _err = self.run_cli('discover', '--simulate', '2xT4:mdev',
                                     '-f', 'csv')
        self.assertEqual(0, rc)
        rows = list(csv.reader(io.StringIO(out)))
        self.assertEqual(3, len(rows))
        self.assertEqual(['0000:3b:00.0', 'T4', '0', 'mdev', 'n/a'],
                         rows[1][:5])
        self.assertIn('T4-4Q (4 free)', rows[1][7].split(','))

    def test_simulated_host_kept_under_empty_sysfs_root(self):
        root = os.path.join(self.tmp, 'keep')
        os.mkdir(root)
        rc, _out, _err = self.run_cli('discover', '--simulate', '1xT4:mdev',
                                      '--sysfs-root', root)
        self.assertEqual(0, rc)
        self.assertEqual(['T4'], [
            g.model for g in backends.discover_simulated(root).gpus])

    def test_simulate_into_non_empty_root_exits_2(self):
        rc, _out, err = self.run_cli('discover', '--simulate', '1xT4:mdev',
                                     '--sysfs-root', self.empty_root())
        self.assertEqual(2, rc)
        self.assertEqual(1, len(err), err)
        self.assertIn('not empty', err[0])

    def test_configured_simulation(self):
        conf_file = os.path.join(self.tmp, 'gpuvirt.conf')
        with open(conf_file, 'w') as f:
            f.write('[gpuvirt]\nsimulate = 1xT4:mdev@node03\n'
                    'state_dir = %s\n' % self.tmp)
        rc, out, err = self.run_cli('--config-file', conf_file, 'discover',
                                    '-f', 'json')
        self.assertEqual(0, rc, err)
        data = json.loads(out)
        self.assertEqual('node03', data['hostname'])
        self.assertEqual(['T4'], [g['model'] for g in data['gpus']])

    def test_no_nvml_reads_sysfs_only(self):
        rc, out, err = self.run_cli('discover', '--simulate',
                                    '1xA100-PCIE-40GB:mig', '--no-nvml',
                                    '-f', 'json')
        self.assertEqual(0, rc)
        gpu = json.loads(out)['gpus'][0]
        self.assertIsNone(gpu['uuid'])
        self.assertEqual(20, len(gpu['vfs']))
        self.assertEqual(1, len(err), err)
        self.assertIn('--no-nvml was given', err[0])

    def test_warnings_go_to_stderr_not_into_json(self):
        rc, out, err = self.run_cli('discover', '--sysfs-root',
                                    self.empty_root(), '-f', 'json')
        self.assertEqual(0, rc)
        self.assertTrue(err[0].startswith('warning: NVML not used'), err)
        self.assertEqual(1, len(json.loads(out)['warnings']))

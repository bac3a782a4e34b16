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

"""The layout commands on the shipped examples, on simulated hosts."""

import glob
import json
import os

import yaml

from gpuvirt_nova import sim
from tests.unit.layout import base

EXAMPLE_FILES = sorted(glob.glob(os.path.join(base.EXAMPLES, '*.yaml')))
SCENARIOS = ['ai-training.yaml', 'design-example.yaml', 'hpc.yaml',
             'rendering-farm.yaml']


def example(name):
    return os.path.join(base.EXAMPLES, name)


class TestShippedExamples(base.LayoutTestCase):

    def test_the_four_scenarios_are_shipped(self):
        shipped = [os.path.basename(p) for p in EXAMPLE_FILES]
        self.assertEqual([], [n for n in SCENARIOS if n not in shipped])

    def test_design_example_file_is_the_design_yaml(self):
        with open(os.path.join(base.EXAMPLES, 'design-example.yaml')) as f:
            shipped = yaml.safe_load(f)
        self.assertEqual(yaml.safe_load(base.DESIGN_EXAMPLE), shipped)

    def check_example(self, path):
        spec = base.example_spec(path)
        root = os.path.join(self.tmp, os.path.basename(path))
        sim_args = ('--sim-root', root)
        rc, out, err = self.cli('layout', 'validate', path, '-f', 'json')
        self.assertEqual(0, rc, err)
        self.assertEqual('valid', json.loads(out)['result'])
        rc, out, err = self.cli('layout', 'plan', path, '--simulate', spec,
                                *sim_args, '-f', 'json')
        self.assertEqual(0, rc, err)
        steps = json.loads(out)
        self.assertGreater(len(steps), 0)
        self.assertIn('Plan for', err)
        rc, out, err = self.cli('layout', 'apply', path, *sim_args,
                                '-f', 'json')
        self.assertEqual(0, rc, err)
        self.assertEqual({'applied'}, {r['status'] for r in json.loads(out)})
        host = sim.SimulatedHost.open(root)
        journal = host.journal_entries()
        rc, out, err = self.cli('layout', 'apply', path, *sim_args,
                                '-f', 'json')
        self.assertEqual(0, rc, err)
        self.assertEqual({'unchanged'},
                         {r['status'] for r in json.loads(out)})
        self.assertEqual(journal, host.journal_entries())
        rc, out, err = self.cli('layout', 'assert', path, *sim_args)
        self.assertEqual(0, rc, err)
        self.assertIn('matches the layout', err)
        exported = os.path.join(self.tmp, 'exported.yaml')
        rc, out, err = self.cli('layout', 'export', *sim_args,
                                '-o', exported)
        self.assertEqual(0, rc, err)
        rc, out, err = self.cli('layout', 'assert', exported, *sim_args)
        self.assertEqual(0, rc, err)
        # Reboot: VFs, vGPU types and MIG instances are gone.
        host.reboot()
        rc, out, err = self.cli('layout', 'assert', path, *sim_args)
        self.assertEqual(1, rc, err)
        self.assertIn('differs from the layout', err)
        rc, out, err = self.cli('layout', 'apply', '--boot', path,
                                *sim_args, '-f', 'json')
        self.assertEqual(0, rc, err)
        rc, out, err = self.cli('layout', 'assert', path, *sim_args)
        self.assertEqual(0, rc, err)
        rc, out, err = self.cli('layout', 'assert', exported, *sim_args)
        self.assertEqual(0, rc, err)

    def test_ai_training(self):
        self.check_example(example('ai-training.yaml'))

    def test_design_example(self):
        self.check_example(example('design-example.yaml'))

    def test_hpc(self):
        self.check_example(example('hpc.yaml'))

    def test_rendering_farm(self):
        self.check_example(example('rendering-farm.yaml'))


class TestCommands(base.LayoutTestCase):

    def setUp(self):
        super().setUp()
        self.path = self.write_layout(base.DESIGN_EXAMPLE)

    def test_resolve_prints_the_mapping_and_waste(self):
        rc, out, err = self.cli('layout', 'resolve', self.path, '-f', 'json')
        self.assertEqual(0, rc, err)
        rows = json.loads(out)
        self.assertEqual(['A100-2-10C (2g.10gb)'] * 2,
                         [r['profile'] for r in rows])
        # Numbers for tools, the phrase for people.
        self.assertEqual({'memory_mib': 2048, 'compute_percent': 13.57},
                         rows[1]['unused'])
        rc, out, err = self.cli('layout', 'resolve', self.path)
        self.assertIn('2GB and 13.6% compute unused', out)

    def test_resolve_against_a_host_names_the_gpus(self):
        rc, out, err = self.cli('layout', 'resolve', self.path, '--simulate',
                                '2xA100-PCIE-40GB:mig@node01', '--sim-root',
                                os.path.join(self.tmp, 'sim'), '-f', 'json')
        self.assertEqual(0, rc, err)
        self.assertEqual(4, len(json.loads(out)))

    def test_export_yaml_is_a_valid_layout(self):
        root = os.path.join(self.tmp, 'sim')
        self.assertEqual(0, self.cli('layout', 'apply', self.path,
                                     '--simulate', '1xA100-PCIE-40GB:mig',
                                     '--sim-root', root)[0])
        rc, out, err = self.cli('layout', 'export', '--sim-root', root,
                                '--host', 'node01', '-f', 'yaml')
        self.assertEqual(0, rc, err)
        gpus = yaml.safe_load(out)['gpu_cluster']['nodes'][0]['gpus']
        self.assertEqual([{'name': 'vgpu-01', 'profile': 'A100-2-10C',
                           'start': 0},
                          {'name': 'vgpu-02', 'profile': 'A100-2-10C',
                           'start': 2}], gpus[0]['vgpus'])

    def test_plan_on_a_matching_host_says_no_changes(self):
        root = os.path.join(self.tmp, 'sim')
        self.cli('layout', 'apply', self.path, '--simulate',
                 '1xA100-PCIE-40GB:mig', '--sim-root', root)
        rc, out, err = self.cli('layout', 'plan', self.path, '--sim-root',
                                root, '-f', 'json')
        self.assertEqual(0, rc, err)
        self.assertEqual([], json.loads(out))
        self.assertIn('No changes', err)

    def test_sim_root_without_a_host_is_a_usage_error(self):
        rc, out, err = self.cli('layout', 'plan', self.path, '--sim-root',
                                os.path.join(self.tmp, 'nothing'))
        self.assertEqual(2, rc)
        self.assertIn('--sim-root', err)

    def test_drain_of_a_gpu_placement_does_not_know(self):
        # No Placement configured: the embedded one (in the state
        # directory) is used, and it has never seen this host's GPUs.
        conf = os.path.join(self.tmp, 'gpuvirt.conf')
        with open(conf, 'w') as stream:
            stream.write('[gpuvirt]\nstate_dir = %s\n'
                         % os.path.join(self.tmp, 'state'))
        root = os.path.join(self.tmp, 'sim')
        self.cli('layout', 'apply', self.path, '--simulate',
                 '1xA100-PCIE-40GB:mig@node01', '--sim-root', root)
        before = self.state(sim.SimulatedHost.open(root))
        other = self.write_layout(base.DESIGN_EXAMPLE.replace(
            '8GB', '16GB'), 'other.yaml')
        rc, out, err = self.cli('--config-file', conf, 'layout', 'apply',
                                other, '--sim-root', root, '--drain',
                                '-f', 'json')
        self.assertEqual(1, rc, err)
        result = json.loads(out)[0]
        self.assertEqual('failed', result['status'])
        self.assertIn('Placement has no provider', result['message'])
        self.assertIn('placement sync', result['message'])
        self.assertEqual(before, self.state(sim.SimulatedHost.open(root)))

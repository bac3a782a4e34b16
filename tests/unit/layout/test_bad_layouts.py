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

"""Bad layouts: each exits 2 with one line naming the YAML path, and the
host is not touched.

Every case runs ``gpuvirt-nova layout apply`` (the command that writes)
against a simulated host, or ``layout validate`` where the problem is
about a GPU model that host does not have; the simulator's journal of
writes must stay as it was.
"""

import os
import shutil
import tempfile

from gpuvirt_nova import sim
from tests import sim_fixture
from tests.unit.layout import base

SIM = '2xA100-PCIE-40GB:mig@node01'


def gpu(vgpus, gpu_type='A100-40GB', extra=''):
    """A one-node, one-GPU-entry layout."""
    return ('gpu_cluster:\n  nodes:\n    - host: node01\n      gpus:\n'
            '        - type: %s\n%s          vgpus:\n%s'
            % (gpu_type, extra, ''.join('            - %s\n' % v
                                        for v in vgpus)))


NODE = 'gpu_cluster.nodes[0]'
GPU = NODE + '.gpus[0]'
V0 = GPU + '.vgpus[0]'

#: (test name, layout text, text the one error line must contain,
#:  extra arguments, command)
CASES = [
    ('yaml_syntax_error', 'gpu_cluster: [nodes:\n  - {', 'YAML syntax '
     'error', (), 'apply'),
    ('empty_file', '', 'empty', (), 'apply'),
    ('not_a_layout', 'foo: 1\n', 'foo: unknown key', (), 'apply'),
    ('missing_nodes', 'gpu_cluster: {}\n', 'gpu_cluster.nodes: missing',
     (), 'apply'),
    ('nodes_not_a_list', 'gpu_cluster: {nodes: 3}\n',
     'gpu_cluster.nodes: expected a list', (), 'apply'),
    ('node_without_host', 'gpu_cluster: {nodes: [{gpus: []}]}\n',
     NODE + '.host: missing', (), 'apply'),
    ('unknown_model', gpu(['{memory: 8GB}'], 'A999-1TB'),
     GPU + '.type: unknown GPU model', (), 'apply'),
    ('model_not_on_host', gpu(['{memory: 8GB}'], 'H100-80GB'),
     GPU + '.type: node01 has no free H100-SXM5-80GB', (), 'apply'),
    ('memory_larger_than_gpu', gpu(['{memory: 48GB}']),
     V0 + '.memory: 48GB is more than', (), 'apply'),
    ('eight_1g_on_one_gpu', gpu(['{mig: 1g.5gb, count: 8}']),
     GPU + '.vgpus: 8 x 1g.5gb do not fit', (), 'apply'),
    ('4g_plus_1g_at_slice_0',
     gpu(['{mig: 4g.20gb}', '{mig: 1g.5gb, start: 0}']),
     GPU + '.vgpus: the MIG instances 4g.20gb, 1g.5gb@0 do not fit', (),
     'apply'),
    ('mixed_types_equal_size',
     gpu(['{memory: 8GB}', '{memory: 10GB}'],
         extra='          mode: time-sliced\n'),
     GPU + '.vgpus: equal-size mode allows one vGPU type', (), 'apply'),
    ('too_many_time_sliced', gpu(['{memory: 10GB, count: 5}'],
                                 extra='          mode: time-sliced\n'),
     '5 x A100-10C do not fit', (), 'apply'),
    ('mixed_size_memory', gpu(['{memory: 20GB, count: 2}', '{memory: 4GB}'],
                              extra='          mode: time-sliced\n'
                                    '          scheduling: mixed-size\n'),
     GPU + '.vgpus: the vGPUs need 44GB', (), 'apply'),
    ('duplicate_names', gpu(['{name: a, memory: 8GB}',
                             '{name: a, memory: 8GB}']),
     GPU + '.vgpus[1].name: duplicate vGPU name a', (), 'apply'),
    ('unknown_host', gpu(['{memory: 8GB}']),
     '--host node09: no entry in gpu_cluster.nodes', ('--host', 'node09'),
     'apply'),
    ('negative_compute', gpu(['{memory: 8GB, compute: -5%}']),
     V0 + '.compute: \'-5%\' is out of range', (), 'apply'),
    ('compute_over_100', gpu(['{memory: 8GB, compute: 120%}']),
     V0 + '.compute: \'120%\' is out of range', (), 'apply'),
    ('compute_without_percent', gpu(['{memory: 8GB, compute: 25}']),
     V0 + '.compute: 25 has no % sign', (), 'apply'),
    ('memory_without_unit', gpu(['{memory: 10}']),
     V0 + '.memory: 10 has no unit', (), 'apply'),
    ('memory_garbage', gpu(['{memory: lots}']),
     V0 + '.memory: \'lots\' is not a size', (), 'apply'),
    ('unknown_vgpu_key', gpu(['{memory: 8GB, colour: red}']),
     V0 + '.colour: unknown key', (), 'apply'),
    ('unknown_profile', gpu(['{profile: A100-3-99C}']),
     V0 + '.profile: GPU model A100-PCIE-40GB has no vGPU type', (),
     'apply'),
    ('unknown_mig_profile', gpu(['{mig: 5g.25gb}']),
     V0 + '.mig: GPU model A100-PCIE-40GB has no MIG profile', (),
     'apply'),
    ('profile_and_mig', gpu(['{profile: A100-2-10C, mig: 2g.10gb}']),
     V0 + '.mig: give either profile', (), 'apply'),
    ('profile_and_memory', gpu(['{profile: A100-2-10C, memory: 8GB}']),
     V0 + '.memory: not allowed with profile', (), 'apply'),
    ('empty_vgpu', gpu(['{name: x}']), V0 + ': a vGPU needs memory', (),
     'apply'),
    ('time_sliced_profile_in_mig_mode',
     gpu(['{profile: A100-10C}'], extra='          mode: mig\n'),
     V0 + '.profile: A100-10C is time-sliced', (), 'apply'),
    ('mixed_mig_and_time_sliced_profiles',
     gpu(['{profile: A100-10C}', '{profile: A100-2-10C}']),
     GPU + '.vgpus: mixes MIG-backed and time-sliced', (), 'apply'),
    ('start_not_a_placement', gpu(['{mig: 2g.10gb, start: 1}']),
     V0 + '.start: 1 is not a placement of 2g.10gb', (), 'apply'),
    ('start_on_time_sliced', gpu(['{memory: 8GB, start: 0}'],
                                 extra='          mode: time-sliced\n'),
     V0 + '.start: start: is a MIG placement', (), 'apply'),
    ('mig_mode_on_non_mig_gpu',
     gpu(['{memory: 2GB}'], 'RTX-A6000', '          mode: mig\n'),
     GPU + '.mode: RTX-A6000 has no MIG', (), 'validate'),
    ('bad_pci_address',
     'gpu_cluster: {nodes: [{host: node01, gpus: [{pci: "3b:00"}]}]}\n',
     GPU + '.pci: invalid PCI address', (), 'apply'),
    ('pci_not_on_host', 'gpu_cluster: {nodes: [{host: node01, gpus: '
     '[{pci: "0000:01:00.0", mode: none}]}]}\n',
     GPU + '.pci: no GPU 0000:01:00.0 on node01', (), 'apply'),
    ('duplicate_host', 'gpu_cluster: {nodes: [{host: node01}, '
     '{host: node01}]}\n', 'gpu_cluster.nodes[1].host: duplicate host', (),
     'apply'),
    ('no_nodes', 'gpu_cluster: {nodes: []}\n',
     'gpu_cluster.nodes: the list is empty', (), 'apply'),
    ('node_without_gpus', 'gpu_cluster: {nodes: [{host: node01}]}\n',
     'gpu_cluster.nodes[0].gpus: the list is empty', (), 'apply'),
    ('unknown_named_layout',
     'gpu_cluster: {nodes: [{host: node01, layout: nope}]}\n',
     NODE + '.layout: no layout nope', (), 'apply'),
    ('layout_and_gpus', 'gpu_cluster: {layouts: {a: []}, nodes: '
     '[{host: node01, layout: a, gpus: []}]}\n',
     NODE + '.layout: give either layout', (), 'apply'),
    ('unknown_select', gpu(['{memory: 8GB}']),
     '--select nope: gpu_cluster.layouts has no layout nope',
     ('--select', 'nope'), 'apply'),
    ('bad_scheduler_policy', 'gpu_cluster: {nodes: [], scheduler: '
     '{policy: random}}\n', 'gpu_cluster.scheduler.policy: \'random\' is '
     'not allowed', (), 'validate'),
    ('max_jobs_zero', 'gpu_cluster: {nodes: [], scheduler: '
     '{max_jobs_per_user: 0}}\n',
     'gpu_cluster.scheduler.max_jobs_per_user: 0 is out of range', (),
     'validate'),
    ('mode_none_with_vgpus', gpu(['{memory: 8GB}'],
                                 extra='          mode: none\n'),
     GPU + '.vgpus: mode: none leaves the GPU whole', (), 'apply'),
    ('count_more_than_gpus', 'gpu_cluster: {nodes: [{host: node01, gpus: '
     '[{type: A100-40GB, count: 3, mode: none}]}]}\n',
     GPU + '.count: node01 has 2 free GPUs', (), 'apply'),
    ('gpu_selected_twice', 'gpu_cluster: {nodes: [{host: node01, gpus: '
     '[{pci: "0000:3b:00.0", mode: none}, {index: 0, mode: none}]}]}\n',
     'gpu_cluster.nodes[0].gpus[1]: GPU 0000:3b:00.0 is already selected',
     (), 'apply'),
    ('gpu_without_selector', 'gpu_cluster: {nodes: [{host: node01, gpus: '
     '[{mode: none}]}]}\n', GPU + ': missing a selector', (), 'apply'),
    ('bad_vgpu_name', gpu(['{name: "has space", memory: 8GB}']),
     V0 + '.name: \'has space\' is not a valid name', (), 'apply'),
]


class TestBadLayouts(base.LayoutTestCase):

    @classmethod
    def setUpClass(cls):
        # One simulated host for every case: each case checks that it
        # wrote nothing, so they cannot disturb each other.
        super().setUpClass()
        cls.class_tmp = tempfile.mkdtemp(prefix='gpuvirt-layout-test-',
                                         dir=sim_fixture.scratch_dir())
        cls.host = sim.SimulatedHost.create(
            os.path.join(cls.class_tmp, 'sim'), SIM)
        cls.root = cls.host.sysfs_root

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.class_tmp, ignore_errors=True)
        super().tearDownClass()

    def check(self, text, expected, extra, command):
        path = self.write_layout(text)
        journal = self.host.journal_entries()
        before = self.state(self.host)
        rc, out, err = self.cli('layout', command, path, '--sim-root',
                                self.root, *extra)
        lines = err.strip().splitlines()
        self.assertEqual(2, rc, err)
        self.assertEqual(1, len(lines), err)
        self.assertIn(expected, lines[0])
        self.assertEqual(journal, self.host.journal_entries())
        self.assertEqual(before, self.state(self.host))


def _make_test(text, expected, extra, command):
    def test(self):
        self.check(text, expected, extra, command)
    return test


for _name, _text, _expected, _extra, _command in CASES:
    setattr(TestBadLayouts, 'test_%s' % _name,
            _make_test(_text, _expected, _extra, _command))


class TestCaseCount(base.LayoutTestCase):

    def test_at_least_25_bad_layouts(self):
        self.assertGreaterEqual(len(CASES), 25)
        self.assertEqual(len(CASES), len({c[0] for c in CASES}))

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

"""The synthetic openb stand-in: fixed, and covering what the replay needs."""

import collections
import hashlib

import numpy as np
from oslotest import base

from benchmarks.packing import nova_replay
from benchmarks.packing import synthetic
from gpuvirt_nova import exception


class SyntheticTest(base.BaseTestCase):

    def test_the_same_seed_gives_the_same_pods(self):
        a, b = synthetic.pods(500, seed=3), synthetic.pods(500, seed=3)
        for column in ('cpu', 'memory', 'gpus', 'milli'):
            np.testing.assert_array_equal(getattr(a, column),
                                          getattr(b, column))
        self.assertEqual(a.spec, b.spec)
        self.assertNotEqual(a.spec, synthetic.pods(500, seed=4).spec)

    def test_pods_have_the_trace_form(self):
        pods = synthetic.pods(2000)
        self.assertEqual({0, 1, 2}, set(pods.gpus.tolist()))
        self.assertTrue((pods.milli[pods.gpus == 0] == 0).all())
        self.assertTrue((pods.milli[pods.gpus == 2] == 1000).all())
        self.assertEqual({''}, {pods.spec[i] for i in
                                np.flatnonzero(pods.gpus == 0)})
        self.assertEqual({'', 'G2', 'G3', 'G2|G3', 'T4'}, set(pods.spec))
        shares = collections.Counter(pods.milli[pods.gpus == 1].tolist())
        self.assertEqual(1000, shares.most_common(1)[0][0])

    def test_nodes_of_each_model_in_order(self):
        nodes = synthetic.nodes((('G2', 2), ('G3', 1), ('T4', 3)))
        self.assertEqual(('G2', 'G2', 'G3', 'T4', 'T4', 'T4'), nodes.models)
        self.assertEqual([8, 8, 8, 4, 2, 2], nodes.gpus.tolist())
        self.assertEqual(128000, nodes.cpu[2])

    def test_the_replay_slice_has_every_kind_of_flavor(self):
        scenario = nova_replay.build(source='synthetic')
        self.assertEqual(40, len(scenario.requests))
        kinds = {(r.gpus > 1, r.trait, r.type_name.split('-')[0])
                 for r in scenario.requests if r.gpus}
        self.assertLessEqual({(False, None, 'A100'), (False, None, 'T4'),
                              (True, None, 'A100'),
                              (False, 'CUSTOM_GPU_A100_SXM4_40GB', 'A100'),
                              (False, 'CUSTOM_GPU_A100_PCIE_40GB', 'A100')},
                             kinds)
        self.assertIn(0, {r.gpus for r in scenario.requests})

    def test_the_default_list_is_unchanged_by_the_larger_pods(self):
        # the replay cases' expectations rest on the default list: this
        # digest is the list's before 4- and 8-GPU pods could be drawn
        pods = synthetic.pods(500, seed=3)
        digest = hashlib.sha256()
        for column in (pods.cpu, pods.memory, pods.gpus, pods.milli):
            digest.update(column.tobytes())
        digest.update('|'.join(pods.spec).encode())
        self.assertEqual('3888cbb07a9c8259ccb391b6c858563e'
                         'c5d6c96fbe2abf0b580dbd5adeaf044f',
                         digest.hexdigest())

    def test_pod_counts_without_sizes_are_refused(self):
        error = self.assertRaises(exception.UsageError, synthetic.pods, 10,
                                  gpu_counts=((1, 1), (3, 1)))
        self.assertIn('gpu_counts', str(error))
        self.assertIn('3 GPUs', str(error))

    def test_larger_pods_take_their_own_sizes(self):
        pods = synthetic.pods(4000, gpu_counts=synthetic.MULTI_GPU_COUNTS)
        self.assertEqual({0, 1, 2, 4, 8}, set(pods.gpus.tolist()))
        for k, table in synthetic.LARGE_POD_SIZES.items():
            sizes = {(c, m) for c, m in zip(pods.cpu[pods.gpus == k],
                                            pods.memory[pods.gpus == k])}
            self.assertLessEqual(sizes, {size for size, _ in table})
            self.assertTrue((pods.milli[pods.gpus == k] == 1000).all())

    def test_the_multi_gpu_slice_asks_isolated_groups(self):
        scenario = nova_replay.build(
            requests=200, source='synthetic', max_gpus=8,
            gpu_counts=synthetic.MULTI_GPU_COUNTS)
        large = [r for r in scenario.requests if r.gpus > 2]
        self.assertTrue(large)
        for request in large:
            extra = request.extra_specs()
            self.assertEqual('isolate', extra['group_policy'])
            self.assertEqual(request.gpus, sum(
                1 for key in extra if key.startswith('resources')))

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

import numpy as np
from oslotest import base

from benchmarks.packing import nova_replay
from benchmarks.packing import synthetic


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

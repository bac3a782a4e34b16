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

"""Smoke test of the allocation-candidate benchmark harness.

Asserts the candidate counts Placement returns for both provider models,
which are exact: never the timings.
"""

import os

from oslotest import base

from benchmarks.placement import alloc_candidates as bench
from tests.integration.placement import base as placement_base


class TestAllocationCandidateCounts(base.BaseTestCase):

    def _counts(self, model, syncs=None):
        backend = 'mysql' if os.environ.get(placement_base.DB_URL_ENV) \
            else 'sqlite'
        rows = bench.measure(backend, model, [1, 2], repeat=1, syncs=syncs)
        return {(hosts, query): count
                for _, _, hosts, query, count, _ in rows}

    def test_per_vf_model_enumerates_every_ordered_vf_pair(self):
        counts = self._counts('upstream')
        # 8 GPUs x 7 VFs = 56 providers of VGPU:1 per host: P(56, 2).
        self.assertEqual(56, counts[(1, '1 vGPU')])
        self.assertEqual(56 * 55, counts[(1, '2 vGPU, group_policy=none')])
        self.assertEqual(56 * 55,
                         counts[(1, '2 vGPU, group_policy=isolate')])
        self.assertEqual(2 * 56 * 55,
                         counts[(2, '2 vGPU, group_policy=isolate')])

    def test_per_gpu_model_enumerates_gpus_not_vfs(self):
        syncs = []
        counts = self._counts('ours', syncs)
        # Each step's hosts were written; syncing one again writes nothing.
        self.assertEqual([(1, 1), (2, 1)], [s[1:3] for s in syncs])
        self.assertTrue(all(s[5] > 0 for s in syncs), syncs)
        self.assertEqual([0, 0], [s[6] for s in syncs])
        self.assertEqual(8, counts[(1, '1 vGPU')])
        # Both groups may share a GPU (it has 7 slots) unless isolated.
        self.assertEqual(8 * 8, counts[(1, '2 vGPU, group_policy=none')])
        self.assertEqual(8 * 7, counts[(1, '2 vGPU, group_policy=isolate')])
        self.assertEqual(16, counts[(2, '1 vGPU')])

    def test_table_puts_both_models_side_by_side(self):
        rows = [('sqlite', 'upstream', 1, '1 vGPU', 56, 0.2),
                ('sqlite', 'ours', 1, '1 vGPU', 8, 0.1)]
        lines = bench.table(rows).splitlines()
        self.assertEqual(3, len(lines))
        self.assertIn('| sqlite | 1 | 1 vGPU | 56 | 8 |', lines[2])
        self.assertTrue(lines[2].endswith('| 2.0x |'))

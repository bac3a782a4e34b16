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

"""Smoke runs of the fleet benchmarks: a few hosts, counts only.

Placement is served over HTTP by its own processes, on SQLite (or on
MariaDB when ``GPUVIRT_TEST_DB_URL`` is set). Never asserts a timing.
"""

import os

from oslotest import base

from benchmarks.placement import fleet_candidates as candidates
from benchmarks.placement import fleet_sync
from tests.integration.placement import base as placement_base

HOSTS = 3
GPUS = 2


def backend():
    return 'mysql' if os.environ.get(placement_base.DB_URL_ENV) \
        else 'sqlite'


class TestFleetSync(base.BaseTestCase):

    def test_concurrent_first_sync_then_a_steady_state_that_writes_nothing(
            self):
        seen = {}

        def keep(database, service, fleet):
            client = fleet_sync.Clients(service.url).get()
            seen['providers'] = len(client.providers())
            tree = fleet.tree(fleet.names[0])
            seen['names'] = len(tree.resource_classes) + len(
                tree.custom_traits)
        first, steady = fleet_sync.measure(backend(), HOSTS, workers=HOSTS,
                                           gpus=GPUS, keep=keep)
        self.assertEqual(HOSTS * (1 + GPUS), seen['providers'])
        # Per host: 4 reads, its root's POST and 3 writes per GPU; the
        # classes and traits by at least one host, at most by each.
        per_host = 4 + 1 + 3 * GPUS
        made = first.calls - first.retries
        self.assertGreaterEqual(made, HOSTS * per_host + seen['names'])
        self.assertLessEqual(made, HOSTS * (per_host + seen['names']))
        self.assertEqual(4 * HOSTS, first.reads)
        self.assertEqual(0, first.conflicts)
        self.assertGreater(first.sent, 0)
        self.assertGreater(first.received, 0)
        # In steady state each host reads its tree and writes nothing.
        self.assertEqual(0, steady.writes)
        self.assertEqual(HOSTS * (4 + 2 * GPUS), steady.reads)
        self.assertEqual(0, steady.sent)


class TestFleetCandidates(base.BaseTestCase):

    def test_counts_on_an_empty_and_a_filled_fleet(self):
        passes, rows = candidates.measure(
            backend(), HOSTS, [0, 90], workers=2, repeat=1, gpus=GPUS)
        self.assertEqual(0, passes[1].writes)
        by_key = {(r[1], r[2], r[3]): r for r in rows}
        self.assertEqual(2 * 5 * len(candidates.TUNINGS), len(rows))
        # Empty: every GPU has 7 free slots; candidates are ordered.
        self.assertEqual(HOSTS * GPUS, by_key[(0, '1 vGPU', 'default')][4])
        self.assertEqual(HOSTS * GPUS ** 2,
                         by_key[(0, '2 vGPU, group_policy=none',
                                 'default')][4])
        self.assertEqual(HOSTS * GPUS * (GPUS - 1),
                         by_key[(0, '2 vGPU, group_policy=isolate',
                                 'default')][4])
        # 4 isolated vGPUs never fit on 2 GPUs.
        self.assertEqual(0, by_key[(0, '4 vGPU, group_policy=isolate',
                                    'default')][4])
        # 90% of 7 slots filled: 6 or 7 used, some GPUs full.
        self.assertLess(by_key[(90, '1 vGPU', 'default')][4], HOSTS * GPUS)
        for (fill, name, tuning), row in by_key.items():
            returned, hosts, total = row[4], row[5], row[6]
            if tuning != 'wide':
                # The counted candidates are Placement's whole answer
                # (under limit), and none asks more than a GPU has free.
                self.assertEqual(min(total, candidates.LIMIT), returned,
                                 row)
                self.assertEqual(0, row[11], row)
            if fill == 0 and returned:
                self.assertEqual(HOSTS, hosts, row)
            self.assertLessEqual(hosts, HOSTS, row)
        # Filled to 90%: one PUT per host per level.
        self.assertEqual(HOSTS, by_key[(90, '1 vGPU', 'default')][10])


class TestFleetArithmetic(base.BaseTestCase):

    def test_used_slots_spread_the_share_evenly(self):
        used = candidates.used_slots(80, 7, 0.9)
        self.assertEqual(504, sum(used))
        self.assertEqual({6, 7}, set(used))
        self.assertEqual([0] * 5, candidates.used_slots(5, 7, 0))
        self.assertEqual([7] * 5, candidates.used_slots(5, 7, 1))

    def test_expected_counts_ordered_candidates_within_free_slots(self):
        # One host: GPU 0 has 1 free slot, GPU 1 has 3, GPU 2 is full.
        frees = [[1, 3, 0]]
        self.assertEqual((2, 2), candidates.expected(frees, 1, None))
        # (0,1) (1,0) (1,1); (0,0) asks 2 of GPU 0's 1.
        self.assertEqual((3, 4), candidates.expected(frees, 2, 'none'))
        self.assertEqual((2, 4), candidates.expected(frees, 2, 'isolate'))

    def test_over_capacity_reads_the_answer_s_own_summaries(self):
        answer = {
            'allocation_requests': [
                {'allocations': {'a': {'resources': {'X': 2}}}},
                {'allocations': {'a': {'resources': {'X': 1}}}}],
            'provider_summaries': {
                'a': {'resources': {'X': {'capacity': 7, 'used': 6}},
                      'root_provider_uuid': 'r'}}}
        self.assertEqual(1, candidates.over_capacity(answer))
        self.assertEqual(1, candidates.hosts_in(answer))

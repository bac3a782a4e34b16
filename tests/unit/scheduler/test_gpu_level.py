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

"""The Nova-free GPU-level decision shared by the plugins and the demo."""

from oslotest import base

from gpuvirt_nova import exception
from gpuvirt_nova.scheduler import candidates
from gpuvirt_nova.scheduler import gpu_level
from tests.unit.scheduler import fixtures as fx

SMALL = 'A100-1-5C'
BIG = 'A100-3-20C'
OFFER = {SMALL: 7, BIG: 2}


def _cluster(used_a):
    """Two hosts of two GPUs; host a's first GPU has ``used_a`` in use."""
    summaries = {'a': fx.compute('a'), 'b': fx.compute('b'),
                 'a1': fx.gpu('a', OFFER, used_a), 'a2': fx.gpu('a', OFFER),
                 'b1': fx.gpu('b', OFFER), 'b2': fx.gpu('b', OFFER)}
    found = [fx.candidate(root, root + n, SMALL)
             for root in ('b', 'a') for n in ('1', '2')]
    return summaries, found


class TestTypicalMix(base.BaseTestCase):

    def test_configured_mix_wins(self):
        summaries, _ = _cluster({SMALL: 3})
        self.assertEqual({fx.rc(BIG): 2.0},
                         gpu_level.typical_mix(summaries, {fx.rc(SMALL): 1},
                                               {fx.rc(BIG): '2'}))

    def test_a_bad_configured_class_is_a_usage_error_naming_it(self):
        summaries, _ = _cluster({SMALL: 3})
        exc = self.assertRaises(
            exception.UsageError, gpu_level.typical_mix, summaries, {},
            {fx.rc(BIG) + '/8': '2', fx.rc(SMALL) + '*0': '1'})
        self.assertIn("'%s*0' names '0' GPUs" % fx.rc(SMALL), str(exc))

    def test_learned_mix_is_usage_plus_the_request(self):
        summaries, _ = _cluster({SMALL: 3, BIG: 1})
        self.assertEqual({fx.rc(SMALL): 0.8, fx.rc(BIG): 0.2},
                         gpu_level.typical_mix(summaries, {fx.rc(SMALL): 1}))

    def test_learned_mix_is_in_twentieths_a_configured_one_exact(self):
        summaries, _ = _cluster({SMALL: 50, BIG: 1})
        # 1 in 52 rounds to 0 of 20, 51 in 52 to 20 of 20
        self.assertEqual({fx.rc(SMALL): 1.0, fx.rc(BIG): 0.0},
                         gpu_level.typical_mix(summaries, {fx.rc(SMALL): 1}))
        self.assertEqual({fx.rc(SMALL): 51.0, fx.rc(BIG): 1.0},
                         gpu_level.typical_mix(summaries, {}, {
                             fx.rc(SMALL): '51', fx.rc(BIG): '1'}))
        # and scored as written: 51 to 1, not rounded to 20 to 0
        gpus = candidates.host_gpus(summaries, 'a', {fx.rc(SMALL): 51,
                                                     fx.rc(BIG): 1})
        for want, got in zip([1 / 52.0, 51 / 52.0],
                             sorted(gpus.mix.total.tolist())):
            self.assertAlmostEqual(want, got)


class TestPick(base.BaseTestCase):

    def test_candidates_are_grouped_by_host_in_placement_order(self):
        summaries, found = _cluster({})
        by_host = gpu_level.candidates_by_host(summaries, found)
        self.assertEqual(['b', 'a'], list(by_host))
        self.assertEqual([found[2], found[3]], by_host['a'])

    def test_children_only_candidates_group_under_their_root(self):
        summaries, _ = _cluster({})
        found = [{'allocations': {'a2': {'resources': {fx.rc(SMALL): 1}}}}]
        self.assertEqual({'a': found},
                         dict(gpu_level.candidates_by_host(summaries, found)))

    def test_a_small_request_joins_the_partly_used_gpu(self):
        # Placement lists host b first; the plugins pack onto host a's
        # GPU that already holds small vGPUs, keeping whole GPUs free.
        summaries, found = _cluster({SMALL: 2})
        chosen = gpu_level.pick(summaries, found, {fx.rc(SMALL): 1})
        self.assertIs(found[2], chosen)
        self.assertIs(chosen, candidates.order_candidates(
            summaries, 'a', found[2:],
            gpu_level.typical_mix(summaries, {fx.rc(SMALL): 1}))[0])

    def test_tied_hosts_go_in_uuid_order(self):
        # Idle hosts tie: the smallest root uuid wins whatever Placement's
        # order, one fixed order as the benchmark's node names.
        summaries = {'a': fx.compute('a'), 'b': fx.compute('b'),
                     'a1': fx.gpu('a', OFFER), 'b1': fx.gpu('b', OFFER)}
        for hosts in (('a', 'b'), ('b', 'a')):
            found = [fx.candidate(root, root + '1', SMALL)
                     for root in hosts]
            chosen = gpu_level.pick(summaries, found, {fx.rc(SMALL): 1})
            self.assertIn('a', chosen['allocations'])

    def test_spread_prefers_the_idle_host(self):
        summaries, found = _cluster({SMALL: 2})
        chosen = gpu_level.pick(summaries, found, {fx.rc(SMALL): 1},
                                weigher_policy='spread')
        self.assertIn(chosen, found[:2])

    def test_no_candidate_picks_nothing(self):
        summaries, _ = _cluster({})
        self.assertIsNone(gpu_level.pick(summaries, [], {fx.rc(SMALL): 1}))


class TestClusterView(base.BaseTestCase):

    def test_idle_gpus_are_whole_and_unfragmented(self):
        summaries, _ = _cluster({SMALL: 1})
        views = {v.uuid: v for v in gpu_level.cluster_view(
            summaries, {fx.rc(SMALL): 1, fx.rc(BIG): 1})}
        self.assertEqual({'a1', 'a2', 'b1', 'b2'}, set(views))
        for uuid in ('a2', 'b1', 'b2'):
            self.assertEqual(0, views[uuid].used)
            self.assertEqual(0.0, views[uuid].fragmented)
        # One 1g slice is in use on a1: 1 of 8 memory slices.
        self.assertEqual(125, views['a1'].used)
        self.assertEqual('a', views['a1'].root)

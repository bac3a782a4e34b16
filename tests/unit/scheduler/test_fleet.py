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

"""The one-pass, all-hosts path decides exactly as the per-host one.

``fleet.score_hosts`` (VGPUPlacementFilter.filter_all) must give every
host the candidate order of ``candidates.order_candidates`` and the
weights of ``gpu_level.host_weight``: MIG and time-sliced hosts in one
request, a host mixing both, 2-vGPU candidates, candidates that do not
fit, a provider outside the answer, another host's GPU. The mix and fair
share's cluster use read from ``fleet.RequestGpus`` equal the per-provider
functions.
"""

from unittest import mock

import numpy as np
from oslotest import base

from gpuvirt_nova.scheduler import candidates
from gpuvirt_nova.scheduler import fleet
from gpuvirt_nova.scheduler import gpu_level
from gpuvirt_nova.scheduler import limits
from gpuvirt_nova.scheduler import scoring
from tests.unit.scheduler import fixtures as fx

MIG = ({'A100-1-5C': 7, 'A100-3-20C': 2}, 'A100-1-5C')
SLICED = ({'A100-4C': 10, 'A100-10C': 4}, 'A100-4C')


def _fleet(rng, hosts=12):
    summaries, listed = {}, []
    for h in range(hosts):
        root = 'cn%d' % h
        summaries[root] = fx.compute(root)
        found = []
        for g in range(4):
            # NOTE: every fourth host mixes MIG and time-sliced GPUs.
            offers, small = (MIG, SLICED, SLICED)[h % 3] \
                if h % 4 else (MIG, SLICED)[g % 2]
            uuid = '%s-g%d' % (root, g)
            used = int(rng.integers(0, offers[small] + 1))
            summaries[uuid] = fx.gpu(root, offers, used={small: used})
            found.append(fx.candidate(root, uuid, small,
                                      amount=int(rng.integers(1, 3))))
        found.append(fx.candidate(root, 'elsewhere', 'A100-4C'))
        if h:
            # another host's GPU: never judged on this host
            found.insert(1, fx.candidate(root, 'cn0-g0', 'A100-4C'))
        listed.append((root, found))
    return summaries, listed


class ScoreHostsTest(base.BaseTestCase):

    def _check(self, summaries, listed, mix):
        scored = fleet.score_hosts(fleet.RequestGpus(summaries), listed,
                                   mix)
        self.assertEqual(len(listed), len(scored))
        # one host at a time knows no other host: its weight is the
        # fleet's before the tie offsets of candidates.stable_ties, which
        # stay under half a step of the score
        half = max(scoring.resolution(), 1e-9) / 2.0
        for root, found in listed:
            order, pack, spread = scored[root]
            expected = candidates.order_candidates(summaries, root,
                                                   found, mix)
            self.assertEqual([id(c) for c in expected],
                             [id(found[i]) for i in order])
            weight = gpu_level.host_weight(summaries, root, expected[0],
                                           'pack', mix)
            self.assertLessEqual(pack, weight + 1e-9)
            self.assertGreater(pack, weight - half)
            self.assertAlmostEqual(gpu_level.host_weight(
                summaries, root, expected[0], 'spread', mix), spread)
        return scored

    def test_same_order_and_weights_as_one_host_at_a_time(self):
        rng = np.random.default_rng(7)
        for _ in range(5):
            summaries, listed = _fleet(rng)
            self._check(summaries, listed,
                        gpu_level.typical_mix(summaries, {}))

    def test_same_with_a_configured_or_no_mix(self):
        rng = np.random.default_rng(11)
        summaries, listed = _fleet(rng)
        self._check(summaries, listed, {fx.rc('A100-3-20C'): 3,
                                        fx.rc('A100-10C'): 1})
        self._check(summaries, listed, None)

    def test_same_with_vcpus_in_the_mix_and_on_the_hosts(self):
        rng = np.random.default_rng(13)
        summaries, listed = _fleet(rng, hosts=16)
        for root, found in listed:
            summaries[root]['resources']['VCPU']['used'] = int(
                rng.integers(0, 60))
            for candidate in found:
                if root in candidate['allocations']:
                    candidate['allocations'][root]['resources'][
                        'VCPU'] = int(rng.integers(1, 9))
        # a host of pinned CPUs only (no VCPU), and one whose root is
        # not in Placement's answer
        del summaries['cn3']['resources']['VCPU']
        del summaries['cn5']
        mix = {fx.rc('A100-1-5C') + '/8': 3, fx.rc('A100-4C') + '/4': 2,
               fx.rc('A100-3-20C'): 1}
        self._check(summaries, listed, mix)
        # the vCPU share decides some packing terms (else this test
        # would not cover it)
        cpu_bound = 0
        for root, found in listed:
            gpus = candidates.host_gpus(summaries, root, mix)
            keys = candidates.score_candidates(gpus, found)[1]
            cpu_bound += int(np.sum(np.isfinite(keys[1])
                                    & (keys[1] > keys[0])))
        self.assertGreater(cpu_bound, 5)

    def test_unjudged_candidates_go_last_in_placement_order(self):
        summaries, listed = _fleet(np.random.default_rng(3), hosts=3)
        scored = fleet.score_hosts(fleet.RequestGpus(summaries), listed,
                                   {})
        root, found = listed[1]
        order = scored[root][0]
        # 'cn0-g0' (index 1) and 'elsewhere' (last) follow the 4 GPUs.
        self.assertEqual([1, 5], order[-2:])

    def test_host_without_gpus_is_left_out(self):
        summaries = {'cn1': fx.compute('cn1')}
        self.assertEqual({}, fleet.score_hosts(
            fleet.RequestGpus(summaries),
            [('cn1', [fx.candidate('cn1', 'x', 'A100-4C')])]))


class RequestGpusTest(base.BaseTestCase):

    def test_mix_and_cluster_use_equal_the_per_provider_sums(self):
        summaries, _ = _fleet(np.random.default_rng(5))
        gpus = fleet.RequestGpus(summaries)
        asked = {fx.rc('A100-4C'): 2}
        self.assertEqual(gpu_level.typical_mix(summaries, asked),
                         fleet.typical_mix(gpus, asked))
        self.assertEqual({'X': 1.0}, fleet.typical_mix(gpus, asked,
                                                       {'X': 1}))
        for managed in (None, 10, 100):
            used, capacity, fallback = limits.cluster_use(summaries,
                                                          managed)
            got = gpus.cluster_use(managed)
            self.assertAlmostEqual(used, got[0])
            self.assertEqual((capacity, fallback), got[1:])
        self.assertEqual(48, sum(gpus.counts))
        self.assertLess(len(gpus.keys), 48)


class StableTiesTest(base.BaseTestCase):

    def test_tied_hosts_go_to_the_tightest_gpu_then_uuid_order(self):
        # pack weights in points (the default resolution): 50 ties
        scored = {'c': ([0], 50.0, 0.5, 250.0), 'a': ([0], 50.0, 0.5, 500.0),
                  'b': ([0], 50.0, 0.5, 250.0), 'd': ([0], 51.0, 0.5, 900.)}
        out = candidates.stable_ties(scored)
        self.assertEqual(['d', 'b', 'c', 'a'],
                         sorted(out, key=lambda root: -out[root][1]))
        # the offsets stay within half a point: no host crosses another
        self.assertGreater(out['a'][1], 50.0 - scoring.resolution() / 2.0)

    def test_host_without_a_fitting_candidate_weighs_least(self):
        # a 2-GPU request may raise fragmentation by more than 1 GPU
        scored = {'fits': ([0], -1.9, 0.1, 0.0),
                  'unfit': ([0], -np.inf, 0.9, np.inf)}
        out = candidates.stable_ties(scored)
        self.assertLess(out['unfit'][1], out['fits'][1])
        self.assertTrue(np.isfinite(out['unfit'][1]))

    def test_equal_candidates_go_to_the_first_gpu_not_placement_order(self):
        summaries = {'cn1': fx.compute('cn1')}
        found = []
        for uuid in ('g3', 'g1', 'g2'):
            summaries[uuid] = fx.gpu('cn1', {'A100-4C': 10})
            found.append(fx.candidate('cn1', uuid, 'A100-4C'))
        scored = fleet.score_hosts(fleet.RequestGpus(summaries),
                                   [('cn1', found)], {})
        self.assertEqual([1, 2, 0], scored['cn1'][0])
        ordered = candidates.order_candidates(summaries, 'cn1', found, {})
        self.assertEqual([found[1], found[2], found[0]], ordered)

    @mock.patch.object(scoring, 'TIE_STEP', 0.04)
    def test_tied_hosts_go_in_uuid_order_without_crossing_a_step(self):
        step = scoring.TIE_STEP
        scored = {'c': ([0], -step, 0.5), 'a': ([0], -step, 0.5),
                  'b': ([1, 0], 0.0, 0.9)}
        out = candidates.stable_ties(scored)
        by_weight = sorted(out, key=lambda root: -out[root][1])
        self.assertEqual(['b', 'a', 'c'], by_weight)
        # Nova sorts by weight alone: the tie must be gone from the values
        self.assertGreater(out['a'][1], out['c'][1])
        self.assertGreater(out['c'][1], -1.5 * step)
        self.assertEqual(([1, 0], 0.9), (out['b'][0], out['b'][2]))

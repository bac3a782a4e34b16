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

"""Scoring: FGD fragmentation, move deltas, policies, MIG placement."""

import numpy as np
from oslotest import base

from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.scheduler import scoring
from gpuvirt_nova.scheduler import shapes


def _space(requests):
    return shapes.combine([shapes.fractional(requests),
                           shapes.absent(requests)])


class FragmentationTest(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        # request classes: 0 -> 500 milli, 1 -> a whole GPU
        self.space = _space([500, 1000])
        self.absent = self.space.empty(1)

    def test_gpu_too_small_for_the_request_is_fragment(self):
        mix = scoring.make_mix([(0, 1, 0, 1.0)])
        states = np.array([[1000, 300]])
        frag = scoring.fragmentation(self.space, states, [8000], mix)
        self.assertEqual([300.0], frag.tolist())

    def test_weights_average_the_mix(self):
        mix = scoring.make_mix([(0, 1, 0, 1.0), (1, 1, 0, 3.0)])
        states = np.array([[1000, 600]])
        # 500: nothing stranded; whole GPU: the 600 left is stranded.
        frag = scoring.fragmentation(self.space, states, [8000], mix)
        self.assertAlmostEqual(0.75 * 600, frag[0])

    def test_node_without_cpu_strands_all_its_gpu(self):
        mix = scoring.make_mix([(0, 1, 4000, 1.0)])
        states = np.array([[1000, 1000]])
        frag = scoring.fragmentation(self.space, states, [2000], mix)
        self.assertEqual([2000.0], frag.tolist())

    def test_multi_gpu_request_needs_enough_whole_gpus(self):
        mix = scoring.make_mix([(1, 2, 0, 1.0)])
        states = np.array([[1000, 900, self.absent]])
        frag = scoring.fragmentation(self.space, states, [1], mix)
        self.assertEqual([1900.0], frag.tolist())

    def test_rate_is_frag_over_capacity(self):
        mix = scoring.make_mix([(0, 1, 0, 1.0)])
        states = np.array([[1000, 300], [200, self.absent]])
        rate = scoring.fragmentation_rate(self.space, states, [1, 1], mix,
                                          3000)
        self.assertAlmostEqual(500 / 3000.0, rate)

    def test_move_deltas_match_fragmentation_difference(self):
        rng = np.random.default_rng(3)
        space = _space([100, 250, 500, 1000])
        mix = scoring.make_mix([(0, 1, 1000, 1), (1, 1, 3000, 2),
                                (2, 1, 0, 1), (3, 2, 6000, 1)])
        states = rng.choice([0, 100, 400, 750, 1000], size=(6, 4))
        cpu = rng.integers(0, 10000, size=6).astype(float)
        nodes = np.array([0, 2, 5, 3])
        gpus = np.array([1, 0, 3, 2])
        old = states[nodes, gpus][:, None]
        new = np.maximum(old - 100, 0)
        deltas = scoring.move_deltas(space, states, cpu, mix, nodes, old,
                                     new, 1500)
        for m, (n, g) in enumerate(zip(nodes, gpus)):
            after = states.copy()
            after[n, g] = new[m, 0]
            left = cpu.copy()
            left[n] -= 1500
            expected = scoring.fragmentation(space, after, left, mix)[n] - \
                scoring.fragmentation(space, states, cpu, mix)[n]
            self.assertAlmostEqual(expected, deltas[m])


class MixTest(base.BaseTestCase):

    def test_weights_are_normalised_and_cpu_only_dropped(self):
        mix = scoring.make_mix([(0, 1, 100, 2), (0, 1, 300, 2),
                                (1, 0, 50, 4)])
        self.assertAlmostEqual(1.0, mix.total.sum())
        self.assertEqual([0.5], mix.weight_at([200]).ravel().tolist())

    def test_learned_mix_keeps_the_popular_requests(self):
        seen = [(0, 1, 0)] * 8 + [(1, 1, 0)] * 2
        mix = scoring.learn_mix(seen, top_share=0.7)
        self.assertEqual([0], mix.request.tolist())


class MigScoringTest(base.BaseTestCase):
    """The scorer keeps the only 4g placement of an A100 open."""

    def setUp(self):
        super().setUp()
        a100 = catalog.load().get('A100-PCIE-40GB')
        shape = shapes.mig_for_profiles(
            a100, [a100.mig_profile('1g.5gb'), a100.mig_profile('4g.20gb')])
        self.space = shapes.combine([shape])
        self.mix = scoring.make_mix([(0, 1, 0, 1), (1, 1, 0, 1)])

    def test_first_placement_blocks_4g(self):
        first = scoring.first_options(self.space)[0, 0]
        self.assertFalse(self.space.can_host[first, 1])

    def test_best_placement_keeps_4g(self):
        best = scoring.best_options(self.space, self.mix)[0, 0]
        self.assertTrue(self.space.can_host[best, 1])

    def test_delta_prefers_the_placement_that_keeps_4g(self):
        first = scoring.first_options(self.space)[0, 0]
        best = scoring.best_options(self.space, self.mix)[0, 0]
        deltas = scoring.move_deltas(self.space, np.array([[0]]), [0],
                                     self.mix, [0, 0], [[0], [0]],
                                     [[first], [best]], 0)
        self.assertLess(deltas[1], deltas[0])


class ChooseTest(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.deltas = np.array([50.0, 0.0, 0.0, 10.0])
        self.keys = (np.array([0.9, 0.5, 0.2, 0.1]),
                     np.array([0.9, 0.5, 0.2, 0.3]),
                     np.array([100, 700, 200, 0]))

    def test_first_fit_is_placements_order(self):
        self.assertEqual(0, scoring.choose('first-fit', self.deltas,
                                           self.keys))

    def test_best_fit_is_the_tightest_node(self):
        self.assertEqual(3, scoring.choose('best-fit', self.deltas,
                                           self.keys))

    def test_fgd_is_the_least_fragmenting(self):
        rng = np.random.default_rng(0)
        for _ in range(10):
            self.assertIn(scoring.choose('fgd', self.deltas, self.keys, rng),
                          (1, 2))

    def test_ours_adds_packing_to_fgd(self):
        self.assertEqual(2, scoring.choose('ours', self.deltas, self.keys,
                                           step=0))
        order = scoring.rank(self.deltas, self.keys, blend=0.0, step=0)
        self.assertEqual([2, 1, 3, 0], order.tolist())

    def test_scores_within_a_step_tie(self):
        # 1, 2 and 3 score 0.035, 0.014 and 0.031 GPU: one step of 0.04,
        # so the tightest GPU (3) wins; 0 (0.113) is two steps up.
        self.assertEqual([0.0, 0.0, 0.0, 0.08], sorted(scoring.ours_score(
            self.deltas, self.keys[1], step=0.04).tolist()))
        self.assertEqual([3, 2, 1, 0], scoring.rank(self.deltas, self.keys,
                                                    step=0.04).tolist())

    def test_ties_within_a_step_go_to_the_earlier_candidate(self):
        # 0.034, 0.014 and 0.024 GPU: one step, so node order decides
        keys = (np.zeros(3), np.full(3, 0.2), np.zeros(3))
        deltas = np.array([20., 0., 10.])
        self.assertEqual(0, scoring.choose('ours', deltas, keys, step=0.04))
        self.assertEqual(1, scoring.choose('ours', deltas, keys, step=0))

    def test_points_are_fgds_integer_score(self):
        # FGD scores an increase x (GPUs) int(sigmoid(-x) * 100): 50 at
        # 0, 49 up to ~40 milli, 26 at 1 GPU (sigmoid(-1) = 0.2689), and
        # 73 for a decrease of 1 GPU.
        deltas = np.array([0.0, 1.0, 39.0, 41.0, 1000.0, -1000.0])
        points = -scoring.ours_score(deltas, np.zeros(6), blend=0.0,
                                     step=scoring.POINTS)
        self.assertEqual([50, 49, 49, 48, 26, 73], points.tolist())

    def test_points_add_the_packing_term_before_scoring(self):
        # 0.07 x a dominant share of 1 is 70 milli: 50 points become 48
        points = -scoring.ours_score(np.zeros(2), np.array([0.0, 1.0]),
                                     step=scoring.POINTS)
        self.assertEqual([50, 48], points.tolist())

    def test_same_points_go_to_the_tightest_gpu(self):
        # 1 and 30 milli-GPU are one point above 41, not apart from each
        # other: the tightest GPU (1) wins, where the continuous score
        # takes the smallest increase (0)
        deltas = np.array([1.0, 30.0, 41.0])
        keys = (np.zeros(3), np.zeros(3), np.array([500, 100, 0]))
        self.assertEqual([1, 0, 2], scoring.rank(
            deltas, keys, blend=0.0, step=scoring.POINTS).tolist())
        self.assertEqual(0, scoring.choose('ours', deltas, keys, blend=0.0,
                                           step=0))

    def test_points_is_the_default_resolution(self):
        self.assertEqual(scoring.POINTS, scoring.TIE_STEP)
        self.assertEqual(1.0, scoring.resolution())
        self.assertEqual(0.04, scoring.resolution(0.04))

    def test_ours_breaks_ties_by_the_tightest_gpu(self):
        keys = (np.zeros(2), np.array([0.5, 0.5]), np.array([300, 100]))
        self.assertEqual(1, scoring.choose('ours', np.zeros(2), keys))

    def test_infinite_delta_ranks_last(self):
        deltas = np.array([np.inf, 5.0])
        order = scoring.rank(deltas, (None, np.zeros(2), np.zeros(2)))
        self.assertEqual([1, 0], order.tolist())

    def test_unknown_policy_is_named(self):
        err = self.assertRaises(ValueError, scoring.choose, 'tetris',
                                self.deltas, self.keys)
        self.assertIn('tetris', str(err))

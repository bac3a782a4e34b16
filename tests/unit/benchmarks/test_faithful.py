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

"""The FGD authors' rules in the packing harness, on hand-made inputs.

Each test pins one rule of ``benchmarks.packing.faithful`` so that
breaking the rule (a mutant) fails it: the node-name tie-break, the
integer sigmoid score, the typical-pod mix (95%, CPU-only pods in), the
fragmentation classes, best-fit's normalisation, the authors' arrival
protocol and the GPU-model constraint.
"""

from unittest import mock

import numpy as np
from oslotest import base

from benchmarks.packing import compare
from benchmarks.packing import faithful
from benchmarks.packing import modes
from benchmarks.packing import trace
from gpuvirt_nova.scheduler import scoring
from tests.unit.benchmarks import fakes


_nodes = fakes.nodes
_pods = fakes.pods


class _StubFrag(object):
    """F before and after of each candidate, given directly."""

    def __init__(self, before, after):
        self.F = np.asarray(before, float)
        self._after = np.asarray(after, float)

    def after(self, nodes, old, new, cpu_left_after):
        return self._after


class IntegerScoreTest(base.BaseTestCase):

    def test_score_is_truncated_sigmoid_of_the_decrease_per_1000(self):
        # sigmoid(0) = 0.5; sigmoid(-0.01) = 0.4975 -> 49 (not 50 by
        # rounding); sigmoid(0.1) = 0.52498 -> 52; a large increase -> 0
        np.testing.assert_array_equal(
            faithful.fgd_scores([0, 0, 100, 0], [0, 10, 0, 20000]),
            [50, 49, 52, 0])

    def test_near_equal_increases_tie_and_the_first_node_wins(self):
        # node 1 fragments 20 milli less than node 0, but both score 49:
        # the integer score ties them, and the smaller name wins
        frag = _StubFrag([0, 0], [30, 10])
        pick = faithful.choose('fgd', frag, np.array([0, 1]),
                               np.zeros((2, 1), int), np.full((2, 1), 1000.),
                               np.full((2, 1), 500.), 0, np.zeros(2),
                               np.zeros(2), None)
        self.assertEqual(0, pick)
        # a clear difference (one score point, 40+ milli) still decides
        frag = _StubFrag([0, 0], [80, 10])
        pick = faithful.choose('fgd', frag, np.array([0, 1]),
                               np.zeros((2, 1), int), np.full((2, 1), 1000.),
                               np.full((2, 1), 500.), 0, np.zeros(2),
                               np.zeros(2), None)
        self.assertEqual(1, pick)


class TieBreakTest(base.BaseTestCase):

    def test_equal_scores_go_to_the_smallest_node_name(self):
        self.assertEqual(1, faithful.pick_node([3, 7, 7, 2, 7]))

    def test_equal_scores_go_to_the_node_of_smallest_rank(self):
        # the authors rename node i to '%04d-' % perm[i] + name: among
        # the tied candidates 1, 2 and 4, node 2 has the smallest name
        rank = np.array([4, 3, 0, 1, 2])
        self.assertEqual(2, faithful.pick_node([3, 7, 7, 2, 7],
                                               np.arange(5), rank))
        # a higher score still wins whatever its rank
        self.assertEqual(1, faithful.pick_node([3, 8, 7, 2, 7],
                                               np.arange(5), rank))
        # inside the winning node, its first candidate (GPU) wins
        self.assertEqual(1, faithful.pick_node([7, 7, 7],
                                               np.array([3, 2, 2]), rank))

    def test_tie_rank_is_one_random_order_per_seed(self):
        a = faithful.tie_rank(50, 42)
        np.testing.assert_array_equal(np.arange(50), np.sort(a))
        np.testing.assert_array_equal(a, faithful.tie_rank(50, 42))
        self.assertFalse((a == faithful.tie_rank(50, 43)).all())
        # not the file order (which would starve the first nodes' model)
        self.assertFalse((a == np.arange(50)).all())

    def test_fgd_fills_identical_nodes_in_rank_order(self):
        # three identical nodes, pods that fit anywhere: every pod lands
        # on the node of smallest rank until it is full
        nodes = _nodes(('T4',) * 3, (1, 1, 1))
        pods = _pods([(1000, 1, 250)] * 4 + [(1000, 1, 500)])
        st = compare.state_for(nodes, pods)
        # typical pods: 250m (0.8) and 500m (0.2). 250, 250 -> first
        # (ties); the third would strand its last 250 for the 500m pods
        # (score 48 < 50), so the second, then the second again (tie
        # with the third); the 500 ties everywhere -> the first
        for seed in (1, 2, 3):
            cluster = compare.replay(st, pods, 'fgd', seed=seed)[-1]
            free = cluster.space.free[cluster.states[:, 0]]
            order = np.argsort(faithful.tie_rank(3, seed))
            np.testing.assert_array_equal([0, 500, 1000], free[order])

    def test_best_fit_ties_after_normalisation_go_to_the_first_node(self):
        # raw scores 85, 85, 75 -> 100, 100, 0: nodes 0 and 1 tie
        scores = faithful.best_fit_scores(
            np.array([38400., 38400., 64000.]), np.array([0., 0., 0.]))
        np.testing.assert_array_equal([100, 100, 0], scores)
        self.assertEqual(0, faithful.pick_node(scores))

    def test_best_fit_normalises_with_integer_division(self):
        # raw int(90.5), int(89.5), int(83.5) = 90, 89, 83; normalised
        # (89 - 83) * 100 // 7 = 85 (85.7 would round to 86)
        scores = faithful.best_fit_scores(
            np.array([24320., 26880., 42240.]), np.zeros(3))
        np.testing.assert_array_equal([100, 85, 0], scores)


class TypicalPodsTest(base.BaseTestCase):

    def _pods(self):
        # 20 pods: CPU-only x8, (4 cores, 500m) x6, (8 cores, 1 GPU) x4,
        # (2 cores, 250m) x1, (1 core, 250m) x1
        rows = [(2000, 0, 0)] * 8 + [(4000, 1, 500)] * 6 + \
            [(8000, 1, 1000)] * 4 + [(2000, 1, 250)] + [(1000, 1, 250)]
        return _pods(rows)

    def test_most_popular_shapes_covering_95_percent_cpu_pods_included(self):
        typical = faithful.typical_pods(self._pods())
        # 95% of 20 = 19 pods: 8 + 6 + 4 + 1; of the two 1-pod shapes the
        # larger (2 cores) sorts first, as in the authors' sort.Reverse
        self.assertEqual([2000, 4000, 8000, 2000], typical.cpu.tolist())
        self.assertEqual([0, 500, 1000, 250], typical.milli.tolist())
        np.testing.assert_allclose(typical.weight,
                                   np.array([8, 6, 4, 1]) / 19.)

    def test_cpu_only_typical_pods_count_every_idle_gpu(self):
        typical = faithful.Typical(
            cpu=np.array([2000., 4000.]), milli=np.array([0., 500.]),
            gpus=np.array([0, 1]), spec=('', 'T4'),
            weight=np.array([0.5, 0.5]))
        left = np.array([[300, 1000], [300, 1000], [300, 1000]])
        frag = faithful.Frag(typical, left, np.array([8000., 2000., 8000.]),
                             ('T4', 'T4', 'V100M16'))
        # node 0: CPU-only 0.5 x 1300 + the 500m pod fits, only the 300m
        # GPU is fragment: 0.5 x 300 -> 800
        # node 1: the 500m pod lacks CPU: 0.5 x 1300 twice -> 1300
        # node 2: gpu_spec excludes V100M16 (no access): 1300
        np.testing.assert_allclose([800, 1300, 1300], frag.F)
        self.assertAlmostEqual(3400. / 3900., frag.ratio())


class ArrivalTest(base.BaseTestCase):

    def test_fgd_arrival_shuffles_all_then_tops_up_to_130_percent(self):
        pods = _pods([(1000, 1, 1000)] * 4 + [(1000, 0, 0)] * 2)
        arrived = trace.fgd_arrival(pods, capacity=10000, seed=5)
        # every trace pod once, then draws until 13,000 milli asked
        self.assertEqual(13000, int(arrived.demand.sum()))
        self.assertEqual(4, int((arrived.gpus[:6] > 0).sum()))

    def test_fgd_arrival_removes_pods_above_130_percent(self):
        pods = _pods([(1000, 1, 1000)] * 20)
        arrived = trace.fgd_arrival(pods, capacity=10000, seed=5)
        self.assertEqual(13, len(arrived))


class GpuModelConstraintTest(base.BaseTestCase):

    def test_every_policy_keeps_constrained_pods_on_their_models(self):
        nodes = _nodes(('T4', 'V100M16', 'T4'), (2, 2, 2))
        pods = _pods([(1000, 1, 500), (1000, 1, 1000), (1000, 1, 250),
                      (1000, 2, 1000)],
                     spec=('V100M16', 'V100M16|V100M32', '', 'V100M16'))
        st = compare.state_for(nodes, pods)
        for policy in ('fgd', 'best-fit', 'random', 'first-fit', 'ours'):
            alloc = compare.replay(st, pods, policy, seed=1)[1]
            # the two V100 GPUs take 500 + 1000; the 2-GPU V100 pod
            # cannot fit anywhere else, so it fails
            self.assertEqual(1750, alloc[-1], policy)


class OursTieOrderTest(base.BaseTestCase):

    def test_ours_ties_follow_the_runs_node_order_as_fgd_does(self):
        # five identical empty nodes: every candidate ties, so the pod
        # goes to the node first in the run's order (FGD's random names;
        # Nova's compute node uuids), not to the first node of the file
        nodes = _nodes(('T4',) * 5, (1,) * 5)
        pods = _pods([(1000, 1, 1000)])
        st = compare.state_for(nodes, pods)
        seen = set()
        for seed in range(6):
            cluster = compare.replay(st, pods, 'ours', seed=seed)[-1]
            taken = [n for n in range(5)
                     if cluster.space.free[cluster.states[n, 0]] == 0]
            rank = faithful.tie_rank(5, seed)
            self.assertEqual([int(np.argmin(rank))], taken, seed)
            seen.add(taken[0])
        # the order changes with the seed (else the test could not fail)
        self.assertGreater(len(seen), 1)


class OursMixCoverTest(base.BaseTestCase):

    def test_ours_learns_its_mix_from_the_shapes_covering_95_percent(self):
        # 39 pods of one shape, 1 of another (2.5%): the rare shape is
        # left out of ours' typical mix (and the CPU-blind view's), as
        # FGD leaves it out of its typical pods
        pods = _pods([(1000, 1, 500)] * 39 + [(2000, 1, 250)])
        st = compare.state_for(_nodes(), pods)
        for name in ('model_mix', 'blind_mix'):
            mix = st[name]
            self.assertEqual(1, len(mix.request), name)
            self.assertEqual(500, int(st['values'][mix.request[0]]), name)
            self.assertAlmostEqual(1.0, float(mix.total.sum()), msg=name)


class CpuBlindViewTest(base.BaseTestCase):

    def test_ours_sees_cpu_and_the_weigher_view_does_not(self):
        # node-0: plenty of CPU; node-1: 2 cores. The mix: half small
        # shared pods (1 core, 500m), half whole-GPU pods needing 8 cores.
        # The small pod first: on node-1 it uses a GPU no 8-core pod
        # could reach (fragmentation falls), on node-0 it strands half a
        # GPU for them. ours sees that and takes node-1, so the 8-core
        # pod then gets node-0's whole GPU; the CPU-blind view finds both
        # nodes equal, takes node-0, and the 8-core pod finds no room.
        nodes = _nodes(gpus=(1, 1), cpu=(16000., 2000.))
        pods = _pods([(1000, 1, 500), (8000, 1, 1000)])
        st = compare.state_for(nodes, pods)
        # a run whose tie order puts node-0 first (the blind view's tie)
        seed = next(s for s in range(20) if faithful.tie_rank(2, s)[0] == 0)
        self.assertEqual(1500,
                         compare.replay(st, pods, 'ours', seed)[1][-1])
        self.assertEqual(
            500, compare.replay(st, pods, 'ours-gpuview', seed)[1][-1])

    def test_the_mix_learned_from_requests_knows_what_arrived(self):
        # node-0: 16 cores, 2 GPUs; node-1: 2 cores, 1 GPU. An 8-core
        # whole-GPU pod (only node-0 has the cores), a small pod, another
        # 8-core pod. Learned from the requests (ours-recent), the mix
        # knows the 8-core class from the first pod on: the small pod
        # goes to node-1 (on node-0 it would leave 7 cores, too few for
        # the next 8-core pod), and all three fit. The CPU-blind view,
        # and ours-recent before its minimum, tie the two nodes, take
        # node-0, and the last pod finds no room.
        nodes = _nodes(gpus=(2, 1), cpu=(16000., 2000.))
        pods = _pods([(8000, 1, 1000), (1000, 1, 500), (8000, 1, 1000)])
        st = compare.state_for(nodes, pods)
        seed = next(s for s in range(20) if faithful.tie_rank(2, s)[0] == 0)
        with mock.patch.object(modes, 'RECENT_MINIMUM', 1):
            self.assertEqual(
                2500, compare.replay(st, pods, 'ours-recent', seed)[1][-1])
        with mock.patch.object(modes, 'RECENT_MINIMUM', 4):
            self.assertEqual(
                1500, compare.replay(st, pods, 'ours-recent', seed)[1][-1])
        self.assertEqual(
            1500, compare.replay(st, pods, 'ours-gpuview', seed)[1][-1])

    def test_a_pod_no_node_takes_is_not_learned(self):
        # as the scheduler, which never sees a request Placement has no
        # candidate for: the 8-core pod that fits no node (its memory)
        # is taken back, the two that fit are kept
        nodes = _nodes(gpus=(1, 1), cpu=(16000., 2000.))
        pods = trace.Pods(cpu=np.array([8000., 1000., 8000.]),
                          memory=np.array([10 ** 6, 1024., 1024.]),
                          gpus=np.array([1, 1, 1]),
                          milli=np.array([1000, 500, 1000]))
        st = compare.state_for(nodes, pods)
        kept = []
        real = modes.RecentMix.mix

        def mix(recent):
            kept.append(list(recent._seen))
            return real(recent)

        with mock.patch.object(modes, 'RECENT_MINIMUM', 1), \
                mock.patch.object(modes.RecentMix, 'mix', mix):
            compare.replay(st, pods, 'ours-recent', 0)
        # rebuilt at the first pod (then forgotten) and at the second
        # (the minimum reached again); the first pod is gone from it
        small, whole = (0, 1, 1000.0, 0), (1, 1, 8000.0, 0)
        self.assertEqual([[whole], [small]], kept)

    def test_forget_last_takes_back_one_record(self):
        recent = modes.RecentMix([frozenset()], window=2, minimum=1,
                                 refresh=3)
        for request in (1, 2):
            recent.record(request, 1, 0., '')
        state = (list(recent._seen), dict(recent._counts), recent._since)
        recent.record(3, 1, 0., '')         # evicts the first
        recent.forget_last()
        self.assertEqual(state, (list(recent._seen), dict(recent._counts),
                                 recent._since))


class ConfiguredMixTest(base.BaseTestCase):

    def test_the_weigher_s_configured_mix_is_ours_and_the_blind_view_s(self):
        # What an operator writes in typical_requests from the trace
        # (RC@TRAIT/VCPUS*GPUS per kind of pod, weighted by count) is
        # the mix ours learns; without vCPUs, ours-gpuview's
        rows = [(1000, 1, 500)] * 6 + [(8000, 2, 1000)] * 3 + \
            [(4000, 1, 250)] * 2 + [(2000, 1, 500)] + [(16000, 0, 0)] * 4
        specs = ['G2'] * 3 + [''] * 3 + ['T4|G2'] * 3 + [''] * 7
        pods = _pods(rows, specs)
        nodes = trace.Nodes(names=('node-0',), cpu=np.array([96000.]),
                            memory=np.full(1, 65536.), gpus=np.array([8]),
                            models=('G2',))
        st = compare.state_for(nodes, pods)
        _, index = modes.request_classes(pods)
        for blind, want in ((False, st['model_mix']),
                            (True, st['blind_mix'])):
            got, _ = modes.configured_mix(pods, index, cpu_blind=blind)
            for field in ('request', 'gpus', 'grid', 'by_cpu', 'group'):
                np.testing.assert_array_equal(getattr(want, field),
                                              getattr(got, field))


class RecentMixTest(base.BaseTestCase):

    ROWS = [(1000, 1, 500)] * 6 + [(8000, 2, 1000)] * 3 + \
        [(4000, 1, 250)] * 2 + [(2000, 1, 500)] + [(16000, 0, 0)] * 4
    SPECS = ['G2'] * 3 + [''] * 3 + ['T4|G2'] * 3 + [''] * 7

    def _fed(self, pods, recent, upto=None):
        requests = np.searchsorted(modes.request_classes(pods)[0],
                                   np.where(pods.gpus > 0, pods.milli, 1000))
        due = []
        for i in range(len(pods) if upto is None else upto):
            if pods.gpus[i]:
                due.append(recent.record(requests[i], pods.gpus[i],
                                         pods.cpu[i], pods.specs[i]))
        return due

    def assert_same_mix(self, want, got):
        for field in ('request', 'gpus', 'grid', 'by_cpu', 'group'):
            np.testing.assert_array_equal(getattr(want, field),
                                          getattr(got, field))

    def test_every_request_seen_is_ours_mix(self):
        # the weigher's mix learned from every request of the trace is
        # the mix ours learns from the trace up front
        pods = _pods(self.ROWS, self.SPECS)
        _, index = modes.request_classes(pods)
        want, groups = modes.mix_from(pods, index, by_model=True)
        recent = modes.RecentMix(modes.spec_groups(pods), window=100,
                                 minimum=1, cover=1.0)
        self._fed(pods, recent)
        self.assertEqual(groups, recent.groups)
        self.assert_same_mix(want, recent.mix())

    def test_it_learns_as_the_scheduler_does(self):
        # the same stream of requests through the benchmark's RecentMix
        # and the scheduler's RecentRequests (window, minimum, refresh,
        # cover): after every request both score with the same mix
        from gpuvirt_nova.scheduler import recent as product
        rng = np.random.default_rng(7)
        specs = ['', 'G2', 'T4|G2']
        rows = [(1000 * int(rng.integers(1, 4)), int(rng.integers(1, 3)),
                 int(rng.choice([250, 500, 1000]))) for _ in range(400)]
        pods = _pods([(c, k, 1000 if k > 1 else m) for c, k, m in rows],
                     [specs[i] for i in rng.integers(0, 3, len(rows))])
        groups = modes.spec_groups(pods)
        requests = np.searchsorted(modes.request_classes(pods)[0],
                                   pods.milli)
        ours = modes.RecentMix(groups, window=60, minimum=25)
        theirs = product.RecentRequests()
        names, current = {}, None
        for i in range(len(pods)):
            key = (int(requests[i]), int(pods.gpus[i]), float(pods.cpu[i]),
                   groups.index(frozenset(
                       s for s in pods.specs[i].split('|') if s)))
            # a name per class that sorts as the class does
            name = names.setdefault(key, 'C%02d*%d/%02d@%d' % (
                key[0], key[1], key[2] // 1000, key[3]))
            if ours.record(requests[i], pods.gpus[i], pods.cpu[i],
                           pods.specs[i]):
                current = ours.mix()
            theirs.record([name], window=60)
            learned = theirs.mix(minimum=25, cover=modes.TYPICAL_COVER)
            if learned is None:
                self.assertIsNone(current, i)
                continue
            by_name = {v: k for k, v in names.items()}
            want = scoring.make_mix([by_name[n][:3] + (w, by_name[n][3])
                                     for n, w in learned.items()])
            self.assert_same_mix(want, current)

    def test_the_window_keeps_the_latest_and_rebuilds_when_due(self):
        pods = _pods(self.ROWS, self.SPECS)
        recent = modes.RecentMix(modes.spec_groups(pods), window=3,
                                 minimum=2, cover=1.0, refresh=2)
        due = self._fed(pods, recent)
        # not before the minimum, at it, then every second GPU pod
        self.assertEqual([False, True, False, True, False, True, False,
                          True, False, True, False, True], due)
        # the last three GPU pods: 2 x 250 milli, 500 milli (any model)
        latest = pods.take(np.arange(9, 12))
        _, index = modes.request_classes(pods)
        want, _ = modes.mix_from(latest, index[9:12], by_model=True)
        got = recent.mix()
        for field in ('request', 'gpus', 'grid', 'by_cpu'):
            np.testing.assert_array_equal(getattr(want, field),
                                          getattr(got, field))
        self.assertEqual(3, len(recent._seen))


class MilpBoundTest(base.BaseTestCase):

    def test_optimum_of_a_tiny_instance_with_per_node_constraints(self):
        try:
            import scipy  # noqa: F401
        except ImportError:
            self.skipTest('scipy is not installed: the MILP needs it '
                          '(benchmarks/requirements.txt)')
        from benchmarks.packing import milp_bound
        # one node, two GPUs: 600 + 400 on one GPU and 600 on the other
        # (1600) beats any packing with the 500; the 2-GPU pod asks more
        # CPU than the node has, so it cannot be placed at all
        nodes = _nodes(('T4',), (2,), cpu=8000.)
        pods = _pods([(1000, 1, 500), (1000, 1, 600), (1000, 1, 600),
                      (1000, 1, 400), (9000, 2, 1000)])
        best, bound, status = milp_bound.solve(nodes, pods, time_limit=30)
        self.assertEqual(0, status)
        self.assertAlmostEqual(1600, best)
        self.assertAlmostEqual(1600, bound)


class PairedStatsTest(base.BaseTestCase):

    def test_interval_and_sign_test_of_paired_differences(self):
        # 10 seeds, all ahead by 0.1 to 1.0 points
        got = compare._paired_stats([x / 1000.0 for x in range(1, 11)])
        self.assertAlmostEqual(0.55, got['mean'])
        self.assertEqual((10, 0), (got['ahead'], got['behind']))
        # two-sided sign test of 10/10: 2 / 2**10
        self.assertAlmostEqual(2 / 1024.0, got['sign_p'])
        # t(0.975, 9) = 2.262; sd of 0.1..1.0 = 0.3028
        self.assertAlmostEqual(2.262 * 0.3028 / 10 ** 0.5, got['ci95'],
                               places=3)

    def test_ties_are_left_out_of_the_sign_test(self):
        got = compare._paired_stats([0.0, 0.01, -0.01])
        self.assertEqual((1, 1), (got['ahead'], got['behind']))
        self.assertEqual(1.0, got['sign_p'])

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

"""The whole-cluster LP bound: tight where it should be, never too low."""

import numpy as np
from oslotest import base

from benchmarks.packing import cluster_bound
from benchmarks.packing import compare
from benchmarks.packing import synthetic
from benchmarks.packing import trace
from tests.unit.benchmarks import fakes


def _nodes(models=('T4',), gpus=(1,), cpu=32000.):
    return fakes.nodes(models, gpus, cpu)


_pods = fakes.pods


class _NeedsScipy(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        try:
            import scipy  # noqa: F401
        except ImportError:
            self.skipTest('scipy is not installed: the bound needs it '
                          '(test-requirements.txt)')


class DualFeasibleTest(base.BaseTestCase):

    def test_shares_that_fit_one_gpu_sum_to_at_most_one(self):
        rng = np.random.default_rng(0)
        for _ in range(2000):
            shares = rng.integers(1, 1001, size=rng.integers(1, 6))
            if shares.sum() > 1000:
                continue
            for q in cluster_bound.CUTS:
                got = cluster_bound.dual_feasible(shares / 1000.0, q).sum()
                self.assertLessEqual(got, 1.0 + 1e-9, (shares, q))

    def test_every_share_against_exact_fractions(self):
        # u_q(x) = x if (q+1)x is whole, else floor((q+1)x)/q, for every
        # milli share: floating point must not move a share across a
        # step (0.3 x 10 is not 3.0 in binary)
        from fractions import Fraction
        shares = np.arange(1, 1001)
        for q in cluster_bound.CUTS:
            got = cluster_bound.dual_feasible(shares / 1000.0, q)
            for m, value in zip(shares.tolist(), got.tolist()):
                x = Fraction(m, 1000)
                scaled = (q + 1) * x
                want = x if scaled.denominator == 1 else \
                    Fraction(int(scaled), q)
                self.assertAlmostEqual(float(want), value, 12, (m, q))

    def test_values_that_make_it_a_cut(self):
        u = cluster_bound.dual_feasible
        self.assertEqual(1.0, float(u(1.0, 3)))
        self.assertEqual(1.0, float(u(0.6, 1)))       # > half: all of it
        self.assertEqual(0.0, float(u(0.4, 1)))
        self.assertEqual(0.5, float(u(0.5, 1)))       # two halves fit


class ClusterBoundTest(_NeedsScipy):

    def test_two_shares_over_half_cannot_share_a_gpu(self):
        pods = _pods([(1000, 1, 600), (1000, 1, 600)])
        self.assertAlmostEqual(600, cluster_bound.solve(_nodes(), pods)[0])
        # sums alone would put both on the one GPU
        self.assertAlmostEqual(1000, cluster_bound.solve(
            _nodes(), pods, cuts=())[0])

    def test_two_halves_fill_a_gpu(self):
        pods = _pods([(1000, 1, 500), (1000, 1, 500)])
        self.assertAlmostEqual(1000, cluster_bound.solve(_nodes(), pods)[0])

    def test_a_pod_goes_only_where_one_node_can_take_it(self):
        nodes = _nodes(('T4', 'V100M32'), (1, 1), cpu=8000.)
        pods = _pods([(9000, 1, 1000),           # more CPU than a node
                      (1000, 2, 1000),           # more GPUs than a node
                      (1000, 1, 1000), (1000, 1, 1000)],
                     spec=('', '', 'T4', 'T4'))  # both only on the T4
        self.assertAlmostEqual(1000, cluster_bound.solve(nodes, pods)[0])

    def test_node_types_sum_their_nodes(self):
        nodes = _nodes(('T4',) * 3, (2, 2, 2), cpu=4000.)
        types, count = cluster_bound.node_types(nodes)
        self.assertEqual([('T4', 2, 4000., 65536.)], types)
        self.assertEqual([3.], count.tolist())
        # CPU, not GPUs, limits: 3 nodes x 4000 milli-CPU = 4 pods
        pods = _pods([(3000, 1, 1000)] * 6)
        self.assertAlmostEqual(4000, cluster_bound.solve(nodes, pods)[0])

    def test_never_below_the_exact_optimum_or_a_policy(self):
        from benchmarks.packing import milp_bound
        nodes = synthetic.nodes((('G2', 1), ('T4', 2)))
        cap = float(nodes.capacity)
        for seed in range(3):
            pods = synthetic.pods(300, seed=seed)
            # the whole list, 1.3 x the capacity: more than fits
            arrived = trace.fgd_arrival(pods, cap, seed)
            bound = cluster_bound.solve(nodes, arrived)[0]
            best, _, status = milp_bound.solve(nodes, arrived,
                                               time_limit=60)
            self.assertEqual(0, status, 'the MILP did not reach its optimum')
            self.assertGreaterEqual(bound + 1e-6, best, seed)
            st = compare.state_for(nodes, pods)
            for policy in ('ours', 'fgd', 'best-fit', 'first-fit'):
                alloc = compare.replay(st, arrived, policy, seed)[1]
                self.assertGreaterEqual(bound + 1e-6, alloc[-1],
                                        (seed, policy))
            # more arrived than fits, so the bound had to choose
            self.assertLess(bound, arrived.demand.sum(), seed)

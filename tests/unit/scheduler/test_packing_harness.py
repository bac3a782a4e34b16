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

"""Smoke test of the packing benchmark harness on a handful of pods."""

import numpy as np
from oslotest import base

from benchmarks.packing import modes
from benchmarks.packing import simulate
from benchmarks.packing import trace
from benchmarks.packing import upper_bound
from gpuvirt_nova.scheduler import scoring


def _nodes():
    return trace.Nodes(names=('a', 'b', 'c'),
                       cpu=np.array([16000., 32000., 64000.]),
                       memory=np.array([65536., 131072., 262144.]),
                       gpus=np.array([2, 1, 4]),
                       models=('T4', 'T4', 'G2'))


def _pods():
    return trace.Pods(cpu=np.array([4000., 8000., 2000., 6000., 1000.,
                                    12000., 3000., 4000.]),
                      memory=np.array([8192.] * 8),
                      gpus=np.array([1, 1, 0, 2, 1, 1, 1, 1]),
                      milli=np.array([500, 1000, 0, 1000, 230, 810, 120,
                                      470]))


class HarnessTest(base.BaseTestCase):

    def _replay(self, mode, policy):
        nodes, pods = _nodes(), _pods()
        values, index = modes.request_classes(pods)
        if mode == 'fractional':
            space, _ = modes.fractional_space(values)
            shape_of_node = [0] * 3
        else:
            space, shape_of_node = modes.profile_space(values, nodes)
        mix = modes.mix_from(pods, index)
        cluster = simulate.Cluster.build(space, nodes, shape_of_node,
                                         len(space.shapes) - 1)
        result = simulate.replay(cluster, pods, index, mix, policy,
                                 modes.tables(space, mix), seed=1)
        return cluster, result, (space, shape_of_node, values)

    def test_every_policy_keeps_the_books(self):
        for mode in ('fractional', 'profile'):
            for policy in scoring.POLICIES:
                cluster, result, _ = self._replay(mode, policy)
                used = cluster.gpu_cap.sum() - \
                    cluster.space.free[cluster.states].sum()
                self.assertAlmostEqual(used, result.allocated[-1])
                self.assertTrue((np.diff(result.allocated) >= 0).all())
                self.assertTrue((result.requested <=
                                 result.allocated + 1e-9).all())
                self.assertTrue((cluster.cpu_left >= 0).all())
                self.assertTrue((cluster.mem_left >= 0).all())
                if mode == 'fractional':
                    np.testing.assert_allclose(result.requested,
                                               result.allocated)

    def test_first_fit_fills_the_first_gpu_first(self):
        cluster, _, _ = self._replay('fractional', 'first-fit')
        self.assertLess(cluster.space.free[cluster.states[0, 0]], 1000)

    def test_upper_bound_is_above_what_a_policy_served(self):
        try:
            import scipy  # noqa: F401
        except ImportError:
            self.skipTest('scipy is not installed: the LP bound needs it '
                          '(benchmarks/requirements.txt)')
        nodes, pods = _nodes(), _pods()
        for mode in ('fractional', 'profile'):
            cluster, result, (space, shape_of_node, values) = \
                self._replay(mode, 'ours')
            kinds = {}
            for i in range(len(pods)):
                k = int(pods.gpus[i])
                if k:
                    key = (int(np.searchsorted(values, pods.milli[i])),
                           int(pods.milli[i]), pods.cpu[i] / k,
                           pods.memory[i] / k)
                    kinds[key] = kinds.get(key, 0) + k
            groups = []
            for model in sorted(set(nodes.models)):
                mine = np.array([m == model for m in nodes.models])
                shape = space.shapes[shape_of_node[int(np.argmax(mine))]]
                groups.append((shape, int(nodes.gpus[mine].sum()),
                               float(nodes.cpu[mine].sum()),
                               float(nodes.memory[mine].sum())))
            bound = upper_bound.bound(
                groups, [(r, m, n, c, mem)
                         for (r, m, c, mem), n in kinds.items()],
                mode == 'fractional')
            self.assertGreaterEqual(bound + 1e-6, result.requested[-1])


class ModelConstraintMixTest(base.BaseTestCase):
    """scoring's GPU-model-aware mix, as the packing harness builds it.

    The constraint is the trace's gpu_spec (a flavor's required
    CUSTOM_GPU_<MODEL> trait in Nova).
    """

    def _setup(self):
        # one T4 node and one V100 node, one idle GPU each; the typical
        # request is a 500m share that only V100 GPUs may take
        pods = trace.Pods(cpu=np.array([1000., 1000.]),
                          memory=np.array([1024., 1024.]),
                          gpus=np.array([1, 1]), milli=np.array([500, 500]),
                          spec=('V100M16', 'V100M16'))
        values, index = modes.request_classes(pods)
        space, _ = modes.fractional_space(values)
        mix, groups = modes.mix_from(pods, index, by_model=True)
        access = scoring.access_matrix(mix, groups, ('T4', 'V100M16'))
        states = np.array([[space.empty(0)], [space.empty(0)]])
        return space, mix, access, states, values

    def test_a_class_counts_all_idle_share_where_it_has_no_access(self):
        space, mix, access, states, _ = self._setup()
        np.testing.assert_array_equal([[False, True]], access)
        frag = scoring.fragmentation(space, states, [8000, 8000], mix,
                                     access)
        np.testing.assert_allclose([1000, 0], frag)
        # without the constraint both idle GPUs are useful
        np.testing.assert_allclose([0, 0], scoring.fragmentation(
            space, states, [8000, 8000], mix))

    def test_unconstrained_requests_spare_the_model_others_need(self):
        space, mix, access, states, values = self._setup()
        r = int(np.searchsorted(values, 500))
        new = space.options[states[:, 0], r, 0][:, None]
        deltas = scoring.move_deltas(space, states, [8000, 8000], mix,
                                     [0, 1], states, new, 0, access=access)
        # on the T4 it uses share no typical request could use; on the
        # V100 it would not change F here, but the T4 move lowers it
        np.testing.assert_allclose([-500, 0], deltas)
        self.assertEqual(0, int(np.argmin(deltas)))


class CpuOnlyPodTest(base.BaseTestCase):

    def test_a_cpu_only_pod_lands_on_no_gpu(self):
        # Two nodes alike but for which GPU holds the half-used one: a
        # CPU-only pod takes no GPU, so neither is "tighter" (Nova's
        # weigher: no GPU moved, tightness 0) and node order decides.
        nodes = trace.Nodes(names=('a', 'b'), cpu=np.array([32000.] * 2),
                            memory=np.array([65536.] * 2),
                            gpus=np.array([2, 2]), models=('T4', 'T4'))
        pods = trace.Pods(cpu=np.array([4000., 4000.]),
                          memory=np.array([1024.] * 2),
                          gpus=np.array([1, 0]), milli=np.array([500, 0]))
        values, index = modes.request_classes(pods)
        space, _ = modes.fractional_space(values)
        mix = modes.mix_from(pods, index)
        cluster = simulate.Cluster.build(space, nodes, [0, 0],
                                         len(space.shapes) - 1)
        half = space.free.tolist().index(500)
        cluster.states[0, 1] = cluster.states[1, 0] = half
        cluster.cpu_left[:] -= 4000.
        terms = [np.array(t, dtype=float) for t in scoring.node_terms(
            space, cluster.states, mix)]
        got = simulate.place(cluster, mix, terms, 'ours', (4000., 1024., 0),
                             index[1], modes.tables(space, mix), None)
        self.assertEqual((0.0, 0), got)
        # the other node first in the tie order: it goes there
        cluster.cpu_left[0] += 4000.
        got = simulate.place(cluster, mix, terms, 'ours', (4000., 1024., 0),
                             index[1], modes.tables(space, mix), None,
                             node_rank=np.array([1, 0]))
        self.assertEqual((0.0, 1), got)

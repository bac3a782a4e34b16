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

"""Static carves of the carving benchmark: geometry, matching, planning."""

import numpy as np
from oslotest import base

from benchmarks.packing import carving
from benchmarks.packing import modes
from benchmarks.packing import simulate
from benchmarks.packing import trace
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import model
from gpuvirt_nova.scheduler import scoring
from gpuvirt_nova.scheduler import shapes


def _a100():
    return catalog.load().get('A100-SXM4-80GB')


def _nodes(models):
    n = len(models)
    return trace.Nodes(names=tuple('n%02d' % i for i in range(n)),
                       cpu=np.full(n, 96000.), memory=np.full(n, 786432.),
                       gpus=np.full(n, 8), models=tuple(models))


def _pods(milli, gpus=None):
    n = len(milli)
    return trace.Pods(cpu=np.full(n, 1000.), memory=np.full(n, 1024.),
                      gpus=np.array(gpus or [1] * n),
                      milli=np.array(milli))


class HomogeneousCarveTest(base.BaseTestCase):

    def test_a100_carves_as_many_as_geometry_and_compute_allow(self):
        gpu = _a100()
        counts = {p.name: len(carving.homogeneous_carve(gpu, p))
                  for p in shapes.mig_profiles_for(gpu)}
        self.assertEqual(7, counts['1g.10gb'])
        self.assertEqual(3, counts['2g.20gb'])
        self.assertEqual(2, counts['3g.40gb'])
        self.assertEqual(1, counts['4g.40gb'])
        self.assertEqual(1, counts['7g.80gb'])

    def test_overlap_compute_budget_and_max_instances_are_kept(self):
        gpu = _a100()
        place = model.Placement
        overlapping = model.MigProfile(
            name='2g.x', nvml_id=0, compute_slices=2, memory_mib=1,
            placements=(place(0, 2), place(1, 2), place(2, 2)))
        self.assertEqual((place(0, 2), place(2, 2)),
                         carving.homogeneous_carve(gpu, overlapping))
        hungry = model.MigProfile(
            name='3g.x', nvml_id=0, compute_slices=3, memory_mib=1,
            placements=(place(0, 2), place(2, 2), place(4, 2)))
        self.assertEqual(2, len(carving.homogeneous_carve(gpu, hungry)))
        capped = model.MigProfile(
            name='1g.x', nvml_id=0, compute_slices=1, memory_mib=1,
            placements=tuple(place(i, 1) for i in range(7)),
            max_instances=1)
        self.assertEqual(1, len(carving.homogeneous_carve(gpu, capped)))

    def test_carved_instances_never_overlap(self):
        gpu = _a100()
        for profile in shapes.mig_profiles_for(gpu):
            carved = carving.homogeneous_carve(gpu, profile)
            for i, a in enumerate(carved):
                for b in carved[i + 1:]:
                    self.assertFalse(a.overlaps(b), (profile.name, a, b))


class StaticShapeTest(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.gpu = _a100()
        self.values = [125, 250, 1000]   # -> 1g, 2g, 7g on an A100
        self.requested = [shapes.round_to_mig(self.gpu, v)
                          for v in self.values]
        one_g = self.gpu.mig_profile('1g.10gb')
        self.shape = carving.static_mig_shape(
            self.gpu, one_g, carving.homogeneous_carve(self.gpu, one_g),
            self.requested)

    def test_only_the_carved_profile_uses_the_gpu(self):
        empty = self.shape.empty
        self.assertTrue(self.shape.can_host[empty, 0])
        self.assertFalse(self.shape.can_host[empty, 1])   # 2g on 1g carve
        self.assertFalse(self.shape.can_host[empty, 2])   # 7g on 1g carve

    def test_seven_guests_fill_it_and_the_eighth_slice_stays_idle(self):
        state = self.shape.empty
        for _ in range(7):
            state = self.shape.options[state, 0, 0]
            self.assertGreaterEqual(state, 0)
        self.assertFalse(self.shape.can_host[state, 0])
        self.assertEqual(125.0, self.shape.free[state])


class StaticTypeShapeTest(base.BaseTestCase):

    def test_time_sliced_carve_takes_only_its_type_up_to_its_maximum(self):
        t4 = catalog.load().get('T4')
        types = shapes.timesliced_types(t4)
        small, large = types[0], types[-1]
        shape = carving.static_type_shape(t4, small, [small, large])
        self.assertFalse(shape.can_host[shape.empty, 1])
        state = shape.empty
        for _ in range(small.max_instances):
            state = shape.options[state, 0, 0]
        self.assertFalse(shape.can_host[state, 0])
        self.assertEqual(0.0, shape.free[state])


class PlanTest(base.BaseTestCase):

    def test_carves_follow_the_traces_demand(self):
        nodes = _nodes(['G2'] * 4)
        # GPU-equivalents asked: 1g: 14 pods / 7 per GPU = 2 GPUs,
        # 7g: 6 GPUs -> 1 node of 1g, 3 of 7g
        pods = _pods([125] * 14 + [1000] * 6)
        values, _ = modes.request_classes(pods)
        space, shape_of_node, plan = carving.static_space(values, nodes,
                                                          pods)
        self.assertEqual({'G2': {'1g.10gb': 1, '7g.80gb': 3}}, plan)
        names = [space.shapes[s].name for s in shape_of_node]
        self.assertEqual(1, sum(n.endswith(':1g.10gb') for n in names))

    def test_largest_remainder_keeps_the_total(self):
        for weights, total in (([1, 1, 1], 10), ([0.2, 5, 0], 7),
                               ([0, 0], 3)):
            self.assertEqual(total,
                             sum(carving._largest_remainder(weights, total)))

    def test_static_refuses_what_dynamic_carving_places(self):
        nodes = _nodes(['G2'])
        plan_pods = _pods([1000] * 8)          # plan: the node is all 7g
        values, _ = modes.request_classes(_pods([125, 1000]))
        space, shape_of_node, _ = carving.static_space(values, nodes,
                                                       plan_pods)
        dyn, dyn_shape = modes.profile_space(values, nodes)
        mix = modes.mix_from(plan_pods, np.searchsorted(values, [1000] * 8))
        for sp, son, expect in ((space, shape_of_node, None),
                                (dyn, dyn_shape, 0)):
            cluster = simulate.Cluster.build(sp, nodes, son,
                                             len(sp.shapes) - 1)
            terms = [np.array(t, dtype=float) for t in scoring.node_terms(
                sp, cluster.states, mix)]
            placed = simulate.place(cluster, mix, terms, 'best-fit',
                                    (1000., 1024., 1), 0,
                                    modes.tables(sp, mix),
                                    np.random.default_rng(0))
            self.assertEqual(expect, None if placed is None else placed[1])

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

"""GPU shapes: state tables built from the catalog."""

import numpy as np
from oslotest import base

from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.scheduler import shapes


def _walk(shape, state, request, times):
    for _ in range(times):
        state = shape.options[state, request, 0]
    return state


class FractionalShapeTest(base.BaseTestCase):

    def test_request_takes_exactly_its_share(self):
        shape = shapes.fractional([300, 1000])
        after = shape.options[shape.empty, 0, 0]
        self.assertEqual(700, shape.free[after])
        self.assertFalse(shape.can_host[after, 1])
        self.assertTrue(shape.can_host[after, 0])

    def test_full_gpu_only_fits_an_empty_gpu(self):
        shape = shapes.fractional([1000])
        self.assertTrue(shape.can_host[1000, 0])
        self.assertFalse(shape.can_host[999, 0])


class MigShapeTest(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.a100 = catalog.load().get('A100-PCIE-40GB')

    def test_rounding_covers_compute_and_memory(self):
        # 470 milli needs more than 3/7 of the compute: 4g, not 3g.
        self.assertEqual('4g.20gb', shapes.round_to_mig(self.a100, 470).name)
        self.assertEqual('3g.20gb', shapes.round_to_mig(self.a100, 320).name)
        self.assertEqual('2g.10gb', shapes.round_to_mig(self.a100, 230).name)
        self.assertEqual('1g.5gb', shapes.round_to_mig(self.a100, 120).name)
        self.assertEqual('7g.40gb', shapes.round_to_mig(self.a100, 810).name)

    def test_seven_1g_strand_the_eighth_slice(self):
        shape = shapes.mig(self.a100, [100, 1000])
        state = _walk(shape, shape.empty, 0, 7)
        self.assertGreaterEqual(state, 0)
        self.assertEqual(125, shape.free[state])
        self.assertFalse(shape.can_host[state].any())

    def test_placements_come_from_the_catalog(self):
        shape = shapes.mig(self.a100, [470])
        starts = self.a100.mig_profile('4g.20gb').placements
        self.assertEqual(len(starts),
                         int((shape.options[shape.empty, 0] >= 0).sum()))

    def test_1g_at_slice_0_blocks_the_only_4g(self):
        profiles = [self.a100.mig_profile('1g.5gb'),
                    self.a100.mig_profile('4g.20gb')]
        shape = shapes.mig_for_profiles(self.a100, profiles)
        first = shape.options[shape.empty, 0, 0]
        self.assertFalse(shape.can_host[first, 1])
        others = shape.options[shape.empty, 0, 4:]
        self.assertTrue(all(shape.can_host[s, 1] for s in others if s >= 0))


class TimeSlicedShapeTest(base.BaseTestCase):

    def test_equal_size_keeps_one_type_per_gpu(self):
        a100 = catalog.load().get('A100-PCIE-40GB')
        four = a100.vgpu_type('A100-4C')
        ten = a100.vgpu_type('A100-10C')
        shape = shapes.timesliced_for_types(a100, [four, ten])
        after = shape.options[shape.empty, 0, 0]
        self.assertFalse(shape.can_host[after, 1])
        self.assertEqual(1000 - 1000 / four.max_instances, shape.free[after])
        full = _walk(shape, shape.empty, 0, four.max_instances)
        self.assertEqual(0, shape.free[full])
        self.assertFalse(shape.can_host[full, 0])


class CombineTest(base.BaseTestCase):

    def test_option_indexes_are_shifted(self):
        one = shapes.fractional([500])
        two = shapes.absent([500])
        space = shapes.combine([two, one])
        empty = space.empty(1)
        self.assertEqual(1000, space.free[empty])
        self.assertEqual(500, space.free[space.options[empty, 0, 0]])
        self.assertFalse(space.can_host[space.empty(0)].any())
        np.testing.assert_array_equal(space.free[1:], one.free)

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

"""Time-sliced placements: the catalog's maxima, aligned slots, modes."""

from oslotest import base

from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import model
from gpuvirt_nova.hardware import ts_placement as tsp


def _h(name, start=None, size=None):
    return tsp.Hosted(name, model.Placement(start, size)
                      if start is not None else None)


class TestModel(base.BaseTestCase):

    def test_every_mixed_maximum_is_a_tiling(self):
        # Each type's placements tile the GPU, m of them: NVIDIA's
        # mixed-size maxima, on every model the catalog has.
        for gpu_model in catalog.load().models.values():
            slots = tsp.slot_count(gpu_model)
            for vgpu_type in tsp.time_sliced_types(gpu_model):
                found = tsp.supported_placements(gpu_model, vgpu_type)
                self.assertEqual(vgpu_type.max_instances_mixed or 0,
                                 len(found), vgpu_type.name)
                if found:
                    self.assertEqual(slots, found[-1].start + found[-1].size)

    def test_slices_count_framebuffer(self):
        l40s = catalog.load().get('L40S')
        self.assertEqual(1024, tsp.slice_mib(l40s))
        self.assertEqual(48, tsp.total_slices(l40s))
        self.assertEqual(8, tsp.type_slices(l40s, l40s.vgpu_type('L40S-8C')))


class TestMixed(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.l40s = catalog.load().get('L40S')

    def test_differently_sized_types_share_a_gpu(self):
        hosted = [_h('L40S-8C', 0, 8)]
        self.assertIsNone(tsp.refusal(self.l40s, tsp.MIXED, hosted,
                                      'L40S-24C'))
        self.assertEqual(model.Placement(16, 16),
                         tsp.next_placement(self.l40s, hosted, 'L40S-24C'))

    def test_free_memory_without_an_aligned_placement_is_refused(self):
        # 8C at 8..15 leaves 40 GiB free, but both 24C placements overlap
        # slots the 8C at 8 and the 4C at 16 hold.
        hosted = [_h('L40S-8C', 8, 8), _h('L40S-4C', 16, 4)]
        self.assertIn('no free placement',
                      tsp.refusal(self.l40s, tsp.MIXED, hosted, 'L40S-24C'))
        self.assertIsNone(tsp.refusal(self.l40s, tsp.MIXED, hosted,
                                      'L40S-4C'))

    def test_unknown_placements_are_put_lowest_first(self):
        hosted = tsp.placed(self.l40s, [_h('L40S-24C'), _h('L40S-8C')])
        self.assertEqual([model.Placement(0, 16), model.Placement(16, 8)],
                         [h.placement for h in hosted])

    def test_room_prefers_the_largest_type_left(self):
        empty = tsp.room(self.l40s, [])
        one = tsp.room(self.l40s, [_h('L40S-4C', 0, 4)])
        self.assertEqual(32, empty[0])
        self.assertEqual(16, one[0])


class TestEqual(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.l40s = catalog.load().get('L40S')

    def test_only_the_hosted_type(self):
        hosted = [_h('L40S-8C')]
        self.assertIn('hosts L40S-8C', tsp.refusal(
            self.l40s, tsp.EQUAL, hosted, 'L40S-4C'))
        self.assertIsNone(tsp.refusal(self.l40s, tsp.EQUAL, hosted,
                                      'L40S-8C'))
        self.assertIsNone(tsp.refusal(self.l40s, tsp.EQUAL, [], 'L40S-4C'))

    def test_equal_size_maximum(self):
        hosted = [_h('L40S-8C')] * 6
        self.assertIn('maximum', tsp.refusal(self.l40s, tsp.EQUAL, hosted,
                                             'L40S-8C'))

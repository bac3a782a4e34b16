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

"""Sync decisions: protect allocations, keep foreign traits."""

from oslotest import base

from gpuvirt_nova.placement import diff
from gpuvirt_nova.placement import tree
from tests.unit.placement import test_tree

A = test_tree.A
RC = 'CUSTOM_VGPU_A100_4C'
OTHER = 'CUSTOM_VGPU_A100_2_10C'


def spec(offer):
    return tree.build_provider_tree(
        'node01', test_tree.make_host(), {A: offer}).providers[0]


def record(total, reserved=0):
    return dict(total=total, reserved=reserved, min_unit=1, max_unit=total,
                step_size=1, allocation_ratio=1.0)


class TestInventories(base.BaseTestCase):

    def test_equal_ignores_float_noise(self):
        left = {RC: record(4)}
        right = {RC: dict(record(4), allocation_ratio=1.0000001)}
        self.assertTrue(diff.inventories_equal(left, right))
        self.assertFalse(diff.inventories_equal(left, {RC: record(5)}))
        self.assertFalse(diff.inventories_equal(left, {}))

    def test_growth_needs_no_usages(self):
        self.assertFalse(diff.needs_usages(spec({'A100-4C': 8}),
                                           {RC: record(4)}))

    def test_shrink_or_removal_needs_usages(self):
        self.assertTrue(diff.needs_usages(spec({'A100-4C': 2}),
                                          {RC: record(4)}))
        self.assertTrue(diff.needs_usages(spec({'A100-4C': 2}),
                                          {OTHER: record(3)}))

    def test_desired_inventory_when_nothing_is_used(self):
        wanted, notes = diff.merge_inventories(
            spec({'A100-4C': 2}), {RC: record(8), OTHER: record(3)}, {})
        self.assertEqual({RC: record(2)}, wanted)
        self.assertEqual([], notes)

    def test_never_below_usage(self):
        wanted, notes = diff.merge_inventories(
            spec({'A100-4C': 2}), {RC: record(8)}, {RC: 5})
        self.assertEqual(5, wanted[RC]['total'])
        self.assertEqual(5, wanted[RC]['reserved'])
        self.assertEqual(1, len(notes))
        self.assertIn('5 are allocated', notes[0])

    def test_class_in_use_stays_reserved(self):
        wanted, notes = diff.merge_inventories(
            spec({'A100-4C': 2}), {OTHER: record(3)}, {OTHER: 1})
        self.assertEqual(record(3, reserved=3), wanted[OTHER])
        self.assertIn('no longer offered', notes[0])

    def test_new_type_offers_nothing_while_old_guests_remain(self):
        # The GPU was re-typed under guests of the old type: its new
        # capacity is not there until they are gone.
        wanted, notes = diff.merge_inventories(
            spec({'A100-4C': 2}), {OTHER: record(3)}, {OTHER: 1})
        self.assertEqual(record(2, reserved=2), wanted[RC])
        self.assertIn('type changes while guests', notes[-1])
        wanted, _notes = diff.merge_inventories(
            spec({'A100-4C': 2}), {OTHER: record(3)}, {})
        self.assertEqual({RC: record(2)}, wanted)

    def test_drained(self):
        self.assertEqual({RC: record(4, reserved=4)},
                         diff.drained({RC: record(4)}))


class TestTraits(base.BaseTestCase):

    def test_foreign_traits_are_kept_and_stale_own_removed(self):
        current = {'CUSTOM_RACK_A', 'COMPUTE_STATUS_DISABLED',
                   'CUSTOM_VGPU_TYPE_A100_2_10C', 'CUSTOM_MIG_2G_10GB',
                   'CUSTOM_GPUVIRT_MANAGED'}
        desired = spec({'A100-4C': 1}).traits
        merged = diff.merge_traits(desired, current)
        self.assertIn('CUSTOM_RACK_A', merged)
        self.assertIn('COMPUTE_STATUS_DISABLED', merged)
        self.assertNotIn('CUSTOM_VGPU_TYPE_A100_2_10C', merged)
        self.assertNotIn('CUSTOM_MIG_2G_10GB', merged)
        self.assertTrue(desired <= merged)

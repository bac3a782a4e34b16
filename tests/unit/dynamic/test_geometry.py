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

"""MIG geometry of a dynamic GPU: free placements and the best one."""

from oslotest import base

from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import model
from gpuvirt_nova.layout import geometry

PROFILES = list(catalog.load().get('A100-PCIE-40GB').mig_profiles)


def at(profile, start, size):
    return geometry.Occupied(profile, model.Placement(start, size))


class TestFreePlacements(base.BaseTestCase):

    def test_overlap_refuses_what_slice_counts_would_allow(self):
        # 1 + 4 compute of 7 and 1 + 4 memory of 8 are free, but the only
        # 4g.20gb placement (0:4) overlaps the 1g at slice 0.
        occupied = [at('1g.5gb', 0, 1)]
        self.assertEqual([], geometry.free_placements(
            PROFILES, occupied, '4g.20gb'))
        self.assertEqual([model.Placement(4, 4)], geometry.free_placements(
            PROFILES, occupied, '3g.20gb'))

    def test_compute_slices_run_out_before_memory_slices(self):
        # 4g + 2g hold 6 of 7 compute and 6 of 8 memory slices: a 2g
        # finds free memory (6:2) but not two compute slices.
        occupied = [at('4g.20gb', 0, 4), at('2g.10gb', 4, 2)]
        self.assertEqual([], geometry.free_placements(
            PROFILES, occupied, '2g.10gb'))
        self.assertEqual([model.Placement(6, 1)], geometry.free_placements(
            PROFILES, occupied, '1g.5gb'))

    def test_media_extension_profile_holds_one_instance(self):
        occupied = [at('1g.5gb+me', 0, 1)]
        self.assertEqual([], geometry.free_placements(
            PROFILES, occupied, '1g.5gb+me'))

    def test_unknown_profile_fits_nowhere(self):
        self.assertEqual([], geometry.free_placements(PROFILES, [], '9g'))


class TestBestPlacement(base.BaseTestCase):

    def test_keeps_the_largest_profile_possible(self):
        # A 3g.20gb at 4:4 leaves 0:4 for a 4g.20gb; at 0:4 it would not.
        self.assertEqual(model.Placement(4, 4), geometry.best_placement(
            PROFILES, [], '3g.20gb'))
        # A lone 1g.5gb goes where it blocks neither 4g nor 3g at 0:4.
        self.assertEqual(6, geometry.best_placement(
            PROFILES, [], '1g.5gb').start)

    def test_then_the_most_ways_to_place_smaller_ones(self):
        occupied = [at('3g.20gb', 4, 4)]
        best = geometry.best_placement(PROFILES, occupied, '1g.5gb')
        # Every free 1g placement (0-3) leaves the same room; ties go to
        # the lowest slice, the same in the scheduler and the driver.
        self.assertEqual(0, best.start)

    def test_prefer_is_taken_only_when_free(self):
        self.assertEqual(2, geometry.best_placement(
            PROFILES, [], '1g.5gb', prefer=2).start)
        taken = [at('1g.5gb', 2, 1)]
        self.assertEqual(
            geometry.best_placement(PROFILES, taken, '1g.5gb'),
            geometry.best_placement(PROFILES, taken, '1g.5gb', prefer=2))

    def test_none_when_nothing_fits(self):
        self.assertIsNone(geometry.best_placement(
            PROFILES, [at('7g.40gb', 0, 8)], '1g.5gb'))


class TestSchedulerView(base.BaseTestCase):

    def test_busy_slices_block_overlaps_but_hold_no_compute(self):
        # The scheduler sees busy slices (traits); Placement counts the
        # compute. Slices 4-7 busy: a 4g still fits at 0:4.
        occupied = geometry.occupied_from_slices(PROFILES, [4, 5, 6, 7])
        self.assertEqual([model.Placement(0, 4)], geometry.free_placements(
            PROFILES, occupied, '4g.20gb'))
        self.assertEqual([4, 5, 6, 7], geometry.used_slices(occupied))

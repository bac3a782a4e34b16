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

"""Per-user limits and fair share decisions."""

from oslotest import base

from gpuvirt_nova.placement import flavors
from gpuvirt_nova.placement import naming
from gpuvirt_nova.scheduler import limits
from tests.unit.scheduler import fixtures as fx


class RequestedTest(base.BaseTestCase):

    def test_groups_are_summed_and_other_resources_ignored(self):
        specs = {'resources1:%s' % fx.rc('A100-1-5C'): '1',
                 'resources2:%s' % fx.rc('A100-1-5C'): '1',
                 'resources:%s' % fx.rc('A100-3-20C'): '1',
                 'resources:VCPU': '4', 'hw:cpu_policy': 'dedicated'}
        self.assertEqual({fx.rc('A100-1-5C'): 2, fx.rc('A100-3-20C'): 1},
                         limits.requested_vgpus(specs))

    def test_vgpu_count_only_counts_vgpus(self):
        self.assertEqual(3, limits.vgpu_count(
            {fx.rc('A100-1-5C'): 2, fx.rc('A100-4C'): 1, 'VCPU': 8}))


class DynamicGpuTest(base.BaseTestCase):
    """Guests on dynamic GPUs: one vGPU each, a share by their slices."""

    def test_a_dynamic_flavor_counts_one_vgpu_whatever_its_slices(self):
        for specs in (flavors.dynamic_ts_extra_specs('A100-20C', 20),
                      flavors.dynamic_extra_specs('3g.20gb', 3, 4)):
            self.assertEqual(1, limits.vgpu_count(
                limits.requested_units(specs)))
        self.assertEqual(3, limits.vgpu_count(
            {naming.DYNAMIC_VGPU_RC: 2, naming.FB_SLICE_RC: 30,
             fx.rc('A100-4C'): 1}))

    def test_share_comes_from_the_slices(self):
        self.assertAlmostEqual(0.5, limits.gpu_share(
            {naming.FB_SLICE_RC: 20, naming.DYNAMIC_VGPU_RC: 1}, {},
            {naming.FB_SLICE_RC: 1.0 / 40}))
        self.assertAlmostEqual(0.5, limits.gpu_share(
            {naming.MIG_MEMORY_SLICE_RC: 4, naming.MIG_COMPUTE_SLICE_RC: 3},
            {}))

    def test_a_dynamic_gpu_counts_in_the_cluster_by_its_slices(self):
        summaries = {'gpu': {'resources': {
            naming.FB_SLICE_RC: {'capacity': 40, 'used': 10},
            naming.DYNAMIC_VGPU_RC: {'capacity': 8, 'used': 1}}}}
        used, capacity, fallback = limits.cluster_use(summaries, 1)
        self.assertAlmostEqual(0.25, used)
        self.assertEqual(1.0, capacity)
        self.assertAlmostEqual(1.0 / 40, fallback[naming.FB_SLICE_RC])


class UserLimitTest(base.BaseTestCase):

    def test_at_limit_is_refused_with_the_reason(self):
        reason = limits.check_user_limit('alice', 'p1', 3, 1, 3)
        self.assertIn('alice', reason)
        self.assertIn('max_jobs_per_user is 3', reason)
        self.assertIn('holds 3 vGPU(s)', reason)

    def test_refusal_names_where_the_limit_is_set(self):
        self.assertIn('raise [gpuvirt_scheduler] max_jobs_per_user',
                      limits.check_user_limit('alice', 'p1', 3, 1, 3))
        self.assertIn('raise scheduler.max_jobs_per_user in the layout',
                      limits.check_user_limit('alice', 'p1', 3, 1, 3,
                                              limits.LIMIT_FROM_LAYOUT))

    def test_under_limit_or_disabled_passes(self):
        self.assertIsNone(limits.check_user_limit('bob', 'p1', 2, 1, 3))
        self.assertIsNone(limits.check_user_limit('bob', 'p1', 9, 1, 0))


class FairShareTest(base.BaseTestCase):

    def test_share_is_weight_over_listed_weights(self):
        self.assertAlmostEqual(
            0.75, limits.project_share('a', {'a': 3, 'b': 1}, 1.0))
        self.assertAlmostEqual(
            0.2, limits.project_share('c', {'a': 3, 'b': 1}, 1.0))

    def test_over_share_refused_only_when_busy(self):
        busy = limits.check_fair_share('p1', 5.0, 1.0, 9.0, 10.0, 0.5, 0.8)
        self.assertIn('over its fair share of 5.00 GPU(s)', busy)
        self.assertIn('90% used', busy)
        self.assertIsNone(
            limits.check_fair_share('p1', 5.0, 1.0, 7.0, 10.0, 0.5, 0.8))

    def test_under_share_served_when_busy(self):
        self.assertIsNone(
            limits.check_fair_share('p2', 1.0, 1.0, 9.5, 10.0, 0.5, 0.8))

    def test_mig_share_comes_from_memory_slices(self):
        shares = limits.type_shares()
        self.assertAlmostEqual(0.25, shares[fx.rc('A100-2-10C')])
        self.assertAlmostEqual(0.1, shares[fx.rc('A100-4C')])


class LayoutOptionsTest(base.BaseTestCase):

    def test_fair_share_policy_packs_and_enables_fair_share(self):
        self.assertEqual(
            {'weigher_policy': 'pack', 'fair_share': True,
             'max_jobs_per_user': 3},
            limits.options_from_layout({'policy': 'fair-share',
                                        'max_jobs_per_user': 3}))

    def test_spread_and_unknown_policy(self):
        self.assertEqual('spread', limits.options_from_layout(
            {'policy': 'spread'})['weigher_policy'])
        err = self.assertRaises(ValueError, limits.options_from_layout,
                                {'policy': 'tetris'})
        self.assertIn('scheduler.policy', str(err))

    def test_pack_policy_turns_fair_share_off(self):
        self.assertEqual({'weigher_policy': 'pack', 'fair_share': False},
                         limits.options_from_layout({'policy': 'pack'}))

    def test_keys_not_given_give_no_option(self):
        self.assertEqual({}, limits.options_from_layout({}))
        self.assertEqual({}, limits.options_from_layout(None))
        self.assertEqual({'max_jobs_per_user': 2},
                         limits.options_from_layout({'max_jobs_per_user': 2}))

    def test_bad_max_jobs_per_user_names_the_field(self):
        for bad in (0, -1, 'three', True):
            err = self.assertRaises(ValueError, limits.options_from_layout,
                                    {'max_jobs_per_user': bad})
            self.assertIn('scheduler.max_jobs_per_user', str(err))

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

"""What a flavor asks of a dynamic GPU."""

from oslotest import base

from gpuvirt_nova.dynamic import requests
from gpuvirt_nova.placement import naming

NAMES = ['1g.5gb', '2g.10gb', '3g.20gb', '4g.20gb', '7g.40gb']


class TestFlavor(base.BaseTestCase):

    def test_profile_comes_from_the_required_trait(self):
        specs = requests.flavor_extra_specs('3g.20gb', 3, 4)
        self.assertEqual('3g.20gb',
                         requests.profile_from_flavor(specs, NAMES))
        self.assertTrue(requests.asks_dynamic(specs))
        self.assertEqual('4', specs['resources1:%s'
                                    % naming.MIG_MEMORY_SLICE_RC])

    def test_no_profile_trait_is_an_error_naming_the_fix(self):
        specs = {'resources1:%s' % naming.MIG_COMPUTE_SLICE_RC: '1'}
        exc = self.assertRaises(requests.RequestError,
                                requests.profile_from_flavor, specs, NAMES)
        self.assertIn('CUSTOM_MIG_1G_5GB', str(exc))
        self.assertIn('requires none', str(exc))

    def test_two_profile_traits_are_refused(self):
        specs = requests.flavor_extra_specs('1g.5gb', 1, 1)
        specs['trait2:CUSTOM_MIG_2G_10GB'] = 'required'
        self.assertRaises(requests.RequestError,
                          requests.profile_from_flavor, specs, NAMES)

    def test_forbidden_trait_is_not_a_request(self):
        specs = {'trait1:CUSTOM_MIG_2G_10GB': 'forbidden'}
        self.assertEqual(set(), requests.required_profile_traits(specs))

    def test_vgpu_flavor_is_not_dynamic(self):
        self.assertFalse(requests.asks_dynamic(
            {'resources:CUSTOM_VGPU_A100_2_10C': '1'}))


class TestAllocations(base.BaseTestCase):

    def test_slices_per_provider(self):
        allocations = {
            'gpu': {'resources': {naming.MIG_COMPUTE_SLICE_RC: 2,
                                  naming.MIG_MEMORY_SLICE_RC: 2}},
            'node': {'resources': {'VCPU': 1}}}
        self.assertEqual({'gpu': {naming.MIG_COMPUTE_SLICE_RC: 2,
                                  naming.MIG_MEMORY_SLICE_RC: 2}},
                         requests.slice_allocations(allocations))

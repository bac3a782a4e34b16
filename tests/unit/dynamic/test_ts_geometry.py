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

"""Dynamic time-sliced GPUs: the filter's geometry, flavors, requests."""

from oslotest import base

from gpuvirt_nova.dynamic import requests
from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.placement import flavors
from gpuvirt_nova.placement import naming
from gpuvirt_nova.scheduler import geometry

MODEL = catalog.load().get('A100-PCIE-40GB')
RP = 'rp-1'


def summary(mixed=True, busy=(), hosts=None, used=0):
    traits = {naming.gpu_model_trait(MODEL.name), naming.DYNAMIC_TRAIT}
    if mixed:
        traits.add(naming.MIXED_SIZE_TRAIT)
    traits |= {naming.slice_used_trait(i) for i in busy}
    if hosts:
        traits.add(naming.hosts_type_trait(hosts))
    return {'traits': sorted(traits), 'resources': {
        naming.FB_SLICE_RC: {'capacity': 40, 'used': used}}}


def specs(type_name):
    return requests.ts_flavor_extra_specs(
        type_name, int(type_name.split('-')[1][:-1]))


def room(summary_, type_name):
    candidate = {'allocations': {RP: {'resources': {
        naming.FB_SLICE_RC: 1}}}}
    return geometry.candidate_room(candidate, {RP: summary_},
                                   specs(type_name))


class TestMixedSize(base.BaseTestCase):

    def test_empty_gpu_takes_every_type(self):
        for vgpu_type in MODEL.time_sliced_types('C'):
            self.assertIsNotNone(room(summary(), vgpu_type.name),
                                 vgpu_type.name)

    def test_every_slot_busy_refuses_what_slices_would_allow(self):
        # Four 8C hold 32 of 40 slices and every placement slot: a 5C
        # (5 slices) has slices but no placement.
        busy = range(8)
        self.assertIsNone(room(summary(busy=busy, used=32), 'A100-5C'))

    def test_overlap_refuses_a_larger_type(self):
        # A 4C at slot 0: a 20C's placements are 0-3 and 4-7; a 40C's
        # only one overlaps.
        self.assertIsNone(room(summary(busy=[0], used=4), 'A100-40C'))
        self.assertIsNotNone(room(summary(busy=[0], used=4), 'A100-20C'))
        self.assertIsNone(room(summary(busy=[0, 4], used=8), 'A100-20C'))

    def test_room_ranks_the_gpu_that_keeps_a_large_placement(self):
        # A 4C next to a 4C keeps 4-7 free for a 20C; on a GPU whose
        # slot 4 is busy it would not.
        packed = room(summary(busy=[0], used=4), 'A100-4C')
        spread = room(summary(busy=[4], used=4), 'A100-4C')
        self.assertGreater(packed, spread)

    def test_flavor_without_a_type_trait_fits_nowhere(self):
        extra = specs('A100-4C')
        del extra['trait1:%s' % naming.vgpu_type_trait('A100-4C')]
        candidate = {'allocations': {RP: {'resources': {
            naming.FB_SLICE_RC: 4}}}}
        self.assertIsNone(geometry.candidate_room(
            candidate, {RP: summary()}, extra))


class TestEqualSize(base.BaseTestCase):

    def test_takes_only_the_type_it_hosts(self):
        hosting = summary(mixed=False, hosts='A100-10C', used=10)
        self.assertIsNone(room(hosting, 'A100-4C'))
        self.assertIsNotNone(room(hosting, 'A100-10C'))
        self.assertIsNotNone(room(summary(mixed=False), 'A100-4C'))

    def test_refuses_past_the_types_equal_size_maximum(self):
        full = summary(mixed=False, hosts='A100-10C', used=40)
        self.assertIsNone(room(full, 'A100-10C'))


class TestRequests(base.BaseTestCase):

    def test_type_comes_from_the_required_trait(self):
        names = [t.name for t in MODEL.time_sliced_types('C')]
        self.assertEqual('A100-8C', requests.type_from_flavor(
            specs('A100-8C'), names))
        self.assertTrue(requests.asks_time_sliced(specs('A100-8C')))
        self.assertTrue(requests.asks_dynamic(specs('A100-8C')))

    def test_no_type_trait_is_an_error_naming_the_fix(self):
        exc = self.assertRaises(exception.GpuvirtError,
                                requests.type_from_flavor,
                                {'resources1:%s' % naming.FB_SLICE_RC: '4'},
                                ['A100-4C'])
        self.assertIn('trait1:CUSTOM_VGPU_TYPE_<TYPE>=required', str(exc))

    def test_slices_are_allocations_of_a_dynamic_gpu(self):
        self.assertEqual({RP: {naming.FB_SLICE_RC: 10}},
                         requests.slice_allocations({RP: {'resources': {
                             naming.FB_SLICE_RC: 10, 'VCPU': 1}}}))


class TestFlavorSync(base.BaseTestCase):

    def test_a_time_sliced_type_asks_its_framebuffer_slices(self):
        spec, = flavors.plan_dynamic(['A100-10C'])
        self.assertEqual('vgpu.a100-10c.dynamic', spec.name)
        self.assertEqual({
            'resources1:CUSTOM_FRAMEBUFFER_SLICE': '10',
            'resources1:CUSTOM_GPUVIRT_DYNAMIC_VGPU': '1',
            'trait1:CUSTOM_VGPU_TYPE_A100_10C': 'required',
            'trait1:CUSTOM_GPUVIRT_DYNAMIC': 'required',
            'trait1:CUSTOM_GPUVIRT_MANAGED': 'required',
            'group_policy': 'none'}, spec.extra_specs)

    def test_mig_backed_types_keep_their_profile_slices(self):
        spec, = flavors.plan_dynamic(['A100-3-20C'])
        self.assertEqual('3', spec.extra_specs[
            'resources1:%s' % naming.MIG_COMPUTE_SLICE_RC])

    def test_unknown_type_is_refused(self):
        self.assertRaises(exception.UsageError, flavors.plan_dynamic,
                          ['A100-99C'])

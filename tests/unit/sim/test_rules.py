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

"""The pure rules, on plain state dicts (no files)."""

from oslotest import base

from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import model
from gpuvirt_nova.sim import rules
from gpuvirt_nova.sim import state

EQUAL = model.SchedulingMode.EQUAL_SIZE.value
MIXED = model.SchedulingMode.MIXED_SIZE.value


def gpu_state(mig=False, vfs=4, gpu_instances=(), vf_types=(), mdevs=()):
    """A GPU state dict; gpu_instances as (profile, start) pairs."""
    gpu_model = catalog.load().get('A100-PCIE-40GB')
    gis = {}
    for gi_id, (name, start) in enumerate(gpu_instances, start=1):
        profile = gpu_model.mig_profile(name)
        gis[str(gi_id)] = {'profile_index': profile.nvml_id,
                           'start': start, 'size': profile.memory_slices,
                           'compute_instances': {}}
    vf_list = [state.empty_vf() for _ in range(vfs)]
    for vf, type_id in zip(vf_list, vf_types):
        vf['current_vgpu_type'] = type_id
    return {'mig_current': mig, 'vfs': vf_list, 'gpu_instances': gis,
            'mdevs': {str(i): {'parent': 'x', 'type_id': t,
                               'gpu_instance': None}
                      for i, t in enumerate(mdevs)}}


class GeometryTestCase(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.gpu = catalog.load().get('A100-PCIE-40GB')

    def test_free_placements_skip_taken_slices(self):
        gpu = gpu_state(mig=True, gpu_instances=[('1g.5gb', 0)])
        self.assertEqual([], rules.free_placements(
            self.gpu, gpu, self.gpu.mig_profile('4g.20gb')))
        self.assertEqual(
            [model.Placement(2, 2), model.Placement(4, 2)],
            rules.free_placements(self.gpu, gpu,
                                  self.gpu.mig_profile('2g.10gb')))

    def test_compute_slices_are_a_limit_too(self):
        gpu = gpu_state(mig=True, gpu_instances=[('4g.20gb', 0),
                                                 ('2g.10gb', 4)])
        one_g = self.gpu.mig_profile('1g.5gb')
        self.assertEqual([model.Placement(6, 1)],
                         rules.free_placements(self.gpu, gpu, one_g))
        gpu = gpu_state(mig=True, gpu_instances=[('4g.20gb', 0),
                                                 ('3g.20gb', 4)])
        self.assertEqual([], rules.free_placements(self.gpu, gpu, one_g))

    def test_remaining_capacity(self):
        one_g = self.gpu.mig_profile('1g.5gb')
        self.assertEqual(7, rules.remaining_capacity(
            self.gpu, gpu_state(mig=True), one_g))
        self.assertEqual(3, rules.remaining_capacity(
            self.gpu, gpu_state(mig=True, gpu_instances=[('4g.20gb', 0)]),
            one_g))


class CapacityTestCase(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.gpu = catalog.load().get('A100-PCIE-40GB')
        self.ten = self.gpu.vgpu_type('A100-10C')
        self.twenty = self.gpu.vgpu_type('A100-20C')

    def test_equal_size_allows_one_type(self):
        caps = rules.capacity(self.gpu, gpu_state(vf_types=[
            self.ten.type_id]), EQUAL)
        self.assertEqual(self.ten.max_instances - 1, caps[self.ten.type_id])
        self.assertEqual(0, caps[self.twenty.type_id])

    def test_mixed_size_shares_the_framebuffer(self):
        caps = rules.capacity(self.gpu, gpu_state(vf_types=[
            self.twenty.type_id]), MIXED)
        self.assertEqual(2, caps[self.ten.type_id])
        self.assertEqual(1, caps[self.twenty.type_id])

    def test_mig_on_offers_only_types_with_a_free_gpu_instance(self):
        gpu = gpu_state(mig=True, gpu_instances=[('3g.20gb', 0),
                                                 ('3g.20gb', 4)])
        caps = rules.capacity(self.gpu, gpu, EQUAL)
        three_g = self.gpu.vgpu_type('A100-3-20C').type_id
        self.assertEqual(2, caps[three_g])
        self.assertEqual({three_g},
                         {t for t, n in caps.items() if n})
        gpu['vfs'][0].update(current_vgpu_type=three_g, gpu_instance=1)
        self.assertEqual(1, rules.capacity(self.gpu, gpu, EQUAL)[three_g])

    def test_a_vf_parent_holds_one_mdev(self):
        gpu = gpu_state(mdevs=[self.ten.type_id])
        gpu['mdevs']['0']['parent'] = '0000:3b:00.4'
        taken = rules.mdev_available(self.gpu, gpu, EQUAL, '0000:3b:00.4',
                                     '0000:3b:00.0')
        free = rules.mdev_available(self.gpu, gpu, EQUAL, '0000:3b:00.5',
                                    '0000:3b:00.0')
        self.assertEqual(0, taken[self.ten.type_id])
        self.assertEqual(1, free[self.ten.type_id])
        self.assertEqual(0, free[self.twenty.type_id])

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

"""MIG profiles with an instance limit (``+me``): one per GPU.

``1g.5gb+me`` has the seven placements of ``1g.5gb`` but one instance per
GPU. The simulator's NVML refuses a second one as NVML does
(NVML_ERROR_INSUFFICIENT_RESOURCES), and the layout rejects two before
anything is written.
"""

import ctypes

import pynvml

from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import writers
from gpuvirt_nova.layout import apply
from gpuvirt_nova.layout import feasibility
from tests.unit.layout import base

A100 = '1xA100-PCIE-40GB:mig'
ADDRESS_INDEX = 0

LAYOUT = '''
gpu_cluster:
  nodes:
    - host: node01
      gpus:
        - type: A100-40GB
          vgpus:
%s
'''


def _layout(*vgpus):
    return LAYOUT % '\n'.join('            - %s' % v for v in vgpus)


class TestSimulatedNvml(base.LayoutTestCase):
    """The simulator's NVML enforces the limit, as NVML does."""

    def setUp(self):
        super().setUp()
        self.host = self.sim_host(A100)
        self.nvml = self.host.nvml()
        self.nvml.nvmlInit()
        self.addCleanup(self.nvml.nvmlShutdown)
        self.handle = self.nvml.nvmlDeviceGetHandleByIndex(ADDRESS_INDEX)
        self.me = self.nvml.nvmlDeviceGetGpuInstanceProfileInfo(
            self.handle, pynvml.NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV1)

    def create(self, profile_id, start):
        placement = pynvml.c_nvmlGpuInstancePlacement_t()
        placement.start, placement.size = start, 1
        return self.nvml.nvmlDeviceCreateGpuInstanceWithPlacement(
            self.handle, profile_id, ctypes.byref(placement))

    def remaining(self, profile_id):
        return self.nvml.nvmlDeviceGetGpuInstanceRemainingCapacity(
            self.handle, profile_id)

    def test_profile_info_says_one_instance(self):
        self.assertEqual(1, self.me.instanceCount)
        self.assertEqual(1, self.me.sliceCount)

    def test_second_me_instance_is_refused_like_nvml(self):
        self.assertEqual(1, self.remaining(self.me.id))
        self.create(self.me.id, 0)
        self.assertEqual(0, self.remaining(self.me.id))
        exc = self.assertRaises(pynvml.NVMLError, self.create,
                                self.me.id, 1)
        self.assertEqual(pynvml.NVML_ERROR_INSUFFICIENT_RESOURCES, exc.value)

    def test_the_limit_is_per_profile(self):
        self.create(self.me.id, 0)
        plain = self.nvml.nvmlDeviceGetGpuInstanceProfileInfo(
            self.handle, pynvml.NVML_GPU_INSTANCE_PROFILE_1_SLICE)
        self.assertEqual(6, self.remaining(plain.id))
        self.create(plain.id, 1)

    def test_writer_refuses_a_second_me_instance(self):
        address = self.read(self.host).gpus[0].address
        writer = self.host.writer()
        writer.create_gpu_instance(address, '1g.5gb+me', 0)
        exc = self.assertRaises(writers.HardwareRefused,
                                writer.create_gpu_instance, address,
                                '1g.5gb+me', 2)
        self.assertIn('NVML_ERROR_INSUFFICIENT_RESOURCES', str(exc))
        profiles = [gi.profile for gi in self.read(self.host).gpus[0]
                    .gpu_instances]
        self.assertEqual(['1g.5gb+me'], profiles)


class TestFeasibility(base.LayoutTestCase):

    def setUp(self):
        super().setUp()
        self.model = catalog.load().get('A100-40GB')
        self.me = self.model.mig_profile('1g.5gb+me')
        self.plain = self.model.mig_profile('1g.5gb')

    def test_fit_mig_places_one_me_instance(self):
        placed = feasibility.fit_mig(self.model, [(self.me, None)])
        self.assertEqual(1, len(placed))
        self.assertIn(placed[0], self.me.placements)

    def test_fit_mig_refuses_two_me_instances_with_free_slices(self):
        self.assertIsNone(feasibility.fit_mig(
            self.model, [(self.me, 0), (self.me, 3)]))

    def test_one_me_and_six_plain_fill_the_gpu(self):
        placed = feasibility.fit_mig(
            self.model, [(self.me, None)] + [(self.plain, None)] * 6)
        self.assertEqual(7, len({p.start for p in placed}))

    def test_layout_with_two_me_vgpus_is_rejected_naming_the_limit(self):
        path = self.write_layout(_layout('{name: m, mig: 1g.5gb+me, '
                                         'count: 2}'))
        rc, out, err = self.cli('layout', 'validate', path)
        self.assertEqual(2, rc, err)
        self.assertIn('gpu_cluster.nodes[0].gpus[0].vgpus: 2 x 1g.5gb+me '
                      'do not fit one A100-PCIE-40GB (at most 1)', err)

    def test_cme_type_resolves_to_the_me_profile(self):
        path = self.write_layout(_layout('{name: m, profile: A100-1-5CME}',
                                         '{name: p, mig: 1g.5gb+me}'))
        rc, out, err = self.cli('layout', 'validate', path)
        self.assertEqual(2, rc, err)
        self.assertIn('2 x 1g.5gb+me', err)


class TestApply(base.LayoutTestCase):

    def test_me_and_plain_instances_are_applied_and_verified(self):
        host = self.sim_host(A100)
        results = self.apply_layout(
            _layout('{name: m, profile: A100-1-5CME}',
                    '{name: p, mig: 1g.5gb, count: 6}'),
            host, options=apply.Options(force=True))
        self.assertEqual([apply.APPLIED], [r.status for r in results],
                         results)
        profiles = sorted(gi.profile for gi in
                          self.read(host).gpus[0].gpu_instances)
        self.assertEqual(['1g.5gb'] * 6 + ['1g.5gb+me'], profiles)

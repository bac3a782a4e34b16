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

from oslotest import base

from gpuvirt_nova.hardware import discover
from gpuvirt_nova.virt import assign
from gpuvirt_nova.virt import mdev
from tests import sim_fixture


class TestVendorVfio(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.sim = self.useFixture(sim_fixture.SimulatedHostFixture(
            '1xA100-PCIE-40GB:vfio')).host
        self.manager = mdev.DeviceManager(self.sim.writer(), None)

    def host(self):
        return discover.discover_host(self.sim)

    def device(self, vf_index=0, vgpu_type='A100-10C'):
        gpu = self.host().gpus[0]
        return assign.Device(assign.KIND_VF, gpu.address, vgpu_type,
                             address=gpu.vfs[vf_index].address)

    def test_prepare_sets_the_vf_type_and_release_clears_it(self):
        device = self.device()
        self.manager.prepare([device], self.host())
        vf = self.host().gpus[0].vf(device.address)
        self.assertEqual('A100-10C', vf.current_vgpu_type)
        self.manager.release_vf(device.address)
        self.assertIsNone(self.host().gpus[0].vf(device.address)
                          .current_vgpu_type)

    def test_failed_prepare_undoes_what_it_did(self):
        first, second = self.device(0), self.device(1)
        self.sim.inject_failure(
            '/sys/bus/pci/devices/%s/nvidia/current_vgpu_type'
            % second.address)
        self.assertRaises(mdev.DeviceError, self.manager.prepare,
                          [first, second], self.host())
        self.assertEqual([], [vf.address for vf in self.host().gpus[0].vfs
                              if vf.current_vgpu_type])

    def test_unknown_type_is_refused_before_any_write(self):
        exc = self.assertRaises(mdev.DeviceError, self.manager.prepare,
                                [self.device(vgpu_type='A100-99C')],
                                self.host())
        self.assertIn('A100-99C', str(exc))

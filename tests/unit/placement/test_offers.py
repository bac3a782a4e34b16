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

"""Offers from hardware state and from per-model defaults."""

from oslotest import base

from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import model
from gpuvirt_nova.placement import offers
from tests.unit.placement import test_tree

A = test_tree.A
B = test_tree.B


class TestOffers(base.BaseTestCase):
    """A GPU offers the devices it is carved into, used or not."""

    def test_gpu_instances_alone_offer_nothing(self):
        # A GPU instance with no vGPU on a VF is not a device a guest can
        # get: the carve is not finished, so nothing is offered.
        host = test_tree.make_host()
        gpu = host.gpu(A)
        gpu.mig_current = True
        gpu.gpu_instances = [
            model.GpuInstance(1, '2g.10gb', model.Placement(0, 2)),
            model.GpuInstance(3, '3g.20gb', model.Placement(4, 4))]
        self.assertEqual({}, offers.offers_from_hardware(host))

    def test_vf_current_types_count_once_each(self):
        host = test_tree.make_host()
        host.gpu(B).vfs = [
            model.VirtualFunction('0000:af:00.4', current_vgpu_type='A100-4C'),
            model.VirtualFunction('0000:af:00.5', current_vgpu_type='A100-4C'),
            model.VirtualFunction('0000:af:00.6')]
        self.assertEqual({B: {'A100-4C': 2}},
                         offers.offers_from_hardware(host))

    def test_mig_backed_vgpus_count_their_vfs_not_their_instances(self):
        host = test_tree.make_host()
        gpu = host.gpu(A)
        gpu.mig_current = True
        gpu.gpu_instances = [
            model.GpuInstance(1, '2g.10gb', model.Placement(0, 2)),
            model.GpuInstance(2, '2g.10gb', model.Placement(2, 2)),
            model.GpuInstance(3, '2g.10gb', model.Placement(4, 2))]
        gpu.vfs = [
            model.VirtualFunction('0000:3b:00.4',
                                  current_vgpu_type='A100-2-10C'),
            model.VirtualFunction('0000:3b:00.5',
                                  current_vgpu_type='A100-2-10C'),
            model.VirtualFunction('0000:3b:00.6')]
        self.assertEqual({A: {'A100-2-10C': 2}},
                         offers.offers_from_hardware(host))

    def test_mdevs_map_to_catalog_types(self):
        host = test_tree.make_host()
        mdev_type = catalog.load().get('A100-PCIE-40GB').vgpu_type(
            'A100-10C').mdev_type
        host.gpu(A).mdevs = [model.MediatedDevice('u1', mdev_type, A)]
        self.assertEqual({A: {'A100-10C': 1}},
                         offers.offers_from_hardware(host))

    def test_an_unknown_type_is_offered_under_the_name_read(self):
        # tree.build_provider_tree(..., isolate=True) then leaves that GPU
        # out with a reason; the offer itself hides nothing.
        host = test_tree.make_host()
        host.gpu(B).vfs = [
            model.VirtualFunction('0000:af:00.4',
                                  current_vgpu_type='nvidia-1145')]
        self.assertEqual({B: {'nvidia-1145': 1}},
                         offers.offers_from_hardware(host))

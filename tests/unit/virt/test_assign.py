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

from gpuvirt_nova.hardware import model
from gpuvirt_nova.virt import assign

GPU0 = '0000:3b:00.0'
GPU1 = '0000:5e:00.0'
RC_2_10C = 'CUSTOM_VGPU_A100_2_10C'
RC_3_20C = 'CUSTOM_VGPU_A100_3_20C'


def vfio_gpu(address, vgpu_type, vfs=4, carved=None):
    """A vendor-VFIO GPU whose first ``carved`` VFs carry ``vgpu_type``."""
    bus = address[5:7]
    carved = vfs if carved is None else carved
    return model.PhysicalGpu(
        address=address, model='A100-PCIE-40GB',
        vgpu_mode=model.HostVgpuMode.VENDOR_VFIO,
        vfs=[model.VirtualFunction(
            address='0000:%s:00.%d' % (bus, i + 4),
            creatable_types=(vgpu_type,),
            current_vgpu_type=vgpu_type if i < carved else None)
            for i in range(vfs)])


def mdev_gpu(address, mdevs=(), available=2):
    return model.PhysicalGpu(
        address=address, model='T4', vgpu_mode=model.HostVgpuMode.MDEV,
        mdev_types=[model.MdevType('nvidia-222', 'GRID T4-4Q', available)],
        mdevs=[model.MediatedDevice(uuid, 'nvidia-222', address)
               for uuid in mdevs])


class TestRequests(base.BaseTestCase):

    def test_units_become_requests_per_gpu(self):
        allocations = {
            'rp0': {'resources': {RC_2_10C: 2}},
            'rp1': {'resources': {RC_3_20C: 1}},
            'root': {'resources': {'VCPU': 2, 'MEMORY_MB': 512}},
        }
        requests = assign.requests_from_allocations(
            allocations, {'rp0': GPU0, 'rp1': GPU1})
        self.assertEqual([assign.Request(GPU0, RC_2_10C)] * 2 +
                         [assign.Request(GPU1, RC_3_20C)], requests)

    def test_no_vgpu_no_request(self):
        self.assertEqual([], assign.requests_from_allocations(
            {'root': {'resources': {'VCPU': 1}}}, {}))

    def test_vgpu_on_unknown_provider_refused(self):
        # The upstream defect: a vGPU allocation nobody can serve must
        # stop the boot, not start the guest without a device.
        exc = self.assertRaises(
            assign.AssignmentError, assign.requests_from_allocations,
            {'root': {'resources': {RC_2_10C: 1}}}, {'rp0': GPU0})
        self.assertIn('root', str(exc))
        self.assertIn('without its vGPU', str(exc))


class TestAssignVf(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.host = model.Host(gpus=[vfio_gpu(GPU0, 'A100-2-10C'),
                                     vfio_gpu(GPU1, 'A100-3-20C')])

    def test_picks_free_vf_of_the_allocated_gpu(self):
        devices = assign.assign([assign.Request(GPU1, RC_3_20C)], self.host)
        self.assertEqual(1, len(devices))
        self.assertEqual(assign.KIND_VF, devices[0].kind)
        self.assertEqual(GPU1, devices[0].gpu_address)
        self.assertEqual('0000:5e:00.4', devices[0].address)
        self.assertEqual('A100-3-20C', devices[0].vgpu_type)

    def test_never_a_used_vf(self):
        used = {(assign.KIND_VF, '0000:3b:00.4'),
                (assign.KIND_VF, '0000:3b:00.5')}
        devices = assign.assign([assign.Request(GPU0, RC_2_10C)] * 2,
                                self.host, used=used)
        self.assertEqual(['0000:3b:00.6', '0000:3b:00.7'],
                         [d.address for d in devices])

    def test_two_units_get_distinct_devices(self):
        devices = assign.assign([assign.Request(GPU0, RC_2_10C)] * 3,
                                self.host)
        self.assertEqual(3, len({d.key for d in devices}))

    def test_full_gpu_raises_naming_gpu_and_class(self):
        used = {(assign.KIND_VF, vf.address) for vf in self.host.gpus[0].vfs}
        exc = self.assertRaises(
            assign.AssignmentError, assign.assign,
            [assign.Request(GPU0, RC_2_10C)], self.host, used=used)
        self.assertIn(GPU0, str(exc))
        self.assertIn(RC_2_10C, str(exc))

    def test_type_the_gpu_cannot_take_raises(self):
        self.assertRaises(assign.AssignmentError, assign.assign,
                          [assign.Request(GPU0, RC_3_20C)], self.host)

    def test_missing_gpu_raises(self):
        exc = self.assertRaises(
            assign.AssignmentError, assign.assign,
            [assign.Request('0000:af:00.0', RC_2_10C)], self.host)
        self.assertIn('0000:af:00.0', str(exc))

    def test_previous_vf_is_reused(self):
        previous = {(assign.KIND_VF, '0000:3b:00.6')}
        devices = assign.assign([assign.Request(GPU0, RC_2_10C)],
                                self.host, previous=previous)
        self.assertEqual('0000:3b:00.6', devices[0].address)

    def test_previous_vf_used_by_other_is_not_reused(self):
        key = (assign.KIND_VF, '0000:3b:00.6')
        devices = assign.assign([assign.Request(GPU0, RC_2_10C)],
                                self.host, used={key}, previous={key})
        self.assertNotEqual('0000:3b:00.6', devices[0].address)

    def test_only_carved_vfs_are_handed_out(self):
        # VFs that merely could take the type are not devices: giving one
        # out would mean typing it, and the carve has one writer.
        host = model.Host(gpus=[vfio_gpu(GPU0, 'A100-2-10C', carved=2)])
        devices = assign.assign([assign.Request(GPU0, RC_2_10C)] * 2, host)
        self.assertEqual(['0000:3b:00.4', '0000:3b:00.5'],
                         [d.address for d in devices])
        self.assertRaises(assign.AssignmentError, assign.assign,
                          [assign.Request(GPU0, RC_2_10C)] * 3, host)

    def test_previous_vf_that_lost_its_type_is_not_reused(self):
        host = model.Host(gpus=[vfio_gpu(GPU0, 'A100-2-10C', carved=2)])
        devices = assign.assign([assign.Request(GPU0, RC_2_10C)], host,
                                previous={(assign.KIND_VF, '0000:3b:00.7')})
        self.assertEqual('0000:3b:00.4', devices[0].address)


class TestAssignMdev(base.BaseTestCase):

    def test_only_existing_mdevs_are_handed_out(self):
        host = model.Host(gpus=[mdev_gpu(GPU0, mdevs=('aaaa', 'bbbb'))])
        rc = 'CUSTOM_VGPU_T4_4Q'
        devices = assign.assign([assign.Request(GPU0, rc)] * 2, host)
        self.assertEqual(['aaaa', 'bbbb'], [d.mdev_uuid for d in devices])
        self.assertTrue(all(d.parent == GPU0 and
                            d.mdev_type == 'nvidia-222' and
                            d.type_id == 222 for d in devices))
        # available_instances says two more could be created: the driver
        # does not create them.
        self.assertRaises(assign.AssignmentError, assign.assign,
                          [assign.Request(GPU0, rc)] * 3, host)

    def test_used_mdev_is_skipped(self):
        host = model.Host(gpus=[mdev_gpu(GPU0, mdevs=('aaaa', 'bbbb'))])
        devices = assign.assign(
            [assign.Request(GPU0, 'CUSTOM_VGPU_T4_4Q')], host,
            used={(assign.KIND_MDEV, 'aaaa')})
        self.assertEqual('bbbb', devices[0].mdev_uuid)

    def test_previous_mdev_is_reused(self):
        host = model.Host(gpus=[mdev_gpu(GPU0, mdevs=('aaaa', 'cafe'))])
        devices = assign.assign(
            [assign.Request(GPU0, 'CUSTOM_VGPU_T4_4Q')], host,
            previous={(assign.KIND_MDEV, 'cafe')})
        self.assertEqual('cafe', devices[0].mdev_uuid)

    def test_lost_mdev_is_not_recreated(self):
        host = model.Host(gpus=[mdev_gpu(GPU0)])
        self.assertRaises(
            assign.AssignmentError, assign.assign,
            [assign.Request(GPU0, 'CUSTOM_VGPU_T4_4Q')], host,
            previous={(assign.KIND_MDEV, 'cafe')})

    def test_mdevs_on_sriov_vfs(self):
        gpu = model.PhysicalGpu(
            address=GPU0, model='A100-PCIE-40GB',
            vgpu_mode=model.HostVgpuMode.SRIOV_MDEV,
            vfs=[model.VirtualFunction(
                address='0000:3b:00.%d' % i,
                mdev_types=[model.MdevType('nvidia-699', 'A100-10C', 0)])
                for i in (4, 5)],
            mdevs=[model.MediatedDevice('m%d' % i, 'nvidia-699',
                                        '0000:3b:00.%d' % i)
                   for i in (4, 5)])
        devices = assign.assign(
            [assign.Request(GPU0, 'CUSTOM_VGPU_A100_10C')] * 2,
            model.Host(gpus=[gpu]))
        self.assertEqual(['0000:3b:00.4', '0000:3b:00.5'],
                         [d.parent for d in devices])


class TestVgpuClasses(base.BaseTestCase):

    def test_only_custom_vgpu_classes(self):
        self.assertEqual(
            {'rp0': {RC_2_10C: 1}},
            assign.vgpu_resource_classes({
                'rp0': {'resources': {RC_2_10C: 1, 'VGPU': 1}},
                'root': {'resources': {'VCPU': 1}}}))

    def test_device_dict_round_trip(self):
        device = assign.Device(assign.KIND_VF, GPU0, 'A100-2-10C',
                               address='0000:3b:00.4')
        self.assertEqual(device, assign.from_dict(assign.to_dict(device)))

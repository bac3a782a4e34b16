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

"""The fake NVML answers like pynvml, including NVML's error codes."""

import ctypes
import subprocess
import sys

from oslotest import base
import pynvml

from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.sim import fake_nvml
from gpuvirt_nova.sim import host as host_mod
from tests import sim_fixture

A100 = 'A100-PCIE-40GB'


class NvmlTestCase(base.BaseTestCase):

    spec = '2xA100-PCIE-40GB:mig'

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(
            sim_fixture.SimulatedHostFixture(self.spec)).host
        self.nvml = self.host.nvml()
        self.nvml.nvmlInit()
        self.addCleanup(self.nvml.nvmlShutdown)
        self.dev = self.nvml.nvmlDeviceGetHandleByIndex(0)

    def assertNvmlError(self, code, func, *args):
        exc = self.assertRaises(pynvml.NVMLError, func, *args)
        self.assertEqual(code, exc.value)
        self.assertIsInstance(exc, pynvml.nvmlExceptionClass(code))
        return exc

    def profile(self, index):
        return self.nvml.nvmlDeviceGetGpuInstanceProfileInfo(self.dev, index)

    def create_gi(self, index, start, dev=None):
        info = self.profile(index)
        placement = self.nvml.c_nvmlGpuInstancePlacement_t()
        placement.start, placement.size = start, 0
        for p in catalog.load().get(A100).mig_profiles:
            if p.nvml_id == index:
                placement.size = p.memory_slices
        return self.nvml.nvmlDeviceCreateGpuInstanceWithPlacement(
            dev or self.dev, info.id, placement)


class DeviceTestCase(NvmlTestCase):

    def test_uninitialized(self):
        other = host_mod.SimulatedHost.open(self.host.root).nvml()
        self.assertNvmlError(pynvml.NVML_ERROR_UNINITIALIZED,
                             other.nvmlDeviceGetCount)

    def test_identity(self):
        nvml = self.nvml
        self.assertEqual(2, nvml.nvmlDeviceGetCount())
        self.assertEqual('NVIDIA A100-PCIE-40GB',
                         nvml.nvmlDeviceGetName(self.dev))
        self.assertTrue(nvml.nvmlDeviceGetUUID(self.dev).startswith('GPU-'))
        pci = nvml.nvmlDeviceGetPciInfo(self.dev)
        self.assertEqual('00000000:3B:00.0', pci.busId)
        self.assertEqual(0x3b, pci.bus)
        self.assertEqual(0x10de, pci.pciDeviceId & 0xffff)
        memory = nvml.nvmlDeviceGetMemoryInfo(self.dev)
        self.assertEqual(catalog.load().get(A100).memory_mib * 1024 * 1024,
                         memory.total)
        self.assertEqual(pynvml.NVML_DEVICE_ARCH_AMPERE,
                         nvml.nvmlDeviceGetArchitecture(self.dev))
        self.assertEqual(self.host.spec.driver_version,
                         nvml.nvmlSystemGetDriverVersion())

    def test_handle_lookups_agree(self):
        nvml = self.nvml
        second = nvml.nvmlDeviceGetHandleByIndex(1)
        uuid = nvml.nvmlDeviceGetUUID(second)
        for handle in (nvml.nvmlDeviceGetHandleByUUID(uuid),
                       nvml.nvmlDeviceGetHandleByPciBusId('0000:5e:00.0'),
                       nvml.nvmlDeviceGetHandleByPciBusId(
                           '00000000:5E:00.0')):
            self.assertEqual(uuid, nvml.nvmlDeviceGetUUID(handle))
        self.assertNvmlError(pynvml.NVML_ERROR_NOT_FOUND,
                             nvml.nvmlDeviceGetHandleByPciBusId,
                             '0000:99:00.0')
        self.assertNvmlError(pynvml.NVML_ERROR_INVALID_ARGUMENT,
                             nvml.nvmlDeviceGetHandleByIndex, 2)

    def test_unsimulated_function_is_not_supported(self):
        self.assertNotIn('nvmlDeviceGetFanSpeed', fake_nvml.SIMULATED)
        self.assertNvmlError(pynvml.NVML_ERROR_NOT_SUPPORTED,
                             self.nvml.nvmlDeviceGetFanSpeed, self.dev)

    def test_telemetry_is_settable(self):
        self.host.set_telemetry('0000:3b:00.0', temperature_c=81,
                                power_w=212.5, gpu_util=97)
        nvml = self.nvml
        self.assertEqual(81, nvml.nvmlDeviceGetTemperature(
            self.dev, pynvml.NVML_TEMPERATURE_GPU))
        self.assertEqual(212500, nvml.nvmlDeviceGetPowerUsage(self.dev))
        self.assertEqual(97, nvml.nvmlDeviceGetUtilizationRates(
            self.dev).gpu)

    def test_injected_failure_fires_once(self):
        self.host.inject_failure('nvmlDeviceGetCount',
                                 nvml_error=pynvml.NVML_ERROR_GPU_IS_LOST)
        self.assertNvmlError(pynvml.NVML_ERROR_GPU_IS_LOST,
                             self.nvml.nvmlDeviceGetCount)
        self.assertEqual(2, self.nvml.nvmlDeviceGetCount())


class MigTestCase(NvmlTestCase):

    def test_profile_index_and_id_differ(self):
        info = self.profile(pynvml.NVML_GPU_INSTANCE_PROFILE_1_SLICE)
        self.assertEqual(19, info.id)
        self.assertEqual(1, info.sliceCount)
        self.assertEqual(7, info.instanceCount)
        self.assertEqual('MIG 1g.5gb', info.name)

    def test_possible_placements_come_from_the_catalog(self):
        profile = catalog.load().get(A100).mig_profile('2g.10gb')
        info = self.profile(profile.nvml_id)
        placements = (pynvml.c_nvmlGpuInstancePlacement_t * 8)()
        count = ctypes.c_uint(0)
        self.nvml.nvmlDeviceGetGpuInstancePossiblePlacements(
            self.dev, info.id, placements, ctypes.byref(count))
        self.assertEqual([(p.start, p.size) for p in profile.placements],
                         [(placements[i].start, placements[i].size)
                          for i in range(count.value)])

    def test_1g_at_slice_0_blocks_the_only_4g_placement(self):
        self.create_gi(pynvml.NVML_GPU_INSTANCE_PROFILE_1_SLICE, 0)
        self.assertNvmlError(pynvml.NVML_ERROR_INSUFFICIENT_RESOURCES,
                             self.create_gi,
                             pynvml.NVML_GPU_INSTANCE_PROFILE_4_SLICE, 0)
        info = self.profile(pynvml.NVML_GPU_INSTANCE_PROFILE_4_SLICE)
        remaining = self.nvml.nvmlDeviceGetGpuInstanceRemainingCapacity
        self.assertEqual(0, remaining(self.dev, info.id))

    def test_eighth_1g_instance_fails(self):
        info = self.profile(pynvml.NVML_GPU_INSTANCE_PROFILE_1_SLICE)
        for _ in range(7):
            self.nvml.nvmlDeviceCreateGpuInstance(self.dev, info.id)
        self.assertNvmlError(pynvml.NVML_ERROR_INSUFFICIENT_RESOURCES,
                             self.nvml.nvmlDeviceCreateGpuInstance,
                             self.dev, info.id)

    def test_placement_outside_the_profile_is_invalid(self):
        self.assertNvmlError(pynvml.NVML_ERROR_INVALID_ARGUMENT,
                             self.create_gi,
                             pynvml.NVML_GPU_INSTANCE_PROFILE_2_SLICE, 1)

    def test_list_and_info(self):
        gi = self.create_gi(pynvml.NVML_GPU_INSTANCE_PROFILE_3_SLICE, 4)
        info = self.nvml.nvmlGpuInstanceGetInfo(gi)
        self.assertEqual(4, info.placement.start)
        self.assertEqual(4, info.placement.size)
        profile_id = self.profile(pynvml.NVML_GPU_INSTANCE_PROFILE_3_SLICE).id
        self.assertEqual(profile_id, info.profileId)
        handles = (pynvml.c_nvmlGpuInstance_t * 4)()
        count = ctypes.c_uint(0)
        self.nvml.nvmlDeviceGetGpuInstances(self.dev, profile_id, handles,
                                            ctypes.byref(count))
        self.assertEqual(1, count.value)
        self.assertEqual(info.id,
                         self.nvml.nvmlGpuInstanceGetInfo(handles[0]).id)

    def test_compute_instances_and_in_use(self):
        gi = self.create_gi(pynvml.NVML_GPU_INSTANCE_PROFILE_2_SLICE, 2)
        ci_info = self.nvml.nvmlGpuInstanceGetComputeInstanceProfileInfo(
            gi, pynvml.NVML_COMPUTE_INSTANCE_PROFILE_2_SLICE,
            pynvml.NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED)
        self.assertEqual(2, ci_info.sliceCount)
        ci = self.nvml.nvmlGpuInstanceCreateComputeInstance(gi, ci_info.id)
        self.assertNvmlError(pynvml.NVML_ERROR_INSUFFICIENT_RESOURCES,
                             self.nvml.nvmlGpuInstanceCreateComputeInstance,
                             gi, ci_info.id)
        self.assertNvmlError(pynvml.NVML_ERROR_IN_USE,
                             self.nvml.nvmlGpuInstanceDestroy, gi)
        self.nvml.nvmlComputeInstanceDestroy(ci)
        self.nvml.nvmlGpuInstanceDestroy(gi)
        self.assertEqual({}, self.host.store.load()['gpus'][
            '0000:3b:00.0']['gpu_instances'])

    def test_state_is_seen_by_another_process(self):
        self.create_gi(pynvml.NVML_GPU_INSTANCE_PROFILE_7_SLICE, 0)
        script = (
            'import sys\n'
            'from gpuvirt_nova import sim\n'
            'nvml = sim.SimulatedHost.open(sys.argv[1]).nvml()\n'
            'nvml.nvmlInit()\n'
            'dev = nvml.nvmlDeviceGetHandleByIndex(0)\n'
            'gi = nvml.nvmlDeviceGetGpuInstanceById(dev, 1)\n'
            'print(nvml.nvmlGpuInstanceGetInfo(gi).placement.size)\n'
            'nvml.nvmlGpuInstanceDestroy(gi)\n')
        out = subprocess.run([sys.executable, '-c', script, self.host.root],
                             capture_output=True, text=True, check=True)
        self.assertEqual('8', out.stdout.strip().splitlines()[-1])
        self.assertNvmlError(pynvml.NVML_ERROR_NOT_FOUND,
                             self.nvml.nvmlDeviceGetGpuInstanceById,
                             self.dev, 1)


class MigOffTestCase(NvmlTestCase):

    spec = 'A100-PCIE-40GB:vfio+L40S:vfio'

    def test_mig_calls_fail_when_mig_is_off(self):
        self.assertEqual([0, 0], self.nvml.nvmlDeviceGetMigMode(self.dev))
        info = self.profile(pynvml.NVML_GPU_INSTANCE_PROFILE_1_SLICE)
        self.assertNvmlError(pynvml.NVML_ERROR_NOT_SUPPORTED,
                             self.nvml.nvmlDeviceCreateGpuInstance,
                             self.dev, info.id)

    def test_mig_calls_fail_on_a_gpu_without_mig(self):
        l40s = self.nvml.nvmlDeviceGetHandleByPciBusId('0000:5e:00.0')
        self.assertNvmlError(pynvml.NVML_ERROR_NOT_SUPPORTED,
                             self.nvml.nvmlDeviceGetMigMode, l40s)

    def test_ampere_mig_enable_is_pending_until_reset(self):
        status = self.nvml.nvmlDeviceSetMigMode(
            self.dev, pynvml.NVML_DEVICE_MIG_ENABLE)
        self.assertEqual(pynvml.NVML_ERROR_RESET_REQUIRED, status)
        self.assertEqual([0, 1], self.nvml.nvmlDeviceGetMigMode(self.dev))
        self.host.reset_gpu('0000:3b:00.0')
        self.assertEqual([1, 1], self.nvml.nvmlDeviceGetMigMode(self.dev))

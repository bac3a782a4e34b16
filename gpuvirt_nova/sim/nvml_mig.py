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

"""The MIG part of the fake NVML: MIG mode, GPU and compute instances.

Follows NVML's "Multi Instance GPU Management" reference: a GPU instance
takes a placement of its profile (the catalog's geometry, checked by
:mod:`gpuvirt_nova.sim.rules`) and creation fails with
``NVML_ERROR_INSUFFICIENT_RESOURCES`` when its slices are taken or with
``NVML_ERROR_INVALID_ARGUMENT`` for a start the profile does not allow;
MIG calls fail with ``NVML_ERROR_NOT_SUPPORTED`` on a GPU without MIG or
with MIG mode off; destroying a GPU instance that still has compute
instances or backs a vGPU fails with ``NVML_ERROR_IN_USE``. On Ampere a
MIG mode change stays pending until a GPU reset.
"""

import pynvml

from gpuvirt_nova.hardware import listings
from gpuvirt_nova.hardware import model
from gpuvirt_nova.sim import nvml_base as base
from gpuvirt_nova.sim import rules


class MigFunctions(base.NvmlBase):
    """nvml* MIG functions over a simulated host's state."""

    # -- MIG mode -------------------------------------------------------------

    def nvmlDeviceGetMigMode(self, handle):
        self._check('nvmlDeviceGetMigMode')
        address = self._device(handle)[1]
        self._mig_model(address, need_enabled=False)
        gpu = self._gpu(address)
        return [int(gpu['mig_current']), int(gpu['mig_pending'])]

    def nvmlDeviceSetMigMode(self, handle, mode):
        """Ampere keeps the new mode pending until a GPU reset.

        Returns the activation status as NVML does:
        ``NVML_ERROR_RESET_REQUIRED`` while pending, else success.
        """
        self._check('nvmlDeviceSetMigMode')
        address = self._device(handle)[1]
        gpu_model = self._mig_model(address, need_enabled=False)
        if mode not in (pynvml.NVML_DEVICE_MIG_DISABLE,
                        pynvml.NVML_DEVICE_MIG_ENABLE):
            raise base.error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        with self._host.store.transaction() as state:
            gpu = state['gpus'][address]
            if gpu['gpu_instances'] or rules.used_type_ids(gpu):
                raise base.error(pynvml.NVML_ERROR_IN_USE)
            gpu['mig_pending'] = bool(mode)
            if not gpu_model.architecture.mig_change_needs_reset:
                gpu['mig_current'] = bool(mode)
            status = (pynvml.NVML_SUCCESS
                      if gpu['mig_current'] == gpu['mig_pending']
                      else pynvml.NVML_ERROR_RESET_REQUIRED)
            self._host.journal(state, 'nvml', 'nvmlDeviceSetMigMode',
                               address, int(mode))
            self._host.touch(address)
        return status

    def nvmlDeviceGetMaxMigDeviceCount(self, handle):
        self._check('nvmlDeviceGetMaxMigDeviceCount')
        address = self._device(handle)[1]
        gpu_model = self._host.gpu_model(address)
        if not gpu_model.mig_capable:
            return 0
        return max(p.max_instances for p in gpu_model.mig_profiles)

    def nvmlDeviceIsMigDeviceHandle(self, handle):
        self._check('nvmlDeviceIsMigDeviceHandle')
        self._device(handle)
        return 0

    # -- GPU instances ------------------------------------------------------

    def nvmlDeviceGetGpuInstanceProfileInfo(self, handle, profile,
                                            version=2):
        self._check('nvmlDeviceGetGpuInstanceProfileInfo')
        address = self._device(handle)[1]
        gpu_model = self._mig_model(address, need_enabled=False)
        if not 0 <= profile < pynvml.NVML_GPU_INSTANCE_PROFILE_COUNT:
            raise base.error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        found = [p for p in gpu_model.mig_profiles if p.nvml_id == profile]
        if not found:
            raise base.error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return self._profile_info(gpu_model, found[0], version)

    nvmlDeviceGetGpuInstanceProfileInfoV = nvmlDeviceGetGpuInstanceProfileInfo

    def nvmlDeviceGetGpuInstanceProfileInfoById(self, handle, profile_id):
        self._check('nvmlDeviceGetGpuInstanceProfileInfoById')
        gpu_model = self._mig_model(self._device(handle)[1],
                                    need_enabled=False)
        return self._profile_info(
            gpu_model,
            self._profile_by_id(gpu_model, profile_id), 2)

    @staticmethod
    def _profile_info(gpu_model, profile, version):
        if version == 1:
            info = pynvml.c_nvmlGpuInstanceProfileInfo_t()
        else:
            info = pynvml.c_nvmlGpuInstanceProfileInfo_v2_t()
            info.name = ('MIG ' + profile.name).encode()
        info.id = base.profile_gi_id(profile)
        info.isP2pSupported = 0
        info.sliceCount = profile.compute_slices
        info.instanceCount = profile.max_instances
        info.multiprocessorCount = 14 * profile.compute_slices
        info.copyEngineCount = profile.memory_slices
        info.memorySizeMB = profile.memory_mib
        row = listings.published_rows(gpu_model.name).get(profile.name)
        if row is not None and row.copy_engines is not None:
            # NOTE: engine counts as a real host printed them (`nvidia-smi
            # mig -lgip`); other profiles keep the A100-like guess above.
            info.multiprocessorCount = row.sm
            info.copyEngineCount = row.copy_engines
            info.decoderCount = row.decoders
            info.encoderCount = row.encoders
            info.jpegCount = row.jpeg
            info.ofaCount = row.ofa
        return info

    def nvmlDeviceGetGpuInstancePossiblePlacements(self, handle, profile_id,
                                                   placements_ref,
                                                   count_ref):
        self._check('nvmlDeviceGetGpuInstancePossiblePlacements')
        gpu_model = self._mig_model(self._device(handle)[1])
        profile = self._profile_by_id(gpu_model, profile_id)
        return base.fill(placements_ref, count_ref,
                         [self._placement(p) for p in profile.placements])

    nvmlDeviceGetGpuInstancePossiblePlacements_v2 = \
        nvmlDeviceGetGpuInstancePossiblePlacements

    @staticmethod
    def _placement(placement):
        result = pynvml.c_nvmlGpuInstancePlacement_t()
        result.start, result.size = placement.start, placement.size
        return result

    def nvmlDeviceGetGpuInstanceRemainingCapacity(self, handle, profile_id):
        self._check('nvmlDeviceGetGpuInstanceRemainingCapacity')
        address = self._device(handle)[1]
        gpu_model = self._mig_model(address)
        return rules.remaining_capacity(
            gpu_model, self._gpu(address),
            self._profile_by_id(gpu_model, profile_id))

    def nvmlDeviceCreateGpuInstance(self, handle, profile_id):
        self._check('nvmlDeviceCreateGpuInstance')
        return self._create_gi(handle, profile_id, None)

    def nvmlDeviceCreateGpuInstanceWithPlacement(self, handle, profile_id,
                                                 placement):
        self._check('nvmlDeviceCreateGpuInstanceWithPlacement')
        placement = base.target(placement)
        return self._create_gi(handle, profile_id,
                               model.Placement(placement.start,
                                               placement.size))

    def _create_gi(self, handle, profile_id, wanted):
        index, address = self._device(handle)
        gpu_model = self._mig_model(address)
        profile = self._profile_by_id(gpu_model, profile_id)
        if wanted is not None and wanted not in profile.placements:
            raise base.error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        with self._host.store.transaction() as state:
            gpu = state['gpus'][address]
            free = rules.free_placements(gpu_model, gpu, profile)
            if wanted is None:
                wanted = free[0] if free else None
            if wanted is None or wanted not in free:
                raise base.error(pynvml.NVML_ERROR_INSUFFICIENT_RESOURCES)
            gi_id = next(i for i in range(1, 256)
                         if str(i) not in gpu['gpu_instances'])
            gpu['gpu_instances'][str(gi_id)] = {
                'profile_index': profile.nvml_id,
                'profile_id': base.profile_gi_id(profile),
                'start': wanted.start, 'size': wanted.size,
                'compute_instances': {}}
            self._host.journal(state, 'nvml', 'nvmlDeviceCreateGpuInstance',
                               address, profile.name, str(wanted))
            self._host.touch(address)
        return base.gi_handle(index, gi_id)

    def nvmlGpuInstanceDestroy(self, gi_handle):
        self._check('nvmlGpuInstanceDestroy')
        _index, address, gi_id, _gi = self._gi(gi_handle)
        with self._host.store.transaction() as state:
            gpu = state['gpus'][address]
            gi = gpu['gpu_instances'][str(gi_id)]
            if gi['compute_instances'] or \
                    gi_id in rules.bound_gpu_instances(gpu):
                raise base.error(pynvml.NVML_ERROR_IN_USE)
            del gpu['gpu_instances'][str(gi_id)]
            self._host.journal(state, 'nvml', 'nvmlGpuInstanceDestroy',
                               address, gi_id)
            self._host.touch(address)
        return pynvml.NVML_SUCCESS

    def nvmlDeviceGetGpuInstances(self, handle, profile_id, instances_ref,
                                  count_ref):
        self._check('nvmlDeviceGetGpuInstances')
        index, address = self._device(handle)
        gpu_model = self._mig_model(address)
        self._profile_by_id(gpu_model, profile_id)
        ids = sorted(int(i) for i, gi in
                     self._gpu(address)['gpu_instances'].items()
                     if gi['profile_id'] == profile_id)
        return base.fill(instances_ref, count_ref,
                         [base.gi_handle(index, i) for i in ids])

    def nvmlDeviceGetGpuInstanceById(self, handle, gi_id):
        self._check('nvmlDeviceGetGpuInstanceById')
        index, address = self._device(handle)
        self._mig_model(address)
        if str(gi_id) not in self._gpu(address)['gpu_instances']:
            raise base.error(pynvml.NVML_ERROR_NOT_FOUND)
        return base.gi_handle(index, gi_id)

    def nvmlGpuInstanceGetInfo(self, gi_handle):
        self._check('nvmlGpuInstanceGetInfo')
        index, _address, gi_id, gi = self._gi(gi_handle)
        info = pynvml.c_nvmlGpuInstanceInfo_t()
        info.device = base.device_handle(index)
        info.id = gi_id
        info.profileId = gi['profile_id']
        info.placement.start, info.placement.size = gi['start'], gi['size']
        return info

    # -- compute instances --------------------------------------------------

    def _gi_compute(self, address, gi):
        gpu_model = self._host.gpu_model(address)
        for profile in gpu_model.mig_profiles:
            if profile.nvml_id == gi['profile_index']:
                return profile.compute_slices
        return 0

    def nvmlGpuInstanceGetComputeInstanceProfileInfo(self, gi_handle,
                                                     profile, eng_profile,
                                                     version=2):
        self._check('nvmlGpuInstanceGetComputeInstanceProfileInfo')
        _index, address, _gi_id, gi = self._gi(gi_handle)
        by_profile = {v: k for k, v in base.CI_PROFILE_BY_SLICES.items()}
        slices = by_profile.get(profile)
        compute = self._gi_compute(address, gi)
        if slices is None or slices > compute:
            raise base.error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        info = (pynvml.c_nvmlComputeInstanceProfileInfo_t() if version == 1
                else pynvml.c_nvmlComputeInstanceProfileInfo_v2_t())
        info.id = profile
        info.sliceCount = slices
        info.instanceCount = compute // slices
        info.multiprocessorCount = 14 * slices
        return info

    nvmlGpuInstanceGetComputeInstanceProfileInfoV = \
        nvmlGpuInstanceGetComputeInstanceProfileInfo

    def nvmlGpuInstanceGetComputeInstanceRemainingCapacity(self, gi_handle,
                                                           profile_id):
        self._check('nvmlGpuInstanceGetComputeInstanceRemainingCapacity')
        _index, address, _gi_id, gi = self._gi(gi_handle)
        info = self.nvmlGpuInstanceGetComputeInstanceProfileInfo(
            gi_handle, profile_id, 0)
        used = sum(ci['slices'] for ci in gi['compute_instances'].values())
        return (self._gi_compute(address, gi) - used) // info.sliceCount

    def nvmlGpuInstanceCreateComputeInstance(self, gi_handle, profile_id):
        self._check('nvmlGpuInstanceCreateComputeInstance')
        index, address, gi_id, _gi = self._gi(gi_handle)
        info = self.nvmlGpuInstanceGetComputeInstanceProfileInfo(
            gi_handle, profile_id, 0)
        with self._host.store.transaction() as state:
            gi = state['gpus'][address]['gpu_instances'][str(gi_id)]
            cis = gi['compute_instances']
            used = sum(ci['slices'] for ci in cis.values())
            if used + info.sliceCount > self._gi_compute(address, gi):
                raise base.error(pynvml.NVML_ERROR_INSUFFICIENT_RESOURCES)
            ci_id = next(i for i in range(256) if str(i) not in cis)
            cis[str(ci_id)] = {'profile_id': profile_id,
                               'slices': info.sliceCount, 'start': used}
            self._host.journal(state, 'nvml',
                               'nvmlGpuInstanceCreateComputeInstance',
                               address, gi_id, profile_id)
        return base.ci_handle(index, gi_id, ci_id)

    def _ci(self, ci_handle):
        index, gi_id, ci_id = base.decode(ci_handle, base.KIND_CI)
        address = self._addresses()[index]
        gi = self._gpu(address)['gpu_instances'].get(str(gi_id))
        if gi is None or str(ci_id) not in gi['compute_instances']:
            raise base.error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return index, address, gi_id, ci_id, gi['compute_instances'][
            str(ci_id)]

    def nvmlComputeInstanceDestroy(self, ci_handle):
        self._check('nvmlComputeInstanceDestroy')
        _index, address, gi_id, ci_id, _ci = self._ci(ci_handle)
        with self._host.store.transaction() as state:
            gi = state['gpus'][address]['gpu_instances'][str(gi_id)]
            del gi['compute_instances'][str(ci_id)]
            self._host.journal(state, 'nvml', 'nvmlComputeInstanceDestroy',
                               address, gi_id, ci_id)
        return pynvml.NVML_SUCCESS

    def nvmlGpuInstanceGetComputeInstances(self, gi_handle, profile_id,
                                           instances_ref, count_ref):
        self._check('nvmlGpuInstanceGetComputeInstances')
        index, _address, gi_id, gi = self._gi(gi_handle)
        ids = sorted(int(i) for i, ci in gi['compute_instances'].items()
                     if ci['profile_id'] == profile_id)
        return base.fill(instances_ref, count_ref,
                         [base.ci_handle(index, gi_id, i) for i in ids])

    def nvmlGpuInstanceGetComputeInstanceById(self, gi_handle, ci_id):
        self._check('nvmlGpuInstanceGetComputeInstanceById')
        index, _address, gi_id, gi = self._gi(gi_handle)
        if str(ci_id) not in gi['compute_instances']:
            raise base.error(pynvml.NVML_ERROR_NOT_FOUND)
        return base.ci_handle(index, gi_id, ci_id)

    def nvmlComputeInstanceGetInfo(self, ci_handle):
        self._check('nvmlComputeInstanceGetInfo')
        index, _address, gi_id, ci_id, ci = self._ci(ci_handle)
        info = pynvml.c_nvmlComputeInstanceInfo_t()
        info.device = base.device_handle(index)
        info.gpuInstance = base.gi_handle(index, gi_id)
        info.id = ci_id
        info.profileId = ci['profile_id']
        info.placement.start, info.placement.size = ci['start'], ci['slices']
        return info

    nvmlComputeInstanceGetInfo_v2 = nvmlComputeInstanceGetInfo

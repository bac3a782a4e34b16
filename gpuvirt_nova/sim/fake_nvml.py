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

"""A pynvml-compatible module bound to one simulated host.

``build(host)`` returns a module object with the same names as the real
``pynvml`` (nvidia-ml-py): every constant, struct class and exception class
is the real one, so ``except pynvml.NVMLError_InsufficientResources`` and
``pynvml.c_nvmlGpuInstancePlacement_t()`` work unchanged against it. The
functions listed in :data:`SIMULATED` answer from the host's state; any
other ``nvml*`` function raises ``NVMLError_NotSupported``, as NVML does
for a feature the GPU lacks.

Behaviour follows the NVML API reference (docs.nvidia.com/deploy/nvml-api,
"Multi Instance GPU Management"): GPU instances are created at a placement
of the profile and fail with ``NVML_ERROR_INSUFFICIENT_RESOURCES`` when its
slices are taken; MIG calls on a GPU without MIG, or with MIG mode off,
fail with ``NVML_ERROR_NOT_SUPPORTED``; destroying a GPU instance that
still has compute instances or backs a vGPU fails with
``NVML_ERROR_IN_USE``; every call before ``nvmlInit`` fails with
``NVML_ERROR_UNINITIALIZED``. Strings come back as ``str`` (as pynvml's
``convertStrBytes`` wrappers return them) and ``nvmlPciInfo_t.busId`` in
NVML's ``00000000:3B:00.0`` form. Handles are opaque ctypes
pointers that must not be dereferenced.

Profile *indexes* (``NVML_GPU_INSTANCE_PROFILE_2_SLICE``) and profile
*ids* (``info.id``, what ``nvidia-smi mig -lgip`` prints and what the
create/list calls take) differ, as on real GPUs.
"""

import ctypes
import types

import pynvml

from gpuvirt_nova.hardware import model
from gpuvirt_nova.sim import rules

#: GPU-instance profile ids by profile index, as NVML reports them on GPUs
#: with 8 memory slices (A100, H100, H200): ``nvidia-smi mig -lgip``.
GI_PROFILE_IDS = {0: 19, 7: 20, 9: 15, 1: 14, 2: 9, 3: 5, 4: 0}
#: Compute-instance profile index by compute slices (ids equal indexes).
CI_PROFILE_BY_SLICES = {1: 0, 2: 1, 3: 2, 4: 3, 7: 4, 8: 5, 6: 6}
MIB = 1024 * 1024
#: What NVML answers for a type not backed by MIG.
INVALID_PROFILE_ID = 0xFFFFFFFF

_TAG = 0x6e76 << 32
_KIND_DEVICE, _KIND_GI, _KIND_CI = 1, 2, 3

_ARCH = {
    model.Architecture.VOLTA: pynvml.NVML_DEVICE_ARCH_VOLTA,
    model.Architecture.TURING: pynvml.NVML_DEVICE_ARCH_TURING,
    model.Architecture.AMPERE: pynvml.NVML_DEVICE_ARCH_AMPERE,
    model.Architecture.ADA: pynvml.NVML_DEVICE_ARCH_ADA,
    model.Architecture.HOPPER: pynvml.NVML_DEVICE_ARCH_HOPPER,
    model.Architecture.BLACKWELL: pynvml.NVML_DEVICE_ARCH_BLACKWELL,
}

DEFAULT_TELEMETRY = {'temperature_c': 34, 'power_w': 38.0,
                     'power_limit_w': 250.0, 'gpu_util': 0, 'mem_util': 0,
                     'memory_used_mib': 0, 'pcie_tx_kbps': 0,
                     'pcie_rx_kbps': 0}


def gi_profile_id(profile_index):
    return GI_PROFILE_IDS.get(profile_index, 32 + profile_index)


def _error(code):
    return pynvml.NVMLError(code)


def _encode(pointer_type, kind, device, gi_id=0, ci_id=0):
    value = _TAG | kind << 28 | (device + 1) << 16 | gi_id << 8 | ci_id
    return ctypes.cast(ctypes.c_void_p(value), pointer_type)


def _decode(handle, kind):
    """(device index, gi id, ci id) of a handle made by _encode."""
    try:
        value = ctypes.cast(handle, ctypes.c_void_p).value or 0
    except (ctypes.ArgumentError, TypeError):
        raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
    if value >> 32 != _TAG >> 32 or (value >> 28) & 0xf != kind:
        raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
    return ((value >> 16 & 0xfff) - 1, value >> 8 & 0xff, value & 0xff)


def _target(ref):
    """The ctypes object behind a byref()/pointer()/plain argument."""
    if ref is None:
        return None
    if hasattr(ref, '_obj'):
        return ref._obj
    if hasattr(ref, 'contents') and not isinstance(ref, ctypes.Array):
        return ref.contents
    return ref


def _fill(items_ref, count_ref, values):
    """NVML's array-out convention: fill the array, return the count."""
    count = _target(count_ref)
    items = _target(items_ref)
    if items is not None:
        capacity = len(items) if isinstance(items, ctypes.Array) else \
            len(values)
        if capacity < len(values):
            count.value = len(values)
            raise _error(pynvml.NVML_ERROR_INSUFFICIENT_SIZE)
        for i, value in enumerate(values):
            items[i] = value
    if count is not None:
        count.value = len(values)
    return pynvml.NVML_SUCCESS


class FakeNvml:
    """The functions; ``build`` turns an instance into a module."""

    def __init__(self, host):
        self._host = host
        self._init_count = 0

    # -- plumbing ----------------------------------------------------------

    def _check(self, name):
        if not self._init_count and name not in ('nvmlInit',
                                                 'nvmlInitWithFlags'):
            raise _error(pynvml.NVML_ERROR_UNINITIALIZED)
        code = self._host.take_failure(name)
        if code is not None:
            raise _error(code)

    def _addresses(self):
        return self._host.nvml_addresses()

    def _device(self, handle):
        index = _decode(handle, _KIND_DEVICE)[0]
        addresses = self._addresses()
        if not 0 <= index < len(addresses):
            raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return index, addresses[index]

    def _gpu(self, address):
        return self._host.store.load()['gpus'][address]

    def _mig_model(self, address, need_enabled=True):
        gpu_model = self._host.gpu_model(address)
        if not gpu_model.mig_capable:
            raise _error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        if need_enabled and not self._gpu(address)['mig_current']:
            raise _error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return gpu_model

    def _profile_by_id(self, gpu_model, profile_id):
        for profile in gpu_model.mig_profiles:
            if gi_profile_id(profile.nvml_id) == profile_id:
                return profile
        raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)

    def _gi(self, handle):
        index, gi_id, _ci = _decode(handle, _KIND_GI)
        address = self._addresses()[index]
        gi = self._gpu(address)['gpu_instances'].get(str(gi_id))
        if gi is None:
            raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return index, address, gi_id, gi

    # -- system and device -------------------------------------------------

    def nvmlInit(self):
        self._check('nvmlInit')
        self._init_count += 1

    def nvmlInitWithFlags(self, flags):
        self.nvmlInit()

    def nvmlShutdown(self):
        self._check('nvmlShutdown')
        self._init_count -= 1

    def nvmlSystemGetDriverVersion(self):
        self._check('nvmlSystemGetDriverVersion')
        return self._host.store.load()['spec']['driver_version']

    def nvmlSystemGetNVMLVersion(self):
        self._check('nvmlSystemGetNVMLVersion')
        return '12.%s' % self._host.store.load()['spec']['driver_version']

    def nvmlSystemGetCudaDriverVersion(self):
        self._check('nvmlSystemGetCudaDriverVersion')
        return 12040

    def nvmlDeviceGetCount(self):
        self._check('nvmlDeviceGetCount')
        return len(self._addresses())

    def nvmlDeviceGetHandleByIndex(self, index):
        self._check('nvmlDeviceGetHandleByIndex')
        if not 0 <= index < len(self._addresses()):
            raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return _encode(pynvml.c_nvmlDevice_t, _KIND_DEVICE, index)

    def nvmlDeviceGetHandleByPciBusId(self, bus_id):
        self._check('nvmlDeviceGetHandleByPciBusId')
        if isinstance(bus_id, bytes):
            bus_id = bus_id.decode()
        text = bus_id.strip().lower()
        domain, _sep, rest = text.partition(':')
        try:
            address = model.normalize_pci_address(
                '%04x:%s' % (int(domain, 16), rest))
        except ValueError:
            raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        if address not in self._addresses():
            raise _error(pynvml.NVML_ERROR_NOT_FOUND)
        return _encode(pynvml.c_nvmlDevice_t, _KIND_DEVICE,
                       self._addresses().index(address))

    def nvmlDeviceGetHandleByUUID(self, gpu_uuid):
        self._check('nvmlDeviceGetHandleByUUID')
        if isinstance(gpu_uuid, bytes):
            gpu_uuid = gpu_uuid.decode()
        for index, address in enumerate(self._addresses()):
            if self._gpu(address)['uuid'] == gpu_uuid:
                return _encode(pynvml.c_nvmlDevice_t, _KIND_DEVICE, index)
        raise _error(pynvml.NVML_ERROR_NOT_FOUND)

    def nvmlDeviceGetName(self, handle):
        self._check('nvmlDeviceGetName')
        gpu_model = self._host.gpu_model(self._device(handle)[1])
        if gpu_model.nvml_names:
            return gpu_model.nvml_names[0]
        return 'NVIDIA %s' % gpu_model.name

    def nvmlDeviceGetUUID(self, handle):
        self._check('nvmlDeviceGetUUID')
        return self._gpu(self._device(handle)[1])['uuid']

    def nvmlDeviceGetMinorNumber(self, handle):
        self._check('nvmlDeviceGetMinorNumber')
        return self._device(handle)[0]

    def nvmlDeviceGetIndex(self, handle):
        self._check('nvmlDeviceGetIndex')
        return self._device(handle)[0]

    def nvmlDeviceGetPciInfo(self, handle):
        self._check('nvmlDeviceGetPciInfo')
        address = self._device(handle)[1]
        domain, bus, rest = address.split(':')
        slot = rest.split('.')[0]
        gpu_model = self._host.gpu_model(address)
        device_id = int((gpu_model.pci_device_ids or ('0000',))[0], 16)
        info = pynvml.nvmlPciInfo_t()
        bus_id = ('%08X:%s:%s' % (int(domain, 16), bus.upper(),
                                  rest.upper())).encode()
        info.busId = bus_id
        info.busIdLegacy = bus_id
        info.domain = int(domain, 16)
        info.bus = int(bus, 16)
        info.device = int(slot, 16)
        info.pciDeviceId = device_id << 16 | 0x10de
        info.pciSubSystemId = device_id << 16 | 0x10de
        return info

    nvmlDeviceGetPciInfo_v3 = nvmlDeviceGetPciInfo

    def nvmlDeviceGetMemoryInfo(self, handle, version=None):
        self._check('nvmlDeviceGetMemoryInfo')
        address = self._device(handle)[1]
        total = self._host.gpu_model(address).memory_mib * MIB
        used = self._telemetry(address)['memory_used_mib'] * MIB
        info = pynvml.c_nvmlMemory_t()
        info.total, info.used, info.free = total, used, total - used
        return info

    def nvmlDeviceGetArchitecture(self, handle):
        self._check('nvmlDeviceGetArchitecture')
        gpu_model = self._host.gpu_model(self._device(handle)[1])
        return _ARCH.get(gpu_model.architecture,
                         pynvml.NVML_DEVICE_ARCH_UNKNOWN)

    def nvmlDeviceGetNumaNodeId(self, handle):
        self._check('nvmlDeviceGetNumaNodeId')
        return self._host.gpu_spec(self._device(handle)[1])['numa_node']

    def nvmlDeviceGetVirtualizationMode(self, handle):
        self._check('nvmlDeviceGetVirtualizationMode')
        self._device(handle)
        return pynvml.NVML_GPU_VIRTUALIZATION_MODE_HOST_VGPU

    def nvmlDeviceGetHostVgpuMode(self, handle):
        self._check('nvmlDeviceGetHostVgpuMode')
        address = self._device(handle)[1]
        if self._host.gpu_model(address).sriov_totalvfs:
            return pynvml.NVML_HOST_VGPU_MODE_SRIOV
        return pynvml.NVML_HOST_VGPU_MODE_NON_SRIOV

    # -- telemetry (values a test sets with SimulatedHost.set_telemetry) --

    def _telemetry(self, address):
        values = dict(DEFAULT_TELEMETRY)
        values.update(self._gpu(address).get('telemetry', {}))
        return values

    def nvmlDeviceGetTemperature(self, handle, sensor):
        self._check('nvmlDeviceGetTemperature')
        return self._telemetry(self._device(handle)[1])['temperature_c']

    def nvmlDeviceGetPowerUsage(self, handle):
        self._check('nvmlDeviceGetPowerUsage')
        return int(self._telemetry(self._device(handle)[1])['power_w']
                   * 1000)

    def nvmlDeviceGetEnforcedPowerLimit(self, handle):
        self._check('nvmlDeviceGetEnforcedPowerLimit')
        return int(self._telemetry(self._device(handle)[1])[
            'power_limit_w'] * 1000)

    nvmlDeviceGetPowerManagementLimit = nvmlDeviceGetEnforcedPowerLimit

    def nvmlDeviceGetUtilizationRates(self, handle):
        self._check('nvmlDeviceGetUtilizationRates')
        values = self._telemetry(self._device(handle)[1])
        util = pynvml.c_nvmlUtilization_t()
        util.gpu, util.memory = values['gpu_util'], values['mem_util']
        return util

    def nvmlDeviceGetPcieThroughput(self, handle, counter):
        self._check('nvmlDeviceGetPcieThroughput')
        values = self._telemetry(self._device(handle)[1])
        if counter == pynvml.NVML_PCIE_UTIL_TX_BYTES:
            return values['pcie_tx_kbps']
        return values['pcie_rx_kbps']

    # -- vGPU types ---------------------------------------------------------

    def _type(self, type_id):
        for address in self._addresses():
            found = self._host.gpu_model(address).vgpu_type_by_id(type_id)
            if found:
                return found
        raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)

    def nvmlDeviceGetSupportedVgpus(self, handle):
        self._check('nvmlDeviceGetSupportedVgpus')
        gpu_model = self._host.gpu_model(self._device(handle)[1])
        return [t.type_id for t in gpu_model.vgpu_types]

    def nvmlDeviceGetCreatableVgpus(self, handle):
        self._check('nvmlDeviceGetCreatableVgpus')
        address = self._device(handle)[1]
        caps = rules.capacity(self._host.gpu_model(address),
                              self._gpu(address),
                              self._host.gpu_spec(address)['scheduling'])
        return [type_id for type_id, n in caps.items() if n > 0]

    def nvmlVgpuTypeGetName(self, type_id):
        self._check('nvmlVgpuTypeGetName')
        return self._type(type_id).name

    def nvmlVgpuTypeGetClass(self, type_id):
        self._check('nvmlVgpuTypeGetClass')
        return {'C': 'Compute', 'Q': 'Quadro', 'B': 'NVS',
                'A': 'GRID'}[self._type(type_id).series.value]

    def nvmlVgpuTypeGetFramebufferSize(self, type_id):
        self._check('nvmlVgpuTypeGetFramebufferSize')
        return self._type(type_id).framebuffer_mib * MIB

    def nvmlVgpuTypeGetMaxInstances(self, handle, type_id):
        self._check('nvmlVgpuTypeGetMaxInstances')
        gpu_model = self._host.gpu_model(self._device(handle)[1])
        found = gpu_model.vgpu_type_by_id(type_id)
        if found is None:
            raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return found.max_instances

    def nvmlVgpuTypeGetGpuInstanceProfileId(self, type_id):
        self._check('nvmlVgpuTypeGetGpuInstanceProfileId')
        vgpu_type = self._type(type_id)
        if not vgpu_type.mig_backed:
            return INVALID_PROFILE_ID
        for address in self._addresses():
            gpu_model = self._host.gpu_model(address)
            if gpu_model.vgpu_type_by_id(type_id):
                return gi_profile_id(
                    gpu_model.mig_profile(vgpu_type.mig_profile).nvml_id)

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
            raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        with self._host.store.transaction() as state:
            gpu = state['gpus'][address]
            if gpu['gpu_instances'] or rules.used_type_ids(gpu):
                raise _error(pynvml.NVML_ERROR_IN_USE)
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
            raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        found = [p for p in gpu_model.mig_profiles if p.nvml_id == profile]
        if not found:
            raise _error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return self._profile_info(found[0], version)

    nvmlDeviceGetGpuInstanceProfileInfoV = nvmlDeviceGetGpuInstanceProfileInfo

    def nvmlDeviceGetGpuInstanceProfileInfoById(self, handle, profile_id):
        self._check('nvmlDeviceGetGpuInstanceProfileInfoById')
        gpu_model = self._mig_model(self._device(handle)[1],
                                    need_enabled=False)
        return self._profile_info(
            self._profile_by_id(gpu_model, profile_id), 2)

    def _profile_info(self, profile, version):
        if version == 1:
            info = pynvml.c_nvmlGpuInstanceProfileInfo_t()
        else:
            info = pynvml.c_nvmlGpuInstanceProfileInfo_v2_t()
            info.name = profile.name.encode()
        info.id = gi_profile_id(profile.nvml_id)
        info.isP2pSupported = 0
        info.sliceCount = profile.compute_slices
        info.instanceCount = profile.max_instances
        info.multiprocessorCount = 14 * profile.compute_slices
        info.copyEngineCount = profile.memory_slices
        info.memorySizeMB = profile.memory_mib
        return info

    def nvmlDeviceGetGpuInstancePossiblePlacements(self, handle, profile_id,
                                                   placements_ref,
                                                   count_ref):
        self._check('nvmlDeviceGetGpuInstancePossiblePlacements')
        gpu_model = self._mig_model(self._device(handle)[1])
        profile = self._profile_by_id(gpu_model, profile_id)
        return _fill(placements_ref, count_ref,
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
        placement = _target(placement)
        return self._create_gi(handle, profile_id,
                               model.Placement(placement.start,
                                               placement.size))

    def _create_gi(self, handle, profile_id, wanted):
        index, address = self._device(handle)
        gpu_model = self._mig_model(address)
        profile = self._profile_by_id(gpu_model, profile_id)
        if wanted is not None and wanted not in profile.placements:
            raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        with self._host.store.transaction() as state:
            gpu = state['gpus'][address]
            free = rules.free_placements(gpu_model, gpu, profile)
            if wanted is None:
                wanted = free[0] if free else None
            if wanted is None or wanted not in free:
                raise _error(pynvml.NVML_ERROR_INSUFFICIENT_RESOURCES)
            gi_id = next(i for i in range(1, 256)
                         if str(i) not in gpu['gpu_instances'])
            gpu['gpu_instances'][str(gi_id)] = {
                'profile_index': profile.nvml_id,
                'profile_id': gi_profile_id(profile.nvml_id),
                'start': wanted.start, 'size': wanted.size,
                'compute_instances': {}}
            self._host.journal(state, 'nvml', 'nvmlDeviceCreateGpuInstance',
                               address, profile.name, str(wanted))
            self._host.touch(address)
        return _encode(pynvml.c_nvmlGpuInstance_t, _KIND_GI, index, gi_id)

    def nvmlGpuInstanceDestroy(self, gi_handle):
        self._check('nvmlGpuInstanceDestroy')
        _index, address, gi_id, _gi = self._gi(gi_handle)
        with self._host.store.transaction() as state:
            gpu = state['gpus'][address]
            gi = gpu['gpu_instances'][str(gi_id)]
            if gi['compute_instances'] or \
                    gi_id in rules.bound_gpu_instances(gpu):
                raise _error(pynvml.NVML_ERROR_IN_USE)
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
        return _fill(instances_ref, count_ref,
                     [_encode(pynvml.c_nvmlGpuInstance_t, _KIND_GI, index, i)
                      for i in ids])

    def nvmlDeviceGetGpuInstanceById(self, handle, gi_id):
        self._check('nvmlDeviceGetGpuInstanceById')
        index, address = self._device(handle)
        self._mig_model(address)
        if str(gi_id) not in self._gpu(address)['gpu_instances']:
            raise _error(pynvml.NVML_ERROR_NOT_FOUND)
        return _encode(pynvml.c_nvmlGpuInstance_t, _KIND_GI, index, gi_id)

    def nvmlGpuInstanceGetInfo(self, gi_handle):
        self._check('nvmlGpuInstanceGetInfo')
        index, _address, gi_id, gi = self._gi(gi_handle)
        info = pynvml.c_nvmlGpuInstanceInfo_t()
        info.device = _encode(pynvml.c_nvmlDevice_t, _KIND_DEVICE, index)
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
        slices = {v: k for k, v in CI_PROFILE_BY_SLICES.items()}.get(profile)
        compute = self._gi_compute(address, gi)
        if slices is None or slices > compute:
            raise _error(pynvml.NVML_ERROR_NOT_SUPPORTED)
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
                raise _error(pynvml.NVML_ERROR_INSUFFICIENT_RESOURCES)
            ci_id = next(i for i in range(256) if str(i) not in cis)
            cis[str(ci_id)] = {'profile_id': profile_id,
                               'slices': info.sliceCount, 'start': used}
            self._host.journal(state, 'nvml',
                               'nvmlGpuInstanceCreateComputeInstance',
                               address, gi_id, profile_id)
        return _encode(pynvml.c_nvmlComputeInstance_t, _KIND_CI, index,
                       gi_id, ci_id)

    def _ci(self, ci_handle):
        index, gi_id, ci_id = _decode(ci_handle, _KIND_CI)
        address = self._addresses()[index]
        gi = self._gpu(address)['gpu_instances'].get(str(gi_id))
        if gi is None or str(ci_id) not in gi['compute_instances']:
            raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
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
        return _fill(instances_ref, count_ref,
                     [_encode(pynvml.c_nvmlComputeInstance_t, _KIND_CI,
                              index, gi_id, i) for i in ids])

    def nvmlGpuInstanceGetComputeInstanceById(self, gi_handle, ci_id):
        self._check('nvmlGpuInstanceGetComputeInstanceById')
        index, _address, gi_id, gi = self._gi(gi_handle)
        if str(ci_id) not in gi['compute_instances']:
            raise _error(pynvml.NVML_ERROR_NOT_FOUND)
        return _encode(pynvml.c_nvmlComputeInstance_t, _KIND_CI, index,
                       gi_id, ci_id)

    def nvmlComputeInstanceGetInfo(self, ci_handle):
        self._check('nvmlComputeInstanceGetInfo')
        index, _address, gi_id, ci_id, ci = self._ci(ci_handle)
        info = pynvml.c_nvmlComputeInstanceInfo_t()
        info.device = _encode(pynvml.c_nvmlDevice_t, _KIND_DEVICE, index)
        info.gpuInstance = _encode(pynvml.c_nvmlGpuInstance_t, _KIND_GI,
                                   index, gi_id)
        info.id = ci_id
        info.profileId = ci['profile_id']
        info.placement.start, info.placement.size = ci['start'], ci['slices']
        return info

    nvmlComputeInstanceGetInfo_v2 = nvmlComputeInstanceGetInfo


#: The nvml* functions the simulator answers (everything else raises
#: NVMLError_NotSupported).
SIMULATED = tuple(sorted(name for name in vars(FakeNvml)
                         if name.startswith('nvml')))


def _not_supported(name):
    def function(*args, **kwargs):
        raise _error(pynvml.NVML_ERROR_NOT_SUPPORTED)
    function.__name__ = name
    return function


def _error_strings():
    """Fill pynvml's message cache for the codes it only gets from libnvml.

    ``NVMLError.__str__`` asks the loaded library for codes missing from
    its table; without a library the text would be a bare number.
    """
    for name, value in vars(pynvml).items():
        if name.startswith('NVML_ERROR_'):
            pynvml.NVMLError._errcode_to_string.setdefault(
                value, name[len('NVML_ERROR_'):].replace('_', ' ')
                .capitalize())


def build(host):
    """A module object that looks like ``pynvml``, bound to ``host``."""
    _error_strings()
    fake = FakeNvml(host)
    module = types.ModuleType('gpuvirt_nova.sim.fake_nvml.pynvml',
                              'pynvml-compatible fake of one simulated host')
    for name, value in vars(pynvml).items():
        if name.startswith('__'):
            continue
        if name.startswith('nvml') and isinstance(value, types.FunctionType):
            if name not in ('nvmlExceptionClass', 'nvmlErrorString'):
                value = _not_supported(name)
        setattr(module, name, value)
    for name in SIMULATED:
        setattr(module, name, getattr(fake, name))
    module.simulated_host = host
    return module

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

Device, telemetry and vGPU-type functions are here, the MIG ones in
:mod:`gpuvirt_nova.sim.nvml_mig`. Behaviour follows the NVML API reference
(docs.nvidia.com/deploy/nvml-api, "Multi Instance GPU Management"): GPU
instances are created at a placement
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

import types

import pynvml

from gpuvirt_nova.hardware import model
from gpuvirt_nova.sim import nvml_base as base
from gpuvirt_nova.sim import nvml_mig
from gpuvirt_nova.sim import rules

#: What NVML reports until a test sets other values (set_telemetry).
DEFAULT_TELEMETRY = base.DEFAULT_TELEMETRY


class FakeNvml(nvml_mig.MigFunctions):
    """The functions; ``build`` turns an instance into a module."""

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
            raise base.error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return base.device_handle(index)

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
            raise base.error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        if address not in self._addresses():
            raise base.error(pynvml.NVML_ERROR_NOT_FOUND)
        return base.device_handle(self._addresses().index(address))

    def nvmlDeviceGetHandleByUUID(self, gpu_uuid):
        self._check('nvmlDeviceGetHandleByUUID')
        if isinstance(gpu_uuid, bytes):
            gpu_uuid = gpu_uuid.decode()
        for index, address in enumerate(self._addresses()):
            if self._gpu(address)['uuid'] == gpu_uuid:
                return base.device_handle(index)
        raise base.error(pynvml.NVML_ERROR_NOT_FOUND)

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
        total = self._host.gpu_model(address).memory_mib * base.MIB
        used = self._telemetry(address)['memory_used_mib'] * base.MIB
        info = pynvml.c_nvmlMemory_t()
        info.total, info.used, info.free = total, used, total - used
        return info

    def nvmlDeviceGetArchitecture(self, handle):
        self._check('nvmlDeviceGetArchitecture')
        gpu_model = self._host.gpu_model(self._device(handle)[1])
        return base.ARCH.get(gpu_model.architecture,
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
        values = dict(base.DEFAULT_TELEMETRY)
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
        raise base.error(pynvml.NVML_ERROR_INVALID_ARGUMENT)

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
        return self._type(type_id).framebuffer_mib * base.MIB

    def nvmlVgpuTypeGetMaxInstances(self, handle, type_id):
        self._check('nvmlVgpuTypeGetMaxInstances')
        gpu_model = self._host.gpu_model(self._device(handle)[1])
        found = gpu_model.vgpu_type_by_id(type_id)
        if found is None:
            raise base.error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return found.max_instances

    def nvmlVgpuTypeGetGpuInstanceProfileId(self, type_id):
        self._check('nvmlVgpuTypeGetGpuInstanceProfileId')
        vgpu_type = self._type(type_id)
        if not vgpu_type.mig_backed:
            return base.INVALID_PROFILE_ID
        for address in self._addresses():
            gpu_model = self._host.gpu_model(address)
            if gpu_model.vgpu_type_by_id(type_id):
                return base.gi_profile_id(
                    gpu_model.mig_profile(vgpu_type.mig_profile).nvml_id)


#: The nvml* functions the simulator answers (everything else raises
#: NVMLError_NotSupported).
SIMULATED = tuple(sorted(name for name in dir(FakeNvml)
                         if name.startswith('nvml')))


def _not_supported(name):
    def function(*args, **kwargs):
        raise base.error(pynvml.NVML_ERROR_NOT_SUPPORTED)
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

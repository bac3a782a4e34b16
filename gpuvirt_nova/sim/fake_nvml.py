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
import uuid

import pynvml

from gpuvirt_nova.hardware import model
from gpuvirt_nova.sim import nvml_base as base
from gpuvirt_nova.sim import nvml_mig
from gpuvirt_nova.sim import rules
from gpuvirt_nova.sim import state as state_mod

#: What NVML reports until a test sets other values (set_telemetry); the
#: guests a GPU has (SimulatedHost.attach_guest) move the load-driven ones.
DEFAULT_TELEMETRY = dict(base.DEFAULT_TELEMETRY, enc_util=0, dec_util=0,
                         sm_clock_mhz=210, mem_clock_mhz=1215,
                         ecc_sbe_total=0, ecc_dbe_total=0)
#: SM clock of a busy GPU, MHz (the idle one is DEFAULT_TELEMETRY's).
_BUSY_SM_CLOCK_MHZ = 1410
#: vGPU instance ids: GPU index * _VGPU_ID_BASE + position among its guests.
_VGPU_ID_BASE = 1000


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

    def _device(self, handle):
        index, address = super()._device(handle)
        gpu = self._gpu(address)
        if gpu.get('lost'):
            raise base.error(pynvml.NVML_ERROR_GPU_IS_LOST)
        if gpu.get('nvml_error'):
            raise base.error(gpu['nvml_error'])
        return index, address

    def _guests(self, address):
        """[(vGPU type, guest)] of the VMs on a GPU, in device order."""
        gpu_model = self._host.gpu_model(address)
        result = []
        for device, guest in sorted(self._gpu(address).get('guests',
                                                           {}).items()):
            vgpu_type = gpu_model.vgpu_type_by_id(guest['type_id'])
            if vgpu_type is not None:
                result.append((device, vgpu_type, guest))
        return result

    def _guest_share(self, address, vgpu_type):
        """The part of the GPU one vGPU of the type stands for (0..1)."""
        memory = self._host.gpu_model(address).memory_mib
        return min(1.0, vgpu_type.framebuffer_mib / float(memory))

    def _telemetry(self, address):
        """Defaults, then what the guests drive, then what a test set."""
        values = dict(DEFAULT_TELEMETRY)
        guests = self._guests(address)
        if guests:
            util = min(100, int(round(100 * sum(
                g['load'] * self._guest_share(address, t)
                for _d, t, g in guests))))
            limit = values['power_limit_w']
            values.update(
                gpu_util=util, mem_util=int(util * 0.6),
                memory_used_mib=sum(int(t.framebuffer_mib * g['fb_fraction'])
                                    for _d, t, g in guests),
                power_w=round(values['power_w'] + (
                    0.9 * limit - values['power_w']) * util / 100.0, 1),
                temperature_c=values['temperature_c'] + util // 2,
                pcie_tx_kbps=util * 2000, pcie_rx_kbps=util * 3000,
                sm_clock_mhz=_BUSY_SM_CLOCK_MHZ if util else
                values['sm_clock_mhz'])
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

    def nvmlDeviceGetEncoderUtilization(self, handle):
        self._check('nvmlDeviceGetEncoderUtilization')
        return [self._telemetry(self._device(handle)[1])['enc_util'], 167000]

    def nvmlDeviceGetDecoderUtilization(self, handle):
        self._check('nvmlDeviceGetDecoderUtilization')
        return [self._telemetry(self._device(handle)[1])['dec_util'], 167000]

    def nvmlDeviceGetClockInfo(self, handle, clock_type):
        self._check('nvmlDeviceGetClockInfo')
        values = self._telemetry(self._device(handle)[1])
        if clock_type == pynvml.NVML_CLOCK_MEM:
            return values['mem_clock_mhz']
        return values['sm_clock_mhz']

    def nvmlDeviceGetTotalEccErrors(self, handle, error_type, counter_type):
        self._check('nvmlDeviceGetTotalEccErrors')
        values = self._telemetry(self._device(handle)[1])
        if error_type == pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED:
            return values['ecc_dbe_total']
        return values['ecc_sbe_total']

    # -- XID events (SimulatedHost.inject_xid) -------------------------------

    def nvmlEventSetCreate(self):
        self._check('nvmlEventSetCreate')
        self._event_sets = getattr(self, '_event_sets', [])
        self._event_sets.append({})
        return len(self._event_sets)

    def nvmlDeviceRegisterEvents(self, handle, event_types, event_set):
        self._check('nvmlDeviceRegisterEvents')
        address = self._device(handle)[1]
        if not event_types & pynvml.nvmlEventTypeXidCriticalError:
            raise base.error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        # Events from now on: remember the last one already there.
        seen = max([e[0] for e in self._gpu(address).get('xid_events', [])],
                   default=0)
        self._event_sets[event_set - 1][address] = seen

    def nvmlEventSetWait_v2(self, event_set, timeout_ms):
        self._check('nvmlEventSetWait_v2')
        registered = self._event_sets[event_set - 1]
        for index, address in enumerate(self._addresses()):
            if address not in registered:
                continue
            for seq, xid in self._gpu(address).get('xid_events', []):
                if seq > registered[address]:
                    registered[address] = seq
                    data = pynvml.c_nvmlEventData_t()
                    data.device = base.device_handle(index)
                    data.eventType = pynvml.nvmlEventTypeXidCriticalError
                    data.eventData = xid
                    return data
        raise base.error(pynvml.NVML_ERROR_TIMEOUT)

    nvmlEventSetWait = nvmlEventSetWait_v2

    def nvmlEventSetFree(self, event_set):
        self._check('nvmlEventSetFree')
        self._event_sets[event_set - 1] = {}

    # -- active vGPUs (SimulatedHost.attach_guest) ---------------------------

    def _vgpu(self, vgpu_id):
        """(address, device, vGPU type, guest) of a vGPU instance id."""
        index, position = divmod(int(vgpu_id), _VGPU_ID_BASE)
        addresses = self._addresses()
        if not 1 <= index <= len(addresses):
            raise base.error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        address = addresses[index - 1]
        if self._gpu(address).get('lost'):
            raise base.error(pynvml.NVML_ERROR_GPU_IS_LOST)
        guests = self._guests(address)
        if position >= len(guests):
            raise base.error(pynvml.NVML_ERROR_NOT_FOUND)
        return (address,) + guests[position]

    def nvmlDeviceGetActiveVgpus(self, handle):
        self._check('nvmlDeviceGetActiveVgpus')
        index, address = self._device(handle)
        return [(index + 1) * _VGPU_ID_BASE + n
                for n in range(len(self._guests(address)))]

    def nvmlVgpuInstanceGetVmID(self, vgpu_id):
        self._check('nvmlVgpuInstanceGetVmID')
        return (self._vgpu(vgpu_id)[3]['vm'], pynvml.NVML_VGPU_VM_ID_UUID)

    def nvmlVgpuInstanceGetUUID(self, vgpu_id):
        self._check('nvmlVgpuInstanceGetUUID')
        address, device = self._vgpu(vgpu_id)[:2]
        return str(uuid.uuid5(uuid.NAMESPACE_URL,
                              '%s/%s' % (address, device)))

    def nvmlVgpuInstanceGetType(self, vgpu_id):
        self._check('nvmlVgpuInstanceGetType')
        return self._vgpu(vgpu_id)[2].type_id

    def nvmlVgpuInstanceGetFbUsage(self, vgpu_id):
        self._check('nvmlVgpuInstanceGetFbUsage')
        _a, _d, vgpu_type, guest = self._vgpu(vgpu_id)
        return int(vgpu_type.framebuffer_mib * guest['fb_fraction']) * \
            base.MIB

    def nvmlVgpuInstanceGetGpuPciId(self, vgpu_id):
        self._check('nvmlVgpuInstanceGetGpuPciId')
        address, device = self._vgpu(vgpu_id)[:2]
        if device in self._gpu(address)['mdevs']:
            # NVML gives the parent's id for an mdev-backed vGPU.
            device = self._gpu(address)['mdevs'][device]['parent']
        domain, rest = device.split(':', 1)
        return ('%08X:%s' % (int(domain, 16), rest.upper()))

    def nvmlVgpuInstanceGetMdevUUID(self, vgpu_id):
        self._check('nvmlVgpuInstanceGetMdevUUID')
        address, device = self._vgpu(vgpu_id)[:2]
        if device not in self._gpu(address)['mdevs']:
            raise base.error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return device

    def nvmlVgpuInstanceGetGpuInstanceId(self, vgpu_id):
        """The GPU instance a MIG-backed vGPU runs on.

        NVML answers ``INVALID_GPU_INSTANCE_ID`` (0xFFFFFFFF) for a
        time-sliced vGPU.
        """
        self._check('nvmlVgpuInstanceGetGpuInstanceId')
        address, device = self._vgpu(vgpu_id)[:2]
        gpu = self._gpu(address)
        if device in gpu['mdevs']:
            gi_id = gpu['mdevs'][device].get('gpu_instance')
        else:
            index = state_mod.vf_index(
                address, device, gpu.get('vf_offset', state_mod.VF_OFFSET))
            gi_id = gpu['vfs'][index].get('gpu_instance') \
                if index is not None and index < len(gpu['vfs']) else None
        return base.INVALID_PROFILE_ID if gi_id is None else int(gi_id)

    def nvmlDeviceGetVgpuUtilization(self, handle, last_seen_timestamp):
        self._check('nvmlDeviceGetVgpuUtilization')
        index, address = self._device(handle)
        samples = []
        for n, (_d, vgpu_type, guest) in enumerate(self._guests(address)):
            sample = pynvml.c_nvmlVgpuInstanceUtilizationSample_t()
            sample.vgpuInstance = (index + 1) * _VGPU_ID_BASE + n
            sample.timeStamp = last_seen_timestamp + 1
            sample.smUtil.uiVal = int(round(100 * guest['load'] * (
                self._guest_share(address, vgpu_type))))
            sample.memUtil.uiVal = int(sample.smUtil.uiVal * 0.6)
            samples.append(sample)
        return samples

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
                return base.profile_gi_id(
                    gpu_model.mig_profile(vgpu_type.mig_profile))


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

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

"""Read GPU telemetry through NVML: the monitor's thin hardware adapter.

``Sampler(nvml).sample(host)`` reads every GPU of a discovered
``model.Host`` (its PCI addresses, models and carve) and returns a
:class:`gpuvirt_nova.monitor.sample.HostSample`. The NVML module is passed
in (the real ``pynvml`` or the simulator's), as in ``hardware/nvml.py``.

A missing feature never stops sampling: a call NVML answers with
NOT_SUPPORTED (or a binding too old to have it) is remembered per GPU and
not tried again, so that GPU just has fewer metrics. ``GPU_IS_LOST`` marks
the GPU absent (the health the alert rules and the fence read); any other
error is a warning in the sample and that metric is left out.
"""

import ctypes

from gpuvirt_nova.hardware import catalog as catalog_mod
from gpuvirt_nova.hardware import nvml as nvml_mod
from gpuvirt_nova.monitor import sample as sample_mod

MIB = 1024 * 1024
# NVML codes (nvml.h), when the module lacks the constants.
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_TIMEOUT = 10
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15
NVML_TEMPERATURE_GPU = 0
NVML_PCIE_UTIL_TX_BYTES = 0
NVML_PCIE_UTIL_RX_BYTES = 1
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2
NVML_MEMORY_ERROR_TYPE_CORRECTED = 0
NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
NVML_VOLATILE_ECC = 0
NVML_EVENT_TYPE_XID = 0x8
#: What NVML answers for the GPU instance of a time-sliced vGPU.
INVALID_GPU_INSTANCE_ID = 0xFFFFFFFF


class GpuLost(Exception):
    """NVML answered GPU_IS_LOST."""


class Unsupported(Exception):
    """The GPU, driver or binding lacks this call."""


class Failed(Exception):
    """NVML answered another error (``strict`` calls only): ``.code``."""

    def __init__(self, name, code, text):
        super().__init__('%s: %s' % (name, text))
        self.name = name
        self.code = code


def _const(nvml, name, default):
    return getattr(nvml, name, default)


class Sampler:
    """Samples one host's GPUs through one initialized NVML module."""

    def __init__(self, nvml, hostname=None, gpu_catalog=None):
        self.nvml = nvml
        self.hostname = hostname
        self.catalog = gpu_catalog or catalog_mod.load()
        self.error = getattr(nvml, 'NVMLError', Exception) if nvml \
            else Exception
        #: address -> set of NVML call names this GPU does not support.
        self.unsupported = {}
        self._event_set = None
        self._registered = set()
        self._last_xid = {}
        self._vgpu_seen = {}
        self.started = False
        self.why_not = None
        self.absent = False

    # -- life cycle ---------------------------------------------------------

    def start(self):
        """nvmlInit; False (and ``why_not``) when NVML is unusable."""
        # absent: no NVML on this host at all (as opposed to an NVML
        # that fails, such as a driver/library version mismatch).
        self.absent = True
        if self.nvml is None:
            self.why_not = 'NVML is not available (nvidia-ml-py missing)'
            return False
        try:
            self.nvml.nvmlInit()
        except self.error as exc:
            missing = nvml_mod.missing_reason(self.nvml, exc)
            self.absent = bool(missing)
            self.why_not = missing or 'nvmlInit failed: %s' % exc
            return False
        except Exception as exc:  # a binding without its library
            self.why_not = 'nvmlInit failed: %s' % exc
            return False
        self.absent = False
        self.started = True
        try:
            self._event_set = self.nvml.nvmlEventSetCreate()
        except Exception:
            self._event_set = None  # no XID events: fewer metrics
        return True

    def close(self):
        if not self.started:
            return
        try:
            if self._event_set is not None:
                self.nvml.nvmlEventSetFree(self._event_set)
            self.nvml.nvmlShutdown()
        except Exception:
            pass
        self.started = False

    # -- calls --------------------------------------------------------------

    def call(self, address, name, *args, warnings=None, strict=False):
        """``nvml.<name>(*args)``; raises GpuLost/Unsupported, else None.

        ``strict``: any other NVML error raises :class:`Failed` instead
        of giving None (the fence's health reads).
        """
        if name in self.unsupported.get(address, ()):
            raise Unsupported(name)
        func = getattr(self.nvml, name, None)
        if func is None:
            self.unsupported.setdefault(address, set()).add(name)
            raise Unsupported(name)
        try:
            return func(*args)
        except self.error as exc:
            code = getattr(exc, 'value', None)
            if code == _const(self.nvml, 'NVML_ERROR_GPU_IS_LOST',
                              NVML_ERROR_GPU_IS_LOST):
                raise GpuLost(name)
            if code in (_const(self.nvml, 'NVML_ERROR_NOT_SUPPORTED',
                               NVML_ERROR_NOT_SUPPORTED),
                        _const(self.nvml, 'NVML_ERROR_FUNCTION_NOT_FOUND',
                               NVML_ERROR_FUNCTION_NOT_FOUND)):
                self.unsupported.setdefault(address, set()).add(name)
                raise Unsupported(name)
            if strict:
                raise Failed(name, code, exc)
            if warnings is not None:
                warnings.append('NVML %s on GPU %s failed: %s'
                                % (name, address, exc))
            return None

    def _metric(self, gpu, name, *args, warnings=None):
        try:
            return self.call(gpu.address, name, *args, warnings=warnings)
        except Unsupported:
            return None

    # -- sampling -----------------------------------------------------------

    def sample(self, host, now):
        """A HostSample of every GPU of ``host`` (a discovered model.Host).

        ``now``: the sample's timestamp (seconds), given by the caller so
        the decision code downstream never reads a clock.
        """
        result = sample_mod.HostSample(
            hostname=self.hostname or host.hostname, timestamp=now,
            driver_version=host.driver_version)
        if not self.started and self.why_not and self.nvml is not None:
            # NVML failed to start (a driver/library version mismatch
            # while the driver is upgraded, the driver not yet loaded):
            # try again each round, so metrics come back without a restart.
            self.start()
        if not self.started:
            result.warnings.append('no metrics: %s' % self.why_not)
            result.gpus = [sample_mod.GpuSample(address=g.address,
                                                model=g.model)
                           for g in host.gpus]
            return result
        handles = {}
        for gpu in sorted(host.gpus, key=lambda g: g.address):
            gpu_sample = sample_mod.GpuSample(address=gpu.address,
                                              model=gpu.model, uuid=gpu.uuid)
            result.gpus.append(gpu_sample)
            try:
                handle = self.call(gpu.address,
                                   'nvmlDeviceGetHandleByPciBusId',
                                   '0000' + gpu.address,
                                   warnings=result.warnings)
                if handle is None:
                    continue
                handles[gpu.address] = handle
                self._read_gpu(gpu_sample, handle, result.warnings)
                vgpus = self._read_vgpus(gpu, gpu_sample, handle,
                                         result.warnings)
                result.vgpus.extend(vgpus)
                result.migs.extend(self._read_migs(gpu, handle, vgpus,
                                                   result.warnings))
            except GpuLost:
                gpu_sample.present = False
                gpu_sample.metrics = {}
                handles.pop(gpu.address, None)
            except Unsupported:
                # No handle lookup by bus id (vfio-pci bound GPU): no data.
                pass
            gpu_sample.unsupported = tuple(sorted(self.unsupported.get(
                gpu.address, ())))
        self._read_xids(result, handles)
        for gpu_sample in result.gpus:
            gpu_sample.last_xid = self._last_xid.get(gpu_sample.address)
        return result

    def _read_gpu(self, sample, handle, warnings):
        nvml = self.nvml
        m = sample.metrics

        def read(name, *args):
            return self._metric(sample, name, handle, *args,
                                warnings=warnings)

        sample.index = read('nvmlDeviceGetIndex')
        memory = read('nvmlDeviceGetMemoryInfo')
        if memory is not None:
            m['fb_total_mib'] = int(memory.total) // MIB
            m['fb_used_mib'] = int(memory.used) // MIB
            m['fb_free_mib'] = int(memory.free) // MIB
        util = read('nvmlDeviceGetUtilizationRates')
        if util is not None:
            m['gpu_util'] = int(util.gpu)
            m['mem_copy_util'] = int(util.memory)
        for key, name in (('enc_util', 'nvmlDeviceGetEncoderUtilization'),
                          ('dec_util', 'nvmlDeviceGetDecoderUtilization')):
            value = read(name)
            if value is not None:
                m[key] = int(value[0])
        for key, counter in (
                ('pcie_tx_bytes', _const(nvml, 'NVML_PCIE_UTIL_TX_BYTES',
                                         NVML_PCIE_UTIL_TX_BYTES)),
                ('pcie_rx_bytes', _const(nvml, 'NVML_PCIE_UTIL_RX_BYTES',
                                         NVML_PCIE_UTIL_RX_BYTES))):
            value = self._metric(sample, 'nvmlDeviceGetPcieThroughput',
                                 handle, counter, warnings=warnings)
            if value is not None:
                m[key] = int(value) * 1024  # NVML gives KB/s
        value = read('nvmlDeviceGetTemperature',
                     _const(nvml, 'NVML_TEMPERATURE_GPU',
                            NVML_TEMPERATURE_GPU))
        if value is not None:
            m['temperature_c'] = int(value)
        for key, name in (('power_w', 'nvmlDeviceGetPowerUsage'),
                          ('power_limit_w',
                           'nvmlDeviceGetEnforcedPowerLimit')):
            value = read(name)
            if value is not None:
                m[key] = value / 1000.0  # mW
        for key, clock in (('sm_clock_mhz', _const(nvml, 'NVML_CLOCK_SM',
                                                   NVML_CLOCK_SM)),
                           ('mem_clock_mhz', _const(nvml, 'NVML_CLOCK_MEM',
                                                    NVML_CLOCK_MEM))):
            value = self._metric(sample, 'nvmlDeviceGetClockInfo', handle,
                                 clock, warnings=warnings)
            if value is not None:
                m[key] = int(value)
        for key, kind in (
                ('ecc_sbe_total', _const(
                    nvml, 'NVML_MEMORY_ERROR_TYPE_CORRECTED',
                    NVML_MEMORY_ERROR_TYPE_CORRECTED)),
                ('ecc_dbe_total', _const(
                    nvml, 'NVML_MEMORY_ERROR_TYPE_UNCORRECTED',
                    NVML_MEMORY_ERROR_TYPE_UNCORRECTED))):
            value = self._metric(sample, 'nvmlDeviceGetTotalEccErrors',
                                 handle, kind,
                                 _const(nvml, 'NVML_VOLATILE_ECC',
                                        NVML_VOLATILE_ECC),
                                 warnings=warnings)
            if value is not None:
                m[key] = int(value)
        self.watch_xids(sample.address, handle, warnings)

    def watch_xids(self, address, handle, warnings=None):
        """Register the GPU for XID events (once); NVML queues those after.

        False when NVML has no event set or the GPU cannot be watched.
        """
        if self._event_set is None:
            return False
        if address in self._registered:
            return True
        try:
            self.call(address, 'nvmlDeviceRegisterEvents', handle,
                      _const(self.nvml, 'nvmlEventTypeXidCriticalError',
                             NVML_EVENT_TYPE_XID),
                      self._event_set, strict=True)
        except (Unsupported, GpuLost):
            return False
        except Failed as exc:
            # Not watched yet: tried again at the next read of this GPU.
            if warnings is not None:
                warnings.append('NVML XID events on GPU %s: %s'
                                % (address, exc))
            return False
        self._registered.add(address)
        return True

    def take_xids(self, handles):
        """``{address: [xid, ...]}`` queued since the last call, in order.

        ``handles``: ``{address: device handle}`` of the GPUs to report;
        events of other GPUs are dropped.
        """
        found = {}
        if self._event_set is None or not self._registered:
            return found
        by_handle = {self._handle_key(h): a for a, h in handles.items()}
        for _ in range(1000):  # never loop forever on a chatty GPU
            try:
                data = self.nvml.nvmlEventSetWait_v2(self._event_set, 0)
            except AttributeError:
                break
            except self.error:
                break  # NVML_ERROR_TIMEOUT: nothing more queued
            address = by_handle.get(self._handle_key(data.device))
            if address is not None:
                found.setdefault(address, []).append(int(data.eventData))
        return found

    def _read_xids(self, result, handles):
        """Drain the XID events NVML queued since the last round."""
        for address, xids in self.take_xids(handles).items():
            gpu = result.gpu(address)
            if gpu is not None:
                gpu.xids.extend(xids)
                self._last_xid[address] = xids[-1]

    @staticmethod
    def _handle_key(handle):
        try:
            return ctypes.cast(handle, ctypes.c_void_p).value
        except (ctypes.ArgumentError, TypeError):
            return id(handle)

    def _read_vgpus(self, gpu, gpu_sample, handle, warnings):
        """Active vGPUs on the GPU (NVML's vGPU instance queries)."""
        try:
            ids = self.call(gpu.address, 'nvmlDeviceGetActiveVgpus',
                            handle, warnings=warnings)
        except Unsupported:
            return []
        if not ids:
            return []
        gpu_model = self.catalog.find(gpu.model)
        utilization = {}
        try:
            for s in self.call(gpu.address, 'nvmlDeviceGetVgpuUtilization',
                               handle, 0, warnings=warnings) or ():
                utilization[int(s.vgpuInstance)] = (int(s.smUtil.uiVal),
                                                    int(s.memUtil.uiVal))
        except Unsupported:
            pass
        vgpus = []
        for vgpu_id in ids:
            vgpu_id = int(vgpu_id)
            vgpus.append(self._read_vgpu(gpu, gpu_model, vgpu_id,
                                         utilization.get(vgpu_id),
                                         warnings))
        return vgpus

    def _read_vgpu(self, gpu, gpu_model, vgpu_id, util, warnings):
        vgpu = sample_mod.VgpuSample(gpu_address=gpu.address,
                                     vgpu_id=vgpu_id)

        def read(name):
            try:
                return self.call(gpu.address, name, vgpu_id,
                                 warnings=warnings)
            except Unsupported:
                return None

        vm = read('nvmlVgpuInstanceGetVmID')
        if vm:
            vgpu.vm_id = nvml_mod.text(vm[0])
        type_id = read('nvmlVgpuInstanceGetType')
        vgpu_type = gpu_model.vgpu_type_by_id(type_id) \
            if gpu_model is not None and type_id is not None else None
        if vgpu_type is not None:
            vgpu.vgpu_type = vgpu_type.name
            vgpu.metrics['fb_total_mib'] = vgpu_type.framebuffer_mib
        elif type_id is not None:
            vgpu.vgpu_type = 'nvidia-%d' % type_id
        mdev = read('nvmlVgpuInstanceGetMdevUUID')
        if mdev:
            vgpu.device_kind, vgpu.device = 'mdev', nvml_mod.text(mdev)
        else:
            pci = read('nvmlVgpuInstanceGetGpuPciId')
            if pci:
                try:
                    vgpu.device = nvml_mod.normalize_bus_id(pci)
                    vgpu.device_kind = 'vf'
                except ValueError:
                    warnings.append('vGPU %d on GPU %s: odd PCI id %r'
                                    % (vgpu_id, gpu.address, pci))
        gi_id = read('nvmlVgpuInstanceGetGpuInstanceId')
        if gi_id is not None and int(gi_id) != INVALID_GPU_INSTANCE_ID:
            vgpu.gpu_instance_id = int(gi_id)
        used = read('nvmlVgpuInstanceGetFbUsage')
        if used is not None:
            vgpu.metrics['fb_used_mib'] = int(used) // MIB
        if util is not None:
            vgpu.metrics['sm_util'], vgpu.metrics['mem_util'] = util
        return vgpu

    # -- MIG instances ------------------------------------------------------

    def _read_migs(self, gpu, handle, vgpus, warnings):
        """One MigSample per GPU instance of the discovered carve.

        Its size comes from the GPU's own profile table (NVML's, else the
        catalog's); what is used comes from the MIG-backed vGPU NVML puts
        on it (``nvmlVgpuInstanceGetGpuInstanceId``) and, where NVML has
        MIG device handles (compute instances made on the host), from the
        MIG device's own memory info.
        """
        if not gpu.gpu_instances:
            return []
        sizes = {p.name: p.memory_mib for p in gpu.mig_profiles}
        gpu_model = self.catalog.find(gpu.model)
        migs = {}
        for gi in sorted(gpu.gpu_instances, key=lambda g: g.id):
            mig = sample_mod.MigSample(
                gpu_address=gpu.address, gpu_instance_id=gi.id,
                profile=gi.profile, placement='%d:%d' % (
                    gi.placement.start, gi.placement.size))
            total = sizes.get(gi.profile)
            if total is None and gpu_model is not None:
                profile = gpu_model.mig_profile(gi.profile)
                total = profile.memory_mib if profile else None
            if total is not None:
                mig.metrics['fb_total_mib'] = int(total)
            # No vGPU on it and no MIG device saying otherwise: unused.
            mig.metrics['fb_used_mib'] = 0
            migs[gi.id] = mig
        for vgpu in vgpus:
            mig = migs.get(vgpu.gpu_instance_id)
            if mig is None:
                continue
            mig.device_kind, mig.device = vgpu.device_kind, vgpu.device
            mig.vgpu_type = vgpu.vgpu_type
            for key in ('fb_used_mib', 'sm_util', 'mem_util'):
                if key in vgpu.metrics:
                    mig.metrics[key] = vgpu.metrics[key]
        self._read_mig_devices(gpu, handle, migs, warnings)
        return list(migs.values())

    def _read_mig_devices(self, gpu, handle, migs, warnings):
        """Memory of each MIG device handle (where NVML has them).

        Calls on MIG handles are remembered as unsupported apart from the
        GPU's own, so a MIG device lacking one never hides a GPU metric.
        """
        key = gpu.address + ' MIG'
        try:
            count = self.call(gpu.address, 'nvmlDeviceGetMaxMigDeviceCount',
                              handle, warnings=warnings)
            for index in range(int(count or 0)):
                # None: NOT_FOUND, no MIG device at this index.
                mig_handle = self.call(
                    key, 'nvmlDeviceGetMigDeviceHandleByIndex', handle,
                    index)
                gi_id = mig_handle and self.call(
                    key, 'nvmlDeviceGetGpuInstanceId', mig_handle,
                    warnings=warnings)
                mig = migs.get(gi_id)
                memory = mig and self.call(
                    key, 'nvmlDeviceGetMemoryInfo', mig_handle,
                    warnings=warnings)
                if memory is not None and mig is not None:
                    mig.metrics['fb_total_mib'] = int(memory.total) // MIB
                    mig.metrics['fb_used_mib'] = int(memory.used) // MIB
        except Unsupported:
            pass  # no MIG device handles: the vGPU's numbers stand

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

"""Read GPU facts through NVML: a thin adapter over a pynvml-like module.

The module is passed in (the real ``pynvml`` from nvidia-ml-py, or the
simulator's fake), so this code never imports NVML by itself except in
:func:`load_pynvml`. Only reads happen here; MIG changes go through
:mod:`gpuvirt_nova.hardware.writers`.

NVML missing (package not installed, ``libnvidia-ml.so`` not found, driver
not loaded) is not an error: :func:`read` returns an unavailable view with
one warning and discovery continues from sysfs alone. Any other NVML
failure on one device becomes a warning naming the device and the call.
"""

import ctypes
import dataclasses
import importlib

from oslo_log import log as logging

from gpuvirt_nova.hardware import catalog as catalog_mod
from gpuvirt_nova.hardware import model

LOG = logging.getLogger(__name__)

MIB = 1024 * 1024

# NVML return codes (nvml.h); the module's own constants win when present.
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_GPU_INSTANCE_PROFILE_COUNT = 18
NVML_COMPUTE_INSTANCE_PROFILE_COUNT = 9
NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED = 0
#: Most GPU/compute instances NVML reports for one profile.
_MAX_INSTANCES = 8

_MISSING_REASONS = {
    NVML_ERROR_LIBRARY_NOT_FOUND: 'libnvidia-ml.so was not found',
    NVML_ERROR_DRIVER_NOT_LOADED: 'the NVIDIA driver is not loaded',
}


@dataclasses.dataclass
class NvmlView:
    """What NVML reported; ``available`` is False when NVML is missing."""

    available: bool = False
    driver_version: str = None
    #: PhysicalGpu objects holding only what NVML knows.
    gpus: list = dataclasses.field(default_factory=list)
    warnings: list = dataclasses.field(default_factory=list)


def load_pynvml():
    """The real ``pynvml`` module, or None when nvidia-ml-py is missing."""
    try:
        return importlib.import_module('pynvml')
    except ImportError:
        return None


def text(value):
    """NVML strings come as bytes from older bindings, str from newer."""
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace').rstrip('\x00')
    return str(value)


def normalize_bus_id(bus_id):
    """NVML's ``00000000:3B:00.0`` -> ``0000:3b:00.0``; ValueError if odd.

    NVML prints an 8-digit PCI domain; sysfs and libvirt use 4 digits.
    """
    value = text(bus_id).strip()
    domain, sep, rest = value.partition(':')
    if sep and len(domain) == 8 and domain[:4].strip('0') == '':
        value = domain[4:] + ':' + rest
    return model.normalize_pci_address(value)


def _const(nvml, name, default):
    return getattr(nvml, name, default)


def _error_code(nvml, exc):
    return getattr(exc, 'value', None)


def missing_reason(nvml, exc):
    """Why NVML is unusable, or None when ``exc`` is a real failure."""
    code = _error_code(nvml, exc)
    reasons = {
        _const(nvml, 'NVML_ERROR_LIBRARY_NOT_FOUND',
               NVML_ERROR_LIBRARY_NOT_FOUND):
        _MISSING_REASONS[NVML_ERROR_LIBRARY_NOT_FOUND],
        _const(nvml, 'NVML_ERROR_DRIVER_NOT_LOADED',
               NVML_ERROR_DRIVER_NOT_LOADED):
        _MISSING_REASONS[NVML_ERROR_DRIVER_NOT_LOADED],
    }
    return reasons.get(code)


def _is_not_supported(nvml, exc):
    return _error_code(nvml, exc) == _const(
        nvml, 'NVML_ERROR_NOT_SUPPORTED', NVML_ERROR_NOT_SUPPORTED)


def _list_call(nvml, func_name, handle, profile_id, c_type_name):
    """Call an NVML list getter the way nvidia-ml-py wants; return a list.

    ``nvmlDeviceGetGpuInstances`` and ``nvmlGpuInstanceGetComputeInstances``
    pass their C arguments through: a caller-allocated array of handles
    and a count that NVML fills in.
    """
    c_type = getattr(nvml, c_type_name)
    array = (c_type * _MAX_INSTANCES)()
    count = ctypes.c_uint(0)
    getattr(nvml, func_name)(handle, profile_id, array, ctypes.byref(count))
    return list(array[:count.value])


#: What a value of an unexpected form raises while it is read.
UNEXPECTED_ANSWERS = (TypeError, ValueError, AttributeError, IndexError,
                      KeyError, OverflowError)


class NvmlReader:
    """Reads every device of one initialized pynvml-like module."""

    def __init__(self, nvml, gpu_catalog=None):
        self.nvml = nvml
        self.catalog = gpu_catalog or catalog_mod.load()
        self.error = getattr(nvml, 'NVMLError', Exception)
        self.warnings = []

    def warn(self, message):
        # Collected into Host.warnings; the caller decides how to show them.
        LOG.debug('%s', message)
        self.warnings.append(message)

    def call(self, where, func_name, *args, quiet_not_supported=False):
        """``nvml.<func_name>(*args)``; a failure becomes a warning + None."""
        try:
            return getattr(self.nvml, func_name)(*args)
        except self.error as exc:
            if not (quiet_not_supported and
                    _is_not_supported(self.nvml, exc)):
                self.warn('NVML %s on %s failed: %s'
                          % (func_name, where, exc))
            return None

    def read(self):
        driver = self.call('the host', 'nvmlSystemGetDriverVersion')
        count = self.call('the host', 'nvmlDeviceGetCount') or 0
        if not isinstance(count, int) or isinstance(count, bool):
            self.warn('NVML nvmlDeviceGetCount: expected a number of GPUs, '
                      'got %r; no GPU is read through NVML' % (count,))
            count = 0
        gpus = []
        for index in range(count):
            try:
                gpu = self.read_device(index)
            except UNEXPECTED_ANSWERS as exc:
                # A binding or driver answering in a form we do not know:
                # that GPU is left out of NVML's view (discovery says
                # so), the others are read, nothing raises.
                self.warn('NVML answered GPU index %d in an unexpected '
                          'form (%s: %s); it is left out of what NVML '
                          'reports' % (index, type(exc).__name__, exc))
                continue
            if gpu is not None:
                gpus.append(gpu)
        return NvmlView(available=True,
                        driver_version=text(driver) if driver else None,
                        gpus=gpus, warnings=list(self.warnings))

    def read_device(self, index):
        where = 'GPU index %d' % index
        handle = self.call(where, 'nvmlDeviceGetHandleByIndex', index)
        if handle is None:
            return None
        pci = self.call(where, 'nvmlDeviceGetPciInfo', handle)
        bus_id = getattr(pci, 'busId', None) if pci is not None else None
        try:
            address = normalize_bus_id(bus_id)
        except ValueError:
            self.warn('NVML nvmlDeviceGetPciInfo on %s: expected a PCI bus '
                      'id like 00000000:3B:00.0, got %r' % (where, bus_id))
            return None
        where = 'GPU %s' % address
        name = self.call(where, 'nvmlDeviceGetName', handle)
        name = text(name) if name is not None else None
        gpu_model = self.catalog.find(name) if name else None
        gpu = model.PhysicalGpu(
            address=address,
            model=gpu_model.name if gpu_model else (name or 'unknown'))
        uuid = self.call(where, 'nvmlDeviceGetUUID', handle)
        gpu.uuid = text(uuid) if uuid is not None else None
        memory = self.call(where, 'nvmlDeviceGetMemoryInfo', handle)
        if memory is not None:
            gpu.memory_mib = int(memory.total) // MIB
        if gpu_model is not None:
            gpu.architecture = gpu_model.architecture
        self.read_vgpu_types(where, handle, gpu)
        self.read_mig(where, handle, gpu, gpu_model)
        return gpu

    def read_vgpu_types(self, where, handle, gpu):
        """The driver's supported vGPU types: ``{name: id}``, complete.

        NVML lists every type the GPU supports, whatever is carved now
        (a VF's ``creatable_vgpu_types`` only lists what fits now).
        """
        ids = self.call(where, 'nvmlDeviceGetSupportedVgpus', handle,
                        quiet_not_supported=True)
        if not ids:
            return
        found = {}
        for type_id in ids:
            name = self.call(where, 'nvmlVgpuTypeGetName', type_id)
            if name is not None:
                found.setdefault(model.driver_type_name(text(name)),
                                 int(type_id))
        gpu.vgpu_type_ids = found
        gpu.vgpu_types_complete = len(found) == len(ids)

    def read_mig(self, where, handle, gpu, gpu_model):
        modes = self.call(where, 'nvmlDeviceGetMigMode', handle,
                          quiet_not_supported=True)
        if modes is None:
            gpu.mig_capable = bool(gpu_model and gpu_model.mig_capable)
            return
        gpu.mig_capable = True
        gpu.mig_current, gpu.mig_pending = (bool(modes[0]), bool(modes[1]))
        if gpu.mig_current:
            gpu.gpu_instances = self.read_gpu_instances(where, handle,
                                                        gpu_model, gpu)

    def _gi_profile_ids(self):
        return range(_const(self.nvml, 'NVML_GPU_INSTANCE_PROFILE_COUNT',
                            NVML_GPU_INSTANCE_PROFILE_COUNT))

    def gi_profile_name(self, gpu_model, profile, info):
        """The profile's name as NVML gives it (``MIG 1g.12gb`` -> 1g.12gb).

        Never derived from slices and memory: a real H100 NVL ``1g.12gb``
        has 11008 MiB and its ``+me`` sibling the same size. Only an NVML
        without names (profile info v1) falls back to the catalog's name
        for the profile id, then to ``profile-<id>`` with a warning.
        """
        name = model.mig_profile_name(text(getattr(info, 'name', b'')))
        if name:
            return name
        for known in (gpu_model.mig_profiles if gpu_model else ()):
            if known.nvml_id == profile:
                return known.name
        self.warn('NVML gives no name for MIG GPU-instance profile %d '
                  '(id %d); shown as profile-%d'
                  % (profile, info.id, profile))
        return 'profile-%d' % profile

    def read_placements(self, where, handle, profile_id):
        """Placements of a GI profile (``nvmlDeviceGetGpuInstance...``)."""
        c_type = getattr(self.nvml, 'c_nvmlGpuInstancePlacement_t', None)
        if c_type is None:
            return ()
        array = (c_type * _MAX_INSTANCES)()
        count = ctypes.c_uint(_MAX_INSTANCES)
        try:
            self.nvml.nvmlDeviceGetGpuInstancePossiblePlacements(
                handle, profile_id, array, ctypes.byref(count))
        except self.error as exc:
            if not _is_not_supported(self.nvml, exc):
                self.warn('NVML nvmlDeviceGetGpuInstancePossiblePlacements'
                          ' on %s failed: %s' % (where, exc))
            return ()
        return tuple(model.Placement(int(p.start), int(p.size))
                     for p in array[:count.value])

    def read_profiles(self, where, handle, gpu_model):
        """[(profile index, info, MigProfile)] NVML reports on a GPU."""
        found = []
        for profile in self._gi_profile_ids():
            info = self.call(where, 'nvmlDeviceGetGpuInstanceProfileInfo',
                             handle, profile, quiet_not_supported=True)
            if info is None:
                continue
            name = self.gi_profile_name(gpu_model, profile, info)
            placements = self.read_placements(where, handle, info.id)
            count = int(info.instanceCount)
            found.append((profile, info, model.MigProfile(
                name=name, nvml_id=profile,
                compute_slices=int(info.sliceCount),
                memory_mib=int(info.memorySizeMB), placements=placements,
                max_instances=(count if placements and
                               1 <= count <= len(placements) else None))))
        return found

    def read_gpu_instances(self, where, handle, gpu_model, gpu=None):
        instances = []
        profiles = self.read_profiles(where, handle, gpu_model)
        if gpu is not None:
            gpu.mig_profiles = [p for _, _, p in profiles]
        for _profile, info, mig_profile in profiles:
            name = mig_profile.name
            try:
                handles = _list_call(self.nvml, 'nvmlDeviceGetGpuInstances',
                                     handle, info.id, 'c_nvmlGpuInstance_t')
            except self.error as exc:
                self.warn('NVML nvmlDeviceGetGpuInstances(%s) on %s failed: '
                          '%s' % (name, where, exc))
                continue
            for gi in handles:
                instance = self.read_gpu_instance(where, gi, name,
                                                  info.sliceCount)
                if instance is not None:
                    instances.append(instance)
        return sorted(instances, key=lambda i: (i.placement.start, i.id))

    def read_gpu_instance(self, where, gi, profile_name, slices):
        info = self.call(where, 'nvmlGpuInstanceGetInfo', gi)
        if info is None:
            return None
        instance = model.GpuInstance(
            id=int(info.id), profile=profile_name,
            placement=model.Placement(int(info.placement.start),
                                      int(info.placement.size)))
        where = '%s GPU instance %d' % (where, instance.id)
        count = _const(self.nvml, 'NVML_COMPUTE_INSTANCE_PROFILE_COUNT',
                       NVML_COMPUTE_INSTANCE_PROFILE_COUNT)
        engine = _const(self.nvml,
                        'NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED',
                        NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED)
        for ci_profile in range(count):
            ci_info = self.call(
                where, 'nvmlGpuInstanceGetComputeInstanceProfileInfo', gi,
                ci_profile, engine, quiet_not_supported=True)
            if ci_info is None:
                continue
            try:
                cis = _list_call(self.nvml,
                                 'nvmlGpuInstanceGetComputeInstances', gi,
                                 ci_info.id, 'c_nvmlComputeInstance_t')
            except self.error as exc:
                self.warn('NVML nvmlGpuInstanceGetComputeInstances on %s '
                          'failed: %s' % (where, exc))
                continue
            ci_slices = int(ci_info.sliceCount)
            ci_name = (profile_name if ci_slices == slices
                       else '%dc.%s' % (ci_slices, profile_name))
            for ci in cis:
                ci_data = self.call(where, 'nvmlComputeInstanceGetInfo', ci)
                if ci_data is not None:
                    instance.compute_instances.append(model.ComputeInstance(
                        id=int(ci_data.id), profile=ci_name,
                        compute_slices=ci_slices))
        instance.compute_instances.sort(key=lambda c: c.id)
        return instance


def read(nvml, gpu_catalog=None):
    """Read every GPU through ``nvml`` (a pynvml-like module, or None).

    Returns an NvmlView; when NVML is missing or fails to initialize the
    view is unavailable and carries one warning saying so.
    """
    if nvml is None:
        return unavailable('the nvidia-ml-py package (pynvml) is not '
                           'installed')
    error = getattr(nvml, 'NVMLError', Exception)
    try:
        nvml.nvmlInit()
    except error as exc:
        reason = missing_reason(nvml, exc) or 'nvmlInit failed: %s' % exc
        return unavailable(reason)
    try:
        return NvmlReader(nvml, gpu_catalog).read()
    finally:
        try:
            nvml.nvmlShutdown()
        except error as exc:
            LOG.debug('nvmlShutdown failed: %s', exc)


def unavailable(reason):
    """An NvmlView saying NVML is not used, and why, in one warning."""
    message = ('NVML not used (%s): reading sysfs only, so GPU UUIDs, MIG '
               'state and the exact memory size are unknown' % reason)
    LOG.debug('%s', message)
    return NvmlView(available=False, warnings=[message])

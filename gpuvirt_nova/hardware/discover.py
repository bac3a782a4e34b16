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

"""Discover a host's NVIDIA GPUs: sysfs and NVML merged into one model.

``discover()`` is the one entry point every layer uses (the CLI, the Nova
driver, the layout engine, the monitor). It reads sysfs
(:mod:`~gpuvirt_nova.hardware.sysfs`) and NVML
(:mod:`~gpuvirt_nova.hardware.nvml`) and hands both views to the pure
:func:`merge`. A simulated host goes through exactly the same path: its
sysfs tree is read by the sysfs reader and its fake NVML by the NVML
adapter.
"""

import dataclasses
import os

from oslo_log import log as logging

from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog as catalog_mod
from gpuvirt_nova.hardware import model
from gpuvirt_nova.hardware import nvml as nvml_mod
from gpuvirt_nova.hardware import sysfs

LOG = logging.getLogger(__name__)

AUTO = 'auto'
#: The driver a GPU is bound to for whole-GPU passthrough; NVML on the host
#: cannot see such a GPU, which is expected.
VFIO_PCI = 'vfio-pci'


# ---------------------------------------------------------------------------
# Pure merge
# ---------------------------------------------------------------------------

def merge_gpu(from_sysfs, from_nvml, gpu_catalog):
    """One PhysicalGpu from its sysfs and NVML views (either may be None).

    sysfs owns the PCI facts (NUMA, IOMMU group, VFs, mdev types, mdevs,
    vGPU mode); NVML owns identity and state (UUID, exact memory, MIG mode
    and instances). The catalog fills architecture and memory when NVML is
    absent.
    """
    base = from_sysfs or from_nvml
    gpu = dataclasses.replace(base)
    gpu_model = None
    if from_nvml is not None:
        gpu_model = gpu_catalog.find(from_nvml.model)
        gpu.uuid = from_nvml.uuid
        gpu.mig_capable = from_nvml.mig_capable
        gpu.mig_current = from_nvml.mig_current
        gpu.mig_pending = from_nvml.mig_pending
        gpu.gpu_instances = list(from_nvml.gpu_instances)
        gpu.mig_profiles = list(from_nvml.mig_profiles)
        if from_nvml.memory_mib:
            gpu.memory_mib = from_nvml.memory_mib
        if from_sysfs is not None and from_nvml.vgpu_type_ids:
            # NOTE: both lists are the driver's; NVML's is complete.
            gpu.vgpu_type_ids = dict(from_nvml.vgpu_type_ids,
                                     **from_sysfs.vgpu_type_ids)
            gpu.vgpu_types_complete = from_nvml.vgpu_types_complete
    if gpu_model is None and from_sysfs is not None:
        gpu_model = gpu_catalog.find(from_sysfs.model)
    if gpu_model is not None:
        gpu.model = gpu_model.name
        gpu.architecture = gpu_model.architecture
        gpu.memory_mib = gpu.memory_mib or gpu_model.memory_mib
        gpu.mig_capable = gpu.mig_capable or gpu_model.mig_capable
    elif from_nvml is not None:
        gpu.model = from_nvml.model
    if from_sysfs is not None and from_nvml is not None:
        sysfs.name_vgpu_types(gpu, gpu_model)
    return gpu


def merge(sysfs_view, nvml_view, hostname=None, gpu_catalog=None):
    """Build the Host model from a SysfsView and an NvmlView (pure).

    GPUs are matched by PCI address. A GPU that only one side reports is
    kept and a warning says which side is missing it.
    """
    gpu_catalog = gpu_catalog or catalog_mod.load()
    warnings = list(sysfs_view.warnings) + list(nvml_view.warnings)
    from_nvml = ({g.address: g for g in nvml_view.gpus}
                 if nvml_view.available else {})
    gpus = []
    for sysfs_gpu in sysfs_view.gpus:
        nvml_gpu = from_nvml.pop(sysfs_gpu.address, None)
        passthrough = sysfs_view.drivers.get(sysfs_gpu.address) == \
            VFIO_PCI
        if nvml_view.available and nvml_gpu is None and not passthrough:
            warnings.append(
                'GPU %s is in sysfs but NVML does not report it (bound to '
                'another driver, for example vfio-pci for passthrough?)'
                % sysfs_gpu.address)
        gpus.append(merge_gpu(sysfs_gpu, nvml_gpu, gpu_catalog))
    for address, nvml_gpu in sorted(from_nvml.items()):
        warnings.append('GPU %s is reported by NVML but not found in sysfs '
                        'under %s' % (address, sysfs.PCI_DEVICES))
        gpus.append(merge_gpu(None, nvml_gpu, gpu_catalog))
    driver_version = nvml_view.driver_version or sysfs_view.driver_version
    for gpu in gpus:
        gpu.driver_version = driver_version
    return model.Host(hostname=hostname, driver_version=driver_version,
                      gpus=sorted(gpus, key=lambda g: g.address),
                      warnings=warnings)


# ---------------------------------------------------------------------------
# I/O entry points
# ---------------------------------------------------------------------------

def check_sysfs_root(sysfs_root, option='sysfs_root'):
    """Raise UsageError unless ``sysfs_root`` holds ``sys/bus/pci/devices``.

    ``option`` is the name the operator typed (``--sysfs-root`` or
    ``[gpuvirt] sysfs_root``), so the message names it.
    """
    if not os.path.isdir(sysfs_root):
        raise exception.UsageError(
            '%s %s: no such directory; give the directory that contains '
            'sys/ ("/" on a real host)' % (option, sysfs_root))
    if not os.path.isdir(os.path.join(sysfs_root, sysfs.PCI_DEVICES)):
        raise exception.UsageError(
            '%s %s: there is no %s under it; give the directory that '
            'contains sys/ ("/" on a real host)'
            % (option, sysfs_root, sysfs.PCI_DEVICES))


def read_nvml(nvml, sysfs_root, gpu_catalog=None):
    """The NvmlView for ``nvml`` = 'auto', None or a pynvml-like module."""
    if nvml is None:
        return nvml_mod.unavailable('[gpuvirt] use_nvml is false, or '
                                    '--no-nvml was given')
    if nvml == AUTO:
        if os.path.realpath(sysfs_root) != os.path.realpath('/'):
            return nvml_mod.unavailable(
                'the sysfs root %s is not /, and this host\'s NVML would '
                'describe other GPUs' % sysfs_root)
        nvml = nvml_mod.load_pynvml()
    return nvml_mod.read(nvml, gpu_catalog)


def discover(sysfs_root='/', nvml=AUTO, hostname=None, gpu_catalog=None):
    """Discover the GPUs under ``sysfs_root``; return a model.Host.

    ``nvml`` is a pynvml-like module, None (sysfs only), or 'auto' (the
    real pynvml when ``sysfs_root`` is ``/``). Problems met on the way are
    in ``Host.warnings``; only an unusable ``sysfs_root`` raises
    (UsageError).
    """
    check_sysfs_root(sysfs_root)
    gpu_catalog = gpu_catalog or catalog_mod.load()
    sysfs_view = sysfs.read(sysfs_root, gpu_catalog)
    nvml_view = read_nvml(nvml, sysfs_root, gpu_catalog)
    host = merge(sysfs_view, nvml_view, hostname=hostname,
                 gpu_catalog=gpu_catalog)
    LOG.debug('discovered %d GPU(s) under %s with %d warning(s)',
              len(host.gpus), sysfs_root, len(host.warnings))
    return host


class _OneGpuSysfsReader(sysfs.SysfsReader):
    """A SysfsReader that reads one physical GPU and nothing else.

    Only the GPU's own directory, its VFs (through its ``virtfn`` links),
    the mdev types of those functions and the mdevs under them are read,
    so the cost does not grow with the number of GPUs on the host.
    """

    def __init__(self, root, address, gpu_catalog=None):
        super().__init__(root, gpu_catalog)
        self.address = address
        self._functions = {}

    def _nvidia_functions(self):
        pf_dir = self.path(sysfs.PCI_DEVICES, self.address)
        if not os.path.isdir(pf_dir):
            return {}
        device = self.read_parsed(os.path.join(pf_dir, 'device'),
                                  sysfs.parse_hex_id)
        functions = {self.address: {'dir': pf_dir, 'device': device,
                                    'subsystem': self.subsystem_id(pf_dir),
                                    'physfn': None}}
        for name in self.listdir(pf_dir):
            if not name.startswith('virtfn'):
                continue
            path = os.path.join(pf_dir, name)
            try:
                vf = sysfs.parse_pci_address(self.link_name(path), path)
            except exception.DiscoveryError as exc:
                self.warn(str(exc))
                continue
            functions[vf] = {'dir': self.path(sysfs.PCI_DEVICES, vf),
                             'device': device, 'physfn': self.address}
        self._functions = functions
        return functions

    def _mdev_types_by_parent(self, functions):
        result = {}
        for address in functions:
            types_dir = self.path(sysfs.MDEV_BUS, address,
                                  'mdev_supported_types')
            names = self.listdir(types_dir)
            if names:
                result[address] = [self._mdev_type(types_dir, name)
                                   for name in names]
        return result

    def _mdevs(self):
        """The mdevs under the GPU and its VFs (a child of their parent)."""
        mdevs = []
        for address, info in sorted(self._functions.items()):
            for name in self.listdir(info['dir']):
                type_link = os.path.join(info['dir'], name, 'mdev_type')
                if not os.path.lexists(type_link):
                    continue
                try:
                    name = sysfs.parse_mdev_uuid(name, type_link)
                    mdev_type = self.link_name(type_link)
                except exception.DiscoveryError as exc:
                    self.warn(str(exc))
                    continue
                mdevs.append(model.MediatedDevice(
                    uuid=name, mdev_type=mdev_type, parent=address))
        return sorted(mdevs, key=lambda m: m.uuid)  # as the mdev bus lists


def _read_nvml_gpu(nvml, address, gpu_catalog):
    """(driver version, PhysicalGpu or None, warnings) of one NVML device.

    The device is found by its PCI bus id, so no other GPU is read.
    """
    if nvml is None:
        return None, None, []
    error = getattr(nvml, 'NVMLError', Exception)
    try:
        nvml.nvmlInit()
    except error as exc:
        return None, None, ['NVML not used: %s' % (
            nvml_mod.missing_reason(nvml, exc) or 'nvmlInit failed: %s'
            % exc)]
    try:
        reader = nvml_mod.NvmlReader(nvml, gpu_catalog)
        driver = reader.call('the host', 'nvmlSystemGetDriverVersion')
        # NOTE: NVML's own bus id form (8-digit domain), as
        # nvmlDeviceGetPciInfo prints it.
        handle = reader.call('GPU %s' % address,
                             'nvmlDeviceGetHandleByPciBusId',
                             '0000' + address, quiet_not_supported=True)
        gpu = None
        if handle is not None:
            index = reader.call('GPU %s' % address, 'nvmlDeviceGetIndex',
                                handle)
            if index is not None:
                gpu = reader.read_device(index)
        return (nvml_mod.text(driver) if driver else None, gpu,
                reader.warnings)
    finally:
        try:
            nvml.nvmlShutdown()
        except error as exc:
            LOG.debug('nvmlShutdown failed: %s', exc)


def nvml_module(nvml, sysfs_root):
    """The pynvml-like module ``nvml`` stands for ('auto' resolved), or None.

    'auto' is the real pynvml only when ``sysfs_root`` is ``/`` (as in
    :func:`read_nvml`).
    """
    if nvml != AUTO:
        return nvml
    if os.path.realpath(sysfs_root) != os.path.realpath('/'):
        return None
    return nvml_mod.load_pynvml()


def discover_gpu(sysfs_root, nvml, address, gpu_catalog=None):
    """One physical GPU, reading only its own sysfs files and NVML device.

    The same merge as :func:`discover` over a narrower read: used where a
    change to one GPU must be read back (``layout apply`` verifies every
    step) without re-reading the whole host. ``nvml`` is a pynvml-like
    module or None (no 'auto' here: the caller has resolved it). Returns
    a PhysicalGpu, or None when neither sysfs nor NVML shows the GPU.
    """
    gpu_catalog = gpu_catalog or catalog_mod.load()
    address = model.normalize_pci_address(address)
    view = _OneGpuSysfsReader(sysfs_root, address, gpu_catalog).read_view()
    from_sysfs = view.gpus[0] if view.gpus else None
    driver, from_nvml, warnings = _read_nvml_gpu(nvml, address, gpu_catalog)
    for warning in list(view.warnings) + warnings:
        LOG.debug('discovering %s: %s', address, warning)
    if from_sysfs is None and from_nvml is None:
        return None
    gpu = merge_gpu(from_sysfs, from_nvml, gpu_catalog)
    gpu.driver_version = driver or view.driver_version
    return gpu


def discover_host_gpu(sim_host, address, gpu_catalog=None, use_nvml=True):
    """:func:`discover_gpu` on a simulated host.

    ``sim_host`` is anything with a ``sysfs_root`` and an ``nvml()``
    (``sim.SimulatedHost``); it is passed in, never imported here, so
    ``hardware/`` does not depend on the simulator. Opening one from a
    spec or the configuration is ``gpuvirt_nova.conf.backends``'s job.
    """
    return discover_gpu(sim_host.sysfs_root,
                        sim_host.nvml() if use_nvml else None, address,
                        gpu_catalog=gpu_catalog)


def discover_host(sim_host, hostname=None, gpu_catalog=None,
                  use_nvml=True):
    """Discover a simulated host through the real code path.

    ``sim_host`` as in :func:`discover_host_gpu`.
    """
    if hostname is None:
        hostname = getattr(sim_host, 'hostname', None)
    return discover(sim_host.sysfs_root,
                    sim_host.nvml() if use_nvml else None,
                    hostname=hostname, gpu_catalog=gpu_catalog)


# ---------------------------------------------------------------------------
# Presentation helpers shared by the CLI and others
# ---------------------------------------------------------------------------

def catalog_dict(gpu_model):
    """What the catalog says one GPU model can be sliced into."""
    def vgpu(t):
        return {'name': t.name, 'type_id': t.type_id,
                'mdev_type': t.mdev_type,
                'framebuffer_mib': t.framebuffer_mib,
                'max_instances': t.max_instances,
                'max_instances_mixed': t.max_instances_mixed,
                'mig_profile': t.mig_profile}
    return {
        'model': gpu_model.name,
        'architecture': gpu_model.architecture.value,
        'memory_mib': gpu_model.memory_mib,
        'vgpu_modes': [m.value for m in gpu_model.vgpu_modes],
        'mig_profiles': [
            {'name': p.name, 'nvml_id': p.nvml_id,
             'compute_slices': p.compute_slices,
             'memory_mib': p.memory_mib,
             'max_instances': p.max_instances,
             'placements': [model.to_dict(pl) for pl in p.placements]}
            for p in gpu_model.mig_profiles],
        'mig_backed_vgpu_types': [vgpu(t)
                                  for t in gpu_model.mig_backed_types()],
        'time_sliced_vgpu_types': [vgpu(t)
                                   for t in gpu_model.time_sliced_types()],
    }


def host_to_dict(host, gpu_catalog=None):
    """``model.to_dict(host)`` plus each GPU's ``catalog`` facts.

    ``catalog`` is None for a model the catalog does not know.
    """
    gpu_catalog = gpu_catalog or catalog_mod.load()
    data = model.to_dict(host)
    for gpu, gpu_data in zip(host.gpus, data['gpus']):
        gpu_model = gpu_catalog.find(gpu.model)
        gpu_data['catalog'] = catalog_dict(gpu_model) if gpu_model else None
    return data

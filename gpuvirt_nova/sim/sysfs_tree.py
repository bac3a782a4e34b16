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

"""Write the simulated host's state as a sysfs tree, laid out as on Linux.

Where each part comes from:

- PCI devices live under ``sys/devices/pci0000:<bb>/0000:<bb>:00.0/``
  (the root port) and ``sys/bus/pci/devices/<addr>`` links to them, with
  ``vendor``, ``device``, ``class`` (``0x030200``, 3D controller),
  ``numa_node``, and the ``driver`` and ``iommu_group`` links
  (Documentation/ABI/testing/sysfs-bus-pci).
- SR-IOV: ``sriov_totalvfs``, ``sriov_numvfs``, ``sriov_offset``,
  ``sriov_stride``, ``virtfn<N>`` links on the PF and ``physfn`` on each VF
  (Documentation/PCI/pci-iov-howto.rst). NVIDIA VFs start at function 4.
- Mediated devices: ``sys/class/mdev_bus/<parent>`` links, the parent's
  ``mdev_supported_types/nvidia-<id>/{name,description,
  available_instances,device_api,create,devices/}``, and each mdev as
  ``<parent dir>/<uuid>`` with ``mdev_type`` and ``remove``, linked from
  ``sys/bus/mdev/devices/<uuid>`` (Documentation/driver-api/vfio-mediated-
  device.rst). The type ``name`` is what NVIDIA's driver prints: ``GRID
  A100-2-10C`` before vGPU 16 (R535), ``NVIDIA A100-2-10C`` since.
- Vendor-specific VFIO (vGPU 17+, kernel >= 6.8): each VF has
  ``nvidia/creatable_vgpu_types`` (a header line, then ``<id> : <name>``
  lines) and ``nvidia/current_vgpu_type`` (the type id, 0 for none); see
  NVIDIA's vGPU User Guide, "Creating an NVIDIA vGPU on a Linux with KVM
  Hypervisor that Uses a Vendor-Specific VFIO Framework".
- ``sys/module/nvidia/version``: the loaded driver's version.
- What a host around the GPUs shows (what ``gpuvirt-nova doctor`` reads):
  ``proc/cmdline`` (``intel_iommu=on iommu=pt`` unless the spec turns the
  IOMMU off, which also drops ``sys/class/iommu`` and the IOMMU groups),
  ``sys/module/<name>`` of the vfio and vGPU modules, and two NUMA nodes'
  ``sys/devices/system/node/node<N>/cpulist`` (a 2-socket, 64-thread box).

The tree is a view: :func:`render_gpu` rewrites a GPU's files from the
state after every change (only files whose text changes are written).
"""

import os
import shutil

from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.sim import rules
from gpuvirt_nova.sim import state as state_mod

NVIDIA_VENDOR = '0x10de'
GPU_CLASS = '0x030200'
CREATABLE_HEADER = 'ID    : vGPU Name'
#: The host driver branch from which a VF's ``nvidia/`` directory holds
#: six attributes, not two (``ls -l <VF>/nvidia/`` on an R580 host:
#: creatable_vgpu_types, current_vgpu_type, gpu_instance_id, placement_id,
#: vgpu_params, warm_update; https://github.com/bigstack-oss/cubecos/
#: issues/312).
R580 = 580
WRITE_ONLY = 0o200
#: CPUs of each NUMA node of the simulated 2-socket host (threads paired).
NODE_CPUS = {0: '0-15,32-47', 1: '16-31,48-63'}
KERNEL_CMDLINE = 'BOOT_IMAGE=/boot/vmlinuz-6.8.0 root=/dev/sda1 ro quiet'
IOMMU_CMDLINE = ' intel_iommu=on iommu=pt'
#: Modules loaded on every simulated host, and where vGPUs use mdevs.
MODULES = ('vfio', 'vfio_pci', 'vfio_iommu_type1', 'nvidia',
           'nvidia_vgpu_vfio')
MDEV_MODULES = ('mdev',)


def sys_path(root, *parts):
    return os.path.join(root, 'sys', *parts)


def device_dir(root, address):
    """The real directory of a PCI function (PF or VF)."""
    domain, bus, _rest = address.split(':')
    port_bus = '%02x' % (int(bus, 16) - 1)
    pf = '%s:%s:00.0' % (domain, bus)
    port = sys_path(root, 'devices', 'pci%s:%s' % (domain, port_bus),
                    '%s:%s:00.0' % (domain, port_bus))
    if address == pf:
        return os.path.join(port, pf)
    return os.path.join(port, address)


def iommu_group(pf_index, vf_index=None):
    """IOMMU group numbers: 64 per GPU, the PF first, then its VFs."""
    return 64 + pf_index * 64 + (0 if vf_index is None else 1 + vf_index)


def type_display_name(vgpu_type, driver_version):
    major = int(driver_version.split('.')[0])
    return '%s %s' % ('GRID' if major < 535 else 'NVIDIA', vgpu_type.name)


#: (num_heads, frl_config, max_resolution) an mdev type's ``description``
#: shows per series, as a real host driver prints them (``mdevctl types``
#: of a Tesla P100, tests/fixtures/sysfs/p100-mdevctl-types.txt): B-series
#: are frame-rate limited to 45, A-series drive one 1280x1024 head, and a
#: Q-series type of 2 GB or more reaches 7680x4320.
SERIES_DISPLAY = {
    'A': (1, 60, '1280x1024'),
    'B': (4, 45, '5120x2880'),
    'C': (1, 60, '4096x2160'),
    'Q': (4, 60, '7680x4320'),
}
#: Q-series types under 2 GB stop at 5120x2880 (P100-1Q).
SMALL_Q_RESOLUTION = '5120x2880'


def type_description(vgpu_type):
    """The ``description`` file of an mdev type, per its series."""
    heads, frl, resolution = SERIES_DISPLAY[vgpu_type.series.value]
    if vgpu_type.series.value == 'Q' and vgpu_type.framebuffer_mib < 2048:
        resolution = SMALL_Q_RESOLUTION
    return ('num_heads=%d, frl_config=%d, framebuffer=%dM, '
            'max_resolution=%s, max_instance=%d'
            % (heads, frl, vgpu_type.framebuffer_mib, resolution,
               vgpu_type.max_instances))


def _write(path, text, mode=None):
    """Write ``text`` + newline unless the file already holds it."""
    data = ('%s\n' % text if text != '' else '').encode()
    try:
        with open(path, 'rb') as f:
            if f.read() == data:
                return
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    except PermissionError:
        pass
    with open(path, 'wb') as f:
        f.write(data)
    if mode is not None:
        os.chmod(path, mode)


def _create(path, text, mode=None):
    """Write a file known to be new (skips _write's comparison)."""
    data = ('%s\n' % text if text != '' else '').encode()
    try:
        f = open(path, 'wb')
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        f = open(path, 'wb')
    with f:
        f.write(data)
    if mode is not None:
        os.chmod(path, mode)


def _new_link(path, target):
    """Like _link for a link known to be new (one syscall when it is)."""
    try:
        os.symlink(os.path.relpath(target, os.path.dirname(path)), path)
    except OSError:
        _link(path, target)


def _link(path, target):
    """A relative symlink ``path`` -> ``target`` (both absolute)."""
    relative = os.path.relpath(target, os.path.dirname(path))
    if os.path.islink(path):
        if os.readlink(path) == relative:
            return
        os.unlink(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink(relative, path)


def _remove(path):
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


def _gpu_model(gpu_spec):
    return catalog.load().get(gpu_spec['model'])


def _iommu(state):
    return state['spec'].get('iommu', True)


def render_platform(root, state):
    """Kernel command line, modules, IOMMU units and NUMA nodes."""
    iommu = _iommu(state)
    _write(os.path.join(root, 'proc', 'cmdline'),
           KERNEL_CMDLINE + (IOMMU_CMDLINE if iommu else ''))
    modules = MODULES
    if any(g['mode'] in ('mdev', 'sriov-mdev', 'mig-mdev')
           for g in state['spec']['gpus']):
        modules += MDEV_MODULES
    for name in modules:
        os.makedirs(sys_path(root, 'module', name), exist_ok=True)
    if iommu:
        os.makedirs(sys_path(root, 'class', 'iommu', 'dmar0'), exist_ok=True)
    os.makedirs(sys_path(root, 'kernel', 'iommu_groups'), exist_ok=True)
    for node, cpus in NODE_CPUS.items():
        _write(sys_path(root, 'devices', 'system', 'node', 'node%d' % node,
                        'cpulist'), cpus)


def render(root, state):
    """Write the whole tree (a new host, or after a reboot)."""
    render_platform(root, state)
    _write(sys_path(root, 'module', 'nvidia', 'version'),
           state['spec']['driver_version'])
    for name in ('nvidia', 'vfio-pci'):
        os.makedirs(sys_path(root, 'bus', 'pci', 'drivers', name),
                    exist_ok=True)
    os.makedirs(sys_path(root, 'bus', 'mdev', 'devices'), exist_ok=True)
    os.makedirs(sys_path(root, 'class', 'mdev_bus'), exist_ok=True)
    for index, gpu_spec in enumerate(state['spec']['gpus']):
        _render_function(root, gpu_spec['address'], gpu_spec, index,
                         iommu=_iommu(state))
        render_gpu(root, state, gpu_spec['address'])


def _render_function(root, address, gpu_spec, pf_index, vf_index=None,
                     iommu=True):
    """The static files of one PCI function (PF or VF)."""
    gpu_model = _gpu_model(gpu_spec)
    path = device_dir(root, address)
    device_id = '0x%s' % (gpu_model.pci_device_ids[0]
                          if gpu_model.pci_device_ids else '0000')
    # NOTE: boards sharing a device id differ by subsystem (A2, A16).
    subsystem_id = ('0x%s' % gpu_model.pci_subsystem_ids[0]
                    if gpu_model.pci_subsystem_ids else device_id)
    driver = 'vfio-pci' if gpu_spec['mode'] == 'none' else 'nvidia'
    files = {'vendor': NVIDIA_VENDOR, 'device': device_id,
             'class': GPU_CLASS, 'numa_node': str(gpu_spec['numa_node'])}
    if vf_index is None:
        # NOTE: VFs get only what readers use: each file costs a syscall
        # and hosts with 8 GPUs x 32 VFs are common in tests.
        files.update(
            subsystem_vendor=NVIDIA_VENDOR, subsystem_device=subsystem_id,
            revision='0xa1', enable='1',
            uevent='DRIVER=%s\nPCI_CLASS=30200\nPCI_ID=10DE:%s\n'
                   'PCI_SLOT_NAME=%s' % (driver, device_id[2:].upper(),
                                         address))
        if gpu_model.sriov_totalvfs:
            files.update(sriov_totalvfs=str(gpu_model.sriov_totalvfs),
                         sriov_offset=str(gpu_model.sriov_vf_offset
                                          or state_mod.VF_OFFSET),
                         sriov_stride=str(state_mod.VF_STRIDE),
                         sriov_vf_device=device_id[2:],
                         sriov_drivers_autoprobe='1')
        _write(os.path.join(path, 'reset'), '', WRITE_ONLY)
        write, link = _write, _link
    else:
        # A VF is drawn only when it appears, so its files are new.
        os.makedirs(path, exist_ok=True)
        write, link = _create, _new_link
    for name, text in files.items():
        write(os.path.join(path, name), text)
    link(sys_path(root, 'bus', 'pci', 'devices', address), path)
    link(os.path.join(path, 'driver'),
         sys_path(root, 'bus', 'pci', 'drivers', driver))
    link(sys_path(root, 'bus', 'pci', 'drivers', driver, address), path)
    if iommu:
        _link_iommu_group(root, path, address, pf_index, vf_index, link)
    if vf_index is not None:
        link(os.path.join(path, 'physfn'),
             device_dir(root, gpu_spec['address']))


def _link_iommu_group(root, path, address, pf_index, vf_index, link):
    group = sys_path(root, 'kernel', 'iommu_groups',
                     str(iommu_group(pf_index, vf_index)))
    os.makedirs(os.path.join(group, 'devices'), exist_ok=True)
    link(os.path.join(group, 'devices', address), path)
    link(os.path.join(path, 'iommu_group'), group)


def _remove_function(root, address, pf_index, vf_index):
    driver_links = [sys_path(root, 'bus', 'pci', 'drivers', d, address)
                    for d in ('nvidia', 'vfio-pci')]
    for path in [device_dir(root, address),
                 sys_path(root, 'bus', 'pci', 'devices', address),
                 sys_path(root, 'class', 'mdev_bus', address),
                 sys_path(root, 'kernel', 'iommu_groups',
                          str(iommu_group(pf_index, vf_index)))] \
            + driver_links:
        _remove(path)


def render_gpu(root, state, address):
    """Rewrite the changing files of one GPU from the state."""
    specs = state['spec']['gpus']
    pf_index = [g['address'] for g in specs].index(address)
    gpu_spec = specs[pf_index]
    gpu_model = _gpu_model(gpu_spec)
    gpu = state['gpus'][address]
    pf_dir = device_dir(root, address)
    if gpu_model.sriov_totalvfs:
        _write(os.path.join(pf_dir, 'sriov_numvfs'), str(len(gpu['vfs'])))
    _render_vfs(root, state, gpu_spec, gpu_model, pf_index)
    if gpu_spec['mode'] == 'mdev':
        _render_mdev_parent(root, state, gpu_spec, gpu_model, address)
    elif gpu_spec['mode'] in ('sriov-mdev', 'mig-mdev'):
        for i in range(len(gpu['vfs'])):
            _render_mdev_parent(root, state, gpu_spec, gpu_model,
                                state_mod.gpu_vf_address(state, address, i))
    _render_mdevs(root, state, address)


def _render_vfs(root, state, gpu_spec, gpu_model, pf_index):
    address = gpu_spec['address']
    gpu = state['gpus'][address]
    pf_dir = device_dir(root, address)
    numvfs = len(gpu['vfs'])
    for i in range(numvfs, gpu_model.sriov_totalvfs):
        if not os.path.lexists(os.path.join(pf_dir, 'virtfn%d' % i)):
            break
        _remove(os.path.join(pf_dir, 'virtfn%d' % i))
        _remove_function(root, state_mod.gpu_vf_address(state, address, i),
                         pf_index, i)
    for i in range(numvfs):
        vf = state_mod.gpu_vf_address(state, address, i)
        if not os.path.lexists(os.path.join(pf_dir, 'virtfn%d' % i)):
            _render_function(root, vf, gpu_spec, pf_index, i,
                             iommu=_iommu(state))
            _link(os.path.join(pf_dir, 'virtfn%d' % i),
                  device_dir(root, vf))
        if gpu_spec['mode'] in ('vfio', 'mig'):
            _render_vendor_vfio(root, state, gpu_spec, gpu_model, i)


def _render_vendor_vfio(root, state, gpu_spec, gpu_model, index):
    gpu = state['gpus'][gpu_spec['address']]
    vf_dir = device_dir(root, state_mod.gpu_vf_address(
        state, gpu_spec['address'], index))
    lines = [CREATABLE_HEADER]
    # NOTE: the driver lists types by id, so series interleave as their
    # ids fall (L40S: 1145 1B, 1146 2B, 1147 1Q ... 1166 48A, 2164 3B).
    for type_id in sorted(rules.vf_creatable(gpu_model, gpu,
                                             gpu_spec['scheduling'], index)):
        vgpu_type = gpu_model.vgpu_type_by_id(type_id)
        lines.append('%-5d : %s' % (type_id, type_display_name(
            vgpu_type, state['spec']['driver_version'])))
    _write(os.path.join(vf_dir, 'nvidia', 'creatable_vgpu_types'),
           '\n'.join(lines))
    vf = gpu['vfs'][index]
    _write(os.path.join(vf_dir, 'nvidia', 'current_vgpu_type'),
           str(vf['current_vgpu_type']))
    if _driver_branch(state) >= R580:
        _render_r580_attributes(os.path.join(vf_dir, 'nvidia'), vf)


def _driver_branch(state):
    return int(state['spec']['driver_version'].split('.')[0])


def _render_r580_attributes(nvidia_dir, vf):
    """The R580 VF attributes, with the values a fresh VF showed.

    NOTE: the published capture shows ``gpu_instance_id`` only for a VF
    carrying a MIG-backed type (the GPU instance's id); what it reads on
    other VFs is not published, so the simulator leaves it empty.
    """
    gpu_instance = vf.get('gpu_instance')
    _write(os.path.join(nvidia_dir, 'gpu_instance_id'),
           '' if gpu_instance is None else str(gpu_instance))
    # NOTE: a vGPU's first placement slot in mixed-size mode, as NVML's
    # nvmlVgpuInstanceGetPlacementId reports it; 0 otherwise.
    placement = vf.get('placement')
    _write(os.path.join(nvidia_dir, 'placement_id'),
           str(placement[0]) if placement else '0')
    _write(os.path.join(nvidia_dir, 'vgpu_params'), '')
    _write(os.path.join(nvidia_dir, 'warm_update'), '0')


def _render_mdev_parent(root, state, gpu_spec, gpu_model, parent):
    gpu = state['gpus'][gpu_spec['address']]
    parent_dir = device_dir(root, parent)
    _link(sys_path(root, 'class', 'mdev_bus', parent), parent_dir)
    available = rules.mdev_available(gpu_model, gpu, gpu_spec['scheduling'],
                                     parent, gpu_spec['address'])
    for vgpu_type in gpu_model.vgpu_types:
        type_dir = os.path.join(parent_dir, 'mdev_supported_types',
                                vgpu_type.mdev_type)
        count = str(available[vgpu_type.type_id])
        devices = os.path.join(type_dir, 'devices')
        if os.path.isdir(devices):
            _write(os.path.join(type_dir, 'available_instances'), count)
            continue
        os.makedirs(devices)
        _create(os.path.join(type_dir, 'available_instances'), count)
        _create(os.path.join(type_dir, 'name'), type_display_name(
            vgpu_type, state['spec']['driver_version']))
        _create(os.path.join(type_dir, 'description'),
                type_description(vgpu_type))
        _create(os.path.join(type_dir, 'device_api'), 'vfio-pci')
        _create(os.path.join(type_dir, 'create'), '', WRITE_ONLY)


def _render_mdevs(root, state, address):
    """Create the mdevs of one GPU in the tree, remove the ones gone."""
    gpu = state['gpus'][address]
    bus_dir = sys_path(root, 'bus', 'mdev', 'devices')
    for name in os.listdir(bus_dir):
        link = os.path.join(bus_dir, name)
        target = os.path.realpath(link)
        parent = os.path.basename(os.path.dirname(target))
        if name not in gpu['mdevs'] and _belongs(state, address, parent):
            _remove(target)
            _remove(link)
    for mdev_uuid, mdev in sorted(gpu['mdevs'].items()):
        parent_dir = device_dir(root, mdev['parent'])
        mdev_type = 'nvidia-%d' % mdev['type_id']
        type_dir = os.path.join(parent_dir, 'mdev_supported_types',
                                mdev_type)
        path = os.path.join(parent_dir, mdev_uuid)
        _link(os.path.join(path, 'mdev_type'), type_dir)
        _write(os.path.join(path, 'remove'), '', WRITE_ONLY)
        _write(os.path.join(path, 'uevent'), 'MDEV_TYPE=%s' % mdev_type)
        _link(os.path.join(bus_dir, mdev_uuid), path)
        _link(os.path.join(type_dir, 'devices', mdev_uuid), path)
    for parent_dir in _parent_dirs(root, state, address):
        devices = os.path.join(parent_dir, 'mdev_supported_types')
        for type_name in _listdir(devices):
            links = os.path.join(devices, type_name, 'devices')
            for name in _listdir(links):
                if name not in gpu['mdevs']:
                    _remove(os.path.join(links, name))


def _belongs(state, pf_address, address):
    return address == pf_address or state_mod.vf_index(
        pf_address, address,
        state_mod.gpu_vf_offset(state, pf_address)) is not None


def _parent_dirs(root, state, address):
    gpu = state['gpus'][address]
    parents = [address] + [state_mod.gpu_vf_address(state, address, i)
                           for i in range(len(gpu['vfs']))]
    return [device_dir(root, p) for p in parents]


def _listdir(path):
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []

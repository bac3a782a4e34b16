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

"""Read NVIDIA GPUs, SR-IOV VFs, mdev types and mdevs from sysfs.

Two halves: small pure parsers (file text -> value) that raise
``DiscoveryError`` naming the path and what was expected, and a reader that
walks a sysfs tree under a configurable root and builds
:class:`~gpuvirt_nova.hardware.model.PhysicalGpu` objects. The reader never
raises for one bad file: the problem becomes a line in ``warnings`` and the
walk goes on, because one broken VF must not hide the other GPUs.

Paths read (relative to the root):

- ``sys/bus/pci/devices/<addr>/{vendor,device,class,numa_node,
  iommu_group,sriov_totalvfs,sriov_numvfs,virtfn<N>,physfn}``
- ``sys/bus/pci/devices/<VF>/nvidia/{creatable_vgpu_types,
  current_vgpu_type}`` (vendor-specific VFIO, vGPU 17+)
- ``sys/class/mdev_bus/<parent>/mdev_supported_types/<type>/{name,
  description,available_instances,device_api}``
- ``sys/bus/mdev/devices/<uuid>/mdev_type`` (a link to the type directory;
  the parent device is the directory the mdev sits in)
- ``sys/module/nvidia/version`` (driver version when NVML is absent)
"""

import dataclasses
import os
import re

from oslo_log import log as logging

from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog as catalog_mod
from gpuvirt_nova.hardware import model

LOG = logging.getLogger(__name__)

NVIDIA_VENDOR_ID = '10de'
#: PCI classes of NVIDIA GPUs: VGA controller and 3D controller. NVIDIA
#: boards also expose audio and USB functions, which are not GPUs.
GPU_CLASS_PREFIXES = ('0300', '0302')

PCI_DEVICES = 'sys/bus/pci/devices'
MDEV_BUS = 'sys/class/mdev_bus'
MDEV_DEVICES = 'sys/bus/mdev/devices'
NVIDIA_MODULE_VERSION = 'sys/module/nvidia/version'

_HEX_ID_RE = re.compile(r'^0x(?P<hex>[0-9a-fA-F]{4})$')
_CLASS_RE = re.compile(r'^0x(?P<hex>[0-9a-fA-F]{6})$')
_UUID_RE = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-'
                      r'[0-9a-f]{12}$')
_MDEV_TYPE_ID_RE = re.compile(r'^nvidia-(?P<id>\d+)$')
_VIRTFN_RE = re.compile(r'^virtfn(?P<index>\d+)$')


def _problem(path, expected, text):
    shown = text.strip() if isinstance(text, str) else text
    if isinstance(shown, str) and len(shown) > 60:
        shown = shown[:57] + '...'
    return exception.DiscoveryError('%s: expected %s, got %r'
                                    % (path, expected, shown))


# ---------------------------------------------------------------------------
# Pure parsers: text -> value. ``path`` is only used in the error message.
# ---------------------------------------------------------------------------

def parse_int(text, path, minimum=None):
    """``"3\\n"`` -> 3; raise DiscoveryError for anything else."""
    stripped = text.strip()
    try:
        value = int(stripped, 10)
    except ValueError:
        raise _problem(path, 'an integer', text)
    if minimum is not None and value < minimum:
        raise _problem(path, 'an integer >= %d' % minimum, text)
    return value


def parse_numa_node(text, path):
    """``"0"`` -> 0; ``"-1"`` (no NUMA information) -> None."""
    value = parse_int(text, path, minimum=-1)
    return None if value < 0 else value


def parse_hex_id(text, path):
    """A PCI vendor or device id: ``"0x10de\\n"`` -> ``'10de'``."""
    match = _HEX_ID_RE.fullmatch(text.strip())
    if not match:
        raise _problem(path, 'a PCI id like 0x10de', text)
    return match.group('hex').lower()


def parse_pci_class(text, path):
    """A PCI class code: ``"0x030200"`` -> ``'030200'``."""
    match = _CLASS_RE.fullmatch(text.strip())
    if not match:
        raise _problem(path, 'a PCI class like 0x030200', text)
    return match.group('hex').lower()


def is_gpu_class(pci_class):
    return pci_class.startswith(GPU_CLASS_PREFIXES)


def parse_placement_id(text, path):
    """``nvidia/placement_id`` (R580+): the vGPU's first placement slot."""
    return parse_int(text, path, minimum=0)


def parse_current_vgpu_type(text, path):
    """``nvidia/current_vgpu_type``: the numeric type id, None when 0."""
    value = parse_int(text, path, minimum=0)
    return value or None


def parse_creatable_vgpu_types(text, path):
    """``nvidia/creatable_vgpu_types`` -> ((type_id, name), ...).

    The file has an optional header line (``ID    : vGPU Name``) and then
    one ``<id> : <name>`` line per type, the name as NVIDIA prints it
    (``NVIDIA H100-1-10C``), in the driver's order (not sorted). The
    ``NVIDIA``/``GRID`` prefix is dropped (:func:`short_type_name`). A
    header alone or an empty file means no type is creatable now.
    """
    types = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        type_id, sep, name = (part.strip() for part in line.partition(':'))
        if type_id.upper() == 'ID':
            continue
        if not sep or not name or not type_id.isdigit():
            raise _problem('%s line %d' % (path, number),
                           '"<type id> : <type name>"', line)
        types.append((int(type_id), short_type_name(name)))
    return tuple(types)


def short_type_name(name):
    """``'NVIDIA A100-2-10C'`` / ``'GRID T4-4Q'`` -> ``'A100-2-10C'``.

    :func:`gpuvirt_nova.hardware.model.driver_type_name`, the one rule.
    """
    return model.driver_type_name(name)


def parse_mdev_type_id(mdev_type):
    """``'nvidia-692'`` -> 692; None for another vendor's type."""
    match = _MDEV_TYPE_ID_RE.fullmatch(mdev_type)
    return int(match.group('id')) if match else None


def parse_device_api(text, path):
    value = text.strip()
    if not re.fullmatch(r'[a-z0-9-]+', value):
        raise _problem(path, 'a device API like vfio-pci', text)
    return value


def parse_mdev_uuid(name, path):
    value = name.strip().lower()
    if not _UUID_RE.fullmatch(value):
        raise _problem(path, 'an mdev UUID like '
                       '4b20d080-1b54-4048-85b3-a6a62d165c01', name)
    return value


def parse_pci_address(name, path):
    try:
        return model.normalize_pci_address(name)
    except ValueError:
        raise _problem(path, 'a PCI address like 0000:3b:00.0', name)


def infer_vgpu_mode(pf_mdev_types, vfs_with_mdev_types, vfs_with_vendor_dir):
    """How the driver exposes vGPUs on one GPU, from what sysfs shows.

    VFs with an ``nvidia/`` directory win (vendor-specific VFIO), then VFs
    with mdev types (SR-IOV + mdev, Ampere with vGPU <= 16), then mdev
    types on the physical function itself (pre-Ampere); otherwise the GPU
    offers no vGPUs right now.
    """
    if vfs_with_vendor_dir:
        return model.HostVgpuMode.VENDOR_VFIO
    if vfs_with_mdev_types:
        return model.HostVgpuMode.SRIOV_MDEV
    if pf_mdev_types:
        return model.HostVgpuMode.MDEV
    return model.HostVgpuMode.NONE


# ---------------------------------------------------------------------------
# The reader: walks a sysfs root; problems become warnings.
# ---------------------------------------------------------------------------

@dataclasses.dataclass
class SysfsView:
    """What sysfs shows: GPUs (PFs) with their VFs, types and mdevs."""

    gpus: list = dataclasses.field(default_factory=list)
    driver_version: str = None
    warnings: list = dataclasses.field(default_factory=list)
    #: {PF address: kernel driver bound to it} (``nvidia``, ``vfio-pci``).
    drivers: dict = dataclasses.field(default_factory=dict)


class SysfsReader:
    """Reads one sysfs tree; ``root`` is the directory that holds ``sys``."""

    def __init__(self, root='/', gpu_catalog=None):
        self.root = root
        self.catalog = gpu_catalog or catalog_mod.load()
        self.warnings = []

    # -- small I/O helpers -------------------------------------------------

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def read(self, path):
        """The text of one sysfs file, or raise DiscoveryError."""
        try:
            with open(path, encoding='utf-8', errors='replace') as f:
                return f.read()
        except OSError as exc:
            raise exception.DiscoveryError(
                '%s: expected a readable file, got %s'
                % (path, exc.strerror or exc))

    def read_parsed(self, path, parser, default=None, optional=False):
        """Parse one file; on a problem record a warning, return default."""
        if optional and not os.path.lexists(path):
            return default
        try:
            return parser(self.read(path), path)
        except exception.DiscoveryError as exc:
            self.warn(str(exc))
            return default

    def warn(self, message):
        # Collected into Host.warnings; the caller decides how to show them.
        LOG.debug('%s', message)
        self.warnings.append(message)

    def listdir(self, path):
        try:
            return sorted(os.listdir(path))
        except FileNotFoundError:
            return []
        except OSError as exc:
            self.warn('%s: expected a readable directory, got %s'
                      % (path, exc.strerror or exc))
            return []

    def link_name(self, path):
        """Basename of a symlink target (or of a plain file's content)."""
        if os.path.islink(path):
            try:
                return os.path.basename(os.readlink(path).rstrip('/'))
            except OSError as exc:
                raise exception.DiscoveryError(
                    '%s: expected a readable link, got %s'
                    % (path, exc.strerror or exc))
        return self.read(path).strip()

    # -- the walk ----------------------------------------------------------

    def read_view(self):
        """Walk the tree; return a SysfsView (never raises for content)."""
        functions = self._nvidia_functions()
        mdev_types = self._mdev_types_by_parent(functions)
        mdevs = self._mdevs()
        gpus = []
        vf_owner = {}
        for address, info in sorted(functions.items()):
            if info['physfn'] is not None:
                continue
            gpu = self._gpu(address, info, functions, mdev_types)
            for vf in gpu.vfs:
                vf_owner[vf.address] = gpu
            gpus.append(gpu)
        by_address = {gpu.address: gpu for gpu in gpus}
        for address, info in sorted(functions.items()):
            if info['physfn'] is not None and address not in vf_owner:
                self.warn('%s: virtual function whose physical function %s '
                          'is not an NVIDIA GPU under %s'
                          % (address, info['physfn'], self.path(PCI_DEVICES)))
        for mdev in mdevs:
            owner = by_address.get(mdev.parent) or vf_owner.get(mdev.parent)
            if owner is None and parse_mdev_type_id(mdev.mdev_type) is None:
                continue  # another vendor's mdev
            if owner is None:
                self.warn('%s: mdev parent %s is not an NVIDIA GPU or VF'
                          % (self.path(MDEV_DEVICES, mdev.uuid), mdev.parent))
                continue
            owner.mdevs.append(mdev)
        drivers = {gpu.address: self._driver(functions[gpu.address]['dir'])
                   for gpu in gpus}
        return SysfsView(gpus=gpus, driver_version=self._driver_version(),
                         warnings=list(self.warnings),
                         drivers={a: d for a, d in drivers.items() if d})

    def _nvidia_functions(self):
        """{address: facts} for every NVIDIA GPU PCI function (PF or VF)."""
        devices_dir = self.path(PCI_DEVICES)
        functions = {}
        for name in self.listdir(devices_dir):
            dev_dir = os.path.join(devices_dir, name)
            vendor = self.read_parsed(os.path.join(dev_dir, 'vendor'),
                                      parse_hex_id)
            if vendor != NVIDIA_VENDOR_ID:
                continue
            pci_class = self.read_parsed(os.path.join(dev_dir, 'class'),
                                         parse_pci_class)
            if pci_class is None or not is_gpu_class(pci_class):
                continue
            address = self._address(name, dev_dir)
            if address is None:
                continue
            functions[address] = {
                'dir': dev_dir,
                'device': self.read_parsed(os.path.join(dev_dir, 'device'),
                                           parse_hex_id),
                'subsystem': self.subsystem_id(dev_dir),
                'physfn': self._physfn(dev_dir),
            }
        return functions

    def subsystem_id(self, dev_dir):
        """``subsystem_device`` of a function, or None.

        A2 and A16 share device 25b6; only the subsystem id tells them
        apart.
        """
        return self.read_parsed(os.path.join(dev_dir, 'subsystem_device'),
                                parse_hex_id, optional=True)

    def _address(self, name, dev_dir):
        try:
            return parse_pci_address(name, dev_dir)
        except exception.DiscoveryError as exc:
            self.warn(str(exc))
            return None

    def _physfn(self, dev_dir):
        path = os.path.join(dev_dir, 'physfn')
        if not os.path.lexists(path):
            return None
        try:
            return parse_pci_address(self.link_name(path), path)
        except exception.DiscoveryError as exc:
            self.warn(str(exc))
            return 'unknown'

    def _gpu(self, address, info, functions, mdev_types):
        dev_dir = info['dir']
        gpu_model = (self.catalog.by_pci_device_id(info['device'],
                                                   info.get('subsystem'))
                     if info['device'] else None)
        gpu = model.PhysicalGpu(
            address=address,
            model=gpu_model.name if gpu_model else
            '%s:%s' % (NVIDIA_VENDOR_ID, info['device'] or '????'),
            pci_device_id=info['device'],
            pci_subsystem_id=info.get('subsystem'),
            numa_node=self.read_parsed(os.path.join(dev_dir, 'numa_node'),
                                       parse_numa_node, optional=True),
            iommu_group=self._iommu_group(dev_dir),
            sriov_totalvfs=self.read_parsed(
                os.path.join(dev_dir, 'sriov_totalvfs'),
                lambda t, p: parse_int(t, p, minimum=0),
                default=0, optional=True),
        )
        if gpu_model is not None:
            gpu.architecture = gpu_model.architecture
            gpu.memory_mib = gpu_model.memory_mib
            gpu.mig_capable = gpu_model.mig_capable
        gpu.mdev_types = self._types_for(address, mdev_types, gpu_model)
        vendor_vfs = []
        for vf_address in self._vf_addresses(address, dev_dir, functions):
            vf, has_vendor_dir = self._vf(vf_address, mdev_types, gpu_model)
            gpu.vfs.append(vf)
            if has_vendor_dir:
                vendor_vfs.append(vf)
        gpu.vgpu_mode = infer_vgpu_mode(
            gpu.mdev_types, [vf for vf in gpu.vfs if vf.mdev_types],
            vendor_vfs)
        gpu.vgpu_type_ids = driver_type_ids(gpu)
        # A physical function's mdev types are every type it supports.
        gpu.vgpu_types_complete = bool(gpu.mdev_types)
        name_vgpu_types(gpu, gpu_model, self.warn)
        return gpu

    def _iommu_group(self, dev_dir):
        path = os.path.join(dev_dir, 'iommu_group')
        if not os.path.lexists(path):
            return None
        try:
            return parse_int(self.link_name(path), path, minimum=0)
        except exception.DiscoveryError as exc:
            self.warn(str(exc))
            return None

    def _vf_addresses(self, pf_address, dev_dir, functions):
        """VF addresses in virtfn order; cross-checked with sriov_numvfs."""
        links = []
        for name in self.listdir(dev_dir):
            match = _VIRTFN_RE.fullmatch(name)
            if not match:
                continue
            path = os.path.join(dev_dir, name)
            try:
                vf_address = parse_pci_address(self.link_name(path), path)
            except exception.DiscoveryError as exc:
                self.warn(str(exc))
                continue
            links.append((int(match.group('index')), vf_address))
        addresses = [a for _i, a in sorted(links)]
        for address, info in sorted(functions.items()):
            if info['physfn'] == pf_address and address not in addresses:
                addresses.append(address)
        numvfs_path = os.path.join(dev_dir, 'sriov_numvfs')
        numvfs = self.read_parsed(numvfs_path,
                                  lambda t, p: parse_int(t, p, minimum=0),
                                  optional=True)
        if numvfs is not None and numvfs != len(addresses):
            self.warn('%s: says %d VFs are enabled but %d virtfn links were '
                      'found' % (numvfs_path, numvfs, len(addresses)))
        return addresses

    def _vf(self, address, mdev_types, gpu_model):
        vf = model.VirtualFunction(address=address)
        vf.mdev_types = self._types_for(address, mdev_types, gpu_model)
        vendor_dir = self.path(PCI_DEVICES, address, 'nvidia')
        if not os.path.isdir(vendor_dir):
            return vf, False
        creatable = self.read_parsed(
            os.path.join(vendor_dir, 'creatable_vgpu_types'),
            parse_creatable_vgpu_types, default=())
        vf.creatable_type_ids = tuple(type_id for type_id, _ in creatable)
        vf.creatable_types = tuple(name for _, name in creatable)
        vf.current_vgpu_type_id = self.read_parsed(
            os.path.join(vendor_dir, 'current_vgpu_type'),
            parse_current_vgpu_type)
        if vf.current_vgpu_type_id:
            vf.placement_id = self.read_parsed(
                os.path.join(vendor_dir, 'placement_id'), parse_placement_id,
                optional=True)
        return vf, True

    def _types_for(self, parent, mdev_types, gpu_model):
        return list(mdev_types.get(parent, ()))

    def _mdev_types_by_parent(self, functions):
        """{parent address: [MdevType]} from ``/sys/class/mdev_bus``."""
        result = {}
        bus_dir = self.path(MDEV_BUS)
        for parent in self.listdir(bus_dir):
            types_dir = os.path.join(bus_dir, parent, 'mdev_supported_types')
            try:
                address = parse_pci_address(parent, os.path.join(bus_dir,
                                                                 parent))
            except exception.DiscoveryError as exc:
                self.warn(str(exc))
                continue
            if address not in functions:
                continue  # another vendor's mdev parent
            result[address] = [self._mdev_type(types_dir, name)
                               for name in self.listdir(types_dir)]
        return result

    def _mdev_type(self, types_dir, name):
        type_dir = os.path.join(types_dir, name)
        raw_name = self.read_parsed(os.path.join(type_dir, 'name'),
                                    lambda t, p: t.strip(), optional=True)
        return model.MdevType(
            mdev_type=name,
            name=short_type_name(raw_name) if raw_name else name,
            available_instances=self.read_parsed(
                os.path.join(type_dir, 'available_instances'),
                lambda t, p: parse_int(t, p, minimum=0), default=0),
            device_api=self.read_parsed(
                os.path.join(type_dir, 'device_api'), parse_device_api,
                default='vfio-pci', optional=True),
            description=self.read_parsed(
                os.path.join(type_dir, 'description'),
                lambda t, p: ' '.join(t.split()), default='',
                optional=True))

    def _mdevs(self):
        mdevs = []
        devices_dir = self.path(MDEV_DEVICES)
        for name in self.listdir(devices_dir):
            path = os.path.join(devices_dir, name)
            try:
                uuid = parse_mdev_uuid(name, path)
                type_link = os.path.join(path, 'mdev_type')
                if not os.path.lexists(type_link):
                    raise exception.DiscoveryError(
                        '%s: expected a link to the mdev type directory, '
                        'got nothing' % type_link)
                mdev_type = self.link_name(type_link)
                real = os.path.realpath(path)
                parent = parse_pci_address(
                    os.path.basename(os.path.dirname(real)), real)
            except exception.DiscoveryError as exc:
                self.warn(str(exc))
                continue
            mdevs.append(model.MediatedDevice(uuid=uuid, mdev_type=mdev_type,
                                              parent=parent))
        return mdevs

    def _driver(self, dev_dir):
        path = os.path.join(dev_dir, 'driver')
        if not os.path.islink(path):
            return None
        try:
            return self.link_name(path)
        except exception.DiscoveryError as exc:
            self.warn(str(exc))
            return None

    def _driver_version(self):
        return self.read_parsed(self.path(NVIDIA_MODULE_VERSION),
                                lambda t, p: t.strip() or None,
                                optional=True)


def driver_type_ids(gpu):
    """``{name: type id}`` every list the driver shows for ``gpu`` gives.

    Sources: each VF's ``creatable_vgpu_types`` and the ``name`` file of
    each ``nvidia-<id>`` mdev type of the GPU and its VFs.
    """
    found = {}
    for vf in gpu.vfs:
        for type_id, name in zip(vf.creatable_type_ids, vf.creatable_types):
            found.setdefault(name, type_id)
    for mdev_type in list(gpu.mdev_types) + [t for vf in gpu.vfs
                                             for t in vf.mdev_types]:
        type_id = parse_mdev_type_id(mdev_type.mdev_type)
        if type_id is not None and mdev_type.name != mdev_type.mdev_type:
            found.setdefault(mdev_type.name, type_id)
    return found


def name_vgpu_types(gpu, gpu_model=None, warn=None):
    """Name every type id on ``gpu`` as the driver does (in place).

    The id is the identity; its name is the one ``gpu.vgpu_type_ids``
    (what this host's driver lists) gives it. Only an id no list of the
    driver names falls back to the catalog's name for that id, then to
    ``nvidia-<id>``. A driver lists only the types it can still create,
    so a fully carved GPU names its own type nowhere: the catalog's name
    is then expected, and ``warn`` (a callable) is told only about an id
    that neither the driver nor the catalog names.
    """
    by_id = {}
    for name, type_id in gpu.vgpu_type_ids.items():
        by_id.setdefault(type_id, name)

    def name_of(type_id, where):
        if type_id in by_id:
            return by_id[type_id]
        known = gpu_model.vgpu_type_by_id(type_id) if gpu_model else None
        if known is None and warn is not None:
            warn('%s: vGPU type id %d is named neither by this host\'s '
                 'driver nor by the catalog; shown as nvidia-%d (a driver '
                 'newer than the catalog?)' % (where, type_id, type_id))
        return known.name if known else 'nvidia-%d' % type_id

    for vf in gpu.vfs:
        if vf.current_vgpu_type_id:
            vf.current_vgpu_type = name_of(vf.current_vgpu_type_id,
                                           vf.address)
        for mdev_type in vf.mdev_types:
            _name_mdev_type(mdev_type, by_id)
    for mdev_type in gpu.mdev_types:
        _name_mdev_type(mdev_type, by_id)


def _name_mdev_type(mdev_type, by_id):
    type_id = parse_mdev_type_id(mdev_type.mdev_type)
    if type_id in by_id and mdev_type.name == mdev_type.mdev_type:
        mdev_type.name = by_id[type_id]


def read(root='/', gpu_catalog=None):
    """Read the GPUs under ``root``; a SysfsView with any warnings."""
    return SysfsReader(root, gpu_catalog).read_view()

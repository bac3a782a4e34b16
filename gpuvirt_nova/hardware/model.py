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

"""The one hardware model: plain data about a host's NVIDIA GPUs.

Every layer (discovery, simulator, layout planner, provider tree, device
assignment, scheduler) speaks these types. They hold no I/O and no policy;
catalog facts (what a GPU model *can* do) live in
:mod:`gpuvirt_nova.hardware.catalog`, and these types describe what a host
*has* right now.
"""

import dataclasses
import enum
import re


PCI_ADDRESS_RE = re.compile(
    r'^(?P<domain>[0-9a-f]{4}):(?P<bus>[0-9a-f]{2}):(?P<slot>[0-9a-f]{2})'
    r'\.(?P<function>[0-7])$')


def normalize_pci_address(address):
    """Return ``dddd:bb:ss.f`` in lower case, or raise ValueError.

    Accepts the short ``bb:ss.f`` form that ``lspci`` prints (domain 0000)
    and upper-case hex, because operators paste both.
    """
    text = str(address).strip().lower()
    if re.fullmatch(r'[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]', text):
        text = '0000:' + text
    if not PCI_ADDRESS_RE.fullmatch(text):
        raise ValueError(
            'invalid PCI address %r: expected dddd:bb:ss.f, for example '
            '0000:3b:00.0' % (address,))
    return text


#: Words NVIDIA's drivers put before a vGPU type name (``NVIDIA A100-2-10C``,
#: ``GRID T4-4Q``); the name without them is the one every layer uses.
TYPE_NAME_PREFIXES = ('NVIDIA', 'GRID')
#: What NVML and nvidia-smi put before a MIG profile name (``MIG 1g.5gb``).
MIG_NAME_PREFIX = 'MIG'


def driver_type_name(name):
    """A vGPU type name as the driver prints it, without its prefix.

    ``'NVIDIA A100-2-10C'`` and ``'GRID T4-4Q'`` -> ``'A100-2-10C'``,
    ``'T4-4Q'``. The one rule for every source (``creatable_vgpu_types``,
    an mdev type's ``name``, NVML's ``nvmlVgpuTypeGetName``), so one type
    id never gets two names.
    """
    words = str(name).split()
    if len(words) > 1 and words[0].upper() in TYPE_NAME_PREFIXES:
        words = words[1:]
    return ' '.join(words)


def mig_profile_name(name):
    """NVML's GPU-instance profile name without ``MIG ``: ``'1g.12gb'``."""
    words = str(name).split()
    if len(words) > 1 and words[0].upper() == MIG_NAME_PREFIX:
        words = words[1:]
    return ' '.join(words)


class Architecture(str, enum.Enum):
    VOLTA = 'volta'
    TURING = 'turing'
    AMPERE = 'ampere'
    ADA = 'ada'
    HOPPER = 'hopper'
    BLACKWELL = 'blackwell'

    @property
    def mig_change_needs_reset(self):
        """Ampere needs a GPU reset to change MIG mode; Hopper+ does not."""
        return self is Architecture.AMPERE


class HostVgpuMode(str, enum.Enum):
    """How the host driver exposes vGPUs on a physical GPU."""

    #: No vGPU manager (or not configured): whole-GPU passthrough only.
    NONE = 'none'
    #: Pre-Ampere: mdev types directly on the physical function.
    MDEV = 'mdev'
    #: Ampere+ with vGPU <= 16: SR-IOV VFs, one mdev per VF.
    SRIOV_MDEV = 'sriov-mdev'
    #: vGPU 17+ on kernel >= 6.8: no mdev bus; each VF gets a type
    #: through ``nvidia/current_vgpu_type`` and is passed through as PCI.
    VENDOR_VFIO = 'vfio'

    @property
    def uses_vfs(self):
        return self in (HostVgpuMode.SRIOV_MDEV, HostVgpuMode.VENDOR_VFIO)


class VgpuSeries(str, enum.Enum):
    """NVIDIA vGPU series letter: the licence and use case of a type."""

    C = 'C'  # compute (AI, HPC)
    Q = 'Q'  # virtual workstation
    B = 'B'  # virtual PC
    A = 'A'  # virtual applications


class SchedulingMode(str, enum.Enum):
    """Time-sliced vGPU placement mode of a physical GPU."""

    EQUAL_SIZE = 'equal-size'
    MIXED_SIZE = 'mixed-size'


@dataclasses.dataclass(frozen=True, order=True)
class Placement:
    """A MIG GPU-instance placement, in memory slices (``start:size``)."""

    start: int
    size: int

    @property
    def slices(self):
        return frozenset(range(self.start, self.start + self.size))

    def overlaps(self, other):
        return bool(self.slices & other.slices)

    def __str__(self):
        return '%d:%d' % (self.start, self.size)


@dataclasses.dataclass(frozen=True)
class MigProfile:
    """A MIG GPU-instance profile of one GPU model (``2g.10gb``)."""

    name: str
    #: NVML GPU-instance profile id (NVML_GPU_INSTANCE_PROFILE_*).
    nvml_id: int
    compute_slices: int
    memory_mib: int
    placements: tuple
    #: Most instances of this profile one GPU holds at a time; None (the
    #: default) means one per placement. ``+me`` profiles (media
    #: extensions) have seven placements but hold only one instance.
    max_instances: int = None
    #: The profile id NVML reports (``nvidia-smi mig -lgip``'s ID column);
    #: None when not known.
    profile_id: int = None

    def __post_init__(self):
        limit = len(self.placements)
        if self.max_instances is None:
            object.__setattr__(self, 'max_instances', limit)
        elif not 1 <= self.max_instances <= max(limit, 1):
            raise ValueError(
                'MIG profile %s: max_instances %r must be from 1 to its '
                'number of placements (%d)' % (self.name, self.max_instances,
                                               limit))

    @property
    def memory_slices(self):
        return self.placements[0].size if self.placements else 0


@dataclasses.dataclass(frozen=True)
class VgpuType:
    """A vGPU type a GPU model offers (``A100-2-10C``, ``nvidia-474``)."""

    name: str
    #: NVIDIA numeric type id; the mdev type is ``nvidia-<type_id>``.
    type_id: int
    framebuffer_mib: int
    #: Instances per GPU in equal-size mode (all vGPUs of one type).
    max_instances: int
    series: VgpuSeries
    #: Instances per GPU in mixed-size mode; None when not supported.
    max_instances_mixed: int = None
    #: The MIG GPU-instance profile backing this type, if MIG-backed.
    mig_profile: str = None

    @property
    def mdev_type(self):
        return 'nvidia-%d' % self.type_id

    @property
    def mig_backed(self):
        return self.mig_profile is not None


@dataclasses.dataclass
class ComputeInstance:
    """A MIG compute instance inside a GPU instance."""

    id: int
    profile: str
    compute_slices: int


@dataclasses.dataclass
class GpuInstance:
    """A MIG GPU instance: a profile at a placement, with its CIs."""

    id: int
    profile: str
    placement: Placement
    compute_instances: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class MdevType:
    """One ``mdev_supported_types/<type>`` directory of a parent device."""

    mdev_type: str
    name: str
    available_instances: int
    device_api: str = 'vfio-pci'
    description: str = ''


@dataclasses.dataclass
class MediatedDevice:
    """A mediated device (``/sys/bus/mdev/devices/<uuid>``)."""

    uuid: str
    mdev_type: str
    parent: str
    #: Name of the libvirt domain using it, when known.
    domain: str = None


@dataclasses.dataclass
class VirtualFunction:
    """An SR-IOV virtual function of a physical GPU."""

    address: str
    #: vGPU type name currently set (vendor VFIO), None when unset: the
    #: driver's name for :attr:`current_vgpu_type_id`.
    current_vgpu_type: str = None
    #: vGPU type names this VF can take now (vendor VFIO).
    creatable_types: tuple = ()
    #: The numeric type id in ``current_vgpu_type`` (the identity).
    current_vgpu_type_id: int = None
    #: The ids of :attr:`creatable_types`, in the same order.
    creatable_type_ids: tuple = ()
    #: mdev types offered on this VF (SR-IOV mdev hosts).
    mdev_types: list = dataclasses.field(default_factory=list)
    #: First placement slot of its vGPU in mixed-size mode
    #: (``nvidia/placement_id``, R580+); None when not reported.
    placement_id: int = None


@dataclasses.dataclass
class PhysicalGpu:
    """A physical NVIDIA GPU and everything carved out of it."""

    address: str
    #: Catalog model name (``A100-PCIE-40GB``), or the raw NVML name when
    #: the model is not in the catalog.
    model: str
    uuid: str = None
    memory_mib: int = None
    architecture: Architecture = None
    numa_node: int = None
    iommu_group: int = None
    driver_version: str = None
    pci_device_id: str = None
    #: PCI subsystem device id (sysfs ``subsystem_device``): tells boards
    #: that share a device id apart (A2 and A16).
    pci_subsystem_id: str = None
    mig_capable: bool = False
    mig_current: bool = False
    mig_pending: bool = False
    vgpu_mode: HostVgpuMode = HostVgpuMode.NONE
    sriov_totalvfs: int = 0
    vfs: list = dataclasses.field(default_factory=list)
    #: mdev types offered on the physical function itself (non-SR-IOV).
    mdev_types: list = dataclasses.field(default_factory=list)
    gpu_instances: list = dataclasses.field(default_factory=list)
    mdevs: list = dataclasses.field(default_factory=list)
    #: ``{type name: type id}`` as this host's driver lists them for this
    #: GPU (``creatable_vgpu_types``, mdev types, NVML's supported types):
    #: the only ids ever written to it.
    vgpu_type_ids: dict = dataclasses.field(default_factory=dict)
    #: Whether :attr:`vgpu_type_ids` holds every type the driver supports
    #: on this GPU (NVML's supported list or a physical function's mdev
    #: types), not only the ones creatable now.
    vgpu_types_complete: bool = False
    #: MIG GPU-instance profiles as NVML reports them on this GPU (names,
    #: ids, memory, placements); empty without NVML.
    mig_profiles: list = dataclasses.field(default_factory=list)

    @property
    def mig_enabled(self):
        return self.mig_current

    def vgpu_type_name(self, text):
        """The driver's name for a type id, ``nvidia-<id>`` or name.

        ``text`` unchanged when this GPU's driver lists no such id.
        """
        if text is None:
            return None
        text = str(text)
        digits = text[len('nvidia-'):] if text.startswith('nvidia-') \
            else text
        if digits.isdigit():
            for name, type_id in self.vgpu_type_ids.items():
                if type_id == int(digits):
                    return name
        return text

    def vf(self, address):
        for vf in self.vfs:
            if vf.address == address:
                return vf
        return None


@dataclasses.dataclass
class Host:
    """Everything discovery learned about one host's NVIDIA GPUs."""

    hostname: str = None
    driver_version: str = None
    gpus: list = dataclasses.field(default_factory=list)
    #: Human-readable problems met while discovering (never fatal).
    warnings: list = dataclasses.field(default_factory=list)

    def gpu(self, address):
        address = normalize_pci_address(address)
        for gpu in self.gpus:
            if gpu.address == address:
                return gpu
        return None


def to_dict(obj):
    """A JSON-ready dict of any model object (enums as their values)."""
    def convert(value):
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, Placement):
            return {'start': value.start, 'size': value.size}
        if dataclasses.is_dataclass(value):
            return {f.name: convert(getattr(value, f.name))
                    for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [convert(v) for v in value]
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        return value
    return convert(obj)

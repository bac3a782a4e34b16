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

"""Device assignment: Placement allocations -> concrete vGPU devices.

Pure functions over the hardware model. Placement decided *which physical
GPU* serves each vGPU (one provider per GPU, see DESIGN.md section 3);
this module decides *which device on that GPU*: a free SR-IOV VF for the
vendor-specific VFIO interface, or a parent and type for a mediated
device. It never hands out a device that another instance uses (the
caller passes every device referenced by any defined domain plus the
devices claimed by boots still in flight), and it prefers the devices the
instance held before, so reboots and restarts keep the same VF and the
same mdev UUID.
"""

import dataclasses
import uuid as uuid_lib

from gpuvirt_nova import exception
from gpuvirt_nova.hardware import model
from gpuvirt_nova.placement import naming

KIND_VF = 'vf'
KIND_MDEV = 'mdev'


class AssignmentError(exception.GpuvirtError):
    """No device can serve an allocation; the message says which and why."""


@dataclasses.dataclass(frozen=True, order=True)
class Request:
    """One vGPU unit Placement allocated: which GPU and which class."""

    gpu_address: str
    resource_class: str


@dataclasses.dataclass(frozen=True)
class Device:
    """A concrete vGPU device given to a guest.

    ``kind`` is KIND_VF (``address`` is the VF, passed through as a PCI
    hostdev after its ``current_vgpu_type`` is set) or KIND_MDEV
    (``mdev_uuid`` on ``parent``, of ``mdev_type``).
    """

    kind: str
    gpu_address: str
    vgpu_type: str
    address: str = None
    mdev_uuid: str = None
    parent: str = None
    mdev_type: str = None
    type_id: int = None

    @property
    def key(self):
        """What makes two devices the same device (for 'in use' checks)."""
        if self.kind == KIND_VF:
            return (KIND_VF, self.address)
        return (KIND_MDEV, self.mdev_uuid)

    @property
    def resource_class(self):
        return naming.resource_class(self.vgpu_type)


def vgpu_resource_classes(allocations):
    """The ``CUSTOM_VGPU_*`` amounts per provider of an allocation dict.

    ``allocations`` is what Placement returns for a consumer:
    ``{rp_uuid: {'resources': {rc: amount}}}``. Other classes (VCPU,
    MEMORY_MB, DISK_GB...) are not ours and are left out.
    """
    result = {}
    for rp_uuid, alloc in (allocations or {}).items():
        for rc, amount in (alloc.get('resources') or {}).items():
            if rc.startswith(naming.VGPU_RC_PREFIX) and amount > 0:
                result.setdefault(rp_uuid, {})[rc] = amount
    return result


def requests_from_allocations(allocations, provider_gpus, elsewhere=()):
    """One Request per allocated vGPU unit, sorted.

    :param allocations: ``{rp_uuid: {'resources': {rc: amount}}}``.
    :param provider_gpus: ``{rp_uuid: gpu PCI address}`` for the GPU
        providers of this compute node.
    :param elsewhere: providers known to belong to other compute nodes
        (an evacuated instance holds allocations on both hosts until the
        source is cleaned up); they are skipped.
    :raises AssignmentError: when a vGPU class is allocated on a provider
        that is not one of this host's GPUs: such a server would otherwise
        go ACTIVE without its device.
    """
    requests = []
    for rp_uuid, classes in sorted(vgpu_resource_classes(
            allocations).items()):
        if rp_uuid in elsewhere:
            continue
        address = provider_gpus.get(rp_uuid)
        if address is None:
            raise AssignmentError(
                'allocation of %s is on resource provider %s, which is not '
                'a GPU of this host: refusing to start the guest without '
                'its vGPU' % (', '.join(sorted(classes)), rp_uuid))
        for rc, amount in sorted(classes.items()):
            requests.extend(Request(address, rc) for _ in range(amount))
    return sorted(requests)


def _same_type(type_name, resource_class):
    try:
        return naming.resource_class(type_name) == resource_class
    except exception.UsageError:
        return False


def _type_id(mdev_type):
    """``'nvidia-692'`` -> 692; None when not an NVIDIA mdev type."""
    prefix, _, number = (mdev_type or '').rpartition('-')
    return int(number) if prefix == 'nvidia' and number.isdigit() else None


class _Chooser:
    """Keeps what is taken while one assignment is being built."""

    def __init__(self, host, used, new_uuid):
        self.host = host
        self.taken = set(used)
        self.new_uuid = new_uuid
        # mdevs created by this assignment per (parent, mdev_type).
        self.new_per_parent = {}

    def gpu(self, request):
        gpu = self.host.gpu(request.gpu_address)
        if gpu is None:
            raise AssignmentError(
                'GPU %s of the allocation is not present on this host: '
                'check that the GPU is visible (gpuvirt-nova discover)'
                % request.gpu_address)
        return gpu

    def take(self, device):
        self.taken.add(device.key)
        if device.kind == KIND_MDEV:
            key = (device.parent, device.mdev_type)
            self.new_per_parent[key] = self.new_per_parent.get(key, 0) + 1
        return device

    def free(self, key):
        return key not in self.taken


def _vf_candidates(chooser, gpu, request):
    """VFs of ``gpu`` that can take the requested type (vendor VFIO)."""
    for vf in sorted(gpu.vfs, key=lambda v: v.address):
        if not chooser.free((KIND_VF, vf.address)):
            continue
        names = list(vf.creatable_types)
        if vf.current_vgpu_type:
            names.append(vf.current_vgpu_type)
        for name in names:
            if _same_type(name, request.resource_class):
                yield vf, name
                break


def _mdev_parents(gpu):
    """(parent address, [MdevType]) for the PF and each VF of ``gpu``."""
    parents = [(gpu.address, gpu.mdev_types)]
    parents.extend((vf.address, vf.mdev_types)
                   for vf in sorted(gpu.vfs, key=lambda v: v.address))
    return parents


def _existing_mdev(chooser, gpu, request):
    """An mdev of the type already on this GPU that nobody uses."""
    types_by_mdev_type = _mdev_type_names(gpu)
    for mdev in sorted(gpu.mdevs, key=lambda m: m.uuid):
        name = types_by_mdev_type.get(mdev.mdev_type, mdev.mdev_type)
        if (chooser.free((KIND_MDEV, mdev.uuid)) and
                _same_type(name, request.resource_class)):
            return Device(KIND_MDEV, gpu.address, name,
                          mdev_uuid=mdev.uuid, parent=mdev.parent,
                          mdev_type=mdev.mdev_type,
                          type_id=_type_id(mdev.mdev_type))
    return None


def _new_mdev(chooser, gpu, request, mdev_uuid=None):
    """A parent with room for one more mdev of the type, and a UUID."""
    busy_parents = {m.parent for m in gpu.mdevs}
    for parent, types in _mdev_parents(gpu):
        for mdev_type in types:
            if not _same_type(mdev_type.name, request.resource_class):
                continue
            pending = chooser.new_per_parent.get(
                (parent, mdev_type.mdev_type), 0)
            if parent != gpu.address and (pending or parent in busy_parents):
                # A VF hosts one mdev at most.
                continue
            if mdev_type.available_instances - pending <= 0:
                continue
            return Device(KIND_MDEV, gpu.address, mdev_type.name,
                          mdev_uuid=mdev_uuid or chooser.new_uuid(),
                          parent=parent, mdev_type=mdev_type.mdev_type,
                          type_id=_type_id(mdev_type.mdev_type))
    return None


def _mdev_type_names(gpu):
    return {t.mdev_type: t.name
            for _, types in _mdev_parents(gpu) for t in types}


def _reuse(chooser, gpu, request, previous):
    """The device this instance held before, when it still fits.

    ``previous`` holds device keys. A VF is reused when it can still take
    the type; an mdev when it still exists with the type, or, when it is
    gone (host reboot), it is recreated with the same UUID.
    """
    for kind, ident in sorted(previous):
        if not chooser.free((kind, ident)):
            continue
        if kind == KIND_VF:
            vf = gpu.vf(ident)
            names = list(vf.creatable_types) if vf else []
            if vf is not None and vf.current_vgpu_type:
                names.append(vf.current_vgpu_type)
            for name in names:
                if _same_type(name, request.resource_class):
                    return Device(KIND_VF, gpu.address, name, address=ident)
            continue
        mdev = next((m for m in gpu.mdevs if m.uuid == ident), None)
        if mdev is not None:
            name = _mdev_type_names(gpu).get(mdev.mdev_type, mdev.mdev_type)
            if _same_type(name, request.resource_class):
                return Device(KIND_MDEV, gpu.address, name, mdev_uuid=ident,
                              parent=mdev.parent, mdev_type=mdev.mdev_type,
                              type_id=_type_id(mdev.mdev_type))
            continue
        if _mdev_anywhere(chooser.host, ident):
            continue
        recreated = _new_mdev(chooser, gpu, request, ident)
        if recreated is not None:
            return recreated
    return None


def _mdev_anywhere(host, mdev_uuid):
    return any(m.uuid == mdev_uuid for g in host.gpus for m in g.mdevs)


def _choose(chooser, gpu, request, previous):
    device = _reuse(chooser, gpu, request, previous)
    if device is not None:
        return device
    if gpu.vgpu_mode is model.HostVgpuMode.VENDOR_VFIO:
        for vf, name in _vf_candidates(chooser, gpu, request):
            return Device(KIND_VF, gpu.address, name, address=vf.address)
        return None
    return (_existing_mdev(chooser, gpu, request) or
            _new_mdev(chooser, gpu, request))


def assign(requests, host, used=(), previous=(), new_uuid=None):
    """Choose one distinct device per request.

    :param requests: Request list (requests_from_allocations).
    :param host: the model.Host as discovered now.
    :param used: device keys (Device.key) held by other instances.
    :param previous: keys (Device.key) of the devices this instance
        held before; reused first, so reboots keep VFs and mdev UUIDs.
    :param new_uuid: callable returning a fresh mdev UUID (tests pass a
        deterministic one).
    :returns: list of Device, in request order.
    :raises AssignmentError: naming the GPU and type that has no free
        device; nothing is chosen in that case.
    """
    chooser = _Chooser(host, used, new_uuid or (
        lambda: str(uuid_lib.uuid4())))
    devices = []
    for request in requests:
        gpu = chooser.gpu(request)
        device = _choose(chooser, gpu, request, previous)
        if device is None:
            raise AssignmentError(
                'no free device of %s on GPU %s (%s mode): %d of %d '
                'requested vGPUs could be placed; the GPU provider '
                'inventory and the hardware disagree, run gpuvirt-nova '
                'discover on this host' % (
                    request.resource_class, gpu.address,
                    gpu.vgpu_mode.value if gpu.vgpu_mode else 'unknown',
                    len(devices), len(requests)))
        devices.append(chooser.take(device))
    return devices


def stale_mdevs(host, offered, used):
    """mdevs of a type their GPU no longer offers, that nobody uses.

    :param offered: ``{gpu address: set of resource classes}`` the GPU
        providers offer now.
    :param used: device keys referenced by domains or claims.
    :returns: list of model.MediatedDevice to undefine. An mdev whose
        type cannot be named, or on a GPU that offers nothing, is kept:
        never remove what we cannot judge.
    """
    stale = []
    for gpu in host.gpus:
        if not offered.get(gpu.address):
            # No provider: nothing says which types this GPU should
            # carry, so nothing on it can be judged stale.
            continue
        names = _mdev_type_names(gpu)
        classes = offered[gpu.address]
        for mdev in gpu.mdevs:
            name = names.get(mdev.mdev_type)
            if name is None or (KIND_MDEV, mdev.uuid) in used:
                continue
            if not any(_same_type(name, rc) for rc in classes):
                stale.append(mdev)
    return stale


def to_dict(device):
    return {k: v for k, v in dataclasses.asdict(device).items()
            if v is not None}


def from_dict(data):
    return Device(**data)

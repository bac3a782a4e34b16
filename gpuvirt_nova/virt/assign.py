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
this module decides *which device on that GPU*: a free SR-IOV VF that
carries the type (vendor-specific VFIO), or a free mediated device of the
type. Devices are only ever chosen among those the carve made
(``gpuvirt-nova layout apply`` is the one writer of VF types and mdevs):
assigning never changes a device's type or existence, so a guest's life
never changes what the host offers. It never hands out a device that
another instance uses (the caller passes every device referenced by any
defined domain plus the devices claimed by boots still in flight), and it
prefers the devices the instance held before, so reboots and restarts
keep the same VF and the same mdev UUID.
"""

import dataclasses

from gpuvirt_nova import exception
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

    def __init__(self, host, used):
        self.host = host
        self.taken = set(used)

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
        return device

    def free(self, key):
        return key not in self.taken


def _mdev_parents(gpu):
    """(parent address, [MdevType]) for the PF and each VF of ``gpu``."""
    parents = [(gpu.address, gpu.mdev_types)]
    parents.extend((vf.address, vf.mdev_types)
                   for vf in sorted(gpu.vfs, key=lambda v: v.address))
    return parents


def mdev_type_names(gpu):
    """``{mdev type directory: vGPU type name}`` of every parent of ``gpu``."""
    return {t.mdev_type: t.name
            for _, types in _mdev_parents(gpu) for t in types}


def _vf_device(gpu, vf, request):
    if vf is not None and vf.current_vgpu_type and _same_type(
            vf.current_vgpu_type, request.resource_class):
        return Device(KIND_VF, gpu.address, vf.current_vgpu_type,
                      address=vf.address)
    return None


def _mdev_device(gpu, mdev, request, names):
    name = names.get(mdev.mdev_type, mdev.mdev_type)
    if _same_type(name, request.resource_class):
        return Device(KIND_MDEV, gpu.address, name, mdev_uuid=mdev.uuid,
                      parent=mdev.parent, mdev_type=mdev.mdev_type,
                      type_id=_type_id(mdev.mdev_type))
    return None


def _reuse(chooser, gpu, request, previous):
    """The device this instance held before, when it still carries the type.

    ``previous`` holds device keys: a VF still typed so, or an mdev still
    there with the type (after a host reboot the carve, restored by
    ``layout apply --boot`` and libvirt's autostart, brings them back).
    """
    names = mdev_type_names(gpu)
    mdevs = {m.uuid: m for m in gpu.mdevs}
    for kind, ident in sorted(previous):
        if not chooser.free((kind, ident)):
            continue
        if kind == KIND_VF:
            device = _vf_device(gpu, gpu.vf(ident), request)
        elif ident in mdevs:
            device = _mdev_device(gpu, mdevs[ident], request, names)
        else:
            device = None
        if device is not None:
            return device
    return None


def _choose(chooser, gpu, request, previous):
    device = _reuse(chooser, gpu, request, previous)
    if device is not None:
        return device
    for vf in sorted(gpu.vfs, key=lambda v: v.address):
        device = _vf_device(gpu, vf, request)
        if device is not None and chooser.free(device.key):
            return device
    names = mdev_type_names(gpu)
    for mdev in sorted(gpu.mdevs, key=lambda m: m.uuid):
        device = _mdev_device(gpu, mdev, request, names)
        if device is not None and chooser.free(device.key):
            return device
    return None


def assign(requests, host, used=(), previous=()):
    """Choose one distinct carved device per request.

    :param requests: Request list (requests_from_allocations).
    :param host: the model.Host as discovered now.
    :param used: device keys (Device.key) held by other instances.
    :param previous: keys (Device.key) of the devices this instance
        held before; reused first, so reboots keep VFs and mdev UUIDs.
    :returns: list of Device, in request order.
    :raises AssignmentError: naming the GPU and type that has no free
        device; nothing is chosen in that case.
    """
    chooser = _Chooser(host, used)
    devices = []
    for request in requests:
        gpu = chooser.gpu(request)
        device = _choose(chooser, gpu, request, previous)
        if device is None:
            raise AssignmentError(
                'no free device of %s on GPU %s (%s mode): %d of %d '
                'requested vGPUs could be placed; the GPU provider '
                'inventory and the hardware disagree, run gpuvirt-nova '
                'layout assert and gpuvirt-nova discover on this host' % (
                    request.resource_class, gpu.address,
                    gpu.vgpu_mode.value if gpu.vgpu_mode else 'unknown',
                    len(devices), len(requests)))
        devices.append(chooser.take(device))
    return devices


def to_dict(device):
    return {k: v for k, v in dataclasses.asdict(device).items()
            if v is not None}


def from_dict(data):
    return Device(**data)

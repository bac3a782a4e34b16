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

"""Carve one guest's MIG instance and vGPU on a dynamic GPU, and uncarve.

The driver is the one writer of a dynamic GPU's instances and vGPUs
(``layout apply`` only sets its MIG mode and VFs). Every write is one of
the layout's own verified steps (:mod:`gpuvirt_nova.layout.apply`): each
is read back from the hardware, and a failure rolls back what this carve
made, so a failed boot never leaves an instance behind.
"""

import uuid as uuid_mod

from gpuvirt_nova.dynamic import records
from gpuvirt_nova import exception
from gpuvirt_nova.layout import apply
from gpuvirt_nova.layout import geometry
from gpuvirt_nova.layout import plan as plan_mod
from gpuvirt_nova.placement import tree

#: Namespace of the mdev UUIDs a dynamic carve makes: uuid5(instance/GPU).
MDEV_NAMESPACE = uuid_mod.UUID('0d7c4e0a-5b52-4f7e-8a51-9c6c2b8e0d11')


class NoRoom(exception.GpuvirtError):
    """No free placement of the profile on the GPU (a lost race)."""


def vgpu_type_for(gpu, profile, series='C'):
    """The MIG-backed vGPU type of ``series`` on ``profile``, by name.

    The name the GPU's driver lists wins; the catalog says which type
    sits on which profile.
    """
    for vgpu_type in tree.dynamic_types(gpu, series):
        if vgpu_type.mig_profile == profile:
            return vgpu_type.name
    raise exception.GpuvirtError(
        'GPU %s (%s) has no MIG-backed %s-series vGPU type on profile %s; '
        'choose another series: for the GPU in the layout, or another '
        'flavor' % (gpu.address, gpu.model, series, profile))


def device_keys(gpu):
    """Keys of the GPU's vGPUs: typed VFs and mdevs (see records.Carved)."""
    keys = {('vf', vf.address) for vf in gpu.vfs if vf.current_vgpu_type}
    keys |= {('mdev', m.uuid) for m in gpu.mdevs}
    return keys


def carve(writer, read_gpu, address, profile, series='C', owner=None,
          prefer_start=None, prefer_vf=None, mdevs=None):
    """Create a GPU instance, compute instance and vGPU for one guest.

    :param read_gpu: ``read_gpu(address)`` -> model.PhysicalGpu.
    :param owner: the instance uuid (names the mdev, on mdev hosts).
    :param prefer_start: placement to take if free (a restore).
    :param prefer_vf: VF to type if free (a restore keeps the VF the
        guest's definition names).
    :returns: records.Carved.
    :raises NoRoom: no placement of ``profile`` is free.
    :raises exception.GpuvirtError: a step failed; what was made is gone.
    """
    reader = apply.GpuReadBack(read_gpu, address)
    gpu = reader.read()
    profiles = tree.mig_profiles_of(gpu)
    placement = geometry.best_placement(
        profiles, geometry.occupied_of(gpu), profile, prefer=prefer_start)
    if placement is None:
        raise NoRoom('no free placement of MIG profile %s on GPU %s (in '
                     'use: %s)' % (profile, address, ', '.join(
                         '%s at %d' % (gi.profile, gi.placement.start)
                         for gi in gpu.gpu_instances) or 'nothing'))
    type_name = vgpu_type_for(gpu, profile, series)
    journal = []
    try:
        journal.append(apply.create_gi(writer, reader, profile,
                                       placement.start))
        journal.append(apply.create_ci(writer, reader, profile,
                                       placement.start))
        before = device_keys(reader.last())
        via = plan_mod.delivery(reader.last())
        vf = reader.last().vf(prefer_vf) if prefer_vf else None
        if via == plan_mod.VIA_VFIO and vf is not None and \
                not vf.current_vgpu_type:
            journal.append(apply.set_vf_type(writer, reader, prefer_vf,
                                             type_name))
        else:
            journal.append(apply.create_vgpu(writer, reader, {
                'type': type_name, 'via': via,
                'uuid': str(uuid_mod.uuid5(MDEV_NAMESPACE, '%s/%s' % (
                    owner, address)))}, mdevs))
        made = device_keys(reader.read()) - before
        if len(made) != 1:
            raise apply.StepFailed('expected one new vGPU on GPU %s, found '
                                   '%d' % (address, len(made)))
    except BaseException as exc:
        if getattr(exc, 'undo', None) is not None:
            journal.append(exc.undo)
        reader.forget()
        for undo in reversed(journal):
            try:
                if undo is not None:
                    undo()
            except Exception:  # keep undoing the rest
                pass
        raise
    kind, ident = made.pop()
    return records.Carved(gpu=address, profile=profile,
                          start=placement.start, vgpu_type=type_name,
                          kind=kind, ident=ident)


def present(gpu, carved):
    """Whether ``carved``'s instance and vGPU are on ``gpu`` now."""
    return (apply.gi_at(gpu, carved.profile, carved.start) is not None
            and carved.key in device_keys(gpu))


def uncarve(writer, read_gpu, carved, mdevs=None):
    """Remove a guest's vGPU, compute instance and GPU instance.

    Whatever of it is already gone (a host reboot wiped MIG instances) is
    skipped, so uncarving twice is harmless.
    """
    reader = apply.GpuReadBack(read_gpu, carved.gpu)
    gpu = reader.read()
    if carved.kind == 'vf':
        vf = gpu.vf(carved.ident)
        if vf is not None and vf.current_vgpu_type:
            apply.set_vf_type(writer, reader, carved.ident, None)
    elif any(m.uuid == carved.ident for m in gpu.mdevs):
        mdev = next(m for m in gpu.mdevs if m.uuid == carved.ident)
        apply.remove_mdev(writer, reader, mdev.parent, mdev.mdev_type,
                          mdev.uuid, mdevs)
    gi = apply.gi_at(reader.last(), carved.profile, carved.start)
    if gi is None:
        return
    for ci in list(gi.compute_instances):
        apply.destroy_ci(writer, reader, gi.id, ci.id, carved.profile,
                         carved.start)
    apply.destroy_gi(writer, reader, gi.id, carved.profile, carved.start)

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

"""Create one guest's time-sliced vGPU on a dynamic GPU.

As :mod:`carve` for MIG, through the layout's verified, undoable steps:
a VF's ``current_vgpu_type`` (vendor VFIO) or an mdev. NVIDIA's host
driver puts the vGPU at its type's lowest free placement (neither write
takes a placement), so the GPU the scheduler chose is the choice made;
the placement the vGPU got is read back (a VF's ``placement_id``,
R580+) and recorded, and a refusal is checked first with the same
geometry the scheduler's filter uses
(:mod:`gpuvirt_nova.hardware.ts_placement`). :func:`carve.uncarve`
takes the vGPU back (there is no instance under it).
"""

import uuid as uuid_mod

from gpuvirt_nova.dynamic import carve as carve_mod
from gpuvirt_nova.dynamic import records
from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import ts_placement
from gpuvirt_nova.layout import apply
from gpuvirt_nova.layout import plan as plan_mod


def gpu_model_of(gpu):
    found = catalog.load().find(gpu.model)
    if found is None:
        raise exception.GpuvirtError(
            'GPU %s is a %s, which the catalog does not know; its '
            'time-sliced geometry is unknown' % (gpu.address, gpu.model))
    return found


def _placed_at(gpu_model, gpu, scheduling, key, expected):
    """Where the vGPU of ``key`` sits: its reported slot, or expected."""
    kind, ident = key
    vf = gpu.vf(ident) if kind == 'vf' else None
    if scheduling == ts_placement.MIXED and vf is not None and \
            vf.placement_id is not None:
        return vf.placement_id
    return expected.start if expected is not None else None


def carve(writer, read_gpu, address, type_name, scheduling, owner=None,
          prefer_vf=None, mdevs=None):
    """Create a time-sliced vGPU of ``type_name`` for one guest.

    :param scheduling: the GPU's vGPU mode (equal-size, mixed-size).
    :param prefer_vf: VF to type if free (a restore keeps the VF the
        guest's definition names).
    :returns: records.Carved (mode time-sliced).
    :raises carve.NoRoom: the GPU cannot take the type now (a lost race).
    :raises exception.GpuvirtError: a step failed; what was made is gone.
    """
    reader = apply.GpuReadBack(read_gpu, address)
    gpu = reader.read()
    gpu_model = gpu_model_of(gpu)
    hosted = ts_placement.hosted_of(gpu_model, gpu, scheduling)
    why = ts_placement.refusal(gpu_model, scheduling, hosted, type_name)
    if why:
        raise carve_mod.NoRoom('GPU %s cannot take a %s: %s' % (
            address, type_name, why))
    expected = ts_placement.next_placement(gpu_model, hosted, type_name) \
        if scheduling == ts_placement.MIXED else None
    before = carve_mod.device_keys(gpu)
    via = plan_mod.delivery(gpu)
    vf = gpu.vf(prefer_vf) if prefer_vf else None
    undo = None
    try:
        if via == plan_mod.VIA_VFIO and vf is not None and \
                not vf.current_vgpu_type:
            undo = apply.set_vf_type(writer, reader, prefer_vf, type_name)
        else:
            undo = apply.create_vgpu(writer, reader, {
                'type': type_name, 'via': via,
                'uuid': str(uuid_mod.uuid5(carve_mod.MDEV_NAMESPACE,
                                           '%s/%s' % (owner, address)))},
                mdevs)
        after = reader.read()
        made = carve_mod.device_keys(after) - before
        if len(made) != 1:
            raise apply.StepFailed('expected one new vGPU on GPU %s, found '
                                   '%d' % (address, len(made)))
    except BaseException as exc:
        undo = getattr(exc, 'undo', None) or undo
        reader.forget()
        if undo is not None:
            try:
                undo()
            except Exception:  # the error that brought us here wins
                pass
        raise
    key = made.pop()
    return records.Carved(
        gpu=address, profile='', vgpu_type=type_name, kind=key[0],
        ident=key[1], mode=records.TIME_SLICED,
        start=_placed_at(gpu_model, after, scheduling, key, expected))


def present(gpu, carved):
    """Whether ``carved``'s vGPU is on ``gpu`` now."""
    return carved.key in carve_mod.device_keys(gpu)

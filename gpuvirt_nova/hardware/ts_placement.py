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

"""Time-sliced geometry of a dynamic GPU: what a new vGPU can join.

Pure functions over a catalog :class:`GpuModel` and the vGPUs a GPU
hosts: hardware facts, so the simulator's mixed-size rule, the provider
tree, the scheduler's geometry filter and the driver's carve all call
them and agree.

Equal-size mode: every vGPU of a GPU has one type, at most the type's
``max_instances`` of it.

Mixed-size mode (vGPU 17+): NVML describes a vGPU type's room on the GPU
as a *placement size* (slots it occupies) and the *placement IDs* (first
slots) where it may start (``nvmlVgpuPlacementList_t``,
``nvmlDeviceGetVgpuTypeSupportedPlacements`` /
``...CreatablePlacements``; ``nvidia-smi vgpu -ss`` / ``-cs``); a vGPU
whose slots overlap another's cannot be created, however much memory is
free. The catalog holds NVIDIA's mixed-size maxima (vGPU User Guide,
"Virtual GPU Types for Supported GPUs"), not the placement IDs, so they
are modelled here: the GPU has :func:`slot_count` slots (the least
common multiple of the mixed-size maxima), a type of mixed-size maximum
``m`` occupies ``slots / m`` of them and starts at a multiple of that
size. This reproduces every documented maximum (``m`` placements that
tile the GPU) and NVIDIA's aligned, fixed offsets; a real host's
``nvidia-smi vgpu -ss`` may number them differently.

Framebuffer slices (what Placement counts): the greatest common divisor
of the model's time-sliced framebuffers (1 GiB on most models, the
smallest type's framebuffer where every type is a multiple of it); a
type takes ``framebuffer / slice`` of them.
"""

import dataclasses
import functools
import math

from gpuvirt_nova.hardware import model

EQUAL = model.SchedulingMode.EQUAL_SIZE.value
MIXED = model.SchedulingMode.MIXED_SIZE.value


@dataclasses.dataclass(frozen=True)
class Hosted:
    """A time-sliced vGPU on the GPU: its type and, if known, placement."""

    type_name: str
    #: Slots it occupies (mixed-size mode); None: not known yet.
    placement: model.Placement = None


def time_sliced_types(gpu_model):
    return [t for t in gpu_model.vgpu_types if not t.mig_backed]


def _type(gpu_model, name):
    for vgpu_type in time_sliced_types(gpu_model):
        if vgpu_type.name == name:
            return vgpu_type
    return None


def slice_mib(gpu_model):
    """MiB of one framebuffer slice of ``gpu_model`` (0: no types)."""
    return functools.reduce(
        math.gcd, (t.framebuffer_mib for t in time_sliced_types(gpu_model)),
        0)


def total_slices(gpu_model):
    """Framebuffer slices of one GPU."""
    unit = slice_mib(gpu_model)
    return gpu_model.memory_mib // unit if unit else 0


def type_slices(gpu_model, vgpu_type):
    """Framebuffer slices a vGPU of ``vgpu_type`` asks Placement for."""
    return vgpu_type.framebuffer_mib // slice_mib(gpu_model)


def slot_count(gpu_model):
    """Placement slots of one GPU in mixed-size mode (0: no such mode)."""
    maxima = [t.max_instances_mixed for t in time_sliced_types(gpu_model)
              if t.max_instances_mixed]
    return functools.reduce(lambda a, b: a * b // math.gcd(a, b), maxima) \
        if maxima else 0


def supported_placements(gpu_model, vgpu_type):
    """Every placement of ``vgpu_type`` in mixed-size mode, by start."""
    if not vgpu_type.max_instances_mixed:
        return []
    size = slot_count(gpu_model) // vgpu_type.max_instances_mixed
    return [model.Placement(k * size, size)
            for k in range(vgpu_type.max_instances_mixed)]


def placement_size(gpu_model, vgpu_type):
    """Slots a vGPU of ``vgpu_type`` takes in mixed-size mode (0: none)."""
    if not vgpu_type.max_instances_mixed:
        return 0
    return slot_count(gpu_model) // vgpu_type.max_instances_mixed


def hosted_of(gpu_model, gpu, scheduling):
    """[Hosted] of the time-sliced vGPUs a PhysicalGpu holds now.

    A VF's placement is the ``placement_id`` it reports (mixed-size mode,
    R580+); an mdev's, or a VF's on an older driver, is left unknown
    (:func:`placed` fills it in). MIG-backed and unknown types are left
    out.
    """
    found = []
    for vf in gpu.vfs:
        vgpu_type = _type(gpu_model, vf.current_vgpu_type) \
            if vf.current_vgpu_type else None
        if vgpu_type is None:
            continue
        where = None
        if scheduling == MIXED and vf.placement_id is not None and \
                vgpu_type.max_instances_mixed:
            where = model.Placement(vf.placement_id,
                                    placement_size(gpu_model, vgpu_type))
        found.append(Hosted(vgpu_type.name, where))
    for mdev in gpu.mdevs:
        vgpu_type = _type(gpu_model, gpu.vgpu_type_name(mdev.mdev_type))
        if vgpu_type is not None:
            found.append(Hosted(vgpu_type.name))
    return found


def busy_slots(gpu_model, hosted):
    """Sorted placement slots ``hosted`` occupies (mixed-size mode)."""
    return sorted(_busy(placed(gpu_model, hosted)))


def _busy(hosted):
    used = set()
    for vgpu in hosted:
        if vgpu.placement is not None:
            used |= vgpu.placement.slices
    return used


def placed(gpu_model, hosted):
    """``hosted`` with each unknown placement filled in, lowest first.

    A vGPU whose placement the host does not report (an mdev, a driver
    before the VF's ``placement_id``) is put where the driver puts a new
    one: the lowest free placement of its type.
    """
    result = [h for h in hosted if h.placement is not None]
    for vgpu in hosted:
        if vgpu.placement is not None:
            continue
        vgpu_type = _type(gpu_model, vgpu.type_name)
        free = creatable(gpu_model, result, vgpu_type) if vgpu_type else []
        result.append(Hosted(vgpu.type_name, free[0] if free else None))
    return result


def creatable(gpu_model, hosted, vgpu_type):
    """Placements of ``vgpu_type`` free next to ``hosted`` (mixed-size)."""
    used = _busy(hosted)
    count = sum(1 for h in hosted if h.type_name == vgpu_type.name)
    if count >= (vgpu_type.max_instances_mixed or 0):
        return []
    return [p for p in supported_placements(gpu_model, vgpu_type)
            if not p.slices & used]


def equal_size_refusal(gpu_model, hosted, type_name):
    """Why an equal-size GPU hosting ``hosted`` refuses ``type_name``.

    None when it takes one more: it hosts nothing or only that type, and
    fewer than the type's equal-size maximum.
    """
    others = sorted({h.type_name for h in hosted} - {type_name})
    if others:
        return 'the GPU runs equal-size mode and hosts %s' % others[0]
    vgpu_type = _type(gpu_model, type_name)
    if vgpu_type is None:
        return '%s has no time-sliced type %s' % (gpu_model.name, type_name)
    if len(hosted) >= vgpu_type.max_instances:
        return 'the GPU hosts %d x %s, its equal-size maximum' % (
            len(hosted), type_name)
    return None


def mixed_size_refusal(gpu_model, hosted, type_name):
    """Why a mixed-size GPU hosting ``hosted`` refuses ``type_name``."""
    vgpu_type = _type(gpu_model, type_name)
    if vgpu_type is None or not vgpu_type.max_instances_mixed:
        return '%s offers no %s in mixed-size mode' % (gpu_model.name,
                                                       type_name)
    hosted = placed(gpu_model, hosted)
    if not creatable(gpu_model, hosted, vgpu_type):
        return 'no free placement of %s (slots in use: %s)' % (
            type_name, ', '.join(str(h.placement) for h in hosted
                                 if h.placement) or 'none')
    return None


def refusal(gpu_model, scheduling, hosted, type_name):
    """Why the GPU cannot take one more ``type_name``; None: it can."""
    if scheduling == MIXED:
        return mixed_size_refusal(gpu_model, hosted, type_name)
    return equal_size_refusal(gpu_model, hosted, type_name)


def room(gpu_model, hosted):
    """How useful a mixed-size GPU's free space is (bigger is better).

    (slots of the largest type that still fits, number of free
    placements of every type): the largest vGPU possible first, then the
    most ways to place smaller ones, as :func:`geometry.room` for MIG.
    """
    hosted = placed(gpu_model, hosted)
    largest = 0
    ways = 0
    for vgpu_type in time_sliced_types(gpu_model):
        free = creatable(gpu_model, hosted, vgpu_type)
        if free:
            largest = max(largest, free[0].size)
            ways += len(free)
    return largest, ways


def next_placement(gpu_model, hosted, type_name):
    """Where the driver puts a new ``type_name``: its lowest free placement.

    NVIDIA's host driver picks the placement of a vGPU created through
    sysfs (neither ``current_vgpu_type`` nor an mdev ``create`` takes
    one), so the scheduler ranks GPUs by the room left after this one.
    """
    vgpu_type = _type(gpu_model, type_name)
    free = creatable(gpu_model, placed(gpu_model, hosted), vgpu_type) \
        if vgpu_type else []
    return free[0] if free else None

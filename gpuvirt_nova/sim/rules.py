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

"""Pure rules of the simulated hardware: what can be created now.

No I/O here: each function takes plain data (the catalog's GpuModel and a
GPU's state dict from :mod:`gpuvirt_nova.sim.state`) and answers one
question. Where each rule comes from:

- MIG GPU-instance geometry: the placements in the catalog (NVIDIA MIG
  User Guide, "Supported MIG Profiles"; ``nvidia-smi mig -lgipp``). A GPU
  instance needs a placement whose memory slices are all free and enough
  free compute slices, and fewer instances of its profile than the
  profile's ``max_instances`` (one for a ``+me`` profile, whose seven
  placements share the GPU's one set of media engines); otherwise NVML
  answers ``NVML_ERROR_INSUFFICIENT_RESOURCES``.
- Time-sliced vGPU, equal-size mode: every vGPU on one physical GPU has the
  same type, at most ``max_instances`` of it (NVIDIA vGPU User Guide,
  "Valid Virtual GPU Configurations on a Single GPU").
- Time-sliced vGPU, mixed-size mode: types may differ; each vGPU takes
  a placement (fixed, aligned slots) that no other vGPU overlaps, at most
  ``max_instances_mixed`` of a type (same guide, "mixed-size mode"; the
  placements as :mod:`gpuvirt_nova.hardware.ts_placement` models them).
  The driver puts a new vGPU at its type's lowest free placement.
- MIG-backed vGPU: a vGPU of a MIG-backed type needs a GPU instance of its
  profile that no other vGPU uses; time-sliced types are not offered while
  MIG mode is on.
"""

from gpuvirt_nova.hardware import model
from gpuvirt_nova.hardware import ts_placement


def gpu_instances(gpu_state):
    """[(gi_id, profile_index, Placement)] of one GPU, by id."""
    return sorted((int(gi_id), gi['profile_index'],
                   model.Placement(gi['start'], gi['size']))
                  for gi_id, gi in gpu_state['gpu_instances'].items())


def _profile_by_index(gpu_model, profile_index):
    for profile in gpu_model.mig_profiles:
        if profile.nvml_id == profile_index:
            return profile
    return None


def used_compute_slices(gpu_model, gpu_state):
    total = 0
    for _gi_id, index, _placement in gpu_instances(gpu_state):
        profile = _profile_by_index(gpu_model, index)
        total += profile.compute_slices if profile else 0
    return total


def instances_of(gpu_state, profile):
    """How many GPU instances of ``profile`` the GPU holds now."""
    return sum(1 for _i, index, _p in gpu_instances(gpu_state)
               if index == profile.nvml_id)


def free_placements(gpu_model, gpu_state, profile):
    """Placements of ``profile`` that a new GPU instance could take now.

    None once the GPU holds ``profile.max_instances`` of it (a ``+me``
    profile: one), whatever slices are free.
    """
    used = [p for _i, _x, p in gpu_instances(gpu_state)]
    compute_left = gpu_model.compute_slices - used_compute_slices(
        gpu_model, gpu_state)
    if profile.compute_slices > compute_left or \
            instances_of(gpu_state, profile) >= profile.max_instances:
        return []
    return [p for p in profile.placements
            if not any(p.overlaps(u) for u in used)]


def remaining_capacity(gpu_model, gpu_state, profile):
    """How many more GPU instances of ``profile`` fit, taken greedily."""
    used = [p for _i, _x, p in gpu_instances(gpu_state)]
    compute_left = gpu_model.compute_slices - used_compute_slices(
        gpu_model, gpu_state)
    count = 0
    allowed = profile.max_instances - instances_of(gpu_state, profile)
    for placement in profile.placements:
        if compute_left < profile.compute_slices or count >= allowed:
            break
        if not any(placement.overlaps(u) for u in used):
            used.append(placement)
            compute_left -= profile.compute_slices
            count += 1
    return count


def bound_gpu_instances(gpu_state):
    """GPU-instance ids that back a vGPU (a VF type or an mdev)."""
    bound = {vf.get('gpu_instance') for vf in gpu_state['vfs']}
    bound |= {m.get('gpu_instance') for m in gpu_state['mdevs'].values()}
    bound.discard(None)
    return bound


def free_gpu_instances(gpu_model, gpu_state, vgpu_type):
    """Ids of GPU instances a new vGPU of MIG-backed ``vgpu_type`` may use."""
    profile = gpu_model.mig_profile(vgpu_type.mig_profile)
    bound = bound_gpu_instances(gpu_state)
    return [gi_id for gi_id, index, _p in gpu_instances(gpu_state)
            if index == profile.nvml_id and gi_id not in bound]


def used_type_ids(gpu_state):
    """Type ids of the vGPUs that exist on one GPU (VF types and mdevs)."""
    ids = [vf['current_vgpu_type'] for vf in gpu_state['vfs']
           if vf['current_vgpu_type']]
    ids += [m['type_id'] for m in gpu_state['mdevs'].values()]
    return ids


def hosted_vgpus(gpu_model, gpu_state):
    """[ts_placement.Hosted] of the time-sliced vGPUs on one GPU."""
    found = []
    devices = list(gpu_state['vfs']) + [
        gpu_state['mdevs'][k] for k in sorted(gpu_state['mdevs'])]
    for device in devices:
        type_id = device.get('current_vgpu_type') or device.get('type_id')
        vgpu_type = gpu_model.vgpu_type_by_id(type_id) if type_id else None
        if vgpu_type is None or vgpu_type.mig_backed:
            continue
        where = device.get('placement')
        found.append(ts_placement.Hosted(
            vgpu_type.name, model.Placement(*where) if where else None))
    return found


def placement_for(gpu_model, gpu_state, scheduling, type_id):
    """[start, size] a new vGPU of ``type_id`` gets; None: no placements.

    Only in mixed-size mode: equal-size vGPUs have no placement.
    """
    vgpu_type = gpu_model.vgpu_type_by_id(type_id)
    if scheduling != model.SchedulingMode.MIXED_SIZE.value or \
            vgpu_type is None or vgpu_type.mig_backed:
        return None
    found = ts_placement.next_placement(
        gpu_model, hosted_vgpus(gpu_model, gpu_state), vgpu_type.name)
    return [found.start, found.size] if found else None


def capacity(gpu_model, gpu_state, scheduling):
    """{type_id: how many more vGPUs of that type the GPU takes now}."""
    used = used_type_ids(gpu_state)
    result = {}
    for vgpu_type in gpu_model.vgpu_types:
        result[vgpu_type.type_id] = _type_capacity(
            gpu_model, gpu_state, scheduling, vgpu_type, used)
    return result


def _type_capacity(gpu_model, gpu_state, scheduling, vgpu_type, used):
    if gpu_state['mig_current']:
        if not vgpu_type.mig_backed:
            return 0
        return len(free_gpu_instances(gpu_model, gpu_state, vgpu_type))
    if vgpu_type.mig_backed:
        return 0
    count = used.count(vgpu_type.type_id)
    if scheduling == model.SchedulingMode.MIXED_SIZE.value:
        if not vgpu_type.max_instances_mixed:
            return 0
        hosted = ts_placement.placed(gpu_model,
                                     hosted_vgpus(gpu_model, gpu_state))
        return len(ts_placement.creatable(gpu_model, hosted, vgpu_type))
    if any(type_id != vgpu_type.type_id for type_id in used):
        return 0
    return max(0, vgpu_type.max_instances - count)


def vf_creatable(gpu_model, gpu_state, scheduling, vf_index):
    """Type ids a vendor-VFIO VF can take now (empty while it has one)."""
    if gpu_state['vfs'][vf_index]['current_vgpu_type']:
        return []
    caps = capacity(gpu_model, gpu_state, scheduling)
    return [t.type_id for t in gpu_model.vgpu_types if caps[t.type_id] > 0]


def mdev_available(gpu_model, gpu_state, scheduling, parent, pf_address):
    """{type_id: available_instances} for one mdev parent.

    The physical function (pre-Ampere) holds many mdevs; an SR-IOV VF
    holds at most one.
    """
    caps = capacity(gpu_model, gpu_state, scheduling)
    if parent == pf_address:
        return caps
    if any(m['parent'] == parent for m in gpu_state['mdevs'].values()):
        return {type_id: 0 for type_id in caps}
    return {type_id: min(1, n) for type_id, n in caps.items()}

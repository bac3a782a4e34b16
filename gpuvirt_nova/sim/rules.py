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
- Time-sliced vGPU, mixed-size mode: types may differ; each type takes a
  fixed share of the framebuffer, ``memory / max_instances_mixed``, and at
  most ``max_instances_mixed`` of it (same guide, "mixed-size mode";
  NVIDIA's fixed placement offsets are approximated by this share).
- MIG-backed vGPU: a vGPU of a MIG-backed type needs a GPU instance of its
  profile that no other vGPU uses; time-sliced types are not offered while
  MIG mode is on.
"""

from gpuvirt_nova.hardware import model


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


def _mixed_share(gpu_model, vgpu_type):
    return gpu_model.memory_mib // vgpu_type.max_instances_mixed


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
        taken = 0
        for type_id in used:
            other = gpu_model.vgpu_type_by_id(type_id)
            if other and other.max_instances_mixed:
                taken += _mixed_share(gpu_model, other)
        by_memory = (gpu_model.memory_mib - taken) // _mixed_share(
            gpu_model, vgpu_type)
        return max(0, min(vgpu_type.max_instances_mixed - count, by_memory))
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

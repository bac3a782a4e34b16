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

"""Desired layout + discovered host -> the ordered steps that close the gap.

Pure: ``make_plan(targets, host)`` reads nothing and writes nothing. Per
GPU the order is: remove vGPUs that must go (mdevs, VF types), destroy
compute and GPU instances that must go, set MIG mode (flagging a GPU reset
on Ampere), enable SR-IOV VFs, create GPU and compute instances, then
create the missing vGPUs (a VF's ``current_vgpu_type`` on vendor VFIO, an
mdev on SR-IOV or pre-Ampere hosts). What already matches is kept, so a
host in the desired state gets an empty plan. A step that removes a slice
``destroys``; the GPU must be drained (or known idle) before it runs.
"""

import collections
import dataclasses
import uuid

from gpuvirt_nova.hardware import model
from gpuvirt_nova.layout import feasibility
from gpuvirt_nova.layout import resolve

#: Namespace of the mdev UUIDs the layout creates: uuid5(host/gpu/name),
#: so a restore after a reboot recreates the same UUIDs.
MDEV_NAMESPACE = uuid.UUID('6b1f5c1e-3a53-4d0e-9f57-2f4b1d1f9a01')

SET_MIG_MODE = 'set_mig_mode'
SET_NUMVFS = 'set_numvfs'
DESTROY_CI = 'destroy_ci'
DESTROY_GI = 'destroy_gi'
CREATE_GI = 'create_gi'
CREATE_CI = 'create_ci'
REMOVE_VGPU = 'remove_vgpu'
CREATE_VGPU = 'create_vgpu'

VIA_VFIO = model.HostVgpuMode.VENDOR_VFIO.value
VIA_SRIOV_MDEV = model.HostVgpuMode.SRIOV_MDEV.value
VIA_MDEV = model.HostVgpuMode.MDEV.value


@dataclasses.dataclass
class Step:
    """One change to one GPU; ``args`` are plain values (JSON-ready)."""

    gpu: str
    action: str
    args: dict
    destroys: bool = False
    reset: bool = False

    def describe(self):
        a = self.args
        text = {
            SET_MIG_MODE: lambda: 'set MIG mode %s%s' % (
                'on' if a['enabled'] else 'off',
                ' (needs a GPU reset)' if self.reset else ' (no reset)'),
            SET_NUMVFS: lambda: 'set SR-IOV VFs %d -> %d' % (
                a['current'], a['count']),
            DESTROY_CI: lambda: 'destroy compute instance %d of GPU '
            'instance %d (%s)' % (a['ci'], a['gi'], a['profile']),
            DESTROY_GI: lambda: 'destroy GPU instance %d (%s at %d)' % (
                a['gi'], a['profile'], a['start']),
            CREATE_GI: lambda: 'create GPU instance %s at %d' % (
                a['profile'], a['start']),
            CREATE_CI: lambda: 'create compute instance in %s at %d' % (
                a['profile'], a['start']),
            REMOVE_VGPU: lambda: 'remove vGPU %s from %s (%s)' % (
                a['type'], a['parent'],
                'mdev %s' % a['uuid'] if a.get('uuid') else
                'current_vgpu_type'),
            CREATE_VGPU: lambda: 'create vGPU %s as %s (%s)' % (
                a['name'], a['type'], _via_text(a)),
        }[self.action]()
        return '%s: %s%s' % (self.gpu, text,
                             ' [destroys a slice]' if self.destroys else '')

    def to_dict(self):
        return {'gpu': self.gpu, 'action': self.action, 'args': self.args,
                'destroys': self.destroys, 'reset': self.reset,
                'description': self.describe()}


def _via_text(args):
    via = args.get('via')
    if via == VIA_VFIO:
        return 'current_vgpu_type on a free VF'
    if via == VIA_SRIOV_MDEV:
        return 'mdev %s on a free VF' % args['uuid']
    if via == VIA_MDEV:
        return 'mdev %s on the GPU' % args['uuid']
    return 'on a free VF once VFs are enabled'


@dataclasses.dataclass
class GpuPlan:
    address: str
    model: str
    mode: str
    steps: list = dataclasses.field(default_factory=list)
    #: Why this GPU cannot be planned (then ``steps`` is empty).
    blocked: str = None

    @property
    def destroys(self):
        """Whether a step removes a slice an instance may use.

        A GPU reset counts only when the GPU holds vGPUs or MIG instances
        (those steps say so themselves); resetting an empty GPU harms none.
        """
        return any(s.destroys for s in self.steps)

    def to_dict(self):
        return {'gpu': self.address, 'model': self.model, 'mode': self.mode,
                'blocked': self.blocked, 'destroys': self.destroys,
                'steps': [s.to_dict() for s in self.steps]}


@dataclasses.dataclass
class Plan:
    host: str
    gpus: list = dataclasses.field(default_factory=list)

    @property
    def steps(self):
        return [s for g in self.gpus for s in g.steps]

    @property
    def empty(self):
        return not self.steps and not any(g.blocked for g in self.gpus)

    def gpu(self, address):
        for gpu_plan in self.gpus:
            if gpu_plan.address == address:
                return gpu_plan
        return None

    def to_dict(self):
        return {'host': self.host, 'gpus': [g.to_dict() for g in self.gpus]}


def mdev_uuid(hostname, address, name):
    """The UUID the layout gives the mdev of vGPU ``name`` (stable)."""
    return str(uuid.uuid5(MDEV_NAMESPACE,
                          '%s/%s/%s' % (hostname or '', address, name)))


def type_name(gpu_model, text):
    """A vGPU type as the catalog names it, from a name or ``nvidia-N``."""
    if text is None:
        return None
    if gpu_model is not None:
        digits = text[len('nvidia-'):] if text.startswith('nvidia-') \
            else text
        if digits.isdigit():
            known = gpu_model.vgpu_type_by_id(int(digits))
            if known is not None:
                return known.name
    return text


def existing_vgpus(gpu, gpu_model):
    """[(parent, type name, mdev uuid or None)] the GPU serves now."""
    found = [(vf.address, type_name(gpu_model, vf.current_vgpu_type), None)
             for vf in gpu.vfs if vf.current_vgpu_type]
    found += [(m.parent, type_name(gpu_model,
                                   gpu.vgpu_type_name(m.mdev_type)), m.uuid)
              for m in gpu.mdevs]
    return found


def vfs_in_use(gpu):
    """Whether any VF of ``gpu`` has a vGPU type or an mdev (a guest's)."""
    addresses = {vf.address for vf in gpu.vfs}
    return any(vf.current_vgpu_type for vf in gpu.vfs) or \
        any(m.parent in addresses for m in gpu.mdevs)


def delivery(gpu):
    """How vGPUs are made on ``gpu``: a VIA_* value, or None if unknown."""
    if gpu.vgpu_mode in (model.HostVgpuMode.VENDOR_VFIO,
                         model.HostVgpuMode.SRIOV_MDEV,
                         model.HostVgpuMode.MDEV):
        return gpu.vgpu_mode.value
    return None


def can_serve_vgpus(gpu):
    """Whether the driver can make vGPUs on ``gpu``, now or once VFs exist.

    False means bare MIG or the whole GPU only.
    """
    return delivery(gpu) is not None or gpu.sriov_totalvfs > 0


def _plan_gis(target, gpu, mig_changes):
    """(GIs to destroy, [(profile, start)] to create, kept GIs)."""
    existing = [] if mig_changes else list(gpu.gpu_instances)
    wanted = [(r.mig_profile, r.start) for r in target.vgpus]
    kept, remaining = [], []
    pool = list(existing)
    for exact in (True, False):
        for profile, start in wanted:
            if (start is not None) != exact:
                continue
            for gi in pool:
                if gi.profile == profile.name and \
                        (start is None or gi.placement.start == start):
                    pool.remove(gi)
                    kept.append(gi)
                    break
            else:
                remaining.append((profile, start))
    placed = feasibility.fit_mig(target.gpu_model, remaining,
                                 [gi.placement for gi in kept])
    if placed is None:
        pool, kept, remaining = existing, [], wanted
        placed = feasibility.fit_mig(target.gpu_model, remaining)
    # NOTE: created in slice order, so a restore after a reboot gets the
    # same GPU instance ids as the first apply did.
    create = sorted((pl.start, p.name)
                    for (p, _), pl in zip(remaining, placed))
    return pool, [(name, start) for start, name in create], kept


def plan_gpu(target, gpu, hostname=None, compute_instances=True,
             dynamic_now=False):
    """The GpuPlan that takes ``gpu`` (a PhysicalGpu) to ``target``.

    ``dynamic_now``: the GPU is dynamic already (its owner record says
    so), so its GPU instances and vGPUs are the guests' and stay.
    """
    if target.dynamic:
        return _plan_dynamic(target, gpu, hostname, dynamic_now)
    gpu_model = target.gpu_model
    result = GpuPlan(address=gpu.address, model=gpu_model.name,
                     mode=target.mode)
    if not (gpu.driver_version):
        result.blocked = 'the NVIDIA driver is not loaded (no driver ' \
            'version read); load it, then apply again'
        return result
    steps = result.steps
    add = steps.append
    want_mig = target.mode == resolve.MIG
    mig_changes = bool(gpu.mig_current) != want_mig
    architecture = gpu.architecture or gpu_model.architecture
    reset = mig_changes and architecture.mig_change_needs_reset
    destroy_gis, create_gis, kept_gis = _plan_gis(target, gpu, mig_changes) \
        if want_mig else (list(gpu.gpu_instances), [], [])
    if mig_changes and not want_mig:
        destroy_gis = list(gpu.gpu_instances)

    # vGPUs: keep what matches, remove the rest.
    wanted_types = [r.type_name for r in target.vgpus if r.type_name] \
        if can_serve_vgpus(gpu) else []
    if not can_serve_vgpus(gpu) and target.mode == resolve.TIME_SLICED \
            and target.vgpus:
        result.blocked = 'the GPU offers no vGPU types and no SR-IOV VFs; ' \
            'install and load the NVIDIA vGPU manager, then apply again'
        return result
    gone_profiles = {gi.profile for gi in destroy_gis}
    total_vfs = gpu.sriov_totalvfs
    current_vfs = 0 if (mig_changes and reset) else len(gpu.vfs)
    resize_vfs = bool(wanted_types and total_vfs
                      and current_vfs != total_vfs
                      and gpu.vgpu_mode != model.HostVgpuMode.MDEV)
    # NOTE: the kernel takes N -> M VFs only through 0, which drops every
    # VF's type and mdevs: what lives on a VF is lost and made again.
    lost_vfs = {vf.address for vf in gpu.vfs} \
        if resize_vfs and current_vfs else set()
    need = collections.Counter(wanted_types)
    remove = []
    kept_mdevs = set()
    for parent, name, mdev in existing_vgpus(gpu, gpu_model):
        vgpu_type = _find_type(gpu_model, name)
        on_gone_gi = vgpu_type is not None and vgpu_type.mig_backed and \
            (vgpu_type.mig_profile in gone_profiles or mig_changes)
        if need[name] > 0 and not on_gone_gi and parent not in lost_vfs:
            need[name] -= 1
            kept_mdevs.add(mdev)
            continue
        remove.append((parent, name, mdev))
    for parent, name, mdev in remove:
        add(Step(gpu.address, REMOVE_VGPU,
                 {'parent': parent, 'type': name, 'uuid': mdev},
                 destroys=True))
    for gi in destroy_gis:
        for ci in gi.compute_instances:
            add(Step(gpu.address, DESTROY_CI,
                     {'gi': gi.id, 'ci': ci.id, 'profile': gi.profile},
                     destroys=True))
        add(Step(gpu.address, DESTROY_GI,
                 {'gi': gi.id, 'profile': gi.profile,
                  'start': gi.placement.start}, destroys=True))
    if mig_changes:
        if reset and gpu.vfs:
            add(Step(gpu.address, SET_NUMVFS,
                     {'count': 0, 'current': len(gpu.vfs)},
                     destroys=vfs_in_use(gpu)))
        add(Step(gpu.address, SET_MIG_MODE, {'enabled': want_mig},
                 reset=reset))
    if resize_vfs:
        add(Step(gpu.address, SET_NUMVFS,
                 {'count': total_vfs, 'current': current_vfs},
                 destroys=bool(lost_vfs) and vfs_in_use(gpu)))
    for profile, start in create_gis:
        add(Step(gpu.address, CREATE_GI, {'profile': profile,
                                          'start': start}))
        if compute_instances:
            add(Step(gpu.address, CREATE_CI, {'profile': profile,
                                              'start': start}))
    if compute_instances:
        for gi in kept_gis:
            if not gi.compute_instances:
                add(Step(gpu.address, CREATE_CI,
                         {'profile': gi.profile,
                          'start': gi.placement.start}))
    if wanted_types:
        _plan_creates(result, target, gpu, need, hostname, kept_mdevs)
    return result


_GUESTS_STEPS = (REMOVE_VGPU, DESTROY_CI, DESTROY_GI)


def _plan_dynamic(target, gpu, hostname, dynamic_now):
    """A dynamic GPU: MIG mode and SR-IOV VFs, nothing else.

    Becoming dynamic, the static carve goes (its vGPUs and GPU
    instances, a drain first); once dynamic, every instance on the GPU
    is a guest's, carved by the driver, and the layout leaves it alone.
    """
    bare = dataclasses.replace(target, resolution=dataclasses.replace(
        target.resolution, spec=dataclasses.replace(
            target.resolution.spec, owner='static'), vgpus=()))
    result = plan_gpu(bare, gpu, hostname, compute_instances=False)
    if result.blocked:
        return result
    if dynamic_now:
        result.steps[:] = [s for s in result.steps
                           if s.action not in _GUESTS_STEPS]
    emptied = any(s.action == SET_NUMVFS and s.args['count'] == 0
                  for s in result.steps)
    current = 0 if emptied else len(gpu.vfs)
    total = gpu.sriov_totalvfs
    if total and current != total and \
            gpu.vgpu_mode != model.HostVgpuMode.MDEV:
        result.steps.append(Step(
            gpu.address, SET_NUMVFS, {'count': total, 'current': current},
            destroys=bool(current) and vfs_in_use(gpu)))
    return result


def _plan_creates(result, target, gpu, need, hostname, kept_mdevs=()):
    """Create what ``need`` still lacks.

    A vGPU whose mdev (its layout UUID) is kept already exists: the
    creates go to the vGPUs that do not, or a rerun after an apply cut
    short would create a kept UUID again (EEXIST).
    """
    via = delivery(gpu)
    for res in target.vgpus:
        if not res.type_name or need[res.type_name] <= 0:
            continue
        if mdev_uuid(hostname, gpu.address, res.name) in kept_mdevs:
            continue
        need[res.type_name] -= 1
        # NOTE: the id written is the one this host's driver lists for the
        # name; the catalog's id only stands in until the driver lists it
        # (apply looks it up again before writing, see apply._type_id).
        type_id = gpu.vgpu_type_ids.get(res.type_name)
        if type_id is None and gpu.vgpu_types_complete:
            result.steps[:] = []
            result.blocked = (
                'host %s: the driver on GPU %s does not list vGPU type %s '
                '(it lists %s); nothing is written with an id the driver '
                'did not list' % (hostname, gpu.address, res.type_name,
                                  ', '.join(sorted(gpu.vgpu_type_ids))))
            return
        if type_id is None:
            type_id = res.vgpu_type.type_id
        result.steps.append(Step(gpu.address, CREATE_VGPU, {
            'name': res.name, 'type': res.type_name,
            'type_id': type_id, 'mdev_type': 'nvidia-%d' % type_id,
            'via': via,
            'uuid': mdev_uuid(hostname, gpu.address, res.name)}))


def _find_type(gpu_model, name):
    try:
        return gpu_model.vgpu_type(name)
    except KeyError:
        return None


def make_plan(targets, host, compute_instances=True, dynamic_now=()):
    """Plan for every GPU in ``targets`` (from target.resolve_node).

    ``dynamic_now``: addresses the host's owner record marks dynamic
    (:mod:`gpuvirt_nova.dynamic.owners`).
    """
    plan = Plan(host=host.hostname)
    for target in targets:
        gpu = host.gpu(target.address)
        plan.gpus.append(plan_gpu(target, gpu, host.hostname,
                                  compute_instances,
                                  target.address in dynamic_now))
    return plan

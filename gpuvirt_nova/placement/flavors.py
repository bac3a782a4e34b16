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

"""One Nova flavor per offered vGPU type.

``vgpu.a100-2-10c``: ``resources:CUSTOM_VGPU_A100_2_10C=1`` plus
``trait:CUSTOM_GPUVIRT_MANAGED=required``, which keeps the flavor off
providers that carry the same class but that gpuvirt-nova does not manage
(upstream Nova's own vGPU providers would attach no device for it). With
``vgpus`` > 1 each vGPU is its own granular group (``resources1:``,
``resources2:``... and ``group_policy=none``), the form DESIGN.md section 3
gives for several vGPUs per server.

:func:`plan` is pure (types in, FlavorSpecs out); :func:`apply` drives an
openstacksdk compute proxy (``conn.compute``).
"""

import dataclasses

from oslo_log import log as logging

from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import ts_placement
from gpuvirt_nova.placement import naming

LOG = logging.getLogger(__name__)

PREFIX = 'vgpu.'


@dataclasses.dataclass(frozen=True)
class FlavorSpec:
    name: str
    vcpus: int
    ram_mib: int
    disk_gib: int
    extra_specs: dict
    vgpu_type: str


def flavor_name(type_name, vgpus=1):
    """``'A100-2-10C'`` -> ``'vgpu.a100-2-10c'`` (``-x2`` for two vGPUs)."""
    base = PREFIX + naming.vgpu_type_key(type_name).lower().replace('_', '-')
    return base if vgpus == 1 else '%s-x%d' % (base, vgpus)


def extra_specs(type_name, vgpus=1, require_managed=True):
    rc = naming.resource_class(type_name)
    if vgpus < 1:
        raise exception.UsageError(
            '--vgpus %d: a flavor needs at least one vGPU' % vgpus)
    specs = {}
    if vgpus == 1:
        specs['resources:%s' % rc] = '1'
        if require_managed:
            specs['trait:%s' % naming.MANAGED_TRAIT] = 'required'
        return specs
    for group in range(1, vgpus + 1):
        specs['resources%d:%s' % (group, rc)] = '1'
        if require_managed:
            specs['trait%d:%s' % (group, naming.MANAGED_TRAIT)] = 'required'
    specs['group_policy'] = 'none'
    return specs


def dynamic_extra_specs(profile, compute_slices, memory_slices, group='1'):
    """A flavor's extra specs for one MIG profile of a dynamic GPU.

    ``profile`` (a MIG profile name) takes ``compute_slices`` and
    ``memory_slices`` of one GPU, in request group ``group`` (one group,
    so both come from the same GPU), with the profile's trait required:
    the scheduler's geometry filter and the driver read it back.
    """
    return _dynamic_specs(group, naming.mig_profile_trait(profile), {
        naming.MIG_COMPUTE_SLICE_RC: compute_slices,
        naming.MIG_MEMORY_SLICE_RC: memory_slices})


def dynamic_ts_extra_specs(type_name, slices, group='1'):
    """A flavor's extra specs for one time-sliced type of a dynamic GPU.

    ``type_name`` takes ``slices`` framebuffer slices of one GPU, in
    request group ``group``, with the type's trait required: the
    scheduler's geometry filter and the driver read it back.
    """
    return _dynamic_specs(group, naming.vgpu_type_trait(type_name),
                          {naming.FB_SLICE_RC: slices})


def _dynamic_specs(group, kind_trait, slices):
    """What every dynamic flavor asks in its group ``group``.

    ``slices`` ({resource class: amount}) of one GPU, one guest vGPU
    (counted by the user limits), ``kind_trait`` (the MIG profile's or
    the time-sliced type's, which the geometry filter and the driver read
    back), the dynamic and managed traits.
    """
    specs = {'resources%s:%s' % (group, rc): str(amount)
             for rc, amount in slices.items()}
    specs['resources%s:%s' % (group, naming.DYNAMIC_VGPU_RC)] = '1'
    for trait in (kind_trait, naming.DYNAMIC_TRAIT, naming.MANAGED_TRAIT):
        specs['trait%s:%s' % (group, trait)] = 'required'
    specs['group_policy'] = 'none'
    return specs


def _model_of_type(vgpu_type):
    return next(m for m in catalog.load().models.values()
                if vgpu_type in m.vgpu_types)


def _dynamic_extra(vgpu_type):
    gpu_model = _model_of_type(vgpu_type)
    if not vgpu_type.mig_backed:
        return dynamic_ts_extra_specs(
            vgpu_type.name, ts_placement.type_slices(gpu_model, vgpu_type))
    profile = gpu_model.mig_profile(vgpu_type.mig_profile)
    extra = dynamic_extra_specs(profile.name, profile.compute_slices,
                                profile.memory_slices)
    extra['trait1:%s' % naming.vgpu_type_trait(vgpu_type.name)] = \
        'required'
    return extra


def dynamic_flavor_name(type_name):
    """``'A100-3-20C'`` -> ``'vgpu.a100-3-20c.dynamic'``."""
    return flavor_name(type_name) + '.dynamic'


def plan_dynamic(type_names, vcpus=None, ram_mib=None, disk_gib=None):
    """[FlavorSpec] of ``type_names`` on dynamic GPUs.

    A MIG-backed type asks for its profile's slices, a time-sliced one
    for its framebuffer slices; each requires the type's trait, which
    only the dynamic GPUs that can give the type carry.
    """
    by_rc = type_by_resource_class()
    specs = []
    for type_name in sorted(set(type_names)):
        vgpu_type = by_rc.get(naming.resource_class(type_name))
        if vgpu_type is None:
            raise exception.UsageError(
                '--type %s: the catalog has no such vGPU type; see '
                'gpuvirt-nova catalog show <model>' % type_name)
        size = default_size(vgpu_type.framebuffer_mib)
        specs.append(FlavorSpec(
            name=dynamic_flavor_name(vgpu_type.name),
            vcpus=vcpus or size[0], ram_mib=ram_mib or size[1],
            disk_gib=size[2] if disk_gib is None else disk_gib,
            extra_specs=_dynamic_extra(vgpu_type),
            vgpu_type=vgpu_type.name))
    return specs


def offered_dynamic_types(client):
    """Type names the dynamic GPUs in Placement can give."""
    by_rc = type_by_resource_class()
    by_trait = {naming.vgpu_type_trait(t.name): t.name
                for t in by_rc.values()}
    names = set()
    for provider in client.providers_with_trait(naming.DYNAMIC_TRAIT):
        names |= {by_trait[t] for t in client.traits(provider['uuid'])[1]
                  if t in by_trait}
    return sorted(names)


def default_size(framebuffer_mib, vgpus=1):
    """(vcpus, ram MiB, disk GiB) that suit a vGPU of that memory.

    Guest RAM twice the GPU memory (at least 8 GiB), one vCPU per 4 GiB of
    guest RAM (at least 2), 40 GiB of disk: a start that operators tune
    with --vcpus/--ram/--disk.
    """
    ram_gib = max(8, -(-2 * framebuffer_mib * vgpus // 1024))
    return max(2, ram_gib // 4), ram_gib * 1024, 40


def type_by_resource_class():
    """{CUSTOM_VGPU_*: VgpuType} for every type in the catalog."""
    index = {}
    for gpu_model in catalog.load().models.values():
        for vgpu_type in gpu_model.vgpu_types:
            index.setdefault(naming.resource_class(vgpu_type.name),
                             vgpu_type)
    return index


def plan(type_names, vgpus=1, vcpus=None, ram_mib=None, disk_gib=None,
         require_managed=True):
    """[FlavorSpec] for ``type_names`` (catalog vGPU type names)."""
    by_rc = type_by_resource_class()
    specs = []
    for type_name in sorted(set(type_names)):
        vgpu_type = by_rc.get(naming.resource_class(type_name))
        if vgpu_type is None:
            raise exception.UsageError(
                '--type %s: no GPU model in the catalog offers that vGPU '
                'type; see gpuvirt-nova catalog show <model>' % type_name)
        size = default_size(vgpu_type.framebuffer_mib, vgpus)
        specs.append(FlavorSpec(
            name=flavor_name(vgpu_type.name, vgpus),
            vcpus=vcpus or size[0], ram_mib=ram_mib or size[1],
            disk_gib=size[2] if disk_gib is None else disk_gib,
            extra_specs=extra_specs(vgpu_type.name, vgpus, require_managed),
            vgpu_type=vgpu_type.name))
    return specs


def offered_types(client):
    """vGPU type names with inventory on our providers in Placement."""
    by_rc = type_by_resource_class()
    names = set()
    for provider in client.providers_with_trait(naming.MANAGED_TRAIT):
        _, inventories = client.inventories(provider['uuid'])
        for rc in inventories:
            if rc in by_rc:
                names.add(by_rc[rc].name)
    return sorted(names)


@dataclasses.dataclass
class FlavorResult:
    name: str
    action: str
    detail: str = ''


def apply(compute, specs):
    """Create or update each flavor; [FlavorResult].

    Nova flavors cannot change size; a flavor with the right name but
    another size is left alone and reported (delete it to recreate).
    """
    results = []
    for spec in specs:
        flavor = compute.find_flavor(spec.name, ignore_missing=True)
        if flavor is None:
            flavor = compute.create_flavor(
                name=spec.name, vcpus=spec.vcpus, ram=spec.ram_mib,
                disk=spec.disk_gib, is_public=True)
            compute.create_flavor_extra_specs(flavor, spec.extra_specs)
            results.append(FlavorResult(spec.name, 'created', _text(spec)))
            continue
        detail = []
        if (flavor.vcpus, flavor.ram, flavor.disk) != (
                spec.vcpus, spec.ram_mib, spec.disk_gib):
            detail.append('size differs (%s vCPU, %s MiB, %s GiB); delete '
                          'the flavor to recreate it' % (
                              flavor.vcpus, flavor.ram, flavor.disk))
        current = dict(getattr(compute.fetch_flavor_extra_specs(flavor),
                               'extra_specs', None) or {})
        changed = {k: v for k, v in spec.extra_specs.items()
                   if current.get(k) != v}
        for key, value in sorted(changed.items()):
            compute.update_flavor_extra_specs_property(flavor, key, value)
        if changed:
            detail.insert(0, 'extra specs set: %s' % ', '.join(
                '%s=%s' % item for item in sorted(changed.items())))
        results.append(FlavorResult(
            spec.name, 'updated' if changed else 'unchanged',
            '; '.join(detail)))
    return results


#: Start of the description of a flavor whose vGPU type no GPU offers.
NOT_OFFERED = 'gpuvirt-nova: no GPU offers'


def vgpu_classes(extra):
    """The CUSTOM_VGPU_* classes a flavor's extra specs request."""
    return {key.split(':', 1)[1] for key in extra
            if key.startswith('resources') and ':' in key
            and key.split(':', 1)[1].startswith(naming.VGPU_RC_PREFIX)}


def mark_not_offered(compute, offered_classes):
    """Mark our flavors whose vGPU class no GPU offers any more; [result].

    Such a flavor is never deleted: servers may use it, and a deleted
    flavor cannot be resized away from. Its description says why no new
    server will find a host, and what to do once none uses it. Flavors
    that are not ours (no ``vgpu.`` name, no ``CUSTOM_VGPU_*`` request)
    are never touched.
    """
    results = []
    for flavor in compute.flavors(details=True):
        if not flavor.name.startswith(PREFIX):
            continue
        extra = dict(getattr(compute.fetch_flavor_extra_specs(flavor),
                             'extra_specs', None) or {})
        gone = sorted(vgpu_classes(extra) - set(offered_classes))
        if not gone:
            continue
        note = ('%s %s any more; kept because servers may use it: delete '
                'it once none does' % (NOT_OFFERED, ', '.join(gone)))
        if (getattr(flavor, 'description', None) or '') != note:
            compute.update_flavor(flavor, description=note)
        results.append(FlavorResult(flavor.name, 'kept, not offered', note))
    return results


def _text(spec):
    return '%d vCPU, %d MiB, %d GiB, %s' % (
        spec.vcpus, spec.ram_mib, spec.disk_gib, ', '.join(
            '%s=%s' % item for item in sorted(spec.extra_specs.items())))


def describe(spec):
    """One line for ``--dry-run``."""
    return _text(spec)

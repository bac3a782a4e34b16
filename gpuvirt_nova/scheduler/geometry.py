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

"""VGPUGeometryFilter: a dynamic GPU only where a real placement is free.

Placement counts a dynamic GPU's MIG slices, not where they lie: with a
1g.5gb instance at slice 0 of an A100, 6 compute and 7 memory slices are
free, yet a 4g.20gb (whose only placement starts at slice 0) cannot be
created. This filter keeps, of each host's allocation candidates, those
whose GPU has a free placement of the flavor's profile (the GPU's busy
slices are traits of its provider, see
:func:`gpuvirt_nova.placement.tree.build_dynamic_provider`), best room
first, so Nova claims the GPU the driver will carve with the least
fragmentation. Requests without MIG slices pass untouched.

A dynamic time-sliced GPU (framebuffer slices) is kept when the
flavor's type fits a real free placement next to the vGPUs it holds
(mixed-size mode: the busy placement slots are its provider's traits,
see :mod:`gpuvirt_nova.hardware.ts_placement`), or, in equal-size mode,
when it hosts nothing or only that type, below the type's maximum; the
GPUs whose largest free placement stays biggest come first.

Enable it with the others (``enabled_filters = ...,VGPUGeometryFilter``;
``gpuvirt_nova.scheduler.filters.all_filters`` lists it).
"""

from nova.scheduler import filters
from oslo_log import log as logging

from gpuvirt_nova.dynamic import requests
from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import model
from gpuvirt_nova.hardware import ts_placement
from gpuvirt_nova.layout import geometry
from gpuvirt_nova.placement import naming

LOG = logging.getLogger(__name__)


def _model_of(traits):
    """The catalog's GPU model a trait names, or None."""
    for gpu_model in catalog.load().models.values():
        for name in (gpu_model.name,) + tuple(gpu_model.aliases):
            if naming.gpu_model_trait(name) in traits:
                return gpu_model
    return None


def _profiles_of(traits):
    """The catalog's MIG profiles of the GPU model a trait names."""
    gpu_model = _model_of(traits)
    return list(gpu_model.mig_profiles) if gpu_model else []


def hosted_from_summary(gpu_model, summary, mixed):
    """[ts_placement.Hosted] a time-sliced GPU's provider summary shows.

    Mixed-size: one anonymous vGPU per busy placement slot (enough for
    the geometry: placements are aligned and tile the GPU). Equal-size:
    the hosted type, as many as its framebuffer slices in use hold.
    """
    traits = set(summary.get('traits') or ())
    if mixed:
        return [ts_placement.Hosted('', model.Placement(slot, 1))
                for slot in naming.used_slices(traits)]
    used = ((summary.get('resources') or {}).get(naming.FB_SLICE_RC)
            or {}).get('used', 0)
    for vgpu_type in ts_placement.time_sliced_types(gpu_model):
        if naming.hosts_type_trait(vgpu_type.name) in traits:
            count = max(1, used // ts_placement.type_slices(gpu_model,
                                                            vgpu_type))
            return [ts_placement.Hosted(vgpu_type.name)] * count
    return []


def time_sliced_room(summary, extra_specs):
    """The room a time-sliced GPU keeps after the flavor's type, or None.

    None when the GPU cannot take the type (see ts_placement.refusal).
    """
    traits = set(summary.get('traits') or ())
    gpu_model = _model_of(traits)
    if gpu_model is None:
        return None
    try:
        name = requests.type_from_flavor(extra_specs, [
            t.name for t in ts_placement.time_sliced_types(gpu_model)])
    except exception.GpuvirtError:
        return None
    mixed = naming.MIXED_SIZE_TRAIT in traits
    hosted = hosted_from_summary(gpu_model, summary, mixed)
    scheduling = ts_placement.MIXED if mixed else ts_placement.EQUAL
    if ts_placement.refusal(gpu_model, scheduling, hosted, name):
        return None
    if not mixed:
        return (0, 0)
    where = ts_placement.next_placement(gpu_model, hosted, name)
    return ts_placement.room(gpu_model, hosted + [
        ts_placement.Hosted(name, where)])


def candidate_room(candidate, summaries, extra_specs):
    """The room a candidate leaves on its dynamic GPUs, or None.

    None when a GPU of ``candidate`` cannot hold the flavor's profile;
    else the room left after it (bigger is better, see geometry.room).
    """
    total = (0, 0)
    for rp_uuid, alloc in candidate.get('allocations', {}).items():
        resources = alloc.get('resources', {})
        if naming.FB_SLICE_RC in resources:
            room = time_sliced_room(summaries.get(rp_uuid) or {},
                                    extra_specs)
            if room is None:
                return None
            total = (total[0] + room[0], total[1] + room[1])
            continue
        if not any(rc in naming.MIG_SLICE_RCS for rc in resources):
            continue
        traits = set((summaries.get(rp_uuid) or {}).get('traits') or ())
        profiles = _profiles_of(traits)
        try:
            name = requests.profile_from_flavor(
                extra_specs, [p.name for p in profiles])
        except exception.GpuvirtError:
            return None
        occupied = geometry.occupied_from_slices(
            profiles, naming.used_slices(traits))
        best = geometry.best_placement(profiles, occupied, name)
        if best is None:
            return None
        room = geometry.room(
            profiles, occupied + [geometry.Occupied(name, best, compute=0)])
        total = (total[0] + room[0], total[1] + room[1])
    return total


class VGPUGeometryFilter(filters.BaseHostFilter,
                         filters.CandidateFilterMixin):
    """Keep candidates whose dynamic GPU can place the flavor's profile."""

    RUN_ON_REBUILD = False

    def host_passes(self, host_state, spec_obj):
        flavor = spec_obj.flavor if spec_obj.obj_attr_is_set('flavor') \
            else None
        extra_specs = getattr(flavor, 'extra_specs', None) or {}
        if not requests.asks_dynamic(extra_specs):
            return True
        # NOTE: the provider summaries Nova already fetched for the
        # request, through the scheduler filters' shared reads.
        from gpuvirt_nova.scheduler import filters as our_filters
        summaries = our_filters.READS.request_view(spec_obj).get(
            host_state.uuid, {})
        rooms = {}

        def fits(candidate):
            room = candidate_room(candidate, summaries, extra_specs)
            if room is not None:
                rooms[id(candidate)] = room
            return room is not None
        kept = self.filter_candidates(host_state, fits)
        kept.sort(key=lambda c: rooms[id(c)], reverse=True)
        host_state.allocation_candidates = kept
        if not kept:
            LOG.debug('host %s: no dynamic GPU has a free placement of the '
                      'flavor\'s MIG profile or time-sliced type',
                      host_state)
        return bool(kept)

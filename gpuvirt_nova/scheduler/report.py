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

"""The cluster view of ``gpuvirt-nova report``, read from Placement.

It lives with the scheduler because its numbers are the scheduler's: the
GPU share and the fragmentation rate come from
:func:`gpu_level.cluster_view` over the same provider summaries the
filter and the weigher score (``scoring.fragmentation_rate``: the free
share no typical request could use, over the capacity of every GPU).
:func:`read` does the Placement calls; :func:`build` is pure, so a test
can feed it summaries.
"""

import collections
import dataclasses

from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.placement import naming
from gpuvirt_nova.scheduler import gpu_level
from gpuvirt_nova.scheduler import shapes


@dataclasses.dataclass
class GpuState:
    """One GPU provider as Placement holds it (the input of :func:`build`)."""

    host: str
    provider: str
    uuid: str
    traits: frozenset
    #: {resource class: {'total', 'reserved', 'used'}}
    resources: dict
    #: [(project id, {resource class: amount})], one per consumer.
    allocations: list = dataclasses.field(default_factory=list)


def _lookup():
    """({model trait: model name}, {resource class: vGPU type name})."""
    the_catalog = catalog.load()
    models, types = {}, {}
    for name in the_catalog.names():
        models[naming.gpu_model_trait(name)] = name
        for vgpu_type in the_catalog.get(name).vgpu_types:
            types[naming.resource_class(vgpu_type.name)] = vgpu_type.name
    return models, types


def _vgpu_classes(resources):
    return {rc: r for rc, r in resources.items()
            if rc.startswith(naming.VGPU_RC_PREFIX)}


def _summary(gpu, model_traits):
    return {'root_provider_uuid': gpu.host,
            'traits': sorted(t for t in gpu.traits if t in model_traits),
            'resources': {rc: {'capacity': r['total'] - r['reserved'],
                               'used': r['used']}
                          for rc, r in gpu.resources.items()}}


def _ratio(part, whole):
    return float(part) / whole if whole else 0.0


def build(gpus, typical_requests=None):
    """The report (a JSON-ready dict) of ``gpus`` ([GpuState]).

    ``typical_requests`` is ``[gpuvirt_scheduler] typical_requests``;
    empty, the mix is learned from the vGPUs in use, as the filter does
    until it has seen ``recent_requests_minimum`` requests (a report has
    no request stream to learn from).
    A fenced (``CUSTOM_GPUVIRT_UNHEALTHY``) or draining GPU is fully
    reserved: it counts in the capacity but offers nothing, so it is
    neither idle nor free. Idle: offered and nothing allocated.
    """
    model_traits, type_names = _lookup()
    summaries = {g.uuid: _summary(g, model_traits) for g in gpus}
    mix = gpu_level.typical_mix(summaries, {}, typical_requests)
    views = {v.uuid: v for v in gpu_level.cluster_view(summaries, mix)}
    rows, by_model, by_type = [], {}, {}
    projects = collections.defaultdict(
        lambda: {'vgpus': 0, 'gpu_share': 0.0, 'types': {}})
    for gpu in sorted(gpus, key=lambda g: (g.host, g.provider)):
        slots = _vgpu_classes(gpu.resources)
        model = next((model_traits[t] for t in sorted(gpu.traits)
                      if t in model_traits), 'unknown')
        view = views.get(gpu.uuid)
        fenced = naming.UNHEALTHY_TRAIT in gpu.traits
        used = sum(r['used'] for r in slots.values())
        row = {
            'host': gpu.host, 'provider': gpu.provider, 'model': model,
            'used_milli': view.used if view else 0,
            'fragmented_milli': view.fragmented if view else 0.0,
            'fenced': fenced,
            'fenced_reasons': sorted(
                t[len(naming.UNHEALTHY_TRAIT_PREFIX):] for t in gpu.traits
                if t.startswith(naming.UNHEALTHY_TRAIT_PREFIX)),
            'draining': naming.DRAINING_TRAIT in gpu.traits,
            'slots': {type_names.get(rc, rc): {
                'total': r['total'], 'reserved': r['reserved'],
                'used': r['used']} for rc, r in sorted(slots.items())},
            'vgpus_used': used}
        row['idle'] = not used and not fenced and not row['draining']
        rows.append(row)
        entry = by_model.setdefault(model, {'gpus': 0, 'used_milli': 0})
        entry['gpus'] += 1
        entry['used_milli'] += row['used_milli']
        for rc, r in slots.items():
            entry = by_type.setdefault(type_names.get(rc, rc), {
                'total': 0, 'reserved': 0, 'used': 0})
            for key in entry:
                entry[key] += r[key]
        for project, resources in gpu.allocations:
            entry = projects[project]
            for rc, amount in resources.items():
                if rc not in slots:
                    continue
                entry['vgpus'] += amount
                name = type_names.get(rc, rc)
                entry['types'][name] = entry['types'].get(name, 0) + amount
                entry['gpu_share'] += _ratio(amount, slots[rc]['total'])
    capacity = shapes.MILLI * len(rows)
    for entry in by_model.values():
        entry['utilization'] = _ratio(entry['used_milli'],
                                      shapes.MILLI * entry['gpus'])
    for entry in by_type.values():
        entry['utilization'] = _ratio(entry['used'], entry['total'])
    return {
        'gpus': len(rows),
        'utilization': _ratio(sum(r['used_milli'] for r in rows), capacity),
        'fragmentation_rate': _ratio(
            sum(r['fragmented_milli'] for r in rows), capacity),
        'typical_requests': {rc: float(w) for rc, w in sorted(mix.items())},
        'by_model': dict(sorted(by_model.items())),
        'by_vgpu_type': dict(sorted(by_type.items())),
        'by_project': {p: dict(projects[p], gpu_share=round(
            projects[p]['gpu_share'], 6)) for p in sorted(projects)},
        'idle': [r['provider'] for r in rows if r['idle']],
        'fenced': [r['provider'] for r in rows if r['fenced']],
        'draining': [r['provider'] for r in rows if r['draining']],
        'per_gpu': rows,
    }


def read(client):
    """[GpuState] of every GPU provider this package manages.

    Project ids come from ``GET /allocations/{consumer}`` (a provider's
    allocations do not carry them), one call per consumer.
    """
    roots, projects, found = {}, {}, []
    for provider in client.providers_with_trait(naming.MANAGED_TRAIT):
        uuid = provider['uuid']
        root = provider.get('root_provider_uuid') or uuid
        if root not in roots:
            roots[root] = client.request(
                'GET', '/resource_providers/%s' % root)['name']
        _, inventories = client.inventories(uuid)
        usages = client.usages(uuid)
        _, traits = client.traits(uuid)
        allocations = []
        held = client.provider_allocations(uuid)
        for consumer, alloc in sorted(held.items()):
            if consumer not in projects:
                projects[consumer] = client.request(
                    'GET', '/allocations/%s' % consumer).get(
                        'project_id') or 'unknown'
            allocations.append((projects[consumer],
                                dict(alloc.get('resources', {}))))
        found.append(GpuState(
            host=roots[root], provider=provider['name'], uuid=uuid,
            traits=frozenset(traits),
            resources={rc: {'total': inv['total'],
                            'reserved': inv.get('reserved', 0),
                            'used': usages.get(rc, 0)}
                       for rc, inv in inventories.items()},
            allocations=allocations))
    return found

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

"""The demo's request stream on a static carve and on dynamic GPUs.

The same simulated hosts and the same stream (types, finishes, order)
are played twice against Placement: once with every GPU carved as the
layout says (``static``), once with every GPU the layout runs in MIG
mode, and every time-sliced GPU whose types all have a mixed-size mode,
left to be carved per guest (``dynamic``: a MIG GPU's provider offers
MIG slices and a MIG-backed request asks for its profile's slices; a
time-sliced GPU's provider offers framebuffer slices in mixed-size mode
and a request asks for its type's slices). Time-sliced GPUs without a
mixed-size mode for their types stay static in both. The GPU-level
choice is the scheduler plugins' own code: ``gpu_level.pick`` for vGPU
classes, the geometry filter's
:func:`gpuvirt_nova.scheduler.geometry.candidate_room` for slices, over
summaries whose busy-slot traits are the ones the driver would report
after its carve (:func:`gpuvirt_nova.layout.geometry.best_placement`
for MIG, :func:`gpuvirt_nova.hardware.ts_placement.next_placement` for
time-sliced vGPUs, as the driver calls them).

Counted per run: requests placed and rejected, and rejected while at
least one GPU sat idle (the waste a static carve causes: capacity of a
type nobody asks for), GPUs idle at the end, utilization and the
fragmentation rate (free compute no request type of the stream can use).
"""

import dataclasses
import uuid

from gpuvirt_nova.demo import placement as demo
from gpuvirt_nova.demo import requests as demo_requests
from gpuvirt_nova.dynamic import requests as dyn_requests
from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import ts_placement
from gpuvirt_nova.layout import geometry
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import sync
from gpuvirt_nova.placement import tree
from gpuvirt_nova.scheduler import geometry as scheduler_geometry

STATIC = 'static'
DYNAMIC = 'dynamic'
CARVES = (STATIC, DYNAMIC)


@dataclasses.dataclass
class CarveResult:
    carve: str
    placed: int = 0
    rejected: int = 0
    #: Rejected while at least one GPU had nothing on it.
    rejected_idle: int = 0
    finished: int = 0
    gpus: int = 0
    #: GPUs carved per guest (MIG or mixed-size time-sliced).
    dynamic_gpus: int = 0
    idle_gpus: int = 0
    #: Compute in use / compute of all GPUs (MIG compute slices, or the
    #: share of a time-sliced GPU's vGPU slots).
    utilization: float = 0.0
    #: Free compute that no request type of the stream can use.
    fragmentation: float = 0.0


def _mig_type(type_name):
    """(GpuModel, VgpuType) of a MIG-backed type name, or None."""
    for gpu_model in catalog.load().models.values():
        for vgpu_type in gpu_model.vgpu_types:
            if vgpu_type.name == type_name and vgpu_type.mig_backed:
                return gpu_model, vgpu_type
    return None


def _ts_type(type_name):
    """(GpuModel, VgpuType) of a time-sliced type with a mixed-size mode."""
    for gpu_model in catalog.load().models.values():
        for vgpu_type in gpu_model.vgpu_types:
            if vgpu_type.name == type_name and not vgpu_type.mig_backed \
                    and vgpu_type.max_instances_mixed:
                return gpu_model, vgpu_type
    return None


def _dynamic_gpus(hosts):
    """{(hostname, address): series} of the GPUs the dynamic run carves.

    Series None: MIG (the layout runs the GPU in MIG mode). A series
    letter: time-sliced, in mixed-size mode; every type the layout gives
    the GPU has a mixed-size mode and the series (as the layout's
    ``series:`` of a dynamic time-sliced GPU).
    """
    found = {}
    for hostname, host, offers in hosts:
        for address, offer in offers.items():
            if not offer:
                continue
            if all(_mig_type(t) for t in offer):
                found[(hostname, address)] = None
                continue
            gpu = host.gpu(address)
            gpu_model = catalog.load().find(gpu.model) if gpu else None
            types = [_ts_type(t) for t in offer]
            if gpu_model is None or gpu.mig_current or not all(types):
                continue
            series = {t[1].series.value for t in types}
            if len(series) == 1 and {t[0].name for t in types} == {
                    gpu_model.name}:
                found[(hostname, address)] = series.pop()
    return found


def _dynamic_type_names(hosts, dynamic):
    """Names of the types the GPUs in ``dynamic`` give, as their flavors."""
    names = set()
    for hostname, host, _offers in hosts:
        for (name, address), series in dynamic.items():
            if name != hostname:
                continue
            gpu = host.gpu(address)
            types = tree.dynamic_time_sliced_types(
                catalog.load().find(gpu.model), ts_placement.MIXED,
                series) if series else tree.dynamic_types(gpu, 'C')
            names.update(t.name for t in types)
    return names


class _Ledger:
    """What is in use where, as the driver would see it: per GPU."""

    def __init__(self, client, hosts, dynamic):
        self.client = client
        #: provider uuid -> (hostname, PhysicalGpu, dynamic?)
        self.gpus = {}
        #: provider uuid -> GpuModel of a dynamic time-sliced GPU
        self.time_sliced = {}
        for hostname, host, _offers in hosts:
            for gpu in host.gpus:
                provider = client.provider_by_name(
                    naming.gpu_provider_name(hostname, gpu.address))
                if provider is None:
                    continue
                key = (hostname, gpu.address)
                self.gpus[provider['uuid']] = (hostname, gpu, key in dynamic)
                if dynamic.get(key):
                    self.time_sliced[provider['uuid']] = \
                        catalog.load().find(gpu.model)
        #: provider uuid -> units in use (static) / [Occupied] (dynamic
        #: MIG) / [ts_placement.Hosted] (dynamic time-sliced)
        self.units = {uuid_: 0 for uuid_ in self.gpus}
        self.occupied = {uuid_: [] for uuid_ in self.gpus}
        #: consumer -> [(provider, Occupied or Hosted or None, units)]
        self.held = {}

    def idle(self):
        return [u for u in self.gpus
                if not self.units[u] and not self.occupied[u]]

    def busy_slots(self, provider):
        """Busy slices (MIG) or placement slots (time-sliced) of a GPU."""
        if provider in self.time_sliced:
            return ts_placement.busy_slots(self.time_sliced[provider],
                                           self.occupied[provider])
        return geometry.used_slices(self.occupied.get(provider, ()))

    def profiles(self, provider):
        return tree.mig_profiles_of(self.gpus[provider][1])

    def take(self, consumer, allocations, profile=None):
        entries = []
        for provider, alloc in allocations.items():
            if provider not in self.gpus:
                continue
            resources = alloc['resources']
            if provider in self.time_sliced:
                # The driver's carve: the type's lowest free placement.
                gpu_model = self.time_sliced[provider]
                placed = ts_placement.Hosted(
                    profile, ts_placement.next_placement(
                        gpu_model, self.occupied[provider], profile))
                self.occupied[provider].append(placed)
                entries.append((provider, placed, 0))
            elif self.gpus[provider][2]:
                best = geometry.best_placement(
                    self.profiles(provider), self.occupied[provider],
                    profile)
                placed = geometry.Occupied(profile, best)
                self.occupied[provider].append(placed)
                entries.append((provider, placed, 0))
            else:
                units = sum(n for rc, n in resources.items()
                            if rc.startswith(naming.VGPU_RC_PREFIX))
                self.units[provider] += units
                entries.append((provider, None, units))
        self.held[consumer] = entries

    def release(self, consumer):
        for provider, placed, units in self.held.pop(consumer, ()):
            if placed is not None:
                self.occupied[provider].remove(placed)
            self.units[provider] -= units

    def summaries(self, summaries):
        """Placement's summaries, busy slices marked as the driver would."""
        result = {}
        for provider, summary in summaries.items():
            if provider in self.gpus and self.gpus[provider][2]:
                summary = dict(summary)
                summary['traits'] = list(summary.get('traits') or ()) + [
                    naming.slice_used_trait(i)
                    for i in self.busy_slots(provider)]
            result[provider] = summary
        return result


def _setup(client, hosts, dynamic):
    """Sync ``hosts``; the GPUs in ``dynamic`` offer slices."""
    aggregate = str(uuid.uuid4())
    for hostname, host, offers in hosts:
        mine = {address: series or 'C'
                for (name, address), series in dynamic.items()
                if name == hostname}
        time_sliced = {address: ts_placement.MIXED
                       for (name, address), series in dynamic.items()
                       if name == hostname and series}
        static = {a: o for a, o in offers.items() if a not in mine}
        desired = tree.build_provider_tree(hostname, host, static,
                                           dynamic=mine,
                                           time_sliced=time_sliced)
        sync.sync(client, desired, create_root=True)
        client.add_to_aggregate(client.provider_by_name(hostname)['uuid'],
                                aggregate)
        for spec in desired.providers:
            client.add_to_aggregate(client.provider_by_name(
                spec.name)['uuid'], aggregate)
    return aggregate


def _dynamic_specs(type_name, group=''):
    """(extra specs, profile or type name) of a dynamic type's flavor."""
    found = _ts_type(type_name)
    if found and not _mig_type(type_name):
        gpu_model, vgpu_type = found
        return dyn_requests.ts_flavor_extra_specs(
            type_name, ts_placement.type_slices(gpu_model, vgpu_type),
            group=group), type_name
    gpu_model, vgpu_type = _mig_type(type_name)
    profile = gpu_model.mig_profile(vgpu_type.mig_profile)
    specs = dyn_requests.flavor_extra_specs(
        profile.name, profile.compute_slices, profile.memory_slices,
        group=group)
    specs['trait%s:%s' % (group, naming.gpu_model_trait(gpu_model.name))] \
        = 'required'
    return specs, profile.name


def _place_dynamic(client, ledger, request, aggregate, user):
    """Claim the slices of ``request`` (dynamic types), or None."""
    specs, profile = {}, None
    for group, type_name in enumerate(request.types, 1):
        group_specs, profile = _dynamic_specs(type_name, str(group))
        specs.update(group_specs)
    # Two vGPUs of a dynamic type go to two GPUs: one placement each.
    specs['group_policy'] = 'isolate' if request.vgpus > 1 else 'none'
    candidates = client.allocation_candidates(
        demo_requests.placement_query(specs, aggregate))
    summaries = ledger.summaries(candidates['provider_summaries'])

    def busy(candidate):
        return sum(len(ledger.busy_slots(rp))
                   for rp in candidate['allocations'] if rp in ledger.gpus)
    ranked = []
    for candidate in candidates['allocation_requests']:
        room = scheduler_geometry.candidate_room(candidate, summaries, specs)
        if room is not None:
            # Pack onto the busiest GPU the profile fits, then keep room.
            ranked.append(((busy(candidate),) + tuple(room), candidate))
    if not ranked:
        return None
    chosen = max(ranked, key=lambda item: item[0])[1]
    consumer = str(uuid.uuid4())
    client.put_allocations(consumer, chosen['allocations'],
                           project_id=user, user_id=user)
    ledger.take(consumer, chosen['allocations'], profile)
    return consumer


def _place_static(client, ledger, request, aggregate, user, mix):
    candidates = client.allocation_candidates(demo_requests.placement_query(
        request.extra_specs(), aggregate))
    chosen = demo_requests.choose(candidates, request.asked(), 'ours', mix)
    if chosen is None:
        return None
    consumer = str(uuid.uuid4())
    client.put_allocations(consumer, chosen['allocations'],
                           project_id=user, user_id=user)
    ledger.take(consumer, chosen['allocations'])
    return consumer


def _ts_fragmented(ledger, provider, stream_types):
    """Free slots (in GPUs) of a time-sliced GPU no stream type can use."""
    gpu_model = ledger.time_sliced[provider]
    total = ts_placement.slot_count(gpu_model)
    free = total - len(ledger.busy_slots(provider))
    types = [t for t in ts_placement.time_sliced_types(gpu_model)
             if t.name in stream_types]
    if free and not any(ts_placement.creatable(
            gpu_model, ledger.occupied[provider], t) for t in types):
        return free / float(total)
    return 0.0


def _fragmented(ledger, provider, stream_profiles):
    """Free compute (in GPUs) of a dynamic GPU no stream profile can use."""
    if provider in ledger.time_sliced:
        return _ts_fragmented(ledger, provider, stream_profiles)
    profiles = ledger.profiles(provider)
    occupied = ledger.occupied[provider]
    total = geometry.compute_total(profiles)
    free = total - sum(p.compute_slices for p in profiles
                       for o in occupied if o.profile == p.name)
    names = {p.name for p in profiles} & stream_profiles
    if free and not any(geometry.free_placements(profiles, occupied, n)
                        for n in names):
        return free / float(total)
    return 0.0


def play(client, hosts, stream, carve, mix=None):
    """Play ``stream`` (demo.events) on ``hosts`` carved ``carve``."""
    dynamic = _dynamic_gpus(hosts) if carve == DYNAMIC else {}
    aggregate = _setup(client, hosts, dynamic)
    ledger = _Ledger(client, hosts, dynamic)
    result = CarveResult(carve=carve, gpus=len(ledger.gpus),
                         dynamic_gpus=sum(1 for g in ledger.gpus.values()
                                          if g[2]))
    running = []
    stream_profiles = set()
    for request, _finish, _which in stream:
        for type_name in request.types:
            found = _mig_type(type_name)
            # MIG profiles and time-sliced type names never collide.
            stream_profiles.add(found[1].mig_profile if found
                                else type_name)
    dynamic_types = _dynamic_type_names(hosts, dynamic)
    # Types a static GPU offers (no other has a resource class).
    static_types = {t for hostname, _host, offers in hosts
                    for address, offer in offers.items()
                    if (hostname, address) not in dynamic
                    for t in offer or ()}
    for step, (request, finish, which) in enumerate(stream):
        request = demo_requests.as_request(request)
        if running and finish:
            consumer = running.pop(int(which * len(running)))
            client.delete_allocations(consumer)
            ledger.release(consumer)
            result.finished += 1
        user = str(uuid.UUID(int=step % 8 + 1))
        consumer = None
        if set(request.types) <= dynamic_types:
            consumer = _place_dynamic(client, ledger, request, aggregate,
                                      user)
        if consumer is None and set(request.types) <= static_types:
            # Static GPUs of the type take what dynamic ones cannot: the
            # user's other flavor.
            consumer = _place_static(client, ledger, request, aggregate,
                                     user, mix)
        if consumer is None:
            result.rejected += 1
            if ledger.idle():
                result.rejected_idle += 1
        else:
            result.placed += 1
            running.append(consumer)
    result.idle_gpus = len(ledger.idle())
    used = fragmented = 0.0
    for provider, (_hostname, gpu, is_dynamic) in ledger.gpus.items():
        if provider in ledger.time_sliced:
            used += len(ledger.busy_slots(provider)) / float(
                ts_placement.slot_count(ledger.time_sliced[provider]))
            fragmented += _fragmented(ledger, provider, stream_profiles)
        elif is_dynamic:
            profiles = ledger.profiles(provider)
            total = geometry.compute_total(profiles)
            used += sum(p.compute_slices for p in profiles
                        for o in ledger.occupied[provider]
                        if o.profile == p.name) / float(total)
            fragmented += _fragmented(ledger, provider, stream_profiles)
        else:
            inventories = client.inventories(provider)[1]
            slots = sum(i['total'] for rc, i in inventories.items()
                        if rc.startswith(naming.VGPU_RC_PREFIX))
            used += ledger.units[provider] / float(slots) if slots else 0.0
    if ledger.gpus:
        result.utilization = used / len(ledger.gpus)
        result.fragmentation = fragmented / len(ledger.gpus)
    for consumer in running:
        client.delete_allocations(consumer)
    demo.teardown(client, hosts)
    return result


def compare(client, hosts, requests, seed=0, finish_ratio=0.25, mix=None,
            multi_share=demo.DEFAULT_MULTI_SHARE):
    """[CarveResult] of the same stream on a static and a dynamic carve."""
    demo.check_arguments(requests=requests, multi_share=multi_share)
    capacity = {}
    for _hostname, _host, offers in hosts:
        for offer in offers.values():
            for type_name, count in offer.items():
                capacity[type_name] = capacity.get(type_name, 0) + count
    if not capacity:
        raise exception.UsageError(
            'the layout gives the simulated hosts no vGPUs to place')
    stream = demo_requests.events(capacity, requests, seed, finish_ratio,
                                  multi_share)
    return [play(client, hosts, stream, carve, mix) for carve in CARVES]

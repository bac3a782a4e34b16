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

"""The desired provider tree: THE one function both paths call.

``build_provider_tree(compute_node, host, offers, draining=(),
unhealthy=())`` -> :class:`DesiredTree`

* ``compute_node``: the hypervisor hostname Nova reports (the compute node
  resource provider's name, also the parent of every GPU provider).
* ``host``: a :class:`gpuvirt_nova.hardware.model.Host`, discovered or
  simulated.
* ``offers``: ``{gpu PCI address: {vGPU type name: count}}``, the vGPU
  instances each physical GPU offers (from the layout resolver, or from
  :mod:`gpuvirt_nova.placement.offers`). A GPU without offers gets no
  provider.
* ``draining`` / ``unhealthy``: PCI addresses whose whole inventory is
  reserved (existing allocations stay, nothing new lands there). A
  draining GPU also keeps ``naming.DRAINING_TRAIT``, the mark the drainer
  sets (see :func:`draining_addresses`). ``unhealthy`` may be a mapping
  ``{address: reason}`` (the monitor's fence): such a GPU also carries
  ``naming.UNHEALTHY_TRAIT`` and the reason's trait (see
  :func:`unhealthy_spec`).

The result is plain data: one :class:`ProviderSpec` per GPU (name
``<compute-node>_pci_<dddd>_<bb>_<ss>_<f>``, parent = ``compute_node``),
each with ``inventories`` (``{resource class: Inventory}``) and ``traits``
(a frozenset). The Nova driver turns it into ``ProviderTree`` calls in
``update_provider_tree``; :mod:`gpuvirt_nova.placement.sync` writes it to
Placement directly. Both see the same names, totals and traits.

Pure: no I/O, no configuration. Bad offers raise ``exception.UsageError``
naming the GPU and the type before anything is written.
"""

import dataclasses

from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import model
from gpuvirt_nova.hardware import ts_placement
from gpuvirt_nova.layout import geometry
from gpuvirt_nova.placement import naming


@dataclasses.dataclass(frozen=True)
class Inventory:
    """One inventory record, in Placement's field names."""

    total: int
    reserved: int = 0
    min_unit: int = 1
    max_unit: int = 1
    step_size: int = 1
    allocation_ratio: float = 1.0

    def as_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ProviderSpec:
    """A desired GPU resource provider."""

    name: str
    parent_name: str
    address: str
    model: str
    #: ``{resource class: Inventory}``
    inventories: dict
    traits: frozenset
    #: ``{resource class: vGPU type name}``, for flavors and reports.
    vgpu_types: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class DesiredTree:
    """Every GPU provider one compute node should have."""

    compute_node: str
    providers: tuple
    #: ``((GPU address, why it has no provider), ...)``: GPUs left out
    #: by ``build_provider_tree(..., isolate=True)``.
    problems: tuple = ()

    def provider(self, name):
        for provider in self.providers:
            if provider.name == name:
                return provider
        return None

    @property
    def resource_classes(self):
        return frozenset(rc for p in self.providers for rc in p.inventories)

    @property
    def custom_traits(self):
        return frozenset(t for p in self.providers for t in p.traits
                         if t.startswith(naming.CUSTOM_PREFIX))


def _gpu_model(gpu):
    return catalog.load().find(gpu.model)


def _check_offer(gpu, gpu_model, type_name, count):
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise exception.UsageError(
            'offers[%s][%s] = %r: the count must be a positive integer'
            % (gpu.address, type_name, count))
    if gpu_model is None:
        return None
    try:
        vgpu_type = gpu_model.vgpu_type(type_name)
    except KeyError as exc:
        raise exception.UsageError(
            'offers[%s]: %s' % (gpu.address, exc.args[0]))
    if count > vgpu_type.max_instances:
        raise exception.UsageError(
            'offers[%s][%s] = %d: a %s offers at most %d of that type'
            % (gpu.address, type_name, count, gpu_model.name,
               vgpu_type.max_instances))
    return vgpu_type


def gpu_traits(gpu, vgpu_types, driver_version=None):
    """The traits of one GPU provider (``vgpu_types``: names or VgpuType)."""
    gpu_model = _gpu_model(gpu)
    traits = {naming.MANAGED_TRAIT, naming.OWNER_TRAIT,
              naming.gpu_model_trait(gpu_model.name if gpu_model
                                     else gpu.model)}
    architecture = gpu.architecture or (
        gpu_model.architecture if gpu_model else None)
    if architecture:
        traits.add(naming.architecture_trait(architecture))
    if gpu.numa_node is not None and gpu.numa_node >= 0:
        traits.add(naming.numa_trait(gpu.numa_node))
    version = gpu.driver_version or driver_version
    if version:
        traits.add(naming.driver_trait(version))
    for vgpu_type in vgpu_types:
        name = getattr(vgpu_type, 'name', vgpu_type)
        traits.add(naming.vgpu_type_trait(name))
        profile = getattr(vgpu_type, 'mig_profile', None)
        if profile:
            traits.add(naming.mig_profile_trait(profile))
    return frozenset(traits)


def build_gpu_provider(compute_node, gpu, offer, reserved=False,
                       driver_version=None):
    """The ProviderSpec of one GPU offering ``offer`` ({type: count})."""
    gpu_model = _gpu_model(gpu)
    inventories = {}
    types = {}
    typed = []
    for type_name, count in sorted(offer.items()):
        vgpu_type = _check_offer(gpu, gpu_model, type_name, count)
        resource_class = naming.resource_class(type_name)
        if resource_class in inventories:
            raise exception.UsageError(
                'offers[%s]: %s and %s map to the same resource class %s; '
                'offer only one of them' % (gpu.address, types[resource_class],
                                            type_name, resource_class))
        inventories[resource_class] = Inventory(
            total=count, reserved=count if reserved else 0,
            min_unit=1, max_unit=count, step_size=1, allocation_ratio=1.0)
        types[resource_class] = type_name
        typed.append(vgpu_type or type_name)
    return ProviderSpec(
        name=naming.gpu_provider_name(compute_node, gpu.address),
        parent_name=compute_node, address=gpu.address,
        model=gpu_model.name if gpu_model else gpu.model,
        inventories=inventories,
        traits=gpu_traits(gpu, typed, driver_version),
        vgpu_types=types)


def mig_profiles_of(gpu):
    """The GPU's MIG profiles: NVML's when read, else the catalog's."""
    if gpu.mig_profiles:
        return list(gpu.mig_profiles)
    gpu_model = _gpu_model(gpu)
    return list(gpu_model.mig_profiles) if gpu_model else []


def dynamic_types(gpu, series='C'):
    """MIG-backed vGPU types of ``series`` a dynamic GPU can give guests."""
    gpu_model = _gpu_model(gpu)
    if gpu_model is None:
        return []
    return [t for t in gpu_model.vgpu_types
            if t.mig_backed and t.series.value == series]


def build_dynamic_provider(compute_node, gpu, reserved=False,
                           driver_version=None, series='C'):
    """The ProviderSpec of a dynamic GPU: MIG slices, not vGPUs.

    Inventory: the GPU's compute and memory slices (7 and 8 on an A100),
    so Placement counts capacity for every profile at once; a flavor
    asks for the slices its profile takes, and one
    ``CUSTOM_GPUVIRT_DYNAMIC_VGPU`` (per-user limits count them).
    Traits: the GPU's usual ones (model, architecture, each MIG-backed
    type and profile it can give),
    ``CUSTOM_GPUVIRT_DYNAMIC``, and one ``CUSTOM_GPUVIRT_SLICE_<n>_USED``
    per memory slice a GPU instance holds now, for the scheduler's
    geometry filter.

    :raises exception.UsageError: the GPU's MIG profiles are unknown
        (neither NVML nor the catalog lists them).
    """
    profiles = mig_profiles_of(gpu)
    if not profiles or not gpu.mig_current:
        raise exception.UsageError(
            'GPU %s is dynamic but %s; run gpuvirt-nova layout apply on '
            'this host' % (gpu.address, 'MIG mode is off' if profiles
                           else 'its MIG profiles are unknown'))
    compute = geometry.compute_total(profiles)
    memory = geometry.memory_total(profiles)
    inventories = {
        naming.MIG_COMPUTE_SLICE_RC: Inventory(
            total=compute, reserved=compute if reserved else 0,
            max_unit=compute),
        naming.MIG_MEMORY_SLICE_RC: Inventory(
            total=memory, reserved=memory if reserved else 0,
            max_unit=memory),
        # NOTE: at most one GPU instance per memory slice.
        naming.DYNAMIC_VGPU_RC: Inventory(
            total=memory, reserved=memory if reserved else 0),
    }
    types = dynamic_types(gpu, series)
    traits = set(gpu_traits(gpu, types, driver_version))
    traits |= {naming.mig_profile_trait(p.name) for p in profiles}
    traits.add(naming.DYNAMIC_TRAIT)
    occupied = geometry.occupied_of(gpu)
    traits |= {naming.slice_used_trait(i)
               for i in geometry.used_slices(occupied)}
    gpu_model = _gpu_model(gpu)
    return ProviderSpec(
        name=naming.gpu_provider_name(compute_node, gpu.address),
        parent_name=compute_node, address=gpu.address,
        model=gpu_model.name if gpu_model else gpu.model,
        inventories=inventories, traits=frozenset(traits))


def dynamic_time_sliced_types(gpu_model, scheduling, series='C'):
    """Time-sliced types of ``series`` a dynamic GPU gives in its mode."""
    return [t for t in gpu_model.time_sliced_types(series)
            if scheduling != ts_placement.MIXED or t.max_instances_mixed]


def build_dynamic_ts_provider(compute_node, gpu, scheduling,
                              reserved=False, driver_version=None,
                              series='C'):
    """The ProviderSpec of a dynamic time-sliced GPU: framebuffer slices.

    Inventory: the GPU's framebuffer slices
    (:func:`gpuvirt_nova.hardware.ts_placement.total_slices`, 40 of 1 GiB
    on an A100-40GB); a flavor asks for the slices its type's framebuffer
    takes (and one ``CUSTOM_GPUVIRT_DYNAMIC_VGPU``) and requires the
    type's trait. Traits: the GPU's usual ones
    (one ``CUSTOM_VGPU_TYPE_*`` per time-sliced type of ``series`` it
    gives in ``scheduling`` mode), ``CUSTOM_GPUVIRT_DYNAMIC``, and what
    the scheduler's geometry filter reads: in mixed-size mode one
    ``CUSTOM_GPUVIRT_SLICE_<n>_USED`` per placement slot a vGPU holds, in
    equal-size mode ``CUSTOM_GPUVIRT_HOSTS_<TYPE>`` for the type it hosts.

    :raises exception.UsageError: MIG mode is on, or the catalog does not
        know the GPU's time-sliced types.
    """
    gpu_model = _gpu_model(gpu)
    types = dynamic_time_sliced_types(gpu_model, scheduling, series) \
        if gpu_model else []
    if not types or gpu.mig_current:
        raise exception.UsageError(
            'GPU %s is dynamic time-sliced but %s; run gpuvirt-nova layout '
            'apply on this host' % (gpu.address, 'MIG mode is on'
                                    if gpu.mig_current else
                                    'the catalog lists no %s-series %s '
                                    'types for it' % (series, scheduling)))
    total = ts_placement.total_slices(gpu_model)
    guests = ts_placement.slot_count(gpu_model) \
        if scheduling == ts_placement.MIXED \
        else max(t.max_instances for t in types)
    inventories = {
        naming.FB_SLICE_RC: Inventory(
            total=total, reserved=total if reserved else 0, max_unit=total),
        naming.DYNAMIC_VGPU_RC: Inventory(
            total=guests, reserved=guests if reserved else 0)}
    traits = set(gpu_traits(gpu, types, driver_version))
    traits.add(naming.DYNAMIC_TRAIT)
    hosted = ts_placement.hosted_of(gpu_model, gpu, scheduling)
    if scheduling == ts_placement.MIXED:
        traits.add(naming.MIXED_SIZE_TRAIT)
        traits |= {naming.slice_used_trait(i)
                   for i in ts_placement.busy_slots(gpu_model, hosted)}
    else:
        traits |= {naming.hosts_type_trait(h.type_name) for h in hosted}
    return ProviderSpec(
        name=naming.gpu_provider_name(compute_node, gpu.address),
        parent_name=compute_node, address=gpu.address,
        model=gpu_model.name, inventories=inventories,
        traits=frozenset(traits))


def draining_spec(spec):
    """``spec`` of a GPU being drained: all reserved, with the trait."""
    inventories = {rc: dataclasses.replace(inv, reserved=inv.total)
                   for rc, inv in spec.inventories.items()}
    return dataclasses.replace(
        spec, inventories=inventories,
        traits=spec.traits | {naming.DRAINING_TRAIT})


def unhealthy_spec(spec, reason):
    """``spec`` of a fenced GPU: all reserved, marked with the reason."""
    inventories = {rc: dataclasses.replace(inv, reserved=inv.total)
                   for rc, inv in spec.inventories.items()}
    return dataclasses.replace(
        spec, inventories=inventories,
        traits=spec.traits | {naming.UNHEALTHY_TRAIT,
                              naming.unhealthy_trait(reason)})


def unhealthy_addresses(providers, compute_node):
    """``{address: reason}`` of GPU providers carrying the unhealthy mark.

    ``providers`` as for :func:`draining_addresses`.
    """
    result = {}
    for name, traits in providers:
        address = naming.address_from_provider_name(compute_node, name)
        reason = naming.unhealthy_reason(traits)
        if address and reason:
            result[address] = reason
    return result


def draining_addresses(providers, compute_node):
    """GPU addresses whose provider carries ``naming.DRAINING_TRAIT``.

    ``providers``: ``(provider name, traits)`` pairs as Placement (or
    Nova's provider cache) holds them; other providers are ignored.
    """
    result = set()
    for name, traits in providers:
        address = naming.address_from_provider_name(compute_node, name)
        if address and naming.DRAINING_TRAIT in traits:
            result.add(address)
    return result


def _normalize_addresses(addresses, field):
    result = set()
    for address in addresses or ():
        try:
            result.add(model.normalize_pci_address(address))
        except ValueError as exc:
            raise exception.UsageError('%s: %s' % (field, exc))
    return result


def build_provider_tree(compute_node, host, offers, draining=(),
                        unhealthy=(), isolate=False, dynamic=None,
                        time_sliced=None):
    """Desired GPU providers of one compute node (see the module doc).

    ``isolate``: a GPU whose offer cannot be turned into a provider (a
    type the catalog does not know, a count over the type's maximum) is
    left out and listed in ``problems`` instead of failing the whole
    tree, so one GPU's surprise never stops the others (the Nova driver
    and the standalone sync report with it; a GPU left out keeps its
    existing provider fully reserved, see ``virt/provider.py`` and
    ``placement/sync.py``).

    ``dynamic``: ``{address: vGPU series}`` of the GPUs the driver
    carves per guest (:mod:`gpuvirt_nova.layout.owners`); they get
    :func:`build_dynamic_provider` whatever ``offers`` say.
    ``time_sliced``: ``{address: scheduling mode}`` of the dynamic GPUs
    that give time-sliced vGPUs (:func:`build_dynamic_ts_provider`).
    """
    if not compute_node:
        raise exception.UsageError(
            'compute node name is empty: pass the hypervisor hostname Nova '
            'reports (--host)')
    problems = []
    normalized = {}
    for address, offer in (offers or {}).items():
        key = _normalize_addresses([address], 'offers').pop()
        if host.gpu(key) is None:
            message = (
                'offers name GPU %s, which host %s does not have: use one of '
                '%s' % (key, host.hostname or compute_node,
                        ', '.join(g.address for g in host.gpus) or 'none'))
            if not isolate:
                raise exception.UsageError(message)
            problems.append((key, message))
            continue
        normalized[key] = dict(offer or {})
    draining = _normalize_addresses(draining, 'draining')
    reasons = {}
    if isinstance(unhealthy, dict):
        reasons = {_normalize_addresses([a], 'unhealthy').pop(): r
                   for a, r in unhealthy.items() if r}
    reserved = draining | _normalize_addresses(unhealthy, 'unhealthy')
    providers = []
    dynamic = dict(dynamic or {})
    time_sliced = dict(time_sliced or {})
    for gpu in sorted(host.gpus, key=lambda g: g.address):
        offer = normalized.get(gpu.address)
        if not offer and gpu.address not in dynamic:
            continue
        try:
            if gpu.address in dynamic and gpu.address in time_sliced:
                spec = build_dynamic_ts_provider(
                    compute_node, gpu, time_sliced[gpu.address],
                    reserved=gpu.address in reserved,
                    driver_version=host.driver_version,
                    series=dynamic[gpu.address] or 'C')
            elif gpu.address in dynamic:
                spec = build_dynamic_provider(
                    compute_node, gpu, reserved=gpu.address in reserved,
                    driver_version=host.driver_version,
                    series=dynamic[gpu.address] or 'C')
            else:
                spec = build_gpu_provider(
                    compute_node, gpu, offer,
                    reserved=gpu.address in reserved,
                    driver_version=host.driver_version)
        except exception.UsageError as exc:
            if not isolate:
                raise
            problems.append((gpu.address, str(exc)))
            continue
        if gpu.address in draining:
            spec = draining_spec(spec)
        if gpu.address in reasons:
            spec = unhealthy_spec(spec, reasons[gpu.address])
        providers.append(spec)
    return DesiredTree(compute_node=compute_node, providers=tuple(providers),
                       problems=tuple(problems))

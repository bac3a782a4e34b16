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

"""Which GPU a Nova allocation candidate lands on, and how good that is.

Pure functions over Placement's JSON (provider summaries and allocation
requests as Nova holds them). Each GPU resource provider becomes a shape
(:mod:`shapes`) and a current state:

- a GPU whose ``CUSTOM_VGPU_*`` classes are all MIG-backed types of a
  catalog model gets that model's MIG geometry; its used instances are
  laid out as the device assignment does (least-fragmenting placement,
  largest profile first);
- a GPU offering time-sliced types gets the equal-size shape;
- anything else (unknown model or class) is scored as a fractional GPU
  where one unit of a class takes ``1/capacity`` of it.

A class of the typical mix may name the vCPUs its requests take
(``RC/8``, :func:`mix_key`): on a host with fewer vCPUs left it cannot
be hosted at all, so its GPU share there counts as fragment (FGD's
"CPU" case). A host's vCPUs left are its root provider's ``VCPU``
capacity minus used; a candidate takes the ``VCPU`` it allocates, and
the dominant share left (``scoring.ours_score``'s packing term) is the
larger of GPU and vCPU share left, as the benchmark's ``ours`` packs
(the GPU share alone when no class names vCPUs, :func:`counts_vcpus`).

A class of the typical mix may be constrained to GPUs with traits, as a
flavor's ``trait:CUSTOM_GPU_<MODEL>=required`` constrains its requests
(:func:`mix_key`: ``RC@TRAIT``): it can only be hosted on GPUs carrying
every one of those traits. On any other GPU it counts all the idle share
as fragment, FGD's "no access" case (``scoring.access_matrix`` in the
benchmark): the fragmentation measure per GPU model counts only the
requests that may use that model.

``order_candidates`` then ranks a host's candidates with
:func:`scoring.rank` (FGD increase plus dominant-share packing, tightest
GPU first). It only reorders: a candidate the scorer cannot judge keeps
its place after the judged ones, so Nova's claim can never fail because
of this module.
"""

import dataclasses
import functools
import math

import numpy as np

from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.placement import naming
from gpuvirt_nova.scheduler import scoring
from gpuvirt_nova.scheduler import shapes

VGPU_PREFIX = naming.VGPU_RC_PREFIX
#: Separates a mix class's resource class from the GPU traits it needs.
CONSTRAINT_SEP = '@'
#: Separates a mix class from the vCPUs one of its requests takes.
VCPU_SEP = '/'
#: Separates a mix class from the GPUs one of its requests takes.
GPUS_SEP = '*'
#: The root provider's resource class whose room a request's vCPUs take.
VCPU = 'VCPU'
#: Required traits of a flavor that constrain its GPU (model,
#: architecture, NUMA node: traits of GPU providers, see naming).
GPU_TRAIT_PREFIX = naming.GPU_TRAIT_PREFIX


def mix_key(rc, traits=(), vcpus=0, gpus=1):
    """The typical-mix class of ``rc`` requests needing GPU ``traits``.

    ``('CUSTOM_VGPU_A100_3_20C', {'CUSTOM_GPU_A100_SXM4_40GB'})`` ->
    ``'CUSTOM_VGPU_A100_3_20C@CUSTOM_GPU_A100_SXM4_40GB'``; no traits:
    ``rc`` itself. Several traits are joined with ``+``, sorted.
    ``vcpus`` (each request's vCPUs, 0: not counted) is appended after
    ``/``: ``'CUSTOM_VGPU_A100_3_20C/8'``; ``gpus`` (a request of that
    many vGPUs of the class, each on its own GPU) after ``*``:
    ``'CUSTOM_VGPU_A100_7_40C/16*2'``.
    """
    traits = sorted(set(traits))
    key = rc if not traits else '%s%s%s' % (rc, CONSTRAINT_SEP,
                                            '+'.join(traits))
    if vcpus:
        key = '%s%s%g' % (key, VCPU_SEP, vcpus)
    return key if gpus == 1 else '%s%s%d' % (key, GPUS_SEP, gpus)


def _bad_key(key, part, what):
    return ValueError(
        '[gpuvirt_scheduler] typical_requests: class %r names %r %s; '
        'write RESOURCE_CLASS[@TRAIT][/VCPUS][*GPUS] with VCPUS a number '
        'of vCPUs and GPUS a whole number of GPUs (for example '
        'CUSTOM_VGPU_A100_1_5C/8:3 or CUSTOM_VGPU_A100_7_40C/16*2:1)'
        % (key, part, what))


@functools.lru_cache(maxsize=1024)
def parse_mix_key(key):
    """``(rc, frozenset of GPU traits, vCPUs, GPUs)`` of a mix class.

    Raises ValueError naming the option and the fix when the vCPUs or
    GPUs are not numbers (vCPUs 0: not counted; GPUs: 1 unless given).
    """
    rest, sep, gpus = key.partition(GPUS_SEP)
    count = 1
    if sep:
        count = int(gpus) if gpus.isdecimal() and gpus.isascii() else 0
        if count < 1:
            raise _bad_key(key, gpus, 'GPUs')
    rest, sep, vcpus = rest.partition(VCPU_SEP)
    found = 0.0
    if sep:
        try:
            found = float(vcpus)
        except ValueError:
            found = -1.0
        if not found >= 0 or math.isinf(found):
            raise _bad_key(key, vcpus, 'vCPUs')
    rc, _, traits = rest.partition(CONSTRAINT_SEP)
    return (rc, frozenset(t for t in traits.split('+') if t), found,
            count)


def usable_mix(configured):
    """``(mix, errors)``: the classes of ``configured`` that parse.

    ``configured`` is ``{class: weight}`` as ``typical_requests`` reads;
    a class whose key or weight does not parse is left out with its
    error (naming the option and the fix), so that one bad class never
    costs the others their scoring.
    """
    mix, errors = {}, []
    for key, weight in (configured or {}).items():
        try:
            parse_mix_key(key)
        except ValueError as exc:
            errors.append(str(exc))
            continue
        try:
            value = float(weight)
        except ValueError:
            fix = 'a number'
        else:
            if value >= 0 and not math.isinf(value):
                mix[key] = value
                continue
            fix = 'a weight >= 0'
        errors.append(
            '[gpuvirt_scheduler] typical_requests: class %r weighs %r; '
            'write %s after the colon (for example '
            'CUSTOM_VGPU_A100_1_5C/8:3)' % (key, weight, fix))
    return mix, errors


def split_mix_key(key):
    """``(rc, frozenset of required GPU traits)`` of a mix class."""
    return parse_mix_key(key)[:2]


def mix_vcpus(key):
    """The vCPUs one request of mix class ``key`` takes (0: not counted).

    Raises ValueError naming the option and the fix (:func:`parse_mix_key`).
    """
    return parse_mix_key(key)[2]


def is_plain(key):
    """A mix class that is a resource class (no traits, vCPUs or GPUs)."""
    return not any(sep in key for sep in (CONSTRAINT_SEP, VCPU_SEP,
                                          GPUS_SEP))


def _served(key, resources, traits):
    """The resource class a GPU serves mix class ``key`` with, or None.

    None when the GPU does not offer the class's resource class or lacks
    one of its required traits.
    """
    rc, needed = split_mix_key(key)
    if rc not in resources or not needed <= set(traits):
        return None
    return rc


@dataclasses.dataclass(frozen=True)
class HostGpus:
    """A host's GPUs as one scoring node."""

    space: object
    #: Resource classes, in request-class order.
    classes: tuple
    #: GPU provider uuid -> slot index.
    slots: dict
    states: np.ndarray
    #: In-GPU choice table [S, R] (best placement).
    table: np.ndarray
    mix: object
    #: ``(vCPUs left, vCPU capacity)`` of the host's root provider, or
    #: None when its summary has no VCPU (CPU is then not counted).
    cpu: tuple = None


def vgpu_classes(resources):
    return sorted(rc for rc in resources if rc.startswith(VGPU_PREFIX))


def asks_vgpu(allocation_candidates):
    """Whether any candidate allocates a vGPU type (``CUSTOM_VGPU_*``)."""
    return any(rc.startswith(VGPU_PREFIX)
               for c in allocation_candidates
               for alloc in c.get('allocations', {}).values()
               for rc in alloc.get('resources', {}))


@dataclasses.dataclass(frozen=True)
class _Lookup:
    models: dict
    types: dict


@functools.lru_cache(maxsize=1)
def _lookup():
    cat = catalog.load()
    models, types = {}, {}
    for name in cat.names():
        gpu_model = cat.get(name)
        models[naming.gpu_model_trait(name)] = gpu_model
        for vgpu_type in gpu_model.vgpu_types:
            types[(name, naming.resource_class(vgpu_type.name))] = vgpu_type
    return _Lookup(models, types)


# NOTE: shapes and tables depend only on (model, offered types, mix), which
# a cloud has few of; caching them keeps the per-host cost to lookups.
@functools.lru_cache(maxsize=512)
def _shape(key):
    """The Shape of a GPU key.

    Keys are ``('mig' | 'equal-size', model, names)`` or
    ``('fractional', shares)``.
    """
    if key[0] == 'fractional':
        return shapes.fractional([s or 1001 for s in key[1]])
    gpu_model = catalog.load().get(key[1])
    if key[0] == 'mig':
        return shapes.mig_for_profiles(
            gpu_model, [gpu_model.mig_profile(n) if n else None
                        for n in key[2]])
    return shapes.timesliced_for_types(
        gpu_model, [gpu_model.vgpu_type(n) if n else None for n in key[2]])


def _shares(weights):
    """Each class's share of the mix: its weight over their sum.

    Kept exact (to 9 places, so that equal mixes hit the same cached
    tables): a configured mix is the operator's, and a learned one is
    already in steps (:func:`learned_shares`).
    """
    total = float(sum(weights)) or 1.0
    return tuple(round(w / total, 9) for w in weights)


#: Steps of a learned mix's shares (see :func:`learned_shares`).
LEARNED_STEPS = 20


def learned_shares(counts):
    """A learned mix ``{class: count}`` as shares in steps of 1/20.

    Learned weights move with every boot; rounding them keeps the cached
    tables valid across requests, and drops the rarest classes (FGD
    keeps the popular requests). Classes that round to 0 keep weight 0.
    A configured mix is not rounded: on the openb traces, twentieths of
    a mix written from the trace cost 0.45-0.6 points of GPU allocation
    against the exact weights (benchmarks/README.md).
    """
    total = float(sum(counts.values())) or 1.0
    return {key: round(LEARNED_STEPS * w / total) / float(LEARNED_STEPS)
            for key, w in counts.items()}


def _mix(weights, needs=None):
    """The scoring mix; ``needs`` (:func:`class_needs`) per class."""
    needs = needs or ((0.0, 1),) * len(weights)
    return scoring.make_mix((r, k, c, w) for r, (w, (c, k))
                            in enumerate(zip(weights, needs)))


def class_needs(classes):
    """``((vCPUs, GPUs), ...)`` of the mix classes (parse_mix_key)."""
    return tuple(parse_mix_key(key)[2:] for key in classes)


@functools.lru_cache(maxsize=512)
def _gpu_table(key, weights):
    """Best in-GPU option table of one GPU shape alone."""
    return scoring.best_options(shapes.combine([_shape(key)]), _mix(weights))


@functools.lru_cache(maxsize=256)
def _host_space(keys, weights, needs=None):
    """(space, in-GPU table, mix) of a host's GPU shapes.

    The table depends on the weights alone (one GPU's choice knows
    nothing of the host's vCPUs or other GPUs); the mix carries each
    class's vCPUs and GPUs (:func:`class_needs`).
    """
    space = shapes.combine([_shape(k) for k in keys])
    table = scoring.best_options(space, _mix(weights))
    return space, table, _mix(weights, needs)


def _fractional_gpu(summary, classes):
    resources = summary.get('resources', {})
    traits = summary.get('traits', ())
    served = [_served(key, resources, traits) for key in classes]
    shares = tuple(int(math.ceil(1000.0 / resources[rc]['capacity']))
                   if rc and resources[rc].get('capacity') else 0
                   for rc in served)
    # NOTE: usage is counted once per resource class, on its plain class.
    used = sum(resources[rc].get('used', 0) * share
               for key, rc, share in zip(classes, served, shares)
               if share and is_plain(key))
    return ('fractional', shares), max(0, 1000 - int(used))


def _layout(shape, table, counts):
    """Replay used instances, largest first; None if they do not fit."""
    state = shape.empty
    order = sorted(range(len(counts)),
                   key=lambda r: -(shape.free[shape.empty]
                                   - shape.free[max(table[shape.empty, r],
                                                    0)]))
    for r in order:
        for _ in range(counts[r]):
            state = table[state, r]
            if state < 0:
                return None
    return state


def _typed_gpu(gpu_model, vgpu_types, summary, classes, weights):
    resources = summary.get('resources', {})
    counts = [resources.get(rc, {}).get('used', 0) if is_plain(rc) else 0
              for rc in classes]
    if all(t is None or t.mig_backed for t in vgpu_types):
        key = ('mig', gpu_model.name,
               tuple(t.mig_profile if t else None for t in vgpu_types))
    elif all(t is None or not t.mig_backed for t in vgpu_types):
        key = ('equal-size', gpu_model.name,
               tuple(t.name if t else None for t in vgpu_types))
    else:
        return None
    state = _layout(_shape(key), _gpu_table(key, weights), counts)
    return None if state is None else (key, state)


def host_gpus(summaries, root_uuid, mix_weights=None):
    """HostGpus of the GPU providers under ``root_uuid``, or None.

    ``mix_weights`` maps mix class (a resource class, or a
    :func:`mix_key` constrained to GPU traits) -> weight of the
    typical-request mix; by default every offered class weighs the same.
    """
    return host_gpus_of({uuid: s for uuid, s in summaries.items()
                         if s.get('root_provider_uuid', uuid) == root_uuid},
                        mix_weights)


def _gpu_key(summary, classes, weights):
    """A hashable key of what the state of one GPU depends on."""
    return (tuple(summary.get('traits', ())),
            tuple((rc, r.get('capacity'), r.get('used', 0))
                  for rc, r in summary.get('resources', {}).items()),
            classes, weights)


# NOTE: a fleet has few distinct (model, offers, usage) GPUs; memoising
# the replay keeps the per-GPU cost of a request to one hash lookup.
@functools.lru_cache(maxsize=8192)
def _gpu_found(key):
    """(shape key, state) of one GPU from its :func:`_gpu_key`."""
    traits, resources, classes, weights = key
    summary = {'traits': traits,
               'resources': {rc: {'capacity': c, 'used': u}
                             for rc, c, u in resources}}
    lookup = _lookup()
    gpu_model = next((lookup.models[t] for t in traits
                      if t in lookup.models), None)
    if gpu_model is not None:
        served = (_served(key, summary['resources'], traits)
                  for key in classes)
        types = [lookup.types.get((gpu_model.name, rc)) if rc else None
                 for rc in served]
        if any(types):
            found = _typed_gpu(gpu_model, types, summary, classes, weights)
            if found is not None:
                return found
    return _fractional_gpu(summary, classes)


@functools.lru_cache(maxsize=1024)
def _classes_of(names):
    return tuple(rc for rc in names if rc.startswith(VGPU_PREFIX))


def is_root(uuid, summary):
    """Whether provider ``uuid`` is the root of its tree (the host)."""
    return (summary.get('root_provider_uuid') or uuid) == uuid


def cpu_room(summary):
    """``(vCPUs left, capacity)`` of a provider summary, or None.

    Only shared vCPUs (``VCPU``): a host of pinned CPUs (``PCPU`` alone)
    has None, and is scored without CPU.
    """
    found = summary.get('resources', {}).get(VCPU)
    if not found or not found.get('capacity'):
        return None
    capacity = float(found['capacity'])
    return capacity - float(found.get('used', 0)), capacity


def host_gpus_of(providers, mix_weights=None):
    """HostGpus of one host's providers ({uuid: summary}), or None."""
    gpus, offered, cpu = {}, set(), None
    for uuid, s in providers.items():
        found = _classes_of(tuple(s.get('resources', ())))
        if found:
            gpus[uuid] = s
            offered.update(found)
        elif cpu is None and is_root(uuid, s):
            cpu = cpu_room(s)
    if not gpus:
        return None
    mix_weights = dict(mix_weights or {})
    classes = tuple(sorted(offered | set(mix_weights)))
    weights = _shares([mix_weights.get(rc, 0 if mix_weights else 1)
                       for rc in classes])
    keys, starts, slots = [], [], {}
    for uuid in sorted(gpus):
        found = _gpu_found(_gpu_key(gpus[uuid], classes, weights))
        slots[uuid] = len(keys)
        keys.append(found[0])
        starts.append(found[1])
    space, table, mix = _host_space(tuple(keys), weights,
                                    class_needs(classes))
    states = np.array(space.offsets[:len(starts)]) + np.array(starts)
    return HostGpus(space=space, classes=classes, slots=slots,
                    states=states, table=table, mix=mix, cpu=cpu)


def _score_group(group):
    """{root: (order, pack, spread)} of hosts of one GPU shape at once.

    ``group`` (built by :func:`fleet.score_hosts`): ``gpus`` the shared
    space/table/mix, ``roots``, ``states`` (one row per host), per
    candidate ``host`` (row) and ``local`` (index on its host),
    ``units`` four equal lists (candidate, step, slot, class index), one
    entry per vGPU unit in the order they are placed, ``unjudged``
    the candidates the scorer cannot judge, per host ``cpu_left`` and
    ``cpu_cap`` (:func:`cpu_room`; inf and 0 where unknown) and per
    candidate ``take`` (the VCPU it allocates). Flat lists, not one list per
    candidate: a request at 1,000 hosts has 8,000 candidates, and every
    object kept is work for the garbage collector.
    """
    gpus = group['gpus']
    space, table, mix = gpus.space, gpus.table, gpus.mix
    before = np.asarray(group['states'])
    host = np.asarray(group['host'], dtype=np.intp)
    after = before[host].copy()
    valid = np.ones(len(host), dtype=bool)
    valid[np.asarray(group['unjudged'], dtype=np.intp)] = False
    cand, step, slot, cls = (np.asarray(x, dtype=np.intp)
                             for x in group['units'])
    for k in range(int(step.max()) + 1 if len(step) else 0):
        at = step == k
        c, s, r = cand[at], slot[at], cls[at]
        nxt = table[after[c, s], r]
        bad = nxt < 0
        valid[c[bad]] = False
        after[c, s] = np.where(bad, after[c, s], nxt)
    capacity = float(shapes.MILLI * before.shape[1])
    cpu_left, cpu_cap = counted_cpu(mix, np.asarray(group['cpu_left'],
                                                    dtype=float),
                                    np.asarray(group['cpu_cap'], dtype=float))
    cpu_after = cpu_left[host] - np.asarray(group['take'], dtype=float)
    f_before = scoring.fragmentation(space, before, cpu_left, mix)
    f_after = scoring.fragmentation(space, after, cpu_after, mix)
    deltas = np.where(valid, f_after - f_before[host], np.inf)
    free_after = space.free[after]
    left = np.where(valid, dominant_left(
        free_after.sum(axis=1) / capacity, cpu_after, cpu_cap[host]),
        np.inf)
    tight = np.where(valid, (free_after * (after != before[host])).sum(
        axis=1), np.inf)
    finite = np.isfinite(deltas)
    score = scoring.ours_score(deltas, np.where(finite, left, 0))
    local = np.array(group['local'])
    slots = gpu_order_key(cand, slot, len(host), before.shape[1])
    order = np.lexsort((local, slots, tight, score, host))
    spread = space.free[before].sum(axis=1) / capacity
    bounds = np.searchsorted(host[order], np.arange(len(group['roots']) + 1))
    # NOTE: every host has a candidate; one array pass for all the hosts'
    # best candidates, then plain lists (no numpy scalar per host).
    best = order[bounds[:-1]]
    with np.errstate(invalid='ignore'):
        packs = np.where(finite[best], -score[best], -np.inf).tolist()
    ordered, spreads = local[order].tolist(), spread.tolist()
    tights = tight[best].tolist()
    cuts = bounds.tolist()
    return {root: (ordered[cuts[h]:cuts[h + 1]], packs[h], spreads[h],
                   tights[h])
            for h, root in enumerate(group['roots'])}


def counts_vcpus(mix):
    """Whether a class of ``mix`` names vCPUs (``RC/VCPUS``).

    Only then does the packing term count the vCPU share left: with a
    mix blind to vCPUs, packing on the vCPU share as well costs 0.6
    points of GPU allocation on the openb traces (benchmarks/README.md).
    """
    return bool(len(mix.grid) and mix.grid.max() > 0)


#: (vCPUs left, capacity) of a host whose vCPUs are unknown or not
#: counted: every class fits, and the dominant share is the GPU share.
_NO_CPU = (np.inf, 0.0)


def counted_cpu(mix, cpu_left, cpu_cap):
    """The (vCPUs left, capacity) a score counts, per host.

    As given when ``mix`` names vCPUs; else unknown (:data:`_NO_CPU`):
    the GPUs alone, even on a host whose VCPU is overcommitted (used
    above capacity). Both paths (:func:`score_candidates`, one host;
    :func:`_score_group`, all) call this.
    """
    if counts_vcpus(mix):
        return cpu_left, cpu_cap
    return (np.full_like(cpu_left, _NO_CPU[0], dtype=float),
            np.full_like(cpu_cap, _NO_CPU[1], dtype=float))


def dominant_left(gpu_share, cpu_left, cpu_cap):
    """The larger of GPU and vCPU share left after a move (elementwise).

    ``cpu_cap`` 0 (the host's vCPUs unknown): the GPU share alone.
    """
    cpu_cap = np.asarray(cpu_cap, dtype=float)
    known = cpu_cap > 0
    cpu_left = np.where(known, cpu_left, 0.0)
    cpu_share = np.divide(cpu_left, cpu_cap, out=np.zeros(np.broadcast_shapes(
        np.shape(cpu_left), known.shape)), where=known)
    return np.maximum(gpu_share, cpu_share)


def vcpus_taken(candidate):
    """The VCPU a candidate allocates (on any of its providers)."""
    return float(sum(alloc.get('resources', {}).get(VCPU, 0)
                     for alloc in candidate.get('allocations', {}).values()))


def gpu_order_key(cand, slot, count, width):
    """[count] key of each candidate's GPUs in the host's fixed order.

    ``cand``/``slot``: one entry per vGPU unit (candidate index, GPU slot;
    slots follow the GPU providers' uuids). Among candidates of equal
    score and tightness, the one on the earliest GPUs wins (the bitmask
    of its slots, smallest first: the first k GPUs that fit, as the
    benchmark's nodes take them), not Placement's answer order. Hosts of
    more than 62 GPUs keep Placement's order.
    """
    key = np.zeros(count, dtype=np.int64)
    if width <= 62 and len(cand):
        np.bitwise_or.at(key, np.asarray(cand, np.intp),
                         np.left_shift(np.int64(1), np.asarray(slot,
                                                               np.int64)))
    return key


#: Below ``ours_score``'s rounding (1e-9): a tie offset never reorders
#: hosts whose scores differ.
_TIE_GAP = 4e-10


def stable_ties(scored):
    """Hosts whose pack weights tie, in one fixed order; unfit hosts last.

    ``scored`` is ``{root uuid: (order, pack, spread, tight)}`` (``pack``
    -inf: no candidate of the host fits its GPUs' geometry); returns
    ``{root: (order, pack, spread)}``. Hosts of equal pack weight (the
    same score, or the same step of ``scoring.resolution``) are ordered as
    the benchmark orders equal candidates: the tightest GPU first, then
    the smallest root provider uuid (a fixed order like the benchmark's
    node names), so ties keep filling the same hosts instead of
    following Placement's answer order. The offsets stay below half a
    step (or the score's rounding), so no host crosses another's score.
    A host without a fitting candidate weighs less than every host with
    one.
    """
    fitting = [v[1] for v in scored.values() if v[1] != -np.inf]
    floor = min(fitting + [-1.0 - scoring.PACK_BLEND]) - 1.0
    step = scoring.resolution()
    gap = step / 2.0 if step else _TIE_GAP
    groups = {}
    for root, value in scored.items():
        pack = value[1] if value[1] != -np.inf else floor
        groups.setdefault(pack, []).append(
            (value[3] if len(value) > 3 else 0.0, root))
    out = {}
    for pack, members in groups.items():
        members.sort()
        for i, (_, root) in enumerate(members):
            value = scored[root]
            out[root] = (value[0], pack - gap * i / len(members), value[2])
    return out


def apply_candidate(gpus, candidate):
    """GPU states after ``candidate``; None if a move does not fit."""
    states = gpus.states.copy()
    for uuid, alloc in candidate.get('allocations', {}).items():
        slot = gpus.slots.get(uuid)
        for rc, amount in alloc.get('resources', {}).items():
            if not rc.startswith(VGPU_PREFIX):
                continue
            if slot is None or rc not in gpus.classes:
                return None
            r = gpus.classes.index(rc)
            for _ in range(int(amount)):
                states[slot] = gpus.table[states[slot], r]
                if states[slot] < 0:
                    return None
    return states


def score_candidates(gpus, candidates):
    """(deltas [M], keys) of each candidate, for :func:`scoring.rank`.

    ``keys``: (GPU share left, dominant share left, GPU share left on
    the GPUs the candidate lands on), as ``scoring.fit_keys``.
    """
    cpu_left, cpu_cap = counted_cpu(gpus.mix, *(gpus.cpu or _NO_CPU))
    before = scoring.fragmentation(gpus.space, gpus.states, cpu_left,
                                   gpus.mix)
    capacity = float(shapes.MILLI * len(gpus.states))
    deltas, left, dominant, tight = [], [], [], []
    for candidate in candidates:
        after = apply_candidate(gpus, candidate)
        if after is None:
            deltas.append(np.inf)
            left.append(np.inf)
            dominant.append(np.inf)
            tight.append(np.inf)
            continue
        cpu_after = cpu_left - vcpus_taken(candidate)
        deltas.append(float(scoring.fragmentation(
            gpus.space, after, cpu_after, gpus.mix)) - float(before))
        left.append(gpus.space.free[after].sum() / capacity)
        dominant.append(float(dominant_left(left[-1], cpu_after, cpu_cap)))
        moved = after != gpus.states
        tight.append(gpus.space.free[after][moved].sum())
    return np.array(deltas), (np.array(left), np.array(dominant),
                              np.array(tight))


def order_candidates(summaries, root_uuid, candidates, mix_weights=None):
    """``candidates`` reordered best first (same objects, none dropped)."""
    if len(candidates) < 2:
        return list(candidates)
    gpus = host_gpus(summaries, root_uuid, mix_weights)
    if gpus is None:
        return list(candidates)
    deltas, keys = score_candidates(gpus, candidates)
    return [candidates[i] for i in scoring.rank(
        deltas, keys, tie=_candidate_slots(gpus, candidates))]


def _candidate_slots(gpus, candidates):
    """:func:`gpu_order_key` of each candidate of one host."""
    cand, slot = [], []
    for c, candidate in enumerate(candidates):
        for uuid, alloc in candidate.get('allocations', {}).items():
            s = gpus.slots.get(uuid)
            if s is not None and any(rc.startswith(VGPU_PREFIX)
                                     for rc in alloc.get('resources', {})):
                cand.append(c)
                slot.append(s)
    return gpu_order_key(cand, slot, len(candidates), len(gpus.states))

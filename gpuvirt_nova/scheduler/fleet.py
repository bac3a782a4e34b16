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

"""A request's GPU providers read once, and every host scored at once.

Why: at 1,000 hosts x 8 GPUs Nova's answer holds 9,000 provider
summaries and 8,000 candidates, and Nova itself spends about a third of a
second on them; the plugins may add a tenth of that. So the summaries
are read in **one** pass (:class:`RequestGpus`): each GPU provider is
reduced to a hashable key (traits, and capacity/used per class) interned
to a small integer, grouped under its host. Everything else works on
those integers:

- the typical-request mix and fair share's cluster use are sums over the
  distinct keys times how many GPUs share each (a fleet has few);
- :func:`score_hosts` gives each (key, host classes) its GPU shape and
  state once per request, each distinct host shape its option table once,
  then scores every candidate with :func:`candidates._score_group` (the
  same numpy passes and policy as :func:`candidates.order_candidates`).

It decides exactly as the per-host functions of :mod:`candidates` and
:mod:`gpu_level` (tests/unit/scheduler/test_fleet.py checks it).
"""

import re

import numpy as np

from gpuvirt_nova.placement import naming
from gpuvirt_nova.scheduler import candidates
from gpuvirt_nova.scheduler import limits
from gpuvirt_nova.scheduler import scoring

VGPU_PREFIX = candidates.VGPU_PREFIX

# NOTE: this module is the all-hosts path of :mod:`candidates`; it uses
# that module's memoised helpers (shapes, option tables, one GPU's state)
# so both paths share one policy and one cache.
_classes_of = candidates._classes_of
_cpu_room = candidates.cpu_room
_gpu_found = candidates._gpu_found
_host_space = candidates._host_space
_shares = candidates._shares
_score_group = candidates._score_group
_vcpus_taken = candidates.vcpus_taken


def _unmodelled_gpu(summary):
    """Whether a provider is a GPU the scorer does not model.

    A dynamic GPU offers slices and guest vGPUs, not vGPU types: its
    host has GPUs whose idle share a server's vCPUs could strand, which
    the scorer cannot count.
    """
    resources = summary.get('resources', {})
    return naming.DYNAMIC_TRAIT in summary.get('traits', ()) or any(
        rc in resources for rc in naming.SLICE_RCS + (
            naming.DYNAMIC_VGPU_RC,))


class RequestGpus:
    """The GPU providers of one Placement answer, keyed and grouped.

    ``keys[i]`` is ``(traits, ((rc, capacity, used), ...))`` of the GPUs
    of key id ``i`` (providers without vGPU classes have keys too, with
    no GPU), ``counts[i]`` how many GPUs have it, ``kid_of``
    ``{GPU provider uuid: key id}``, ``by_root`` ``{root uuid: [GPU
    provider uuid]}``, ``plain`` the providers of the answer without
    vGPU classes (a candidate cannot put a vGPU there), ``cpu`` ``{root
    uuid: (vCPUs left, capacity)}`` of the providers among them with
    VCPU (:func:`candidates.cpu_room`). Built from ``{provider uuid:
    summary}`` (Placement's ``provider_summaries``).
    """

    def __init__(self, summaries):
        ids, keys, counts, offered = {}, [], [], []
        kid_of, by_root, plain, cpu = {}, {}, set(), {}
        unmodelled = set()
        for uuid, summary in summaries.items():
            key = (tuple(summary.get('traits', ())),
                   tuple([(rc, r.get('capacity'), r.get('used', 0))
                          for rc, r in summary.get('resources', {}).items()]))
            kid = ids.get(key)
            if kid is None:
                kid = ids[key] = len(keys)
                keys.append(key)
                counts.append(0)
                offered.append(_classes_of(tuple(rc for rc, _, _ in key[1])))
            if not offered[kid]:
                plain.add(uuid)
                room = _cpu_room(summary)
                if room is not None and candidates.is_root(uuid, summary):
                    cpu[uuid] = room
                if _unmodelled_gpu(summary):
                    unmodelled.add(summary.get('root_provider_uuid') or uuid)
                continue
            counts[kid] += 1
            kid_of[uuid] = kid
            root = summary.get('root_provider_uuid') or uuid
            listed = by_root.get(root)
            if listed is None:
                by_root[root] = [uuid]
            else:
                listed.append(uuid)
        self.keys, self.counts, self.offered = keys, counts, offered
        #: roots of hosts with GPUs the scorer does not model (dynamic
        #: GPUs: slices and guest vGPUs, not vGPU types)
        self.unmodelled = unmodelled
        self.kid_of, self.by_root, self.plain = kid_of, by_root, plain
        self.cpu = cpu

    def used_by_class(self):
        """{vGPU resource class: units in use} over every GPU provider."""
        used = {}
        for (_, resources), count in zip(self.keys, self.counts):
            for rc, _, units in resources:
                if units and rc.startswith(VGPU_PREFIX):
                    used[rc] = used.get(rc, 0) + units * count
        return used

    def cluster_use(self, managed_count):
        """:func:`limits.cluster_use` of these providers, per key."""
        return limits.cluster_use_counted(
            zip((k[1] for k in self.keys), self.counts), managed_count)


_TRAIT_KEY = re.compile(r'^trait[0-9A-Za-z_-]*:(?P<trait>.+)$')


def requested_mix(extra_specs):
    """{mix class: amount} a flavor asks (:func:`candidates.mix_key`).

    The vGPUs of :func:`limits.requested_vgpus`, each constrained to the
    GPU traits (``CUSTOM_GPU_*``: model, architecture, NUMA node) the
    flavor requires in any group, e.g. ``trait:CUSTOM_GPU_A100_SXM4_40GB
    =required`` gives ``CUSTOM_VGPU_A100_3_20C@CUSTOM_GPU_A100_SXM4_40GB``.
    """
    needed = set()
    for key, value in (extra_specs or {}).items():
        match = _TRAIT_KEY.match(key)
        if match and value == 'required' and match.group('trait').startswith(
                candidates.GPU_TRAIT_PREFIX):
            needed.add(match.group('trait'))
    return {candidates.mix_key(rc, needed): n
            for rc, n in limits.requested_vgpus(extra_specs).items()}


def typical_mix(gpus, asked, configured=None):
    """:func:`gpu_level.typical_mix` from a :class:`RequestGpus`.

    ``asked`` may key the request's vGPUs by :func:`candidates.mix_key`
    (a flavor requiring GPU traits); usage read from the providers is
    counted unconstrained (Placement's summaries do not say which flavor
    holds it).
    """
    if configured:
        return {rc: float(w) for rc, w in configured.items()}
    learned = dict(asked)
    for rc, units in gpus.used_by_class().items():
        learned[rc] = learned.get(rc, 0) + units
    return candidates.learned_shares(learned)


class _Lazy(dict):
    """A dict that fills a missing key with ``fill(key)`` on first use."""

    def __init__(self, fill):
        super().__init__()
        self.fill = fill

    def __missing__(self, key):
        self.fill(key)
        return self[key]


class _Classes:
    """One host class set of a request: its GPUs' shapes and states.

    ``shape[kid]`` / ``start[kid]`` give a GPU key's shape id and state
    under these classes, worked out on first use (dicts, so a host's
    GPUs are looked up with one ``map``).
    """

    def __init__(self, request, cid, classes, weights):
        self.request = request
        self.cid, self.classes, self.weights = cid, classes, weights
        self.needs = candidates.class_needs(classes)
        # NOTE: a candidate's units move GPUs by their resource class;
        # constrained mix classes only weigh (candidates.mix_key).
        self.index = {rc: i for i, rc in enumerate(classes)
                      if rc.startswith(VGPU_PREFIX)
                      and candidates.is_plain(rc)}
        self.shape, self.start = _Lazy(self._fill), _Lazy(self._fill)

    def _fill(self, kid):
        shape, start = _gpu_found(self.request.gpus.keys[kid]
                                  + (self.classes, self.weights))
        self.shape[kid] = self.request.shape_id(shape)
        self.start[kid] = start


class _Request:
    """Per-request memo: class sets and GPU shapes."""

    def __init__(self, gpus, mix_weights):
        self.gpus = gpus
        self.mix = dict(mix_weights or {})
        self.by_offer = {}
        self.shape_ids = {}
        self.shape_keys = []

    def shape_id(self, shape):
        sid = self.shape_ids.get(shape)
        if sid is None:
            sid = self.shape_ids[shape] = len(self.shape_keys)
            self.shape_keys.append(shape)
        return sid

    def host_classes(self, kids):
        """The :class:`_Classes` of a host's GPU keys."""
        offered = frozenset(map(self.gpus.offered.__getitem__, kids))
        found = self.by_offer.get(offered)
        if found is None:
            names = set(self.mix)
            for each in offered:
                names.update(each)
            classes = tuple(sorted(names))
            weights = _shares([
                self.mix.get(rc, 0 if self.mix else 1) for rc in classes])
            found = self.by_offer[offered] = _Classes(
                self, len(self.by_offer), classes, weights)
        return found


#: A unit (candidate, step, slot, class index) packed in one int64: one
#: append per unit instead of four. 12 bits each for step, slot and
#: class (a host beyond 4,095 GPUs or classes is left unscored), 27 for
#: the candidate.
_BITS = 12
_MASK = (1 << _BITS) - 1


def _add_units(group, found, slots, index, plain):
    """Append a host's candidates' vGPU units to ``group['units']``.

    A candidate the scorer cannot judge (a vGPU off this host's GPUs, or
    a class the host does not offer) goes to ``group['unjudged']``; the
    VCPU each takes goes to ``group['take']``. One call per host; this
    runs for every candidate.
    """
    add = group['units'].append
    unjudged = group['unjudged']
    take = group['take'].append
    c = len(group['host'])
    for candidate in found:
        take(_vcpus_taken(candidate))
        unit = c << (3 * _BITS)
        # NOTE: Placement's schema has 'allocations' and 'resources'
        # (a KeyError would only keep Placement's order, see the filter).
        for uuid, alloc in candidate['allocations'].items():
            slot = slots.get(uuid)
            if slot is None:
                if uuid in plain or not _classes_of(
                        tuple(alloc['resources'])):
                    continue
                unjudged.append(c)
                break
            if slot < 0:
                continue
            for rc, amount in alloc['resources'].items():
                r = index.get(rc)
                if r is None:
                    if rc.startswith(VGPU_PREFIX):
                        unjudged.append(c)
                        break
                    continue
                amount = int(amount)
                if amount > _MASK:
                    unjudged.append(c)
                    break
                for _ in range(amount):
                    add(unit | slot << _BITS | r)
                    unit += 1 << (2 * _BITS)
            else:
                continue
            break
        c += 1


def _unpack(units):
    """(candidate, step, slot, class index) arrays of packed units."""
    packed = np.asarray(units, dtype=np.int64)
    return (packed >> (3 * _BITS), (packed >> (2 * _BITS)) & _MASK,
            (packed >> _BITS) & _MASK, packed & _MASK)


def score_hosts(gpus, hosts, mix_weights=None):
    """Every host's candidate order and weights, in one go.

    ``gpus`` is the request's :class:`RequestGpus`, ``hosts``
    ``[(root uuid, candidates)]``. Returns ``{root: (order, pack,
    spread)}`` as :func:`candidates.order_candidates` orders and
    :func:`gpu_level.host_weight` weighs. A host without GPU providers is
    left out, except for a request of no vGPU where some other host has
    GPUs (:func:`_gpuless`); a host whose GPUs the scorer does not model
    (dynamic GPUs) is left out for such a request too.
    """
    memo = _Request(gpus, mix_weights)
    groups = {}
    gpuless = []
    plain, kid_of = gpus.plain, gpus.kid_of
    for root, found in hosts:
        listed = gpus.by_root.get(root)
        if not found:
            continue
        if not listed:
            if root not in gpus.unmodelled and \
                    not candidates.asks_vgpu(found):
                gpuless.append((root, found))
            continue
        listed.sort()
        kids = list(map(kid_of.__getitem__, listed))
        cls = memo.host_classes(kids)
        if len(kids) > _MASK or len(cls.classes) > _MASK:
            continue
        sids = tuple(map(cls.shape.__getitem__, kids))
        group = groups.get((cls.cid, sids))
        if group is None:
            group = groups[(cls.cid, sids)] = _new_group(memo, cls, sids)
        h = len(group['roots'])
        group['roots'].append(root)
        group['starts'].extend(map(cls.start.__getitem__, kids))
        left, cap = gpus.cpu.get(root, candidates._NO_CPU)
        group['cpu_left'].append(left)
        group['cpu_cap'].append(cap)
        slots = dict(zip(listed, range(len(listed))))
        if root in plain:
            slots[root] = -1
        _add_units(group, found, slots, cls.index, plain)
        group['host'].extend([h] * len(found))
        group['local'].extend(range(len(found)))
    out = {}
    for group in groups.values():
        starts = np.array(group.pop('starts')).reshape(
            len(group['roots']), -1)
        group['states'] = starts + group.pop('offsets')
        group['units'] = _unpack(group['units'])
        out.update(_score_group(group))
    out = candidates.stable_ties(out)
    if out:
        out.update(_gpuless(gpuless))
    return out


#: The weight of a host without GPUs for a request of no vGPU: it
#: strands no GPU and takes no GPU host's vCPUs, so it weighs as the best
#: GPU host could (a fragmentation increase of 0, nothing left), and all
#: such hosts weigh the same, leaving the choice among them to Nova's
#: other weighers.
GPULESS_WEIGHT = -float(scoring.ours_score([0.0], [0.0])[0])


def _gpuless(hosts):
    """``{root: (order, pack, spread)}`` of hosts without GPUs.

    Only where some host of the request has GPUs (else nothing is
    scored): :data:`GPULESS_WEIGHT`, no tie offsets, Placement's order of
    the host's candidates kept.
    """
    return {root: (list(range(len(found))), GPULESS_WEIGHT, 0.0)
            for root, found in hosts}


def _new_group(memo, cls, sids):
    space, table, mix = _host_space(
        tuple(memo.shape_keys[s] for s in sids), cls.weights, cls.needs)
    gpus = candidates.HostGpus(space=space, classes=cls.classes, slots={},
                               states=None, table=table, mix=mix)
    return {'gpus': gpus, 'offsets': np.array(space.offsets[:len(sids)]),
            'roots': [], 'starts': [], 'host': [], 'local': [],
            'units': [], 'unjudged': [], 'cpu_left': [], 'cpu_cap': [],
            'take': []}

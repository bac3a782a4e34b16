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

"""A slice of an openb trace as Nova flavors, and the simulator beside it.

The Nova side (``tests/functional/scheduler/test_packing_replay.py``)
boots one server per request through Nova's real scheduler with our
filter and weigher; this module builds the scenario both sides replay
and the simulator's decisions, one request at a time from the same
state, so each Nova placement can be compared with the simulator's.

**The scenario.** Hosts: the first nodes of trace models G2, G3 and T4
(trace order). Profile mode as ``modes.MODEL_MAP`` maps it, with one
change so that a GPU-model constraint means something in Nova: G2 and G3
become the two A100 40GB models (SXM4 and PCIe). Both offer the same
MIG-backed types, so an unconstrained flavor may land on either, and a
flavor pinned to one requires its model trait
(``trait:CUSTOM_GPU_A100_SXM4_40GB=required``). T4 nodes offer the T4's
time-sliced C-series types (equal-size). A Nova flavor names one vGPU
type, hence one GPU family; each request is pinned to one:

- a pod whose ``gpu_spec`` names G2 and/or G3 (or no model at all) asks
  the A100 MIG-backed type its share rounds to (``shapes.round_to_mig``),
  required on its model's trait when it names only one of the two;
- a pod whose ``gpu_spec`` names T4 but neither G2 nor G3 asks the T4
  time-sliced type its share rounds to (``shapes.round_to_type``);
- a CPU-only pod asks VCPU and memory alone (``cpu_only``, default);
- pods that fit neither (other models only) and pods of more than
  ``max_gpus`` GPUs (Placement enumerates every combination of GPUs for
  each granular group) are left out.

A CPU-only pod is compared as a GPU pod is (its host): the weigher
scores a request of no vGPU as the simulator scores a pod of no GPU
(``[gpuvirt_scheduler] weigh_cpu_only_requests``: the idle GPU share
its vCPUs would strand, then the dominant share left, then node
order). Before it did, every host weighed 0 for such a request and Nova
took the first host in its host manager's order, the iteration order of
a Python set of (host, node) names, which changes with each process.

A k-GPU pod asks k granular groups of the whole-GPU type
(``group_policy=isolate``), each requiring the model trait if any.
CPU is whole vCPUs (``cpu_milli`` rounded up), memory ``memory_mib``.

**Without the trace** (``build(source='synthetic')``): the same hosts
and pods of :mod:`synthetic`, seeded and shaped like openb, so that the
replay runs where the trace is absent.

**The simulator beside Nova** (:class:`SimReplay`) runs
``simulate.place`` with the ``ours`` policy on the same hosts in the
order of their compute node provider uuids (Nova's tie-break), with the
weigher's view of a request: the typical mix Nova is configured with
(``typical_requests``: one class per kind of request, with its vCPUs
and GPUs, ``RC@TRAIT/VCPUS*GPUS``, weighted by how many there are), fit
keys of GPU and vCPU share (the
weigher reads a host's vCPUs left from its root provider), the in-GPU
choice blind to classes that may not use the GPU's model. ``cpu_blind``
(``build``) gives the mix no vCPUs, as a ``typical_requests`` written
without them (and then the weigher packs on the GPU share alone).

**Where each vGPU sits on a GPU.** The simulator keeps the state each
placement left (the MIG placement each instance took, in arrival
order, chosen under the mix of its time); the scheduler sees only
Placement's counts per vGPU type and lays each GPU out again for every
request, largest profile first, each at its least-fragmenting
placement under the mix of the moment (``candidates._layout``). The
two layouts can differ (a 1g then a 2g: ``10110000`` kept,
``11100000`` rebuilt), and where that changes a candidate's score the
host differs: under a mix learned as requests come, synthetic seed 42,
requests 42 and 45 of 46. ``SimReplay(relayout=True)`` lays each GPU
out as the scheduler does before each decision (the replay test's
default; ``nova_replay_run --no-relayout`` turns it off).
"""

import collections
import dataclasses
import math

import numpy as np

from benchmarks.packing import modes
from benchmarks.packing import simulate
from benchmarks.packing import synthetic
from benchmarks.packing import trace
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.placement import naming
from gpuvirt_nova.scheduler import candidates
from gpuvirt_nova.scheduler import recent
from gpuvirt_nova.scheduler import scoring
from gpuvirt_nova.scheduler import shapes

#: trace model -> (catalog model, mode): modes.MODEL_MAP with G2/G3 as
#: the two A100 40GB models (same vGPU types, different model traits).
REPLAY_MAP = {
    'G2': ('A100-SXM4-40GB', 'mig'),
    'G3': ('A100-PCIE-40GB', 'mig'),
    'T4': ('T4', 'equal-size'),
}
A100_MODELS = frozenset(['G2', 'G3'])
DEFAULT_HOSTS = (('G2', 8), ('G3', 4), ('T4', 8))
DEFAULT_TRACE = 'openb_pod_list_gpuspec20.csv'


@dataclasses.dataclass(frozen=True)
class Request:
    """One pod as a Nova flavor and as a simulator pod."""

    pod: int            # row in the trace
    vcpus: int
    memory_mb: int
    gpus: int
    milli: int
    type_name: str      # the vGPU type each of its GPUs asks
    trait: str          # required model trait, or None
    models: frozenset   # trace models it may use (in the slice)

    @property
    def mix_key(self):
        """The typical-mix class of the request (None: CPU-only)."""
        return self.mix_class()

    def mix_class(self, cpu_blind=False):
        """``RC[@TRAIT][/VCPUS][*GPUS]``; ``cpu_blind``: without vCPUs."""
        if not self.gpus:
            return None
        return candidates.mix_key(naming.resource_class(self.type_name),
                                  [self.trait] if self.trait else [],
                                  0 if cpu_blind else self.vcpus,
                                  self.gpus)

    def extra_specs(self):
        """The flavor's extra specs; a k-GPU pod asks k granular groups.

        The model trait goes in each group that asks a vGPU: in the
        unnumbered group it would be required of the compute node, which
        asks the VCPU and memory and carries no GPU trait.
        """
        if not self.gpus:
            return {}
        rc = naming.resource_class(self.type_name)
        groups = [''] if self.gpus == 1 else [
            str(i + 1) for i in range(self.gpus)]
        extra = {'resources%s:%s' % (g, rc): '1' for g in groups}
        if self.trait:
            extra.update({'trait%s:%s' % (g, self.trait): 'required'
                          for g in groups})
        if self.gpus > 1:
            extra['group_policy'] = 'isolate'
        return extra


@dataclasses.dataclass(frozen=True)
class Scenario:
    nodes: object            # trace.Nodes of the slice, trace order
    requests: tuple
    mix: dict                # {mix key: weight}, the configured mix

    def gpu_offers(self, index):
        """{vGPU type: count} each GPU of node ``index`` offers."""
        model, kind = REPLAY_MAP[self.nodes.models[index]]
        return offered_types(model, kind)

    def catalog_model(self, index):
        return REPLAY_MAP[self.nodes.models[index]][0]


def offered_types(model_name, kind):
    """Every type the replay's requests may ask of one GPU, at its max."""
    gpu_model = catalog.load().get(model_name)
    if kind == 'mig':
        profiles = {p.name for p in shapes.mig_profiles_for(gpu_model)}
        return {t.name: t.max_instances for t in gpu_model.vgpu_types
                if t.mig_backed and t.mig_profile in profiles
                and t.series.value == 'C'}
    return {t.name: t.max_instances
            for t in shapes.timesliced_types(gpu_model)}


def _type_for(model_name, kind, milli):
    gpu_model = catalog.load().get(model_name)
    if kind == 'mig':
        profile = shapes.round_to_mig(gpu_model, milli)
        if profile is None:
            return None
        return next(t.name for t in gpu_model.vgpu_types
                    if t.mig_profile == profile.name
                    and t.series.value == 'C')
    found = shapes.round_to_type(shapes.timesliced_types(gpu_model), milli)
    return found.name if found else None


def to_request(pods, i, slice_models, max_gpus, cpu_only=True):
    """The Request of pod ``i``, or None when the replay leaves it out."""
    k = int(pods.gpus[i])
    if k == 0 and cpu_only:
        return Request(pod=i, vcpus=int(math.ceil(pods.cpu[i] / 1000.0)),
                       memory_mb=int(pods.memory[i]), gpus=0, milli=0,
                       type_name=None, trait=None, models=frozenset())
    if k == 0 or k > max_gpus:
        return None
    spec = pods.specs[i]
    named = frozenset(s for s in spec.split('|') if s) if spec else None
    allowed = (named & slice_models) if named is not None else slice_models
    if allowed & A100_MODELS:
        models = allowed & A100_MODELS
    elif 'T4' in allowed:
        models = frozenset(['T4'])
    else:
        return None
    model_name, kind = REPLAY_MAP[sorted(models)[0]]
    type_name = _type_for(model_name, kind, int(pods.milli[i]))
    if type_name is None:
        return None
    trait = None
    if models <= A100_MODELS and len(models) == 1:
        trait = naming.gpu_model_trait(REPLAY_MAP[next(iter(models))][0])
    return Request(pod=i, vcpus=int(math.ceil(pods.cpu[i] / 1000.0)),
                   memory_mb=int(pods.memory[i]), gpus=k,
                   milli=int(pods.milli[i]), type_name=type_name,
                   trait=trait, models=models)


def twentieths(counts):
    """Weights in steps of 1/20 summing to 1 (largest remainders).

    The weigher takes a configured mix as written, over its sum
    (``candidates._shares``, to 9 places); weights that are
    already shares of few steps, summing to 1, are the very same numbers
    on both sides, so no rounding parts a tie. Classes that round to 0
    are dropped.
    """
    total = float(sum(counts.values()))
    raw = {k: 20.0 * v / total for k, v in counts.items()}
    units = {k: int(math.floor(v)) for k, v in raw.items()}
    left = 20 - sum(units.values())
    for k in sorted(raw, key=lambda k: (units[k] - raw[k], k))[:left]:
        units[k] += 1
    return {k: u / 20.0 for k, u in sorted(units.items()) if u}


def build(requests=40, seed=42, hosts=DEFAULT_HOSTS, pods_file=DEFAULT_TRACE,
          trace_dir=None, max_gpus=2, source='openb', cpu_only=True,
          cpu_blind=False, gpu_counts=synthetic.GPU_COUNTS):
    """The Scenario: hosts of the slice and ``requests`` pods in order.

    Pods are the trace's in a seeded random order (FGD's protocol
    shuffles the list), the first ``requests`` the replay can map.
    ``source='synthetic'``: nodes and pods of :mod:`synthetic` instead
    of the trace (``pods_file`` and ``trace_dir`` unused).
    ``cpu_blind``: the configured mix names no vCPUs. ``gpu_counts``:
    how many GPUs the synthetic pods ask (``synthetic.pods``).
    """
    if source == 'synthetic':
        nodes = synthetic.nodes(hosts)
        pods = synthetic.pods(gpu_counts=gpu_counts)
    else:
        nodes = _trace_slice(trace.load_nodes(trace_dir), hosts)
        pods = trace.load_pods(trace_dir, pods_file)
    slice_models = frozenset(m for m, _ in hosts)
    order = np.random.default_rng(seed).permutation(len(pods))
    found = []
    for i in order:
        req = to_request(pods, int(i), slice_models, max_gpus, cpu_only)
        if req is not None:
            found.append(req)
            if len(found) == requests:
                break
    counts = collections.Counter(req.mix_class(cpu_blind) for req in found
                                 if req.gpus)
    return Scenario(nodes=nodes, requests=tuple(found),
                    mix=twentieths(counts))


def _trace_slice(all_nodes, hosts):
    """The first ``count`` nodes of each ``(model, count)``, trace order."""
    keep = np.zeros(len(all_nodes.names), dtype=bool)
    for model, count in hosts:
        idx = [i for i, m in enumerate(all_nodes.models) if m == model]
        keep[idx[:count]] = True
    return all_nodes.subset(keep)


class SimReplay:
    """The simulator's ``ours`` on the scenario, one request at a time.

    ``node_order[i]`` is the position of the scenario's node i in the
    simulator's node list (Nova's compute node uuid order).
    """

    def __init__(self, scenario, node_order, relayout=False):
        self.scenario = scenario
        #: lay each GPU out from its counts before each decision, as
        #: the scheduler does (see the module)
        self.relayout = relayout
        #: {(simulator node, GPU): [request class of each vGPU on it]}
        self.placed = collections.defaultdict(list)
        perm = np.argsort(node_order)     # simulator position -> node
        nodes = scenario.nodes.subset(np.ones(len(perm), bool))
        nodes = trace.Nodes(
            names=tuple(nodes.names[i] for i in perm),
            cpu=np.array([float(1000 * math.floor(nodes.cpu[i] / 1000.0))
                          for i in perm]),
            memory=nodes.memory[perm], gpus=nodes.gpus[perm],
            models=tuple(nodes.models[i] for i in perm))
        self.to_node = perm
        #: scenario node -> simulator position (the inverse of to_node)
        self.position = {int(v): i for i, v in enumerate(perm)}
        self.nodes = nodes
        reqs = scenario.requests
        self.values = np.unique([1000] + [r.milli for r in reqs
                                          if r.gpus])
        self.space, shape_of_node = modes.profile_space(self.values, nodes,
                                                        REPLAY_MAP)
        absent = len(self.space.shapes) - 1
        self.cluster = simulate.Cluster.build(self.space, nodes,
                                              shape_of_node, absent)
        self._shape_of_node = shape_of_node
        self.weights = None
        self.use_mix(scenario.mix)

    def use_mix(self, weights):
        """Score with the mix ``{class: weight}`` from now on."""
        if weights == self.weights:
            return
        self.weights = dict(weights)
        self._mix(self._shape_of_node, self.weights)
        self.terms = [np.array(t, dtype=float) for t in scoring.node_terms(
            self.space, self.cluster.states, self.mix)]
        self.tables = {'ours': scoring.best_options(self.space, self.mix,
                                                    self.usable)}

    def learn(self, j, recorded, window, minimum):
        """The mix the scheduler learns for request ``j`` (recent.py).

        ``recorded``: the classes of the requests the scheduler counted
        before ``j`` (each GPU request Nova placed); played again through
        the scheduler's own ``RecentRequests``, one ``mix`` per request
        as the filter asks it. ``j`` None: a request that adds no class
        (no vGPU), scored with the mix of ``recorded`` alone. None below
        ``minimum`` (the usage mix, which this replay does not model).
        """
        seen = recent.RecentRequests()
        learned = None
        own = [] if j is None else [self.scenario.requests[j].mix_key]
        for name in list(recorded) + own:
            seen.record([name], window)
            learned = seen.mix(minimum)
        if learned is not None:
            self.use_mix(learned)
        return learned

    def _mix(self, shape_of_node, weights):
        reqs = self.scenario.requests
        groups = [frozenset()]
        items = []
        by_key = {}
        for r in reqs:
            if r.gpus:
                by_key.setdefault(r.mix_class(), r)
                by_key.setdefault(r.mix_class(cpu_blind=True), r)
        for key, weight in weights.items():
            r = by_key[key]
            if r.models not in groups:
                groups.append(r.models)
            _, _, vcpus, gpus = candidates.parse_mix_key(key)
            items.append((int(np.searchsorted(self.values, r.milli)), gpus,
                          1000.0 * vcpus, weight, groups.index(r.models)))
        self.groups = groups
        self.mix = scoring.make_mix(items)
        self.access = scoring.access_matrix(self.mix, groups,
                                            self.nodes.models)
        # states of each shape may serve the classes whose group names a
        # trace model of that shape
        models_of_shape = collections.defaultdict(set)
        for i, s in enumerate(shape_of_node):
            models_of_shape[s].add(self.nodes.models[i])
        usable = np.zeros((len(self.space.free), len(self.mix.request)),
                          dtype=bool)
        for s, shape in enumerate(self.space.shapes):
            start = self.space.offsets[s]
            for c, g in enumerate(self.mix.group if len(self.mix.group)
                                  else [0] * len(self.mix.request)):
                usable[start:start + shape.num_states, c] = (
                    g == 0 or bool(groups[g] & models_of_shape[s]))
        self.usable = usable

    def _allowed(self, req):
        return np.array([m in req.models for m in self.nodes.models])

    def place(self, j):
        """Place request ``j``: (scenario node, [GPU index]) or None."""
        req = self.scenario.requests[j]
        if self.relayout:
            self.lay_out()
        self._snapshot()
        before = self.cluster.states.copy()
        request = int(np.searchsorted(self.values, req.milli))
        got = simulate.place(
            self.cluster, self.mix, self.terms, 'ours',
            (req.vcpus * 1000.0, float(req.memory_mb), req.gpus), request,
            self.tables, None,
            allowed=self._allowed(req) if req.gpus else None,
            access=self.access,
            dims=2 if candidates.counts_vcpus(self.mix) else 1)
        if got is None:
            return None
        n = got[1]
        moved = np.flatnonzero(self.cluster.states[n] != before[n])
        for g in moved:
            self.placed[n, int(g)].append(request)
        return int(self.to_node[n]), sorted(int(g) for g in moved)

    def lay_out(self):
        """Each used GPU's state rebuilt from its counts (the scheduler's).

        Largest first, each at the in-GPU choice of the current mix, as
        ``candidates._layout`` rebuilds a GPU from Placement's usage.
        Returns the nodes whose state changed.
        """
        table, space = self.tables['ours'], self.space
        changed = set()
        for (n, g), held in self.placed.items():
            if not held:
                continue
            empty = space.empty(self._shape_of_node[n])
            size = {r: space.free[empty] - space.free[max(table[empty, r],
                                                          0)]
                    for r in set(held)}
            state = empty
            for r in sorted(held, key=lambda r: (-size[r], r)):
                state = table[state, r]
                if state < 0:
                    break
            # NOTE: a layout the scheduler cannot rebuild keeps the
            # simulator's (the scheduler scores such a GPU as fractional)
            if state >= 0 and state != self.cluster.states[n, g]:
                self.cluster.states[n, g] = state
                changed.add(n)
        for n in changed:
            self._refresh(n)
        return sorted(changed)

    def room(self, j, node, gpus):
        """Whether ``gpus`` of ``node`` have room for request ``j`` now.

        Room in the GPUs' geometry (a free MIG placement, a compatible
        equal-size type), CPU and memory, in the simulator's state from
        before :meth:`place` of ``j``.
        """
        req = self.scenario.requests[j]
        request = int(np.searchsorted(self.values, req.milli))
        states, cpu, mem = self._saved[:3]
        n = self.position[node]
        table = self.tables['ours']
        return all(table[states[n, g], request] >= 0 for g in gpus) and \
            cpu[n] >= req.vcpus * 1000.0 and mem[n] >= req.memory_mb

    def interchangeable(self, one, other):
        """Whether two placements differ only by GPUs of equal state.

        ``one`` and ``other`` are (node, [GPU index]) of the same request,
        compared in the state from before :meth:`place`: the same node,
        and GPUs whose states are the same multiset (two empty GPUs of a
        host are the same to every later decision).
        """
        if one is None or other is None or one[0] != other[0]:
            return False
        states = self._saved[0]
        n = self.position[one[0]]
        return sorted(states[n, one[1]]) == sorted(states[n, other[1]])

    def force(self, j, node, gpus):
        """Put request ``j`` where Nova put it instead (after a difference).

        The simulator's own placement of ``j`` (:meth:`place`, called
        just before) is taken back first; ``node`` None: Nova placed
        nothing.
        """
        req = self.scenario.requests[j]
        request = int(np.searchsorted(self.values, req.milli))
        self._restore()
        if node is None:
            return
        n = self.position[node]
        table = self.tables['ours']
        for g in gpus:
            self.cluster.states[n, g] = table[self.cluster.states[n, g],
                                              request]
            self.placed[n, int(g)].append(request)
        self.cluster.cpu_left[n] -= req.vcpus * 1000.0
        self.cluster.mem_left[n] -= req.memory_mb
        self._refresh(n)

    def _snapshot(self):
        c = self.cluster
        self._saved = (c.states.copy(), c.cpu_left.copy(), c.mem_left.copy(),
                       [t.copy() for t in self.terms],
                       {k: list(v) for k, v in self.placed.items()})

    def _restore(self):
        c = self.cluster
        states, cpu, mem, terms, placed = self._saved
        c.states[:], c.cpu_left[:], c.mem_left[:] = states, cpu, mem
        for t, saved in zip(self.terms, terms):
            t[:] = saved
        self.placed = collections.defaultdict(
            list, {k: list(v) for k, v in placed.items()})

    def _refresh(self, n):
        s_term, count, total = scoring.node_terms(
            self.space, self.cluster.states[n], self.mix)
        self.terms[0][n], self.terms[1][n], self.terms[2][n] = \
            s_term, count, total

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

"""Replay pods on a cluster with one policy; the decisions are scoring's.

The cluster is a [nodes, 8] array of GPU states of a StateSpace (shapes
module); absent GPU slots are the ``absent`` shape. Each arriving pod is
placed by ``scoring.choose`` over every feasible (node, GPU) candidate,
with ``scoring.move_deltas`` as the fragmentation score: the code Nova's
filter runs, on arrays. Pods that do not fit are skipped (never retried,
nothing is deleted), as in FGD's protocol.
"""

import dataclasses
import time

import numpy as np

from gpuvirt_nova.scheduler import scoring

SLOTS = 8
#: Resources the best-fit keys look at: GPU and CPU. Memory is always
#: checked for fit; adding it to the keys lowered every policy's result.
DIMS = 2


@dataclasses.dataclass
class Cluster:
    space: object
    states: np.ndarray
    cpu_left: np.ndarray
    mem_left: np.ndarray
    cpu_cap: np.ndarray
    mem_cap: np.ndarray
    gpu_cap: np.ndarray

    @classmethod
    def build(cls, space, nodes, shape_of_node, absent_index):
        n = len(nodes.names)
        states = np.full((n, SLOTS), space.empty(absent_index),
                         dtype=np.int64)
        for i in range(n):
            states[i, :nodes.gpus[i]] = space.empty(shape_of_node[i])
        return cls(space=space, states=states, cpu_left=nodes.cpu.copy(),
                   mem_left=nodes.memory.copy(), cpu_cap=nodes.cpu.copy(),
                   mem_cap=nodes.memory.copy(),
                   gpu_cap=space.free[states].sum(axis=1))


@dataclasses.dataclass
class Result:
    policy: str
    demand: np.ndarray      # cumulative GPU asked, milli, after each pod
    allocated: np.ndarray   # cumulative GPU taken (rounded), milli
    requested: np.ndarray   # cumulative GPU asked by placed pods, milli
    first_failure: int      # index of the first GPU pod that failed
    decision_seconds: float
    decisions: int
    frag_at: dict           # demand ratio -> fragmentation rate
    #: demand ratio -> per node (GPU free, GPU asked by placed pods)
    snapshots: dict


def _candidates_single(cluster, table, node_ok, request):
    """(node, gpu, old, new) for one-GPU moves, one per distinct state."""
    states = cluster.states
    new = table[states, request]
    ok = (new >= 0) & node_ok[:, None]
    nodes, gpus = np.nonzero(ok)
    old = states[nodes, gpus]
    # NOTE: GPUs of a node in the same state are the same candidate; keep
    # the first (lowest index), in node order.
    keys = nodes * cluster.space.free.shape[0] + old
    _, first = np.unique(keys, return_index=True)
    first.sort()
    nodes, gpus, old = nodes[first], gpus[first], old[first]
    return nodes, gpus, old[:, None], new[nodes, gpus][:, None]


def _candidates_multi(cluster, table, node_ok, request, k):
    states = cluster.states
    new = table[states, request]
    ok = new >= 0
    nodes = np.flatnonzero(node_ok & (ok.sum(axis=1) >= k))
    if not len(nodes):
        return nodes, np.zeros((0, k), int), np.zeros((0, k), int), \
            np.zeros((0, k), int)
    # the first k GPUs that can host it, per node
    order = np.argsort(~ok[nodes], axis=1, kind='stable')[:, :k]
    old = np.take_along_axis(states[nodes], order, axis=1)
    nxt = np.take_along_axis(new[nodes], order, axis=1)
    return nodes, order, old, nxt


def _candidates_cpu(cluster, node_ok):
    """A CPU-only pod's moves: no GPU, so ``old`` and ``new`` are empty."""
    nodes = np.flatnonzero(node_ok)
    none = np.zeros((len(nodes), 0), int)
    return nodes, none, none, none


def place(cluster, mix, terms, policy, pod, request, tables, rng,
          allowed=None, access=None, blend=None, step=None, dims=DIMS,
          node_rank=None):
    """Place one pod; returns (milli-GPU taken, node) or None.

    ``allowed`` ([nodes] bool, optional) is the pod's GPU-model
    constraint: nodes whose model its ``gpu_spec`` does not name are not
    candidates (Nova: the flavor's ``trait:CUSTOM_GPU_<MODEL>=required``).
    ``access`` is ``scoring.access_matrix`` of the mix on these nodes
    (None: the mix has no model-constrained class). ``blend`` overrides
    ``scoring.PACK_BLEND`` and ``step`` ``scoring.TIE_STEP`` (tuning runs
    only). ``dims``: resources the best-fit keys look at (1: GPU alone,
    as Nova's weigher, which sees no CPU; see nova_replay). ``node_rank``
    ([nodes], optional): the order ``ours`` gives equal candidates, by
    node (default: node index; Nova: compute node uuid order, a random
    permutation of the hosts).
    """
    cpu, mem, k = pod
    node_ok = (cluster.cpu_left >= cpu) & (cluster.mem_left >= mem)
    if allowed is not None:
        node_ok &= allowed
    table = tables[policy]
    if k == 0:
        nodes, gpus, old, new = _candidates_cpu(cluster, node_ok)
    elif k == 1:
        nodes, gpus, old, new = _candidates_single(cluster, table, node_ok,
                                                   request)
        gpus = gpus[:, None]
    else:
        nodes, gpus, old, new = _candidates_multi(cluster, table, node_ok,
                                                  request, k)
    if not len(nodes):
        return None
    space = cluster.space
    gained = space.free[old].sum(1) - space.free[new].sum(1)
    if policy in ('fgd', 'ours'):
        deltas = scoring.move_deltas(space, cluster.states, cluster.cpu_left,
                                     mix, nodes, old, new, cpu, terms=terms,
                                     access=access)
    else:
        deltas = np.zeros(len(nodes))
    keys = scoring.fit_keys(space, new, [
        (terms[2][nodes] - gained, cluster.gpu_cap[nodes]),
        (cluster.cpu_left[nodes] - cpu, cluster.cpu_cap[nodes]),
        (cluster.mem_left[nodes] - mem, cluster.mem_cap[nodes])][:dims])
    pick = scoring.choose(
        policy, deltas, keys, rng,
        blend=scoring.PACK_BLEND if blend is None else blend,
        step=scoring.TIE_STEP if step is None else step,
        tie=None if node_rank is None else node_rank[nodes])
    n = nodes[pick]
    if k:
        cluster.states[n, gpus[pick]] = new[pick]
    cluster.cpu_left[n] -= cpu
    cluster.mem_left[n] -= mem
    s_term, count, total = scoring.node_terms(space, cluster.states[n], mix)
    terms[0][n], terms[1][n], terms[2][n] = s_term, count, total
    return (float(gained[pick]) if k else 0.0), n


def replay(cluster, pods, requests, mix, policy, tables, seed,
           frag_points=(1.0,)):
    """Replay ``pods`` (arrival order) and record the allocation curve."""
    rng = np.random.default_rng(seed + 7919)
    terms = scoring.node_terms(cluster.space, cluster.states, mix)
    terms = [np.array(t, dtype=float) for t in terms]
    capacity = float(cluster.gpu_cap.sum())
    n = len(pods)
    demand = np.cumsum(pods.demand).astype(float)
    allocated = np.zeros(n)
    requested = np.zeros(n)
    first_failure = -1
    spent, decisions = 0.0, 0
    frag_at, points, snapshots = {}, sorted(frag_points), {}
    node_asked = np.zeros(len(cluster.states))
    got_alloc = got_req = 0.0
    for i in range(n):
        pod = (pods.cpu[i], pods.memory[i], int(pods.gpus[i]))
        start = time.perf_counter()
        placed = place(cluster, mix, terms, policy, pod, requests[i],
                       tables, rng)
        spent += time.perf_counter() - start
        decisions += 1
        if placed is None:
            if pods.gpus[i] and first_failure < 0:
                first_failure = i
        elif pods.gpus[i]:
            got_alloc += placed[0]
            got_req += pods.demand[i]
            node_asked[placed[1]] += pods.demand[i]
        allocated[i], requested[i] = got_alloc, got_req
        while points and demand[i] >= points[0] * capacity:
            point = points.pop(0)
            frag_at[point] = scoring.fragmentation_rate(
                cluster.space, cluster.states, cluster.cpu_left, mix,
                capacity)
            snapshots[point] = (terms[2].copy(), node_asked.copy())
    return Result(policy=policy, demand=demand, allocated=allocated,
                  requested=requested, first_failure=first_failure,
                  decision_seconds=spent / max(decisions, 1),
                  decisions=decisions, frag_at=frag_at, snapshots=snapshots)


def at_demand(result, capacity, ratio, series='allocated'):
    """Share of capacity allocated when arrived demand reached ``ratio``."""
    values = getattr(result, series)
    i = int(np.searchsorted(result.demand, ratio * capacity))
    i = min(i, len(values) - 1)
    return float(values[i] / capacity)

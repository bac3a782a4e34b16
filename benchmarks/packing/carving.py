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

"""Static carves against dynamic carving, profile mode, openb traces.

Profile mode (``modes.profile_space``) already is dynamic carving: a MIG
GPU takes any profile at any free placement, an equal-size time-sliced
GPU takes the type of its first guest. A *static* carve fixes both in
advance, as a layout with ``owner: static`` does:

- every GPU of a node gets one carve, homogeneous (``7 x 1g``, ``3 x 2g``,
  ``2 x 3g``, ``1 x 4g``, ``1 x 7g`` on an A100; one time-sliced type on
  the others), carved at the first placements of the catalog, as
  ``layout apply`` does;
- a request uses only a carved, unused instance of exactly its profile or
  type (a Nova flavor asks for one type's resource class);
- the carves follow demand as well as an operator could plan it: the
  trace's whole pod list (not the arrival sample) is counted per rounded
  profile, shared among the GPU models a pod may use in proportion to
  their GPUs, and each model's nodes are split among the carves by
  largest remainder of the GPUs each carve needs.

Capacity is the same in both: a GPU's capacity is its memory slices (or
1000 milli for a time-sliced GPU), so the 8th memory slice a ``7 x 1g``
carve cannot use counts as idle, as it is on the hardware.

Reported per (trace, carve, policy), mean over seeds, when arrived demand
reaches 100% of capacity (FGD's arrival protocol): GPU allocated (what
guests' instances take, rounded up to profiles), GPU asked by the placed
pods, GPU pods rejected before that point, how many of
those while some GPU of the cluster sat entirely idle and a dynamic GPU
of that model could have taken the pod ("rejected with idle GPUs", the
demo's measure), and the fragmentation rate at 100% demand.
"""

import argparse
import collections
import itertools
import json
import math
import sys
import time

import numpy as np

from benchmarks.packing import modes
from benchmarks.packing import simulate
from benchmarks.packing import trace
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.scheduler import scoring
from gpuvirt_nova.scheduler import shapes

CARVES = ('dynamic', 'static')
MILLI = shapes.MILLI


def homogeneous_carve(gpu_model, profile):
    """As many ``profile`` instances as fit on one GPU.

    At the catalog's first placements, within the compute-slice budget:
    what ``layout apply`` carves for a list of one profile.
    """
    used_mask, compute, carved = 0, 0, []
    for placement in profile.placements:
        if len(carved) >= profile.max_instances:
            break
        bits = sum(1 << i for i in placement.slices)
        if used_mask & bits or \
                compute + profile.compute_slices > gpu_model.compute_slices:
            continue
        used_mask |= bits
        compute += profile.compute_slices
        carved.append(placement)
    return tuple(carved)


def static_mig_shape(gpu_model, profile, carved, requested):
    """Shape of a GPU carved into ``carved`` instances of ``profile``.

    State = bitmask of the carved instances in use. ``requested[r]`` is
    the profile request class r rounds to (None: does not fit MIG); only
    ``profile`` itself uses an instance.
    """
    count = len(carved)
    slices = gpu_model.memory_slices
    states = range(1 << count)
    free = np.array([(slices - bin(s).count('1') * profile.memory_slices)
                     * MILLI / slices for s in states])
    options = []
    for s in states:
        row = []
        for want in requested:
            if want is None or want.name != profile.name:
                row.append(())
            else:
                row.append(tuple(s | (1 << i) for i in range(count)
                                 if not s & (1 << i)))
        options.append(row)
    labels = tuple('%s %s' % (profile.name, format(s, '0%db' % count))
                   for s in states)
    return shapes.Shape(
        name='%s:static:%s' % (gpu_model.name, profile.name), free=free,
        options=shapes._pad(options, len(requested)), empty=0, labels=labels,
        rounded_to=tuple(w.name if w else '' for w in requested))


def static_type_shape(gpu_model, vgpu_type, requested):
    """Shape of a time-sliced GPU carved for one type.

    ``max_instances`` of it; only that type uses it.
    """
    most = vgpu_type.max_instances
    free = np.array([(most - c) * MILLI / most for c in range(most + 1)])
    options = [[(c + 1,) if want is not None and want.name == vgpu_type.name
                and c < most else () for want in requested]
               for c in range(most + 1)]
    return shapes.Shape(
        name='%s:static:%s' % (gpu_model.name, vgpu_type.name), free=free,
        options=shapes._pad(options, len(requested)), empty=0,
        labels=tuple('%sx%d' % (vgpu_type.name, c)
                     for c in range(most + 1)),
        rounded_to=tuple(w.name if w else '' for w in requested))


def _rounding(gpu_model, kind, values):
    """What each request class rounds to on this model, and the carves."""
    if kind == 'mig':
        requested = [shapes.round_to_mig(gpu_model, v) for v in values]
        carves = [(p, homogeneous_carve(gpu_model, p))
                  for p in shapes.mig_profiles_for(gpu_model)]
        per_gpu = {p.name: len(c) for p, c in carves}
    else:
        types = shapes.timesliced_types(gpu_model)
        requested = [shapes.round_to_type(types, v) for v in values]
        carves = [(t, None) for t in types]
        per_gpu = {t.name: t.max_instances for t in types}
    return requested, carves, per_gpu


def demand_per_model(pods, values, nodes, model_map=None):
    """GPU instances the trace asks of each (trace model, request class).

    A pod is shared among the models its ``gpu_spec`` allows (all models
    when unconstrained) in proportion to their GPUs; a k-GPU pod counts k.
    """
    model_map = model_map or modes.MODEL_MAP
    gpus_of = collections.Counter()
    for model, count in zip(nodes.models, nodes.gpus):
        gpus_of[model] += int(count)
    models = sorted(gpus_of)
    index = np.searchsorted(values, np.where(pods.gpus > 0, pods.milli,
                                             MILLI))
    demand = collections.defaultdict(float)
    for i, spec in enumerate(pods.specs):
        k = int(pods.gpus[i])
        if not k:
            continue
        names = {s for s in spec.split('|') if s} if spec else set(models)
        allowed = [m for m in models if m in names] or models
        total = float(sum(gpus_of[m] for m in allowed))
        for m in allowed:
            demand[(m, int(index[i]))] += k * gpus_of[m] / total
    return demand


def _largest_remainder(weights, total):
    """Split ``total`` integers in proportion to ``weights``."""
    weight_sum = float(sum(weights))
    if not weight_sum:
        return [total] + [0] * (len(weights) - 1)
    exact = [w * total / weight_sum for w in weights]
    out = [int(math.floor(e)) for e in exact]
    order = sorted(range(len(exact)), key=lambda i: out[i] - exact[i])
    for i in order[:total - sum(out)]:
        out[i] += 1
    return out


def static_space(values, nodes, pods, model_map=None):
    """StateSpace of demand-matched static carves, and each node's shape.

    Returns ``(space, shape_of_node, plan)``; ``plan`` maps each trace
    model to ``{carve name: nodes}``.
    """
    model_map = model_map or modes.MODEL_MAP
    cat = catalog.load()
    demand = demand_per_model(pods, values, nodes, model_map)
    built, plan, shape_of_node = [], {}, [None] * len(nodes.names)
    for trace_model in sorted(set(nodes.models)):
        name, kind = model_map[trace_model]
        gpu_model = cat.get(name)
        requested, carves, per_gpu = _rounding(gpu_model, kind, values)
        need = collections.Counter()
        for r, want in enumerate(requested):
            if want is not None:
                need[want.name] += demand.get((trace_model, r), 0.0)
        gpus_needed = [need[c.name] / per_gpu[c.name] for c, _ in carves]
        mine = [i for i, m in enumerate(nodes.models) if m == trace_model]
        split = _largest_remainder(gpus_needed, len(mine))
        plan[trace_model] = {}
        start = 0
        for (carve, placements), count in zip(carves, split):
            if not count:
                continue
            if kind == 'mig':
                shape = static_mig_shape(gpu_model, carve, placements,
                                         requested)
            else:
                shape = static_type_shape(gpu_model, carve, requested)
            built.append(shape)
            plan[trace_model][carve.name] = count
            # spread each carve over the model's nodes in trace order
            for i in mine[start:start + count]:
                shape_of_node[i] = len(built) - 1
            start += count
    space = shapes.combine(built + [shapes.absent(values)])
    return space, shape_of_node, plan


_STATE = {}


def setup(trace_name, carve, trace_dir):
    key = (trace_name, carve)
    if key in _STATE:
        return _STATE[key]
    nodes = trace.load_nodes(trace_dir)
    pods = trace.load_pods(trace_dir, name='openb_pod_list_%s.csv'
                           % trace_name)
    values, index = modes.request_classes(pods)
    mix = modes.mix_from(pods, index)
    # ours: the mix keeps each class's GPU-model constraint (gpu_spec)
    model_mix, groups = modes.mix_from(pods, index, by_model=True)
    if carve == 'dynamic':
        space, shape_of_node = modes.profile_space(values, nodes)
        plan = None
    else:
        space, shape_of_node, plan = static_space(values, nodes, pods)
    # per node: can a dynamic GPU of its model host each request class?
    dyn_space, dyn_shape = modes.profile_space(values, nodes)
    dyn_fits = np.array([dyn_space.can_host[dyn_space.empty(s)]
                         for s in dyn_shape])
    _STATE[key] = dict(nodes=nodes, pods=pods, values=values, space=space,
                       shape_of_node=shape_of_node, mix=mix, plan=plan,
                       model_mix=model_mix,
                       access=scoring.access_matrix(model_mix, groups,
                                                    nodes.models),
                       tables=modes.tables(space, mix), dyn_fits=dyn_fits)
    return _STATE[key]


def run_one(job):
    """One (trace, carve, policy, seed) replay; plain numbers back."""
    trace_name, carve, policy, seed, trace_dir = job
    st = setup(trace_name, carve, trace_dir)
    nodes, space, pods = st['nodes'], st['space'], st['pods']
    arrived = trace.arrival(pods, nodes.capacity, seed, protocol='fgd')
    requests = np.searchsorted(st['values'], np.where(
        arrived.gpus > 0, arrived.milli, MILLI))
    allowed = arrived.allowed(nodes.models)
    cluster = simulate.Cluster.build(space, nodes, st['shape_of_node'],
                                     len(space.shapes) - 1)
    capacity = float(cluster.gpu_cap.sum())
    mix, access = st['mix'], None
    if policy == 'ours':
        mix, access = st['model_mix'], st['access']
    rng = np.random.default_rng(seed + 7919)
    terms = [np.array(t, dtype=float) for t in scoring.node_terms(
        space, cluster.states, mix)]
    demand = np.cumsum(arrived.demand).astype(float)
    stop = int(np.searchsorted(demand, capacity))
    rejected = rejected_idle = 0
    asked = 0.0
    for i in range(min(stop + 1, len(arrived))):
        k = int(arrived.gpus[i])
        placed = simulate.place(
            cluster, mix, terms, policy,
            (arrived.cpu[i], arrived.memory[i], k), requests[i],
            st['tables'], rng, allowed=allowed[i] if k else None,
            access=access)
        if placed is not None and k:
            asked += float(arrived.demand[i])
        if placed is None and k:
            rejected += 1
            # idle GPUs: whole GPUs nothing uses, on nodes the pod may use
            # and whose CPU and memory could take it, of a model a
            # dynamic GPU of which could host its class
            idle = space.free[cluster.states] == MILLI
            fits = st['dyn_fits'][:, requests[i]] & allowed[i] \
                & (cluster.cpu_left >= arrived.cpu[i]) \
                & (cluster.mem_left >= arrived.memory[i])
            if ((idle & fits[:, None]).sum(axis=1) >= k).any():
                rejected_idle += 1
    free_now = space.free[cluster.states].sum()
    return {
        'trace': trace_name, 'carve': carve, 'policy': policy,
        'seed': seed,
        'allocated': float(1 - free_now / capacity),
        'requested': asked / capacity,
        'rejected': rejected, 'rejected_idle': rejected_idle,
        'frag_rate': float(scoring.fragmentation_rate(
            space, cluster.states, cluster.cpu_left, st['mix'], capacity)),
        'plan': st['plan'],
    }


def summarize(runs):
    groups = collections.defaultdict(list)
    for r in runs:
        groups[(r['trace'], r['policy'], r['carve'])].append(r)
    rows = []
    for (trace_name, policy, carve), rs in sorted(groups.items()):
        def mean(key):
            return float(np.mean([r[key] for r in rs]))
        rows.append(dict(trace=trace_name, policy=policy, carve=carve,
                         seeds=len(rs), allocated=100 * mean('allocated'),
                         requested=100 * mean('requested'),
                         rejected=mean('rejected'),
                         rejected_idle=mean('rejected_idle'),
                         frag_rate=100 * mean('frag_rate')))
    return rows


def markdown(rows):
    lines = ['| trace | policy | carve | seeds | GPU allocated (carved for '
             'guests) | GPU asked by placed pods | GPU pods rejected | '
             'rejected with idle GPUs | fragmentation rate |',
             '|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        lines.append('| %s | %s | %s | %d | %.2f%% | %.2f%% | %.1f | %.1f | '
                     '%.2f%% |' % (r['trace'], r['policy'], r['carve'],
                                   r['seeds'], r['allocated'],
                                   r['requested'], r['rejected'],
                                   r['rejected_idle'], r['frag_rate']))
    return '\n'.join(lines)


def _seeds(text):
    if '-' in text:
        low, high = text.split('-')
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in text.split(',')]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--traces', default='default',
                        help="comma-separated variants, or 'all'")
    parser.add_argument('--policies', default='ours,best-fit')
    parser.add_argument('--seeds', default='42-44')
    parser.add_argument('--jobs', type=int, default=1)
    parser.add_argument('--trace-dir', default=None)
    parser.add_argument('--out', default=None,
                        help='write results.json and table.md here')
    args = parser.parse_args(argv)
    trace_dir = trace.trace_dir(args.trace_dir)
    traces = list(trace.pod_files(trace_dir)) if args.traces == 'all' \
        else args.traces.split(',')
    jobs = [(t, c, p, s, trace_dir)
            for t, c, p, s in itertools.product(
                traces, CARVES, args.policies.split(','),
                _seeds(args.seeds))]
    start = time.time()
    if args.jobs > 1:
        import multiprocessing
        with multiprocessing.Pool(args.jobs) as pool:
            runs = pool.map(run_one, jobs, chunksize=1)
    else:
        runs = [run_one(j) for j in jobs]
    rows = summarize(runs)
    table = markdown(rows)
    print(table)
    plans = {r['trace']: r['plan'] for r in runs if r['plan']}
    for name, plan in sorted(plans.items()):
        print('static carve, %s: %s' % (name, json.dumps(plan,
                                                         sort_keys=True)))
    print('wall time %.0f s' % (time.time() - start))
    if args.out:
        import os
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, 'results.json'), 'w') as f:
            json.dump(runs, f, indent=1)
        with open(os.path.join(args.out, 'table.md'), 'w') as f:
            f.write(table + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())

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

"""Offline optimum (MILP, HiGHS) on a sample of the openb cluster.

    python -m benchmarks.packing.milp_bound [--trace default] [--nodes 16]
        [--seeds 42-44] [--time-limit 60]

A random sample of ``--nodes`` nodes (per seed) gets the pods of the
authors' arrival protocol sized to *its* capacity; the pods arrived by
100% demand, order forgotten, are packed by a MILP with every per-node
constraint (CPU, memory, the GPU share of each GPU, whole GPUs for
multi-GPU pods, ``gpu_spec``), maximising the GPU share allocated. HiGHS
returns the best packing it found and a proven upper bound (its dual
bound, = the optimum when solved). Every policy replays the same arrival
list on the same sample, and the gap of each to the bound is reported.
CPU-only pods only take CPU and memory: the optimum may leave them out.
"""

import argparse
import time

import numpy as np

from benchmarks.packing import compare
from benchmarks.packing import trace

MILLI = 1000


def solve(nodes, pods, time_limit=60.0):  # noqa: C901
    """(best allocated, upper bound, status) in milli-GPU, for ``pods``."""
    from scipy import optimize
    from scipy import sparse
    allowed = pods.allowed(nodes.models)
    cols = []           # (kind, pod, node, gpu)
    for p in range(len(pods)):
        k = int(pods.gpus[p])
        if k == 0:
            continue                 # CPU-only: never helps the objective
        for n in np.flatnonzero(allowed[p] & (nodes.gpus >= k) &
                                (nodes.cpu >= pods.cpu[p]) &
                                (nodes.memory >= pods.memory[p])):
            cols.append(('y', p, n, -1))
            if k == 1 and pods.milli[p] < MILLI:
                for g in range(nodes.gpus[n]):
                    cols.append(('x', p, n, g))
    for n in range(len(nodes.names)):
        for g in range(nodes.gpus[n]):
            cols.append(('u', -1, n, g))   # GPU g given to whole-GPU pods
    index = {c: i for i, c in enumerate(cols)}
    rows, data, cidx, lo, hi = [], [], [], [], []

    def constraint(entries, low, high):
        r = len(lo)
        for i, v in entries:
            rows.append(r)
            cidx.append(i)
            data.append(v)
        lo.append(low)
        hi.append(high)

    by_pod, by_node = {}, {}
    for (kind, p, n, g), i in index.items():
        if kind == 'y':
            by_pod.setdefault(p, []).append(i)
            by_node.setdefault(n, []).append((p, i))
    for p, ys in by_pod.items():
        constraint([(i, 1.0) for i in ys], -np.inf, 1.0)
    for n, entries in by_node.items():
        constraint([(i, pods.cpu[p]) for p, i in entries], -np.inf,
                   float(nodes.cpu[n]))
        constraint([(i, pods.memory[p]) for p, i in entries], -np.inf,
                   float(nodes.memory[n]))
        whole = [(i, float(pods.gpus[p])) for p, i in entries
                 if pods.milli[p] >= MILLI]
        us = [index[('u', -1, n, g)] for g in range(nodes.gpus[n])]
        # whole GPUs taken = GPUs marked u; symmetry: u on the first GPUs
        constraint(whole + [(i, -1.0) for i in us], 0.0, 0.0)
        for a, b in zip(us, us[1:]):
            constraint([(a, 1.0), (b, -1.0)], 0.0, np.inf)
        for p, i in entries:
            if pods.milli[p] < MILLI:
                xs = [index[('x', p, n, g)] for g in range(nodes.gpus[n])]
                constraint([(x, 1.0) for x in xs] + [(i, -1.0)], 0.0, 0.0)
        for g in range(nodes.gpus[n]):
            shared = [(index[('x', p, n, g)], float(pods.milli[p]))
                      for p, _ in entries if pods.milli[p] < MILLI]
            constraint(shared + [(us[g], float(MILLI))], -np.inf,
                       float(MILLI))
    cost = np.zeros(len(cols))
    for (kind, p, n, g), i in index.items():
        if kind == 'y':
            cost[i] = -float(pods.gpus[p] * pods.milli[p])
    matrix = sparse.csr_array((data, (rows, cidx)),
                              shape=(len(lo), len(cols)))
    res = optimize.milp(
        cost, integrality=np.ones(len(cols)),
        bounds=optimize.Bounds(0, 1),
        constraints=optimize.LinearConstraint(matrix, lo, hi),
        options={'time_limit': time_limit, 'disp': False})
    best = -res.fun if res.x is not None else 0.0
    bound = -getattr(res, 'mip_dual_bound', -np.inf) \
        if getattr(res, 'mip_dual_bound', None) is not None else np.inf
    return best, max(bound, best), res.status


def sample_nodes(nodes, count, seed):
    rng = np.random.default_rng(seed + 104729)
    keep = np.zeros(len(nodes.names), dtype=bool)
    keep[rng.choice(len(nodes.names), size=count, replace=False)] = True
    return nodes.subset(keep)


def run(variant, count, seed, policies, time_limit, trace_dir=None):
    all_nodes = trace.load_nodes(trace_dir)
    pods = trace.load_pods(trace_dir, 'openb_pod_list_%s.csv' % variant)
    nodes = sample_nodes(all_nodes, count, seed)
    cap = float(nodes.capacity)
    arrived = trace.fgd_arrival(pods, cap, seed)
    demand = np.cumsum(arrived.demand)
    last = int(np.searchsorted(demand, cap))       # pod reaching 100%
    st = compare.state_for(nodes, pods)
    out = {'trace': variant, 'seed': seed, 'nodes': count,
           'gpus': int(nodes.gpus.sum()), 'pods': last + 1}
    for policy in policies:
        alloc = compare.replay(st, arrived, policy, seed)[1]
        out[policy] = float(alloc[min(last, len(alloc) - 1)] / cap)
    start = time.time()
    best, bound, status = solve(nodes, arrived.take(np.arange(last + 1)),
                                time_limit)
    out.update(milp_best=best / cap, milp_bound=bound / cap,
               milp_status=int(status), milp_seconds=time.time() - start)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--trace-dir')
    parser.add_argument('--traces', default='default')
    parser.add_argument('--nodes', type=int, default=16)
    parser.add_argument('--seeds', default='42-44')
    parser.add_argument('--time-limit', type=float, default=60.0)
    parser.add_argument('--policies',
                        default='ours,fgd,best-fit,random,first-fit')
    args = parser.parse_args(argv)
    policies = args.policies.split(',')
    head = ['trace', 'seed', 'GPUs', 'pods'] + policies + \
        ['MILP best', 'MILP bound', 'solved']
    print('| ' + ' | '.join(head) + ' |')
    print('|' + '---|' * len(head))
    for variant in args.traces.split(','):
        for seed in compare.parse_seeds(args.seeds):
            r = run(variant, args.nodes, seed, policies, args.time_limit,
                    args.trace_dir)
            cells = [variant, str(seed), str(r['gpus']), str(r['pods'])]
            cells += ['%.2f (%+.2f)' % (100 * r[p],
                                        100 * (r[p] - r['milp_bound']))
                      for p in policies]
            cells += ['%.2f' % (100 * r['milp_best']),
                      '%.2f' % (100 * r['milp_bound']),
                      'yes' if r['milp_status'] == 0 else
                      'time limit (%.0f s)' % r['milp_seconds']]
            print('| ' + ' | '.join(cells) + ' |', flush=True)


if __name__ == '__main__':
    main()

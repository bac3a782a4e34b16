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

"""An upper bound on the GPU share any policy places, whole cluster (LP).

    python -m benchmarks.packing.cluster_bound [--traces all]
        [--seeds 42-51] [--results FILE]

The MILP of :mod:`milp_bound` packs a few nodes exactly and does not
scale to the 1,213 nodes of openb. This LP does: it counts pods by kind
and nodes by type, and keeps of each node type only sums over its nodes,
which any real packing satisfies, so its optimum bounds every packing
(and every online policy) from above. Per node type ``t`` (model, GPUs,
CPU, memory; ``n_t`` nodes) and pod kind ``c`` (GPUs ``k``, share ``m``,
CPU, memory, ``gpu_spec``), ``y[c, t]`` pods of kind c go to type t:

- no more pods of a kind than arrived; none on a model its ``gpu_spec``
  excludes, or on nodes with fewer than ``k`` GPUs or less CPU or memory
  than one pod asks;
- CPU, memory and GPU share of type t at most ``n_t`` times a node's;
- for each dual-feasible function ``u`` of the family below,
  ``sum_c y[c, t] k u(m) <= n_t GPUs(t)``: shares that add up to at most
  one GPU have ``u`` values adding up to at most 1 (Fekete and
  Schepers' ``u_q(x) = x`` if ``(q+1) x`` is whole, else
  ``floor((q+1) x) / q``), so two pods of 0.6 GPU cannot share a GPU
  here either. A whole GPU counts 1 under every ``u``.

It maximises the GPU share placed. It forgets what it cannot see in
sums: which node of a type a pod's CPU and GPU share land on (a node
can lend CPU to another), and the arrival order (the bound may refuse
early pods for later ones). CPU-only pods only take CPU and memory: the
bound may leave them out. The pods are the authors' arrival list up to
100% arrived demand (:func:`arrived_by_full`).
"""

import argparse
import collections
import json
import os

import numpy as np

from benchmarks.packing import compare
from benchmarks.packing import trace

MILLI = 1000
#: The ``q`` of the dual-feasible functions ``u_q`` used as cuts.
CUTS = tuple(range(1, 11))


def dual_feasible(share, q):
    """Fekete and Schepers' ``u_q`` of a GPU share in (0, 1]."""
    share = np.asarray(share, dtype=float)
    scaled = np.round((q + 1) * share, 9)
    whole = np.isclose(scaled, np.round(scaled))
    return np.where(whole, share, np.floor(scaled) / q)


def node_types(nodes):
    """``[(model, gpus, cpu, memory)]`` and how many nodes of each."""
    counts = collections.Counter(zip(nodes.models, nodes.gpus.tolist(),
                                     nodes.cpu.tolist(),
                                     nodes.memory.tolist()))
    types = sorted(counts)
    return types, np.array([counts[t] for t in types], dtype=float)


def pod_kinds(pods):
    """``[(gpus, milli, cpu, memory, models)]`` of the GPU pods, counted.

    ``models`` is the frozenset of the models ``gpu_spec`` names (empty:
    any model).
    """
    counts = collections.Counter()
    for k, m, cpu, mem, spec in zip(pods.gpus.tolist(), pods.milli.tolist(),
                                    pods.cpu.tolist(), pods.memory.tolist(),
                                    pods.specs):
        if k:
            counts[(k, m, cpu, mem, trace.models_of(spec))] += 1
    kinds = sorted(counts, key=lambda c: c[:4] + (sorted(c[4]),))
    return kinds, np.array([counts[c] for c in kinds], dtype=float)


def solve(nodes, pods, cuts=CUTS):
    """(upper bound in milli-GPU, HiGHS status) for packing ``pods``."""
    from scipy import optimize
    from scipy import sparse
    types, n_of = node_types(nodes)
    kinds, arrived = pod_kinds(pods)
    cols = [(c, t) for c, (k, m, cpu, mem, models) in enumerate(kinds)
            for t, (model, gpus, t_cpu, t_mem) in enumerate(types)
            if gpus >= k and t_cpu >= cpu and t_mem >= mem and
            (not models or model in models)]
    if not cols:
        return 0.0, 0
    rows, cidx, data, high = [], [], [], []

    def row(entries, limit):
        r = len(high)
        for i, v in entries:
            rows.append(r)
            cidx.append(i)
            data.append(v)
        high.append(limit)

    by_kind, by_type = collections.defaultdict(list), \
        collections.defaultdict(list)
    for i, (c, t) in enumerate(cols):
        by_kind[c].append(i)
        by_type[t].append((i, kinds[c]))
    for c, entries in by_kind.items():
        row([(i, 1.0) for i in entries], arrived[c])
    for t, entries in by_type.items():
        _, gpus, t_cpu, t_mem = types[t]
        row([(i, kind[2]) for i, kind in entries], n_of[t] * t_cpu)
        row([(i, kind[3]) for i, kind in entries], n_of[t] * t_mem)
        row([(i, kind[0] * kind[1] / MILLI) for i, kind in entries],
            n_of[t] * gpus)
        for q in cuts:
            row([(i, kind[0] * float(dual_feasible(kind[1] / MILLI, q)))
                 for i, kind in entries], n_of[t] * gpus)
    gain = np.array([kinds[c][0] * kinds[c][1] for c, _ in cols], float)
    matrix = sparse.csr_array((data, (rows, cidx)),
                              shape=(len(high), len(cols)))
    res = optimize.linprog(-gain, A_ub=matrix, b_ub=np.array(high),
                           bounds=(0, None), method='highs')
    if res.status != 0:
        raise RuntimeError('the bound LP did not solve: %s' % res.message)
    return float(-res.fun), int(res.status)


def arrived_by_full(pods, capacity, seed):
    """The authors' arrival list of ``seed`` up to 100% arrived demand.

    :mod:`compare` reads allocation at 100% as the mean over the pods
    whose arrived demand rounds to 100% (:func:`compare.window_mean`), so
    the list runs to the last of them: what any of them saw arrive.
    """
    arrived = trace.fgd_arrival(pods, capacity, seed)
    pct = np.round(np.cumsum(arrived.demand) / capacity * 100.0)
    return arrived.take(np.flatnonzero(pct <= 100))


def bounds(variant, seeds, trace_dir=None, cuts=CUTS):
    """{seed: bound as a share of the GPU capacity} of one variant."""
    nodes = trace.load_nodes(trace_dir)
    pods = trace.load_pods(trace_dir, 'openb_pod_list_%s.csv' % variant)
    cap = float(nodes.capacity)
    return {seed: solve(nodes, arrived_by_full(pods, cap, seed), cuts)[0]
            / cap for seed in seeds}


def placed(results, variant, policy, seeds):
    """{seed: allocated share at 100% demand} from compare's results."""
    return {r['seed']: r['alloc']['100'] for r in results
            if r['trace'] == variant and r['policy'] == policy and
            r.get('protocol', 'fgd') == 'fgd' and r['seed'] in seeds and
            r['alloc'].get('100') is not None}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--trace-dir')
    parser.add_argument('--traces', default='all')
    parser.add_argument('--seeds', default='42-51')
    parser.add_argument('--results', default=os.path.join(
        os.path.dirname(__file__), 'results', 'compare', 'results.json'),
        help="compare's results.json, for the policies' columns")
    parser.add_argument('--policies', default='ours,fgd,best-fit')
    parser.add_argument('--no-cuts', action='store_true',
                        help='sums alone, without the dual-feasible cuts')
    args = parser.parse_args(argv)
    seeds = compare.parse_seeds(args.seeds)
    variants = sorted(trace.pod_files(args.trace_dir)) \
        if args.traces == 'all' else args.traces.split(',')
    runs = []
    if os.path.exists(args.results):
        with open(args.results) as f:
            runs = json.load(f).get('runs', [])
    policies = args.policies.split(',')
    head = ['trace', 'bound (min..max)'] + \
        ['%s (gap)' % p for p in policies]
    print('| ' + ' | '.join(head) + ' |')
    print('|' + '---|' * len(head))
    for variant in variants:
        got = bounds(variant, seeds, args.trace_dir,
                     () if args.no_cuts else CUTS)
        values = np.array([got[s] for s in seeds])
        cells = [variant, '%.2f (%.2f..%.2f)' % (
            100 * values.mean(), 100 * values.min(), 100 * values.max())]
        for policy in policies:
            mine = placed(runs, variant, policy, seeds)
            if len(mine) != len(seeds):
                cells.append('-')
                continue
            gap = np.array([mine[s] - got[s] for s in seeds])
            cells.append('%.2f (%+.2f)' % (
                100 * np.mean([mine[s] for s in seeds]), 100 * gap.mean()))
        print('| ' + ' | '.join(cells) + ' |', flush=True)


if __name__ == '__main__':
    main()

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

"""Run the packing benchmark: policies x seeds x modes on the openb trace.

    python -m benchmarks.packing.run [--trace-dir DIR] [--seeds 10]
        [--profile-seeds 5] [--jobs 2] [--out benchmarks/packing/results]

Writes ``results.json``, ``table.md`` and PNG plots under ``--out``. The
policies are :mod:`gpuvirt_nova.scheduler.scoring`'s, the code Nova's
filter runs.
"""

import argparse
import collections
import json
import multiprocessing
import os
import sys
import time

import numpy as np

from benchmarks.packing import modes
from benchmarks.packing import simulate
from benchmarks.packing import trace
from benchmarks.packing import upper_bound
from gpuvirt_nova.scheduler import scoring

POINTS = tuple(round(0.05 * i, 2) for i in range(1, 27))
_STATE = {}


def setup(mode, trace_dir):
    """Cluster pieces of one mode (cached per worker process)."""
    if mode in _STATE:
        return _STATE[mode]
    nodes = trace.load_nodes(trace_dir)
    if mode.startswith('model:'):
        # one catalog model alone: the trace's nodes mapped to it
        target = mode.split(':', 1)[1]
        nodes = nodes.subset([modes.MODEL_MAP[m][0] == target
                              for m in nodes.models])
    pods = trace.load_pods(trace_dir)
    values, index = modes.request_classes(pods)
    if mode == 'fractional':
        space, _ = modes.fractional_space(values)
        shape_of_node = [0] * len(nodes.names)
    else:
        space, shape_of_node = modes.profile_space(values, nodes)
    mix = modes.mix_from(pods, index)
    _STATE[mode] = dict(nodes=nodes, pods=pods, values=values, space=space,
                        shape_of_node=shape_of_node, mix=mix,
                        tables=modes.tables(space, mix))
    return _STATE[mode]


def run_one(job):
    """One (mode, policy, seed) replay; returns plain numbers."""
    mode, policy, seed, trace_dir = job
    st = setup(mode, trace_dir)
    nodes, space = st['nodes'], st['space']
    arrived = trace.sample(st['pods'], nodes.capacity, seed)
    requests = np.searchsorted(st['values'], np.where(
        arrived.gpus > 0, arrived.milli, 1000))
    cluster = simulate.Cluster.build(space, nodes, st['shape_of_node'],
                                     len(space.shapes) - 1)
    result = simulate.replay(cluster, arrived, requests, st['mix'], policy,
                             st['tables'], seed, frag_points=POINTS)
    cap = float(cluster.gpu_cap.sum())
    free, asked = result.snapshots[1.0]
    per_model = {}
    for model in sorted(set(nodes.models)):
        mine = np.array([m == model for m in nodes.models])
        mcap = float(cluster.gpu_cap[mine].sum())
        per_model[model] = {
            'allocated': float(1 - free[mine].sum() / mcap),
            'requested': float(asked[mine].sum() / mcap)}
    ff = result.first_failure
    return {
        'mode': mode, 'policy': policy, 'seed': seed,
        'curve': [simulate.at_demand(result, cap, p) for p in POINTS],
        'curve_requested': [simulate.at_demand(result, cap, p, 'requested')
                            for p in POINTS],
        'at_first_failure': float(result.allocated[ff] / cap)
        if ff >= 0 else None,
        'demand_at_first_failure': float(result.demand[ff] / cap)
        if ff >= 0 else None,
        'frag_rate': result.frag_at.get(1.0),
        'decision_ms': result.decision_seconds * 1e3,
        'per_model': per_model,
        'gpus': int(nodes.gpus.sum()),
    }


def bound_one(job):
    """LP upper bound at 100% arrived demand for one seed."""
    mode, seed, trace_dir = job
    st = setup(mode, trace_dir)
    nodes, space = st['nodes'], st['space']
    arrived = trace.sample(st['pods'], nodes.capacity, seed)
    last = int(np.searchsorted(np.cumsum(arrived.demand), nodes.capacity))
    arrived = arrived.take(np.arange(min(last + 1, len(arrived))))
    kinds = collections.Counter()
    for i in range(len(arrived)):
        k = int(arrived.gpus[i])
        if not k:
            continue
        milli = int(arrived.milli[i])
        r = int(np.searchsorted(st['values'], milli))
        kinds[(r, milli, arrived.cpu[i] / k, arrived.memory[i] / k)] += k
    kinds = [(r, m, n, c, mem) for (r, m, c, mem), n in kinds.items()]
    groups = []
    for model in sorted(set(nodes.models)):
        mine = np.array([m == model for m in nodes.models])
        shape = space.shapes[st['shape_of_node'][int(np.argmax(mine))]]
        groups.append((shape, int(nodes.gpus[mine].sum()),
                       float(nodes.cpu[mine].sum()),
                       float(nodes.memory[mine].sum())))
    value = upper_bound.bound(groups, kinds, mode == 'fractional')
    return {'mode': mode, 'seed': seed, 'bound': value / nodes.capacity}


def summarize(runs, bounds):
    """Mean over seeds per (mode, policy)."""
    out = {}
    for run in runs:
        out.setdefault((run['mode'], run['policy']), []).append(run)
    table = {}
    for (mode, policy), rs in sorted(out.items()):
        at100 = POINTS.index(1.0)
        ff = [r['at_first_failure'] for r in rs
              if r['at_first_failure'] is not None]
        models = sorted(rs[0]['per_model'])
        table[mode + '/' + policy] = {
            'mode': mode, 'policy': policy, 'seeds': len(rs),
            'gpus': rs[0]['gpus'],
            'alloc_100': float(np.mean([r['curve'][at100] for r in rs])),
            'alloc_100_std': float(np.std([r['curve'][at100] for r in rs])),
            'requested_100': float(np.mean([r['curve_requested'][at100]
                                            for r in rs])),
            'at_first_failure': float(np.mean(ff)) if ff else None,
            'frag_rate_100': float(np.mean([r['frag_rate'] for r in rs])),
            'decision_ms': float(np.mean([r['decision_ms'] for r in rs])),
            'curve': np.mean([r['curve'] for r in rs], axis=0).tolist(),
            'per_model': {m: {k: float(np.mean([r['per_model'][m][k]
                                                for r in rs]))
                              for k in ('allocated', 'requested')}
                          for m in models},
        }
    for mode in {b['mode'] for b in bounds}:
        vals = [b['bound'] for b in bounds if b['mode'] == mode]
        table['%s/upper-bound' % mode] = {
            'mode': mode, 'policy': 'upper-bound', 'seeds': len(vals),
            'requested_100': float(np.mean(vals))}
    return table


def markdown(table):
    lines = ['| mode | policy | seeds | GPU allocated at 100% demand '
             '| GPU asked by placed pods | allocated at first failure '
             '| fragmentation rate at 100% | decision ms |',
             '|---|---|---|---|---|---|---|---|']
    for key in sorted(table, key=lambda k: (table[k]['mode'], _order(k))):
        row = table[key]
        if row['mode'].startswith('model:'):
            continue
        if row['policy'] == 'upper-bound':
            lines.append('| %s | LP upper bound | %d | | %.1f%% | | | |'
                         % (row['mode'], row['seeds'],
                            100 * row['requested_100']))
            continue
        lines.append('| %s | %s | %d | %.1f%% (sd %.1f) | %.1f%% | %s '
                     '| %.1f%% | %.2f |' % (
                         row['mode'], row['policy'], row['seeds'],
                         100 * row['alloc_100'], 100 * row['alloc_100_std'],
                         100 * row['requested_100'],
                         '%.1f%%' % (100 * row['at_first_failure'])
                         if row['at_first_failure'] is not None else '-',
                         100 * row['frag_rate_100'], row['decision_ms']))
    lines += ['', '| profile mode, per trace model (GPU asked by placed '
              'pods / GPU allocated incl. rounding) | ' +
              ' | '.join(scoring.POLICIES) + ' |',
              '|---|' + '---|' * len(scoring.POLICIES)]
    models = sorted(next((r['per_model'] for r in table.values()
                          if r['mode'] == 'profile' and 'per_model' in r),
                         {}))
    for model in models:
        cells = []
        for policy in scoring.POLICIES:
            row = table.get('profile/' + policy)
            cells.append('%.1f%% / %.1f%%' % (
                100 * row['per_model'][model]['requested'],
                100 * row['per_model'][model]['allocated'])
                if row else '-')
        lines.append('| %s -> %s | %s |' % (
            model, ' '.join(modes.MODEL_MAP[model]), ' | '.join(cells)))
    return '\n'.join(lines) + '\n'


def model_markdown(table):
    """Per catalog model (that model's nodes alone), profile mode."""
    lines = ['| catalog model (its nodes alone) | GPUs | ' +
             ' | '.join(scoring.POLICIES) + ' | LP bound |',
             '|---|---|' + '---|' * (len(scoring.POLICIES) + 1)]
    for mode in sorted({r['mode'] for r in table.values()
                        if r['mode'].startswith('model:')}):
        cells = []
        for policy in scoring.POLICIES + ('upper-bound',):
            row = table.get('%s/%s' % (mode, policy))
            cells.append('%.1f%%' % (100 * row['requested_100'])
                         if row else '-')
        gpus = next((r.get('gpus') for r in table.values()
                     if r['mode'] == mode and r.get('gpus')), '')
        lines.append('| %s | %s | %s |' % (mode.split(':', 1)[1], gpus,
                                           ' | '.join(cells)))
    return '\n'.join(lines) + '\n'


def _order(key):
    policy = key.split('/', 1)[1]
    return (scoring.POLICIES + ('upper-bound',)).index(policy)


def plot(table, out):
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot
    for mode in sorted({r['mode'] for r in table.values()}):
        if mode.startswith('model:'):
            continue
        fig, ax = pyplot.subplots(figsize=(7, 4.5))
        for policy in scoring.POLICIES:
            row = table.get('%s/%s' % (mode, policy))
            if row:
                ax.plot([100 * p for p in POINTS],
                        [100 * v for v in row['curve']], label=policy)
        bound = table.get('%s/upper-bound' % mode)
        if bound:
            ax.axhline(100 * bound['requested_100'], ls=':', c='grey',
                       label='LP bound at 100%')
        ax.plot([0, 100], [0, 100], ls='--', c='lightgrey')
        ax.set_xlabel('arrived GPU demand (% of capacity)')
        ax.set_ylabel('GPU allocated (% of capacity)')
        ax.set_title('openb trace, %s mode' % mode)
        ax.set_xlim(60, 130)
        ax.set_ylim(60, 101)
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(out, 'allocation_%s.png' % mode), dpi=110)
        pyplot.close(fig)


def _rounded(value):
    """Floats to 5 decimals, so results.json stays small and diffable."""
    if isinstance(value, float):
        return round(value, 5)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--trace-dir')
    parser.add_argument('--seeds', type=int, default=10)
    parser.add_argument('--profile-seeds', type=int, default=10)
    parser.add_argument('--jobs', type=int, default=2)
    parser.add_argument('--modes', default='fractional,profile')
    parser.add_argument('--model-seeds', type=int, default=5,
                        help='seeds of the per-model runs (profile mode '
                             'on the nodes of one catalog model alone)')
    parser.add_argument('--policies', default=','.join(scoring.POLICIES))
    parser.add_argument('--out', default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), 'results'))
    args = parser.parse_args(argv)
    trace_dir = trace.trace_dir(args.trace_dir)
    jobs, bjobs = [], []
    all_modes = args.modes.split(',')
    if args.model_seeds:
        all_modes += ['model:' + m for m in sorted(
            {v[0] for v in modes.MODEL_MAP.values()})
            if any(modes.MODEL_MAP[t][0] == m
                   for t in set(trace.load_nodes(trace_dir).models))]
    for mode in all_modes:
        seeds = {'fractional': args.seeds, 'profile': args.profile_seeds}.get(
            mode, args.model_seeds)
        for seed in range(seeds):
            bjobs.append((mode, seed, trace_dir))
            for policy in args.policies.split(','):
                jobs.append((mode, policy, seed, trace_dir))
    start = time.time()
    with multiprocessing.Pool(args.jobs) as pool:
        runs = []
        for i, run in enumerate(pool.imap_unordered(run_one, jobs)):
            runs.append(run)
            sys.stderr.write('\r%d/%d runs, %.0f s' % (
                i + 1, len(jobs), time.time() - start))
        bounds = pool.map(bound_one, bjobs)
    sys.stderr.write('\n')
    table = summarize(runs, bounds)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, 'results.json'), 'w') as f:
        json.dump(_rounded({'table': table, 'runs': runs, 'bounds': bounds,
                            'wall_seconds': time.time() - start}), f)
    text = markdown(table) + '\n' + model_markdown(table)
    with open(os.path.join(args.out, 'table.md'), 'w') as f:
        f.write(text)
    plot(table, args.out)
    print(text)
    print('wall time: %.0f s' % (time.time() - start))


if __name__ == '__main__':
    main()

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

"""Where a policy loses GPU by 100% demand: failed pods, stranded GPUs.

    python -m benchmarks.packing.diagnose --trace gpuspec10 --seed 0
        [--policies ours,fgd] [--trace-dir DIR]

Why: a mean allocation says how much, not why. Per policy this prints
the GPU pods that failed before arrived demand reached 100% of capacity,
grouped by (gpu_spec, GPU count, shared or whole), and per GPU model the
idle GPU share at that point, the nodes with a whole idle GPU, and the
nodes whose CPU is nearly gone (< 8 cores) while GPU share is idle
("CPU-starved": that share is stranded). Same replay as
:mod:`benchmarks.packing.compare`.
"""

import argparse
import collections

import numpy as np

from benchmarks.packing import compare
from benchmarks.packing import trace

STARVED_CPU = 8000


def diagnose(st, arrived, policy, seed):
    """(failed {key: (pods, milli)}, per model {model: counts}, alloc)."""
    cap = float(st['nodes'].capacity)
    demand, alloc, _, _, _ = compare.replay(st, arrived, policy, seed)
    got = np.diff(np.concatenate([[0.0], alloc]))
    failed = collections.defaultdict(lambda: [0, 0])
    specs = arrived.specs
    for i in np.flatnonzero(demand <= cap):
        if arrived.gpus[i] and got[i] == 0:
            key = (specs[i] if specs else '', int(arrived.gpus[i]),
                   'shared' if arrived.milli[i] < 1000 else 'whole')
            failed[key][0] += 1
            failed[key][1] += int(arrived.gpus[i] * arrived.milli[i])
    upto = arrived.take(np.arange(int(np.searchsorted(demand, cap))))
    cluster = compare.replay(st, upto, policy, seed)[4]
    free = st['space'].free[cluster.states].sum(axis=1)
    models = np.array(st['nodes'].models)
    per_model = {}
    for m in sorted(set(models)):
        sel = models == m
        per_model[m] = {
            'gpus': int(st['nodes'].gpus[sel].sum()),
            'idle_gpus': float(free[sel].sum() / 1000.0),
            'nodes_with_idle_gpu': int((free[sel] >= 1000).sum()),
            'cpu_starved_nodes': int(((cluster.cpu_left[sel] < STARVED_CPU)
                                      & (free[sel] > 0)).sum())}
    return dict(failed), per_model, compare.window_mean(
        demand, alloc / cap, cap, 100)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--trace-dir')
    parser.add_argument('--trace', default='default')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--policies', default='ours,fgd')
    args = parser.parse_args(argv)
    trace_dir = trace.trace_dir(args.trace_dir)
    st = compare.setup(args.trace, trace_dir)
    arrived = trace.arrival(st['pods'], float(st['nodes'].capacity),
                            args.seed, 'fgd')
    for policy in args.policies.split(','):
        failed, per_model, alloc = diagnose(st, arrived, policy, args.seed)
        print('%s: %.2f%% allocated at 100%% demand; %d GPU pods failed '
              '(%.0f GPUs)' % (policy, 100 * alloc,
                               sum(v[0] for v in failed.values()),
                               sum(v[1] for v in failed.values()) / 1e3))
        for key, (pods, milli) in sorted(failed.items(),
                                         key=lambda kv: -kv[1][1])[:8]:
            print('  failed %-32s %4d pods %7.1f GPUs'
                  % ('%s x%d %s' % (key[0] or 'any model', key[1], key[2]),
                     pods, milli / 1e3))
        for model, c in per_model.items():
            print('  %-8s idle %6.1f of %4d GPUs, %3d nodes with an idle '
                  'GPU, %3d CPU-starved nodes' % (
                      model, c['idle_gpus'], c['gpus'],
                      c['nodes_with_idle_gpu'], c['cpu_starved_nodes']))


if __name__ == '__main__':
    main()

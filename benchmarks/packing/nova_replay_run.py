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

"""A longer Nova replay of an openb slice, and its comparison.

Runs ``tests/functional/scheduler/test_packing_replay.py`` (Nova's
functional fixtures, real Placement, our filter and weigher) with
``--requests`` requests in the order of ``--seed`` and prints, per
request kind, how many Nova placed on the simulator's host and GPU, and
every difference. Needs Nova's test dependencies and
``OS_WSGI__API_PASTE_CONFIG`` as the functional tests do
(``--source synthetic``: without the trace)::

    OS_WSGI__API_PASTE_CONFIG=<venv>/etc/nova/api-paste.ini \\
        python -m benchmarks.packing.nova_replay_run --requests 200
"""

import argparse
import collections
import json
import os
import sys
import tempfile
import time
import unittest

from benchmarks.packing import nova_replay

CASES = {
    'openb': 'PackingReplayTest',
    'synthetic': 'SyntheticPackingReplayTest',
}
#: The same, with the mix learned from the requests (``--learn``).
LEARNED = {
    'openb': 'LearnedMixReplayTest',
    'synthetic': 'SyntheticLearnedMixReplayTest',
}
#: With --max-gpus above 2, the synthetic pods asking 4 and 8 GPUs.
MULTI_GPU = {
    False: 'SyntheticMultiGpuReplayTest',
    True: 'SyntheticLearnedMultiGpuReplayTest',
}
CASE = ('tests.functional.scheduler.test_packing_replay.%s.'
        'test_same_host_and_gpu_as_the_simulator')


def _kind(row):
    if not row['gpus']:
        return 'CPU only'
    kind = '%dx %s' % (row['gpus'], row['type'])
    return kind + (' @' + row['trait'] if row['trait'] else '')


def report(data, stream=sys.stdout):
    rows = data['rows']
    by_kind = collections.OrderedDict()
    for row in sorted(rows, key=_kind):
        counts = by_kind.setdefault(_kind(row), [0, 0, 0, 0])
        counts[0] += 1
        counts[1] += row['nova'] is not None
        counts[2] += row['simulator'] is not None
        counts[3] += row['nova'] == row['simulator']
    stream.write('%s\n\n' % data['summary'])
    stream.write('| request | count | placed by Nova | placed by the '
                 'simulator | same host and GPU |\n|---|---|---|---|---|\n')
    for kind, (n, nova, sim, same) in by_kind.items():
        stream.write('| %s | %d | %d | %d | %d |\n' % (kind, n, nova, sim,
                                                       same))
    for i, row in enumerate(rows):
        if row['nova'] != row['simulator']:
            stream.write('difference at request %d (%s): simulator %s, '
                         'Nova %s: %s\n' % (i, _kind(row), row['simulator'],
                                            row['nova'], row['difference']))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--requests', type=int, default=200)
    parser.add_argument('--seed', type=int, default=42)
    parser.add_argument('--out', help='keep every decision (JSON) here')
    parser.add_argument('--source', choices=sorted(CASES), default='openb',
                        help='the openb trace, or the seeded pods shaped '
                        'like it (benchmarks.packing.synthetic)')
    parser.add_argument('--cpu-blind', action='store_true',
                        help='configure typical_requests without the '
                        'vCPUs of each class')
    parser.add_argument('--learn', action='store_true',
                        help='leave typical_requests empty: the weigher '
                        'learns its mix from the requests it has seen')
    parser.add_argument('--no-relayout', action='store_true',
                        help='the simulator keeps where each '
                        'vGPU went instead of laying each GPU out from '
                        'its counts as the scheduler does')
    parser.add_argument('--max-gpus', type=int, default=2,
                        help='replay pods of up to this many GPUs (above '
                        '2, Placement caps and prunes its candidates as '
                        'doc/source/scheduler.rst advises; with --source '
                        'synthetic, above 2 is the case of 4- and 8-GPU '
                        'pods)')
    parser.add_argument('--pods', default=None,
                        help='the openb pod list (default: %s; not '
                        'with --source synthetic)' % nova_replay.DEFAULT_TRACE)
    parser.add_argument('--no-prune', action='store_true',
                        help='leave Placement\'s '
                        'optimize_for_wide_provider_trees off (slow; only '
                        'with --max-gpus above 2, which turns it on)')
    args = parser.parse_args(argv)
    out = args.out or os.path.join(tempfile.mkdtemp(), 'replay.json')
    os.environ.update(GPUVIRT_REPLAY_REQUESTS=str(args.requests),
                      GPUVIRT_REPLAY_SEED=str(args.seed),
                      GPUVIRT_REPLAY_CPU_BLIND='1' if args.cpu_blind
                      else '0',
                      GPUVIRT_REPLAY_RELAYOUT='0' if args.no_relayout
                      else '1',
                      GPUVIRT_REPLAY_MAX_GPUS=str(args.max_gpus),
                      GPUVIRT_REPLAY_PODS=(args.pods or
                                           nova_replay.DEFAULT_TRACE),
                      GPUVIRT_REPLAY_PRUNE='0' if args.no_prune else '1',
                      GPUVIRT_REPLAY_OUT=out)
    start = time.time()
    if args.source == 'synthetic' and args.max_gpus > 2:
        case = MULTI_GPU[args.learn]
    else:
        case = (LEARNED if args.learn else CASES)[args.source]
    suite = unittest.defaultTestLoader.loadTestsFromName(CASE % case)
    result = unittest.TextTestRunner(stream=sys.stderr, verbosity=0).run(
        suite)
    if not os.path.exists(out):
        sys.stderr.write('the replay did not finish\n')
        return 1
    with open(out) as stream:
        report(json.load(stream))
    sys.stdout.write('wall time %.0f s\n' % (time.time() - start))
    return 0 if result.wasSuccessful() else 1


if __name__ == '__main__':
    sys.exit(main())

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

"""What a new typical mix costs the scorer, next to a mix it has cached.

    python -m benchmarks.mix_change_cost [--hosts 100,1000] [--gpus 8]
        [--repeat 7]

Why: the scorer caches its tables per mix (``candidates._gpu_found``,
``_host_space``), and the mix learned from the latest requests
(``gpuvirt_nova.scheduler.recent``) changes every ``recent.REFRESH``
requests. On the fleet of :mod:`benchmarks.scheduler_fleet` (its
Placement answer: ``--hosts`` x ``--gpus`` A100s, MIG-backed or
time-sliced offers, random usage), ``fleet.score_hosts`` runs with one
mix shaped like a learned one (:func:`learned_like`) again and again
(its tables cached), then with one weight changed each time (every
table rebuilt). Reported: the median CPU time of each, and their
ratio, measured side by side in one process.
"""

import argparse
import json
import statistics
import time

from benchmarks import scheduler_fleet
from gpuvirt_nova.placement import naming
from gpuvirt_nova.scheduler import fleet


def _hosts(answer):
    summaries = answer['provider_summaries']
    by_root = {}
    for request in answer['allocation_requests']:
        root = next(u for u in request['allocations']
                    if summaries[u].get('parent_provider_uuid') is None)
        by_root.setdefault(root, []).append(request)
    return summaries, list(by_root.items())


def learned_like(offer):
    """A mix shaped like a learned one (9 classes).

    Every offered type at four vCPU counts, and a two-GPU class.
    """
    types, asked = scheduler_fleet.OFFERS[offer]
    mix = {'%s/%d' % (naming.resource_class(t), v): float(v)
           for t in sorted(types) for v in (2, 4, 8, 16)}
    mix['%s/16*2' % naming.resource_class(asked)] = 1.0
    return mix


def measure(hosts, gpus, offer, repeat):
    """(median seconds with the mix cached, with a new mix each time)."""
    fl = scheduler_fleet.Fleet(hosts, gpus, offer)
    summaries, listed = _hosts(json.loads(fl.candidates))
    base = learned_like(offer)
    first = sorted(base)[0]

    def one(weight):
        request_gpus = fleet.RequestGpus(summaries)
        mix = dict(base)
        mix[first] = weight
        start = time.process_time()
        fleet.score_hosts(request_gpus, listed, mix)
        return time.process_time() - start

    one(2.0)
    cached = statistics.median(one(2.0) for _ in range(repeat))
    new = statistics.median(one(2.0 + 0.01 * (i + 1))
                            for i in range(repeat))
    return cached, new


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--hosts', default='100,1000')
    parser.add_argument('--gpus', type=int, default=8)
    parser.add_argument('--repeat', type=int, default=7)
    args = parser.parse_args(argv)
    print('| hosts | offers | mix cached (ms) | new mix (ms) | ratio |')
    print('|---|---|---|---|---|')
    for hosts in [int(h) for h in args.hosts.split(',')]:
        for offer in ('mig', 'timesliced'):
            cached, new = measure(hosts, args.gpus, offer, args.repeat)
            print('| %d | %s | %.1f | %.1f | %.2f |' % (
                hosts, offer, cached * 1e3, new * 1e3, new / cached))


if __name__ == '__main__':
    main()

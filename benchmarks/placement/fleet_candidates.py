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

"""Allocation candidates on a synced fleet, filled, with and without tuning.

    python -m benchmarks.placement.fleet_candidates [--hosts 1000]
        [--workers 8] [--fills 0,50,90] [--repeat 3] [--backend sqlite,mysql]
        [--max-combinations 300000]

Builds the fleet of :mod:`benchmarks.placement.fleet_sync` (its sync
table is printed too), then serves the same database from two more
Placement processes with Placement 16's options for wide trees: the
first keeps the defaults, *limited* generates at most 1000 candidates,
hosts in turn (:data:`benchmarks.placement.served.LIMITED`), *wide* adds
``[workarounds] optimize_for_wide_provider_trees``
(:data:`~benchmarks.placement.served.TUNED`). At each fill level the
fleet's vGPU slots are used up to that share by real allocations,
written as Nova writes them (``PUT /allocations/{consumer}``; one new
consumer per host and level, holding vGPUs on each of its GPUs, the
slots used spread evenly over all GPUs), and each request is timed on
the three: one vGPU, and 2 or 4 vGPUs in granular groups with
``group_policy`` none and isolate, all with ``limit=1000`` as Nova asks
(``[scheduler] max_placement_results``).

Per request: the candidates returned, the hosts they span, every
candidate the fleet has (counted here from the fill, and checked against
Placement's answer where it is complete), the median latency seen by the
client, the Placement process's CPU per request, and the candidates
that ask a GPU for more than it has free (checked against the answer's
own provider summaries: a claim of one fails). With its defaults
Placement enumerates every combination of the groups' providers before
applying ``limit``; a request whose enumeration would pass
``--max-combinations`` is not sent there and is reported as such.
"""

import argparse
import collections
import itertools
import statistics
import sys
import time
import uuid

from benchmarks.placement import alloc_candidates
from benchmarks.placement import fleet_sync
from benchmarks.placement import served
from gpuvirt_nova.placement import naming

LIMIT = 1000
RC = naming.resource_class(alloc_candidates.TYPE)
#: Placement configurations compared: its defaults, then two tunings.
TUNINGS = {'default': {}, 'limited': served.LIMITED, 'wide': served.TUNED}
PROJECT = str(uuid.UUID(int=1))
USER = str(uuid.UUID(int=2))


def requests():
    """[(name, k, group policy or None)] of the measured requests."""
    return [('1 vGPU', 1, None)] + [
        ('%d vGPU, group_policy=%s' % (k, policy), k, policy)
        for k in (2, 4) for policy in ('none', 'isolate')]


def query(k, policy, limit=LIMIT):
    """Query pairs: ``k`` vGPUs, in granular groups when ``policy``."""
    if policy is None:
        pairs = [('resources', '%s:%d' % (RC, k))]
    else:
        pairs = [('resources%d' % (i + 1), '%s:1' % RC) for i in range(k)]
        pairs.append(('group_policy', policy))
    if limit:
        pairs.append(('limit', str(limit)))
    return pairs


def used_slots(gpus, slots, share):
    """Used slots of each of ``gpus`` GPUs so that ``share`` is used.

    Spread evenly: GPU ``i`` gets ``floor((i+1)s) - floor(i s)`` with
    ``s = share * slots``, so every GPU is within one slot of the mean.
    """
    per_gpu = share * slots
    return [int((i + 1) * per_gpu + 1e-9) - int(i * per_gpu + 1e-9)
            for i in range(gpus)]


def _host_counts(free, k, policy):
    """(candidates, combinations enumerated) on one host's free slots."""
    usable = [i for i, n in enumerate(free) if n > 0]
    if policy is None:
        return len([n for n in free if n >= k]), len(usable)
    found = 0
    for combo in itertools.product(usable, repeat=k):
        if policy == 'isolate' and len(set(combo)) < k:
            continue
        counts = collections.Counter(combo)
        if all(free[i] >= n for i, n in counts.items()):
            found += 1
    return found, len(usable) ** k


def expected(frees, k, policy):
    """(every candidate, combinations Placement enumerates) of a fleet.

    ``frees``: per host, the free slots of each GPU. Candidates are
    ordered: group 1 on GPU a and group 2 on GPU b is another candidate
    than the reverse, as Placement answers them.
    """
    total = combos = 0
    cache = {}
    for free in frees:
        key = tuple(free)
        if key not in cache:
            cache[key] = _host_counts(key, k, policy)
        found, tried = cache[key]
        total += found
        combos += tried
    return total, combos


class Filler:
    """Uses the fleet's slots up to a share with real allocations."""

    def __init__(self, fleet, client):
        self.fleet = fleet
        gpus = len(fleet.host.gpus)
        self.used = [[0] * gpus for _ in fleet.names]
        by_name = {p['name']: p['uuid'] for p in client.providers()}
        self.uuids = [[by_name[naming.gpu_provider_name(host, gpu.address)]
                       for gpu in fleet.host.gpus] for host in fleet.names]

    def frees(self):
        return [[self.fleet.slots - n for n in host] for host in self.used]

    def fill(self, share, clients, workers):
        """PUT one new consumer per host up to ``share``; the PUT count."""
        gpus = len(self.fleet.host.gpus)
        target = used_slots(gpus * len(self.fleet.names), self.fleet.slots,
                            share)
        work = []
        for h, host in enumerate(self.used):
            wanted = target[h * gpus:(h + 1) * gpus]
            allocations = {
                self.uuids[h][g]: {'resources': {RC: wanted[g] - host[g]}}
                for g in range(gpus) if wanted[g] > host[g]}
            if allocations:
                work.append(allocations)
                self.used[h] = [max(a, b) for a, b in zip(host, wanted)]

        def put(allocations):
            clients.get().put_allocations(str(uuid.uuid4()), allocations,
                                          PROJECT, USER)
        fleet_sync.run_pool(put, work, workers)
        return len(work)


def hosts_in(answer):
    """The hosts (root providers) the candidates of ``answer`` span."""
    summaries = answer['provider_summaries']
    return len({summaries[rp]['root_provider_uuid']
                for request in answer['allocation_requests']
                for rp in request['allocations']})


def over_capacity(answer):
    """Candidates of ``answer`` asking more than a provider has free.

    Read from the answer's own provider summaries (capacity, used): a
    claim of such a candidate fails.
    """
    summaries = answer['provider_summaries']
    over = 0
    for request in answer['allocation_requests']:
        for rp, allocation in request['allocations'].items():
            resources = summaries[rp]['resources']
            if any(amount > resources[rc]['capacity'] - resources[rc]['used']
                   for rc, amount in allocation['resources'].items()):
                over += 1
                break
    return over


def time_request(client, service, pairs, repeat):
    """(returned, hosts, over capacity, median s, Placement CPU s each)."""
    counts, times = set(), []
    cpu = service.cpu()
    for _ in range(repeat):
        start = time.perf_counter()
        answer = client.allocation_candidates(pairs)
        times.append(time.perf_counter() - start)
        counts.add((len(answer['allocation_requests']), hosts_in(answer),
                    over_capacity(answer)))
    cpu = (service.cpu() - cpu) / repeat
    if len(counts) != 1:
        raise RuntimeError('answer changed between requests: %s' % counts)
    returned, hosts, over = counts.pop()
    return returned, hosts, over, statistics.median(times), cpu


def measure_fills(backend, services, fleet, fills, workers, repeat,
                  max_combinations, progress=None):
    """Fill ``fleet`` to each level and time every request on both.

    Rows: ``(backend, fill %, request, tuning, returned, hosts, every
    candidate, combinations, median s, CPU s, PUTs, over capacity)``;
    returned, hosts, median, CPU and over are None for a request not
    sent.
    """
    clients = fleet_sync.Clients(services['default'].url)
    filler = Filler(fleet, clients.get())
    rows = []
    for fill in sorted(fills):
        puts = filler.fill(fill / 100.0, clients, workers)
        frees = filler.frees()
        for name, k, policy in requests():
            total, combos = expected(frees, k, policy)
            for tuning in TUNINGS:
                row = [backend, fill, name, tuning, None, None, total,
                       combos, None, None, puts, None]
                if tuning == 'default' and combos > max_combinations:
                    rows.append(tuple(row))
                    continue
                client = fleet_sync.Clients(services[tuning].url).get()
                returned, hosts, over, median, cpu = time_request(
                    client, services[tuning], query(k, policy), repeat)
                row[4:6] = [returned, hosts]
                row[8:10] = [median, cpu]
                row[11] = over
                rows.append(tuple(row))
                if progress:
                    progress(rows[-1])
    return rows


def measure(backend, hosts, fills, workers=8, repeat=3, gpus=8, slots=7,
            max_combinations=300000, progress=None, steady=True):
    """(sync passes, candidate rows) of one fleet on ``backend``."""
    rows = []

    def candidates(database, service, fleet):
        services = {'default': service}
        try:
            for tuning, options in TUNINGS.items():
                if options:
                    services[tuning] = served.Served(database.url, options)
            rows.extend(measure_fills(
                backend, services, fleet, fills, workers, repeat,
                max_combinations, progress))
        finally:
            for tuning, other in services.items():
                if other is not service:
                    other.stop()
    passes = fleet_sync.measure(backend, hosts, workers, gpus, slots,
                                keep=candidates, steady=steady)
    return passes, rows


def table(rows):
    lines = ['| backend | filled | request | tuning | candidates returned | '
             'over capacity | hosts in answer | all candidates | '
             'combinations | median | Placement CPU per request |',
             '|' + '---|' * 11]
    for (backend, fill, name, tuning, returned, hosts, total, combos,
         median, cpu, _, over) in rows:
        if median is None:
            lines.append('| %s | %d%% | %s | %s | not sent | | | %d | %d | | '
                         '|' % (backend, fill, name, tuning, total, combos))
            continue
        lines.append('| %s | %d%% | %s | %s | %d | %d | %d | %d | %d | '
                     '%.3f s | %.3f s |' % (
                         backend, fill, name, tuning, returned, over, hosts,
                         total, combos, median, cpu))
    return '\n'.join(lines)


def _fills(text):
    try:
        values = [int(v) for v in text.split(',') if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError('expected N[,N...], got %r' % text)
    if not values or min(values) < 0 or max(values) > 100:
        raise argparse.ArgumentTypeError('fill levels are 0 to 100')
    return values


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    fleet_sync.add_fleet_arguments(parser)
    parser.add_argument('--fills', type=_fills, default=[0, 50, 90],
                        help='percent of the vGPU slots used')
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--skip-steady', action='store_true',
                        help='no steady-state sync pass (fleet_sync.py '
                             'measures it)')
    parser.add_argument('--max-combinations', type=int, default=300000,
                        help='send a request untuned only when Placement '
                             'would enumerate at most this many')
    args = parser.parse_args(argv)
    if args.hosts < 1 or args.workers < 1 or args.repeat < 1:
        parser.error('--hosts, --workers and --repeat must be 1 or more')
    start = time.perf_counter()
    passes, rows = [], []

    def show(row):
        sys.stderr.write('%s %3d%% %-28s %-7s %5s returned (%s over '
                         'capacity), %s hosts, %.3f s\n'
                         % (row[:5] + (row[11], row[5], row[8])))
    for backend in fleet_sync.backends_from(parser, args.backend):
        done, found = measure(backend, args.hosts, args.fills, args.workers,
                              args.repeat, args.gpus, args.slots,
                              args.max_combinations, show,
                              not args.skip_steady)
        passes += [(backend, args.workers, p) for p in done]
        rows += found
    print(fleet_sync.table(passes))
    print()
    print(table(rows))
    print('\nallocation PUTs per fill step: %s' % ', '.join(
        '%s %d%%: %d' % (r[0], r[1], r[10]) for r in rows
        if r[2] == '1 vGPU' and r[3] == 'default'))
    print('wall time %.0f s' % (time.perf_counter() - start))


if __name__ == '__main__':
    main()

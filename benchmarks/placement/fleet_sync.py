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

"""A fleet of hosts syncing concurrently into one Placement over HTTP.

    python -m benchmarks.placement.fleet_sync [--hosts 1000] [--workers 8]
        [--gpus 8] [--slots 7] [--backend sqlite,mysql]

The real Placement is served on 127.0.0.1 by a process of its own
(:mod:`benchmarks.placement.served`; SQLite in a temporary directory, or
a fresh MariaDB database when ``GPUVIRT_TEST_DB_URL`` is set). ``--hosts``
simulated hosts (``--gpus`` A100-PCIE-40GB each, ``--slots`` vGPUs per
GPU, per-GPU providers built by :mod:`gpuvirt_nova.placement.tree`) run
the production sync (:func:`gpuvirt_nova.placement.sync.sync`), each
with its own HTTP client, through a pool of ``--workers`` threads. Then
every host syncs again: a fleet in steady state writes nothing.

Per pass: wall time, Placement calls (reads, writes), JSON body bytes
sent and received, 409 generation conflicts retried by the sync, 5xx
answers retried by the client, and the CPU time of this process (the
clients) and of the Placement process (not the database server's).
"""

import argparse
import concurrent.futures
import dataclasses
import json
import os
import sys
import threading
import time

from benchmarks.placement import alloc_candidates
from benchmarks.placement import served
from gpuvirt_nova.placement import client as placement_client
from gpuvirt_nova.placement import connect
from gpuvirt_nova.placement import sync
from gpuvirt_nova.placement import tree

DB_URL_ENV = alloc_candidates.DB_URL_ENV


class CountingAdapter:
    """An adapter that counts the JSON body bytes each way."""

    def __init__(self, adapter):
        self.adapter = adapter
        self.sent = 0
        self.received = 0

    def request(self, path, method, **kwargs):
        if kwargs.get('json') is not None:
            self.sent += len(json.dumps(kwargs['json']))
        response = self.adapter.request(path, method, **kwargs)
        self.received += len(response.content or b'')
        return response


@dataclasses.dataclass
class PassResult:
    """What one pass over the fleet cost."""

    name: str
    hosts: int
    wall: float = 0.0
    reads: int = 0
    writes: int = 0
    conflicts: int = 0
    retries: int = 0
    sent: int = 0
    received: int = 0
    client_cpu: float = 0.0
    server_cpu: float = 0.0

    @property
    def calls(self):
        return self.reads + self.writes


class Clients:
    """One counted PlacementClient per worker thread, on ``url``."""

    def __init__(self, url):
        self.url = url
        self._local = threading.local()
        self._lock = threading.Lock()
        self.all = []

    def get(self):
        client = getattr(self._local, 'client', None)
        if client is None:
            adapter = CountingAdapter(connect.sdk_for_url(self.url).placement)
            client = placement_client.PlacementClient(adapter)
            self._local.client = client
            with self._lock:
                self.all.append(client)
        return client

    def totals(self):
        """(sent bytes, received bytes, 5xx retries) of every client."""
        return (sum(c.adapter.sent for c in self.all),
                sum(c.adapter.received for c in self.all),
                sum(c.retries for c in self.all))


class Fleet:
    """``hosts`` copies of one simulated host, named fleet0001, ..."""

    def __init__(self, hosts, gpus=8, slots=7):
        self.host = alloc_candidates.template_host(gpus)
        self.slots = slots
        self.names = ['fleet%04d' % (i + 1) for i in range(hosts)]
        self.offers = {gpu.address: {alloc_candidates.TYPE: slots}
                       for gpu in self.host.gpus}

    def tree(self, hostname):
        """The desired provider tree of one host, as the sync builds it."""
        return tree.build_provider_tree(hostname, self.host, self.offers)


def run_pool(work, items, workers):
    """``work(item)`` for every item on ``workers`` threads; the results.

    :raises: the first exception a worker raised, once all have ended.
    """
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(work, item) for item in items]
        return [future.result() for future in futures]


def sync_pass(name, fleet, service, workers):
    """Every host of ``fleet`` syncs once; a :class:`PassResult`."""
    clients = Clients(service.url)
    result = PassResult(name, len(fleet.names))

    def one(hostname):
        return sync.sync(clients.get(), fleet.tree(hostname),
                         create_root=True)

    server_cpu, client_cpu = service.cpu(), time.process_time()
    start = time.perf_counter()
    reports = run_pool(one, fleet.names, workers)
    result.wall = time.perf_counter() - start
    result.client_cpu = time.process_time() - client_cpu
    result.server_cpu = service.cpu() - server_cpu
    result.reads = sum(r.reads for r in reports)
    result.writes = sum(r.writes for r in reports)
    result.conflicts = sum(r.conflicts for r in reports)
    result.sent, result.received, result.retries = clients.totals()
    return result


def measure(backend, hosts, workers=8, gpus=8, slots=7, keep=None,
            steady=True):
    """[first pass, steady pass] of ``hosts`` hosts on ``backend``.

    Without ``steady``, only [first pass].

    ``keep(database, service, fleet)``, when given, runs on the synced
    fleet before the database is dropped (the candidates benchmark).
    """
    fleet = Fleet(hosts, gpus, slots)
    database = alloc_candidates.Database(backend)
    service = None
    try:
        service = served.Served(database.url)
        passes = [sync_pass('first sync', fleet, service, workers)]
        if steady:
            passes.append(sync_pass('steady state', fleet, service,
                                    workers))
        if keep is not None:
            keep(database, service, fleet)
    finally:
        if service is not None:
            service.stop()
        database.drop()
    return passes


def table(rows):
    """Markdown: ``rows`` of (backend, workers, PassResult)."""
    lines = ['| backend | hosts | workers | pass | wall | hosts/s | calls | '
             'reads | writes | 409 retries | 5xx retries | sent | received '
             '| client CPU | Placement CPU | calls/host |',
             '|' + '---|' * 16]
    for backend, workers, p in rows:
        lines.append(
            '| %s | %d | %d | %s | %.1f s | %.1f | %d | %d | %d | %d | %d | '
            '%.1f MB | %.1f MB | %.1f s | %.1f s | %.1f |' % (
                backend, p.hosts, workers, p.name, p.wall,
                p.hosts / p.wall if p.wall else 0, p.calls, p.reads,
                p.writes, p.conflicts, p.retries, p.sent / 1e6,
                p.received / 1e6, p.client_cpu, p.server_cpu,
                p.calls / p.hosts))
    return '\n'.join(lines)


def backends_from(parser, value):
    """The backends to run: ``value`` or sqlite (+ mysql when set)."""
    names = value.split(',') if value else \
        ['sqlite'] + (['mysql'] if os.environ.get(DB_URL_ENV) else [])
    if set(names) - {'sqlite', 'mysql'}:
        parser.error('--backend takes sqlite,mysql')
    if 'mysql' in names and not os.environ.get(DB_URL_ENV):
        parser.error('--backend mysql needs %s' % DB_URL_ENV)
    return names


def add_fleet_arguments(parser):
    parser.add_argument('--hosts', type=int, default=1000)
    parser.add_argument('--workers', type=int, default=8,
                        help='concurrent host syncs (threads)')
    parser.add_argument('--gpus', type=int, default=8)
    parser.add_argument('--slots', type=int, default=7)
    parser.add_argument('--backend', default=None,
                        help='sqlite,mysql (default: sqlite, plus mysql '
                             'when %s is set)' % DB_URL_ENV)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_fleet_arguments(parser)
    args = parser.parse_args(argv)
    if args.hosts < 1 or args.workers < 1:
        parser.error('--hosts and --workers must be 1 or more')
    start = time.perf_counter()
    rows = []
    for backend in backends_from(parser, args.backend):
        for result in measure(backend, args.hosts, args.workers, args.gpus,
                              args.slots):
            rows.append((backend, args.workers, result))
            sys.stderr.write('%s %s: %.1f s, %d calls, %d writes\n' % (
                backend, result.name, result.wall, result.calls,
                result.writes))
    print(table(rows))
    print('\nwall time %.0f s' % (time.perf_counter() - start))


if __name__ == '__main__':
    main()

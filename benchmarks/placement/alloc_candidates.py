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

"""GET /allocation_candidates: per-VF providers (upstream) vs per-GPU (ours).

    python -m benchmarks.placement.alloc_candidates [--hosts 5,10,20]
        [--repeat 3] [--gpus 8] [--slots 7] [--backend sqlite,mysql]
        [--models upstream,ours]

Builds the same hosts (``--gpus`` A100-PCIE-40GB, ``--slots`` vGPUs each)
in two Placement databases, side by side in one run, with the real
Placement code embedded in process:

- *upstream*: one resource provider per SR-IOV VF under the compute node,
  inventory ``VGPU`` total=1 (Nova's per-VF model; no traits);
- *ours*: one provider per physical GPU, ``CUSTOM_VGPU_A100_1_5C``
  total=``--slots``, built by :func:`gpuvirt_nova.placement.tree.
  build_provider_tree` and written by the production sync.

Then times ``GET /allocation_candidates`` (no ``limit``: Placement's whole
enumeration) for one vGPU and for two vGPUs in granular groups with
``group_policy=none`` and ``isolate``, and prints candidate counts, the
median latency as the client sees it (request, JSON decode included) and
the upstream/ours ratio. ``mysql`` runs only when ``GPUVIRT_TEST_DB_URL``
is set (a fresh database is created there and dropped).
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid

import sqlalchemy

from gpuvirt_nova.conf import backends
from gpuvirt_nova.placement import client as placement_client
from gpuvirt_nova.placement import connect
from gpuvirt_nova.placement import embedded
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import sync
from gpuvirt_nova.placement import tree

MODEL = 'A100-PCIE-40GB'
TYPE = 'A100-1-5C'
UPSTREAM_RC = 'VGPU'
MODELS = ('upstream', 'ours')
DB_URL_ENV = 'GPUVIRT_TEST_DB_URL'


def queries(rc):
    """{name: query pairs} of the measured requests for class ``rc``."""
    two = [('resources1', '%s:1' % rc), ('resources2', '%s:1' % rc)]
    return {
        '1 vGPU': [('resources', '%s:1' % rc)],
        '2 vGPU, group_policy=none': two + [('group_policy', 'none')],
        '2 vGPU, group_policy=isolate': two + [('group_policy', 'isolate')],
    }


def vf_address(gpu_address, index):
    """The PCI address of VF ``index`` of a GPU (functions from .4)."""
    base, _, _ = gpu_address.rpartition(':')
    function = 4 + index
    return '%s:%02x.%d' % (base, function // 8, function % 8)


def add_upstream_host(client, hostname, gpu_addresses, slots):
    """The per-VF model: root + one VGPU:1 child per VF."""
    root = client.create_provider(hostname)
    for address in gpu_addresses:
        for index in range(slots):
            child = client.create_provider(
                naming.gpu_provider_name(hostname,
                                         vf_address(address, index)),
                parent_uuid=root['uuid'])
            client.set_inventories(
                child['uuid'], child['generation'],
                {UPSTREAM_RC: {'total': 1, 'max_unit': 1}})


def add_our_host(client, hostname, host, slots):
    """Our model: one provider per GPU, ``slots`` of TYPE, via the sync."""
    offers = {gpu.address: {TYPE: slots} for gpu in host.gpus}
    sync.sync(client, tree.build_provider_tree(hostname, host, offers),
              create_root=True)


def template_host(gpus):
    """The simulated host every benchmark host is a copy of."""
    return backends.discover_simulated('%dx%s:mig@bench' % (gpus, MODEL))


def time_query(client, query, repeat):
    """(candidate count, median seconds) of ``repeat`` identical GETs."""
    counts, times = set(), []
    for _ in range(repeat):
        start = time.perf_counter()
        found = client.allocation_candidates(query)
        times.append(time.perf_counter() - start)
        counts.add(len(found['allocation_requests']))
    if len(counts) != 1:
        raise RuntimeError('candidate count changed between runs: %s'
                           % sorted(counts))
    return counts.pop(), statistics.median(times)


class Database:
    """A fresh Placement database: SQLite in a temp dir, or MariaDB."""

    def __init__(self, backend):
        self.backend = backend
        self._tmp = self._name = None
        if backend == 'sqlite':
            self._tmp = tempfile.mkdtemp(prefix='gpuvirt-bench-')
            self.url = embedded.sqlite_url(self._tmp)
            return
        server = os.environ[DB_URL_ENV]
        self._server = server
        self._name = 'gpuvirt_bench_%s' % uuid.uuid4().hex[:12]
        self._execute('CREATE DATABASE %s CHARACTER SET utf8mb4'
                      % self._name)
        self.url = sqlalchemy.engine.make_url(server).set(
            database=self._name).render_as_string(hide_password=False)

    def _execute(self, sql):
        engine = sqlalchemy.create_engine(self._server)
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(sql))
        engine.dispose()

    def drop(self):
        if self._name:
            self._execute('DROP DATABASE IF EXISTS %s' % self._name)
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


def measure(backend, model, sizes, repeat=3, gpus=8, slots=7, host=None,
            progress=None, syncs=None):
    """Rows ``(backend, model, hosts, query, candidates, median s)``.

    Hosts are added to one database up to each size in ``sizes`` in turn,
    and every query is timed at each size. With a list ``syncs``, each
    step of ``model`` ours also appends ``(backend, hosts, hosts added,
    seconds, reads, writes, steady writes, CPU seconds)``: the production
    sync of the hosts added, then the last host synced again (a steady
    state writes nothing). CPU seconds are this process's (the client and
    the embedded Placement; not a MariaDB server's): unlike the wall time
    they do not grow when other work takes the machine's cores.
    """
    host = host or template_host(gpus)
    database = Database(backend)
    service = embedded.EmbeddedPlacement(database.url)
    rows = []
    try:
        service.start()
        client = placement_client.PlacementClient(
            connect.sdk_for_url(service.url).placement)
        rc = UPSTREAM_RC if model == 'upstream' \
            else naming.resource_class(TYPE)
        built = 0
        for size in sorted(sizes):
            client.reset_counts()
            start = time.perf_counter()
            cpu = time.process_time()
            for index in range(built, size):
                hostname = 'bench%04d' % (index + 1)
                if model == 'upstream':
                    add_upstream_host(client, hostname,
                                      [g.address for g in host.gpus], slots)
                else:
                    add_our_host(client, hostname, host, slots)
            spent = time.perf_counter() - start
            cpu = time.process_time() - cpu
            if syncs is not None and model == 'ours':
                reads, writes = client.reads, client.writes
                client.reset_counts()
                add_our_host(client, hostname, host, slots)
                syncs.append((backend, size, size - built, spent, reads,
                              writes, client.writes, cpu))
            built = size
            for name, query in queries(rc).items():
                count, median = time_query(client, query, repeat)
                rows.append((backend, model, size, name, count, median))
                if progress:
                    progress(rows[-1])
    finally:
        service.stop()
        database.drop()
    return rows


def table(rows):
    """Markdown table: both models side by side, with the ratio."""
    by_key = {(b, m, h, q): (c, t) for b, m, h, q, c, t in rows}
    lines = ['| backend | hosts | request | candidates upstream | '
             'candidates ours | median upstream | median ours | ratio |',
             '|---|---|---|---|---|---|---|---|']
    seen = []
    for b, _, h, q, _, _ in rows:
        if (b, h, q) not in seen:
            seen.append((b, h, q))
    for b, h, q in seen:
        up = by_key.get((b, 'upstream', h, q))
        ours = by_key.get((b, 'ours', h, q))
        if not up or not ours:
            continue
        lines.append('| %s | %d | %s | %d | %d | %.3f s | %.3f s | %.1fx |'
                     % (b, h, q, up[0], ours[0], up[1], ours[1],
                        up[1] / ours[1] if ours[1] else float('inf')))
    return '\n'.join(lines)


def _ints(text):
    try:
        values = [int(v) for v in text.split(',') if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError('expected N[,N...], got %r' % text)
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError('host counts must be 1 or more')
    return values


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--hosts', type=_ints, default=[5, 10, 20])
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--gpus', type=int, default=8)
    parser.add_argument('--slots', type=int, default=7)
    parser.add_argument('--models', default=','.join(MODELS),
                        help='upstream,ours (default both)')
    parser.add_argument('--backend', default=None,
                        help='sqlite,mysql (default: sqlite, plus mysql '
                             'when %s is set)' % DB_URL_ENV)
    args = parser.parse_args(argv)
    backends = args.backend.split(',') if args.backend else \
        ['sqlite'] + (['mysql'] if os.environ.get(DB_URL_ENV) else [])
    if 'mysql' in backends and not os.environ.get(DB_URL_ENV):
        parser.error('--backend mysql needs %s' % DB_URL_ENV)
    models = args.models.split(',')
    if set(models) - set(MODELS) or set(backends) - {'sqlite', 'mysql'}:
        parser.error('--models takes upstream,ours; --backend sqlite,mysql')
    host = template_host(args.gpus)
    start = time.perf_counter()
    rows, syncs = [], []

    def show(row):
        sys.stderr.write('%s %-8s %4d hosts  %-30s %7d candidates  %.3f s\n'
                         % row)
    for backend in backends:
        for model in models:
            rows += measure(backend, model, args.hosts, args.repeat,
                            args.gpus, args.slots, host, show, syncs)
    print(table(rows) if len(models) == 2 else '\n'.join(
        '| %s | %s | %d | %s | %d | %.3f s |' % row for row in rows))
    if syncs:
        print('\n| backend | hosts | hosts added | sync time | per host | '
              'CPU per host | reads | writes | steady-state writes |\n'
              '|---|---|---|---|---|---|---|---|---|')
        for b, size, added, spent, reads, writes, steady, cpu in syncs:
            print('| %s | %d | %d | %.1f s | %.0f ms | %.0f ms | %d | %d | '
                  '%d |' % (b, size, added, spent,
                            1e3 * spent / max(added, 1),
                            1e3 * cpu / max(added, 1), reads, writes,
                            steady))
    print('\nwall time %.0f s' % (time.perf_counter() - start))


if __name__ == '__main__':
    main()

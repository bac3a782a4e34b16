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

"""Our scheduler plugins' cost next to Nova's own, on Nova's real path.

    nice -n 19 python -m benchmarks.scheduler_fleet [--hosts 100,1000]
        [--gpus 8] [--requests 5] [--control] [--baseline-ref REF]
        [--json FILE]

Why: a plugin's cost only means something next to what the scheduler
already spends. Each scheduling request goes through Nova's own
``SchedulerManager.select_destinations``: the request filters, Nova's
``SchedulerReportClient.get_allocation_candidates`` (its query string and
JSON decoding; the HTTP answer is a pre-serialised Placement document),
``HostManager`` host states built from ``ComputeNode`` objects, the
default filters and weighers through Nova's filter/weigher handlers, the
claim of ``allocation_candidates[0]`` and the alternates. It runs twice
per fleet, side by side in one process: Nova's defaults alone, and with
``VGPUUserLimitFilter``, ``VGPUFairShareFilter``, ``VGPUPlacementFilter``
and ``GpuPackingWeigher`` added. Fleets: ``--hosts`` hosts x ``--gpus``
A100-PCIE-40GB, MIG-backed (A100-1-5C/3-20C) or time-sliced
(A100-4C/10C) offers, random usage, one candidate per GPU.

Reported per request: CPU (``time.process_time``, median of the steady
requests; the first request after the fair-share cache expired is shown
apart), the CPU spent inside our plugins' own methods (the three filters'
``filter_all``, the weigher's ``weigh_objects`` and the tap that keeps
Nova's answer), the garbage collector's share of the CPU, and Placement
requests (each ``get``/``claim_resources`` of the report client). The two
schedulers' requests alternate, and a third scheduler with Nova's
defaults (``--control``) shows how far two identical schedulers differ
in the same run: the noise floor of the end-to-end difference.
``--baseline-ref`` also runs the same measurement with the gpuvirt_nova
of a git commit (``git archive``) in a subprocess, so a change is
measured before/after in one run.
"""

import argparse
import functools
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from unittest import mock
import uuid as uuidlib
import warnings

import numpy as np

warnings.simplefilter('ignore')

from nova import conf as nova_conf  # noqa: E402
from nova import context as nova_context  # noqa: E402
from nova import objects  # noqa: E402
from nova.scheduler.client import report  # noqa: E402
from nova.scheduler import host_manager  # noqa: E402
from nova.scheduler import manager  # noqa: E402
from oslo_utils import timeutils  # noqa: E402

from gpuvirt_nova import conf as gpuvirt_conf  # noqa: E402,F401
from gpuvirt_nova.placement import naming  # noqa: E402

CONF = nova_conf.CONF
MODEL = 'A100-PCIE-40GB'
OFFERS = {
    'mig': ({'A100-1-5C': 7, 'A100-3-20C': 2}, 'A100-1-5C'),
    'timesliced': ({'A100-4C': 10, 'A100-10C': 4}, 'A100-4C'),
    # the same time-sliced GPUs, and a server that asks none of them
    # (weigh_cpu_only_requests): one candidate per host
    'cpu-only': ({'A100-4C': 10, 'A100-10C': 4}, None),
}
OURS_FILTERS = ['VGPUUserLimitFilter', 'VGPUFairShareFilter',
                'VGPUPlacementFilter']
OURS_WEIGHER = 'gpuvirt_nova.scheduler.weighers.GpuPackingWeigher'
#: What every candidate allocates on the compute node (the flavor's).
_ROOT_ASKS = {'resources': {'VCPU': 2, 'MEMORY_MB': 4096, 'DISK_GB': 20}}
CELL = '00000000-0000-0000-0000-00000000ce11'


class _Resp:
    def __init__(self, body):
        self.body = body
        self.status_code = 200 if body is not None else 404
        self.text = ''

    def __bool__(self):
        return self.body is not None

    def json(self):
        # NOTE: decoding is the client's real cost of an answer.
        return json.loads(self.body)


class _Quiet:
    """A notifier that drops notifications (no message bus here)."""

    def info(self, *args, **kwargs):
        pass


class FleetPlacement(report.SchedulerReportClient):
    """Nova's report client answering from pre-serialised documents."""

    def __init__(self, fleet):
        # NOTE: no keystone session; only get() reaches "the network".
        self.fleet = fleet
        self.requests = 0

    def get(self, url, version=None, global_request_id=None):
        self.requests += 1
        return _Resp(self.fleet.answer(url))

    def claim_resources(self, context, consumer_uuid, alloc_request,
                        project_id, user_id, allocation_request_version,
                        consumer_generation=None):
        self.requests += 1
        return True


class Fleet:
    """Placement's view of ``hosts`` x ``gpus`` and Nova's compute nodes."""

    def __init__(self, hosts, gpus, offer, seed=0):
        rng = np.random.default_rng(seed)
        types, self.asked_type = OFFERS[offer]
        used_type = self.asked_type or next(iter(types))
        self.rc = naming.resource_class(self.asked_type) \
            if self.asked_type else None
        summaries, requests, self.nodes = {}, [], []
        self.gpu_docs = {}
        managed = []
        for h in range(hosts):
            root = str(uuidlib.UUID(int=h + 1))
            summaries[root] = {
                'resources': {'VCPU': {'capacity': 128, 'used': 0},
                              'MEMORY_MB': {'capacity': 1048576, 'used': 0},
                              'DISK_GB': {'capacity': 4000, 'used': 0}},
                'traits': ['COMPUTE_STATUS_ENABLED'],
                'parent_provider_uuid': None, 'root_provider_uuid': root}
            for g in range(gpus):
                gpu = str(uuidlib.UUID(int=(h + 1) << 32 | (g + 1)))
                used = int(rng.integers(0, types[used_type]))
                usage = {naming.resource_class(t): used
                         if t == used_type else 0 for t in types}
                summaries[gpu] = {
                    'resources': {naming.resource_class(t): {
                        'capacity': n,
                        'used': usage[naming.resource_class(t)]}
                        for t, n in types.items()},
                    'traits': [naming.gpu_model_trait(MODEL),
                               naming.MANAGED_TRAIT],
                    'parent_provider_uuid': root,
                    'root_provider_uuid': root}
                if self.rc:
                    requests.append({'allocations': {
                        root: _ROOT_ASKS,
                        gpu: {'resources': {self.rc: 1}}}, 'mappings': {}})
                managed.append({'uuid': gpu, 'generation': 1})
                self.gpu_docs[gpu] = (
                    json.dumps({'inventories': {
                        naming.resource_class(t): {'total': n, 'reserved': 0}
                        for t, n in types.items()},
                        'resource_provider_generation': 1}),
                    json.dumps({'usages': usage,
                                'resource_provider_generation': 1}))
            if not self.rc:
                requests.append({'allocations': {root: _ROOT_ASKS},
                                 'mappings': {}})
            self.nodes.append(_compute_node(h, root))
        self.candidates = json.dumps({'allocation_requests': requests,
                                      'provider_summaries': summaries})
        self.managed = json.dumps({'resource_providers': managed})
        self.usages = json.dumps({'usages': {self.rc: 3} if self.rc
                                  else {}})

    def answer(self, url):
        path = url.split('?')[0]
        if path == '/allocation_candidates':
            return self.candidates
        if path == '/resource_providers' and 'required=' in url:
            return self.managed
        if path == '/usages':
            return self.usages
        if path.startswith('/allocations/'):
            return '{"allocations": {}}'
        if path.startswith('/resource_providers/'):
            rp, what = path.split('/')[2:4]
            docs = self.gpu_docs.get(rp)
            return None if docs is None else \
                docs[0 if what == 'inventories' else 1]
        return None


def _compute_node(h, root):
    return objects.ComputeNode(
        id=h + 1, uuid=root, host='host%05d' % h,
        hypervisor_hostname='node%05d' % h, service_id=h + 1,
        vcpus=128, vcpus_used=0, memory_mb=1048576, memory_mb_used=0,
        local_gb=4000, local_gb_used=0, free_ram_mb=1048576,
        free_disk_gb=4000, disk_available_least=4000,
        hypervisor_type='QEMU', hypervisor_version=8002000,
        cpu_info='{}', running_vms=0, current_workload=0,
        numa_topology=None, pci_device_pools=objects.PciDevicePoolList(),
        stats={}, metrics='[]', host_ip='10.0.%d.%d' % (h // 250, h % 250 + 1),
        supported_hv_specs=[], cpu_allocation_ratio=4.0,
        ram_allocation_ratio=1.0, disk_allocation_ratio=1.0,
        updated_at=timeutils.utcnow(), created_at=timeutils.utcnow())


def _service(node):
    return objects.Service(
        id=node.service_id, host=node.host, binary='nova-compute',
        topic='compute', disabled=False, forced_down=False,
        last_seen_up=timeutils.utcnow(), updated_at=timeutils.utcnow(),
        created_at=timeutils.utcnow(), uuid=node.uuid)


def _host_manager(fleet):
    """Nova's HostManager with its DB reads answered from ``fleet``."""
    cell = objects.CellMapping(uuid=CELL, name='cell1',
                               database_connection='fake://',
                               transport_url='fake://', disabled=False)

    def refresh(self):
        self.cells = {CELL: cell}
        self.enabled_cells = [cell]
        self.host_to_cell_uuid = {}

    services = {n.host: _service(n) for n in fleet.nodes}

    def computes(self, context, cells, compute_uuids):
        wanted = set(compute_uuids) if compute_uuids is not None else None
        return ({CELL: [n for n in fleet.nodes
                        if wanted is None or n.uuid in wanted]}, services)

    with mock.patch.object(host_manager.HostManager, 'refresh_cells_caches',
                           refresh), \
            mock.patch.object(host_manager.HostManager, '_init_aggregates'):
        hm = host_manager.HostManager()
    hm._get_computes_for_cells = computes.__get__(hm)
    hm._instance_info = {n.host: {'updated': True, 'instances': {}}
                         for n in fleet.nodes}
    return hm


def _spec(fleet, context):
    return objects.RequestSpec(
        context, user_id='u1', project_id='p1', num_instances=1,
        flavor=objects.Flavor(
            flavorid='g1', name='g1', vcpus=2, memory_mb=4096, root_gb=20,
            ephemeral_gb=0, swap=0,
            extra_specs={'resources:%s' % fleet.rc: '1'} if fleet.rc
            else {}),
        image=objects.ImageMeta(properties=objects.ImageMetaProps()),
        is_bfv=False, scheduler_hints={}, ignore_hosts=None,
        force_hosts=None, force_nodes=None, requested_destination=None,
        instance_group=None, retry=None, limits=None, pci_requests=None,
        numa_topology=None, availability_zone=None,
        security_groups=objects.SecurityGroupList(),
        requested_resources=[], request_level_params=(
            objects.RequestLevelParams()),
        instance_uuid=str(uuidlib.uuid4()))


def configure(ours):
    """nova.conf of the run: Nova's default filters, ours appended."""
    filters = list(CONF.filter_scheduler.enabled_filters
                   if not hasattr(configure, 'nova_filters')
                   else configure.nova_filters)
    configure.nova_filters = filters
    CONF.set_override('available_filters', [
        'nova.scheduler.filters.all_filters',
        'gpuvirt_nova.scheduler.filters.all_filters'], 'filter_scheduler')
    CONF.set_override('enabled_filters',
                      filters + (OURS_FILTERS if ours else []),
                      'filter_scheduler')
    CONF.set_override('weight_classes', [
        'nova.scheduler.weights.all_weighers'] + (
        [OURS_WEIGHER] if ours else []), 'filter_scheduler')
    CONF.set_override('track_instance_changes', False, 'filter_scheduler')
    # NOTE: the services' heartbeats are written once; a slow run must
    # not see them go stale.
    CONF.set_override('service_down_time', 10 ** 6)
    CONF.set_override('max_jobs_per_user', 1000, 'gpuvirt_scheduler')
    CONF.set_override('fair_share', True, 'gpuvirt_scheduler')
    # NOTE: steady requests keep the managed-GPU count (a slow, niced run
    # takes more than the default 10 s between requests); the refresh is
    # measured apart, after _expire_cluster.
    CONF.set_override('cluster_usage_cache_seconds', 3600,
                      'gpuvirt_scheduler')
    # NOTE: never the machine's own layout file.
    CONF.set_override('file', '/nonexistent/layout.yaml', 'gpuvirt_layout')


class _Timer:
    """process_time and garbage-collector time, per request."""

    def __init__(self):
        self.inside = 0.0
        self.gc = 0.0
        self._gc_start = None

    def wrap(self, method):
        @functools.wraps(method)
        def timed(*args, **kwargs):
            start = time.process_time()
            try:
                return method(*args, **kwargs)
            finally:
                self.inside += time.process_time() - start
        return timed

    def on_gc(self, phase, info):
        if phase == 'start':
            self._gc_start = time.process_time()
        elif self._gc_start is not None:
            self.gc += time.process_time() - self._gc_start
            self._gc_start = None


def _scheduler(fleet, ours, timer=None):
    """A SchedulerManager with Nova's defaults (and ours if ``ours``).

    With ``timer``, our plugins' entry points count their CPU there.
    """
    configure(ours)
    sched = manager.SchedulerManager()
    sched.host_manager = _host_manager(fleet)
    sched.notifier = _Quiet()
    if ours and timer is not None:
        for each in sched.host_manager.enabled_filters:
            if type(each).__name__ in OURS_FILTERS:
                each.filter_all = timer.wrap(each.filter_all)
        for each in sched.host_manager.weighers:
            if type(each).__name__ == OURS_WEIGHER.rsplit('.', 1)[1]:
                each.weigh_objects = timer.wrap(each.weigh_objects)
    return sched


def _one(sched, client, fleet, timer):
    context = nova_context.RequestContext('u1', 'p1', is_admin=True)
    spec = _spec(fleet, context)
    before = client.requests
    gc.collect()
    timer.inside = timer.gc = 0.0
    start = time.process_time()
    sel = sched.select_destinations(
        context, spec_obj=spec, instance_uuids=[spec.instance_uuid],
        return_objects=True, return_alternates=True)
    spent = time.process_time() - start
    assert sel and sel[0], 'no host selected'
    return spent, client.requests - before, timer.inside, timer.gc


def measure(fleet, requests, control=False):
    """{kind: [(cpu s, Placement requests, inside ours s, gc s)]}.

    Kinds: 'nova', 'ours' and, with ``control``, 'control' (Nova's
    defaults again). Requests alternate between the schedulers. The first
    row of 'ours' is the request right after the fair-share cache
    expired; every scheduler had one warm-up request before.
    """
    client = FleetPlacement(fleet)
    timer = _Timer()
    from gpuvirt_nova.scheduler import filters as ours_filters
    kinds = ['ours', 'nova'] + (['control'] if control else [])
    with mock.patch.object(report, 'report_client_singleton',
                           return_value=client), \
            mock.patch.object(manager.SchedulerManager, '__init__',
                              return_value=None), \
            mock.patch('nova.compute.utils.notify_about_scheduler_action',
                       new=lambda *args, **kwargs: None), \
            mock.patch.object(objects.service,
                              'get_minimum_version_all_cells',
                              return_value=objects.service.SERVICE_VERSION):
        scheds = {kind: _scheduler(fleet, kind == 'ours', timer)
                  for kind in kinds}
        # NOTE: the migrations of a new server: an API DB read in Nova.
        ours_filters.READS._migrations = lambda context, instance: []
        # NOTE: older trees (--baseline-ref) may have no tap.
        tap = getattr(ours_filters.READS, 'remember_summaries', None)
        if tap is not None:
            ours_filters.READS.remember_summaries = timer.wrap(tap)
        gc.callbacks.append(timer.on_gc)
        try:
            for kind in kinds:
                _one(scheds[kind], client, fleet, timer)
            _expire_cluster(ours_filters.READS)
            rows = {kind: [] for kind in kinds}
            for i in range(requests):
                order = kinds if i % 2 == 0 else kinds[::-1]
                for kind in order:
                    rows[kind].append(_one(scheds[kind], client, fleet,
                                           timer))
        finally:
            gc.callbacks.remove(timer.on_gc)
            if tap is not None:
                ours_filters.READS.remember_summaries = tap
    return rows


def _expire_cluster(reads):
    """Forget the fair-share cluster view, whatever the code keeps."""
    for name in ('_cluster', '_gpus', '_listed'):
        if hasattr(reads, name):
            value = getattr(reads, name)
            setattr(reads, name, {} if isinstance(value, dict) else None)


def run(hosts_list, gpus, requests, offers, control=False):
    objects.register_all()
    CONF([], project='nova')
    results = []
    for hosts in hosts_list:
        for offer in offers:
            fleet = Fleet(hosts, gpus, offer)
            measured = measure(fleet, requests, control)
            for kind, rows in measured.items():
                steady = rows[1:] or rows
                results.append({
                    'hosts': hosts, 'gpus': gpus, 'offer': offer,
                    'plugins': kind == 'ours', 'kind': kind,
                    'cpu_ms': statistics.median(r[0] for r in steady) * 1e3,
                    'inside_ms': statistics.median(
                        r[2] for r in steady) * 1e3,
                    'gc_ms': statistics.mean(r[3] for r in steady) * 1e3,
                    'placement': max(r[1] for r in steady),
                    'refresh_cpu_ms': rows[0][0] * 1e3,
                    'refresh_placement': rows[0][1]})
                print('# %s' % json.dumps(results[-1]), file=sys.stderr,
                      flush=True)
    return results


def run_baseline(ref, argv):
    """The same measurement with gpuvirt_nova from commit ``ref``."""
    root = subprocess.check_output(['git', 'rev-parse', '--show-toplevel'],
                                   text=True).strip()
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(['git', 'archive', ref, 'gpuvirt_nova'],
                                 cwd=root, check=True,
                                 stdout=subprocess.PIPE).stdout
        subprocess.run(['tar', '-x', '-C', tmp], input=archive, check=True)
        # NOTE: this tree's benchmark next to that commit's package; the
        # working directory comes first on sys.path.
        shutil.copytree(os.path.join(root, 'benchmarks'),
                        os.path.join(tmp, 'benchmarks'))
        out = os.path.join(tmp, 'results.json')
        subprocess.run([sys.executable, '-m', 'benchmarks.scheduler_fleet',
                        '--json', out] + argv, cwd=tmp, check=True)
        with open(out) as stream:
            return json.load(stream)


def _kind(r):
    return r.get('kind') or ('ours' if r['plugins'] else 'nova')


def table(results, label=''):
    by = {(r['hosts'], r['offer'], _kind(r)): r for r in results}
    lines = []
    for r in results:
        if _kind(r) != 'ours':
            continue
        base = by[(r['hosts'], r['offer'], 'nova')]
        control = by.get((r['hosts'], r['offer'], 'control'))
        added = r['cpu_ms'] - base['cpu_ms']
        inside = r.get('inside_ms')
        lines.append(
            '| %s%d x %d | %s | %.1f ms | %.1f ms | %+.1f ms (%+.0f%%) | '
            '%s | %s | %s | %d | %d | %d (%.0f ms) |' % (
                label, r['hosts'], r['gpus'], r['offer'], base['cpu_ms'],
                r['cpu_ms'], added, 100.0 * added / base['cpu_ms'],
                '-' if inside is None else '%.1f ms (%.1f%%)' % (
                    inside, 100.0 * inside / base['cpu_ms']),
                '-' if control is None else '%+.0f%%' % (
                    100.0 * (control['cpu_ms'] - base['cpu_ms'])
                    / base['cpu_ms']),
                '-' if 'gc_ms' not in r else '%.0f / %.0f ms' % (
                    base['gc_ms'], r['gc_ms']),
                base['placement'], r['placement'], r['refresh_placement'],
                r['refresh_cpu_ms']))
    return lines


HEADER = ('| hosts x GPUs | offers | Nova alone: CPU/request | '
          'Nova + ours | added, end to end | inside our plugins '
          '(of Nova alone) | control: Nova alone again | garbage '
          'collection: Nova alone / + ours | Placement requests: Nova '
          'alone | Nova + ours | ours, fair-share refresh request (CPU) |\n'
          '|---|---|---|---|---|---|---|---|---|---|---|')


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--hosts', default='100,1000')
    parser.add_argument('--gpus', type=int, default=8)
    parser.add_argument('--requests', type=int, default=5)
    parser.add_argument('--offers', default='mig,timesliced')
    parser.add_argument('--control', action='store_true',
                        help="a third scheduler with Nova's defaults: the "
                        'noise floor of the end-to-end difference')
    parser.add_argument('--baseline-ref')
    parser.add_argument('--json')
    args = parser.parse_args(argv)
    passed = [a for a in argv if not a.startswith('--baseline-ref')
              and a != args.baseline_ref]
    baseline = run_baseline(args.baseline_ref, passed) \
        if args.baseline_ref else None
    results = run([int(h) for h in args.hosts.split(',')], args.gpus,
                  args.requests, args.offers.split(','), args.control)
    if args.json:
        with open(args.json, 'w') as stream:
            json.dump(results, stream)
        return results
    print(('| code ' + HEADER + '---|') if baseline else HEADER)
    if baseline:
        for line in table(baseline, '%s | ' % args.baseline_ref):
            print('| ' + line[2:])
        for line in table(results, 'this tree | '):
            print('| ' + line[2:])
    else:
        for line in table(results):
            print(line)
    return results


if __name__ == '__main__':
    main()

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

"""How far concurrent boots of one user get past ``max_jobs_per_user``.

    python -m benchmarks.user_limit_race [--concurrent 2,4,8,16]
        [--windows 0,0.05,0.5] [--cap 4] [--rounds 3]

Why: VGPUUserLimitFilter reads the user's Placement usage, and Nova
claims the chosen candidate only after every filter and weigher has run;
two requests of one user in that window both see the old usage. This
measures it on the real Placement code (embedded, SQLite): a user holds
``cap - 1`` vGPUs, ``N`` requests of one vGPU each start together (a
barrier), each runs the filter's real ``filter_all`` (its usage read
included), waits ``window`` seconds (the rest of Nova's filtering and
weighing: about 0.3 to 0.6 s per request at 1,000 hosts x 8 GPUs, see
``scheduler_fleet``) and then claims like Nova (``PUT /allocations``).
Only one request should pass; the table shows how many did, and the
user's usage at the end, over ``--rounds`` rounds (max), with each
request on a ledger of its own (the filter before :mod:`admitted`) and
with the scheduler process's shared ledger of admitted, unclaimed
requests.
"""

import argparse
import shutil
import sys
import tempfile
import threading
import time
import uuid

from gpuvirt_nova import conf as gpuvirt_conf
from gpuvirt_nova.conf import backends
from gpuvirt_nova.placement import client as placement_client
from gpuvirt_nova.placement import connect
from gpuvirt_nova.placement import embedded
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import sync
from gpuvirt_nova.placement import tree

MODEL = 'A100-PCIE-40GB'
TYPE = 'A100-4C'
RC = naming.resource_class(TYPE)
CLAIM_VERSION = '1.28'


#: One Placement call at a time: the embedded service shares one SQLite
#: connection; a real Placement answers each call atomically too. The
#: race is between calls (read, then claim), which stays.
PLACEMENT = threading.Lock()


class _Reads:
    """Placement GETs for PlacementReads through the SDK's adapter."""

    def __init__(self, adapter):
        self.adapter = adapter

    def get(self, url, version=None):
        with PLACEMENT:
            return self.adapter.get(url, microversion=version,
                                    raise_exc=False)


def _spec(user, project):
    from nova import objects
    return objects.RequestSpec(
        user_id=user, project_id=project, num_instances=1,
        instance_uuid=str(uuid.uuid4()),
        flavor=objects.Flavor(
            vcpus=1, memory_mb=512, root_gb=1, ephemeral_gb=0, swap=0,
            extra_specs={'resources:%s' % RC: '1'}),
        image=objects.ImageMeta(properties=objects.ImageMetaProps()),
        is_bfv=False, scheduler_hints={})


def _claim(client, gpu, spec, consumers):
    try:
        with PLACEMENT:
            client.put_allocations(spec.instance_uuid,
                                   {gpu: {'resources': {RC: 1}}},
                                   spec.project_id, spec.user_id)
        consumers.append(spec.instance_uuid)
        return True
    except placement_client.PlacementError:
        return False


def one_round(client, adapter, gpus, concurrent, window, cap, user,
              ledger=True):
    """(requests past the filter, claimed, user's vGPUs at the end).

    ``ledger`` False gives each request a ledger of its own: the filter
    as it was before it counted admitted, unclaimed requests.
    """
    from gpuvirt_nova.scheduler import admitted
    from gpuvirt_nova.scheduler import filters
    from gpuvirt_nova.scheduler import reads
    from nova import exception as nova_exception

    consumers = []
    for i in range(cap - 1):
        _claim(client, gpus[i % len(gpus)], _spec(user, 'project-a'),
               consumers)
    barrier = threading.Barrier(concurrent)
    passed, claimed, lock = [0], [0], threading.Lock()

    def request(index):
        spec = _spec(user, 'project-a')
        filt = filters.VGPUUserLimitFilter()
        filt.reads = reads.PlacementReads(
            client=_Reads(adapter), migrations=lambda context, i: [])
        if not ledger:
            filt.admitted = admitted.Admitted()
        barrier.wait()
        try:
            filt.filter_all([], spec)
        except nova_exception.NoValidHost:
            return
        with lock:
            passed[0] += 1
        time.sleep(window)
        if _claim(client, gpus[index % len(gpus)], spec, consumers):
            with lock:
                claimed[0] += 1

    threads = [threading.Thread(target=request, args=(i,))
               for i in range(concurrent)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    usage = _Reads(adapter).get(
        '/usages?project_id=project-a&user_id=%s' % user,
        reads.USAGES_VERSION).json()['usages'].get(RC, 0)
    for consumer in consumers:
        client.delete_allocations(consumer)
    return passed[0], claimed[0], usage


def run(concurrent_list, windows, cap, rounds, progress=None):
    """Rows of the table, each count the max over ``rounds``.

    (N, window, passed, usage without the ledger, passed, usage with it,
    cap).
    """
    from nova import objects
    objects.register_all()
    conf = gpuvirt_conf.CONF
    conf([], project='nova')
    conf.set_override('max_jobs_per_user', cap, 'gpuvirt_scheduler')
    conf.set_override('file', '/nonexistent/layout.yaml', 'gpuvirt_layout')
    host = backends.discover_simulated('8x%s:vfio@race' % MODEL)
    tmp = tempfile.mkdtemp(prefix='gpuvirt-race-')
    service = embedded.EmbeddedPlacement(embedded.sqlite_url(tmp))
    rows = []
    try:
        service.start()
        sdk = connect.sdk_for_url(service.url)
        client = placement_client.PlacementClient(sdk.placement)
        offers = {gpu.address: {TYPE: 10} for gpu in host.gpus}
        # NOTE: 80 vGPUs: room for the largest --concurrent + cap.
        sync.sync(client, tree.build_provider_tree('race', host, offers),
                  create_root=True)
        gpus = sorted(p['uuid'] for p in client.request(
            'GET', '/resource_providers?resources=%s:1' % RC)
            ['resource_providers'])
        for concurrent in concurrent_list:
            for window in windows:
                row = [concurrent, window]
                for ledger in (False, True):
                    got = [one_round(client, sdk.placement, gpus,
                                     concurrent, window, cap,
                                     'user-%s' % uuid.uuid4().hex, ledger)
                           for _ in range(rounds)]
                    row += [max(g[0] for g in got), max(g[2] for g in got)]
                rows.append(tuple(row + [cap]))
                if progress:
                    progress(rows[-1])
    finally:
        service.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def _numbers(kind):
    def parse(text):
        try:
            values = [kind(v) for v in text.split(',') if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError('expected N[,N...], got %r'
                                             % text)
        if not values or min(values) < 0:
            raise argparse.ArgumentTypeError('values must be 0 or more')
        return values
    return parse


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--concurrent', type=_numbers(int),
                        default=[2, 4, 8, 16])
    parser.add_argument('--windows', type=_numbers(float),
                        default=[0.0, 0.05, 0.5])
    parser.add_argument('--cap', type=int, default=4)
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args(argv)
    if args.cap < 1 or min(args.concurrent) < 1:
        parser.error('--cap and --concurrent take 1 or more')

    def show(row):
        sys.stderr.write('N=%d window=%.2fs without: passed=%d usage=%d; '
                         'with: passed=%d usage=%d; cap=%d\n' % row)
    start = time.perf_counter()
    rows = run(args.concurrent, args.windows, args.cap, args.rounds, show)
    print('| concurrent requests | window read→claim | passed, no ledger '
          '(should be 1) | over the cap (%d), no ledger | passed, with the '
          'ledger | over the cap, with the ledger |' % args.cap)
    print('|---|---|---|---|---|---|')
    for n, window, passed, usage, passed_l, usage_l, cap in rows:
        print('| %d | %.2f s | %d | %+d | %d | %+d |'
              % (n, window, passed, usage - cap, passed_l, usage_l - cap))
    print('\nwall time %.0f s' % (time.perf_counter() - start))
    return rows


if __name__ == '__main__':
    main()

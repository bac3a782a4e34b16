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

"""Per-request cost of the gpuvirt scheduler plugins, measured side by side.

    python -m benchmarks.scheduler_overhead [--hosts 100] [--gpus 8]
        [--repeat 5]

Builds the Placement view of ``--hosts`` hosts with ``--gpus`` A100 GPUs
each (MIG-backed A100-1-5C/A100-3-20C offers, random usage) and one
allocation candidate per GPU, then times one scheduling request through
VGPUPlacementFilter + GpuPackingWeigher on Nova's HostState objects:

- with the per-request cache (one Placement read per request), and
- with the cache defeated (one read per host), to show what it saves.

Placement answers come from memory, so the times are the plugins' own
CPU cost (after one warm-up request has built the per-model tables); the
read counts tell the network cost.
"""

import argparse
import time
import warnings

import numpy as np

warnings.simplefilter('ignore')

from nova import objects  # noqa: E402
from nova.tests.unit.scheduler import fakes  # noqa: E402

from gpuvirt_nova.placement import naming  # noqa: E402
from gpuvirt_nova.scheduler import filters  # noqa: E402
from gpuvirt_nova.scheduler import reads  # noqa: E402
from gpuvirt_nova.scheduler import weighers  # noqa: E402

TYPES = {'A100-1-5C': 7, 'A100-3-20C': 2}
MODEL = 'A100-PCIE-40GB'


class MemoryPlacement:
    def __init__(self, summaries):
        self.summaries = summaries
        self.reads = 0

    def get_allocation_candidates(self, context, resources):
        self.reads += 1
        return [], self.summaries, '1.39'


def build(hosts, gpus, rng):
    summaries, states = {}, []
    rc = naming.resource_class('A100-1-5C')
    for h in range(hosts):
        root = 'cn%d' % h
        summaries[root] = {'resources': {}, 'traits': [],
                           'root_provider_uuid': root}
        found = []
        for g in range(gpus):
            uuid = '%s-gpu%d' % (root, g)
            used = int(rng.integers(0, 7))
            summaries[uuid] = {
                'resources': {naming.resource_class(t): {
                    'capacity': n, 'used': used if t == 'A100-1-5C' else 0}
                    for t, n in TYPES.items()},
                'traits': [naming.gpu_model_trait(MODEL)],
                'root_provider_uuid': root}
            found.append({'allocations': {
                root: {'resources': {'VCPU': 1}},
                uuid: {'resources': {rc: 1}}}})
        states.append(fakes.FakeHostState('h%d' % h, 'n%d' % h, {
            'uuid': root, 'allocation_candidates': found}))
    return summaries, states


def spec():
    return objects.RequestSpec(
        user_id='u', project_id='p', num_instances=1,
        flavor=objects.Flavor(
            vcpus=1, memory_mb=512, root_gb=1, ephemeral_gb=0, swap=0,
            extra_specs={
                'resources:%s' % naming.resource_class('A100-1-5C'): '1'}),
        image=objects.ImageMeta(properties=objects.ImageMetaProps()),
        is_bfv=False, scheduler_hints={})


def one_request(summaries, states, cached):
    placement = MemoryPlacement(summaries)
    shared = reads.PlacementReads(client=placement)
    filt = filters.VGPUPlacementFilter()
    weigher = weighers.GpuPackingWeigher()
    request = spec()
    start = time.perf_counter()
    for host in states:
        if not cached:
            shared = reads.PlacementReads(client=placement)
        filt.reads = weigher.reads = shared
        filt.host_passes(host, request)
        weigher._weigh_object(host, request)
    return time.perf_counter() - start, placement.reads


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--hosts', type=int, default=100)
    parser.add_argument('--gpus', type=int, default=8)
    parser.add_argument('--repeat', type=int, default=5)
    args = parser.parse_args(argv)
    objects.register_all()
    rng = np.random.default_rng(0)
    summaries, states = build(args.hosts, args.gpus, rng)
    # warm the shape/table caches (built once per GPU model and offer)
    one_request(summaries, states, True)
    rows = []
    for cached in (True, False):
        times = []
        for _ in range(args.repeat):
            spent, count = one_request(summaries, states, cached)
            times.append(spent)
        rows.append((cached, float(np.median(times)), count))
    print('| hosts x GPUs | per-request cache | plugin time per request '
          '| per host | Placement reads per request |')
    print('|---|---|---|---|---|')
    for cached, spent, count in rows:
        print('| %d x %d | %s | %.1f ms | %.2f ms | %d |' % (
            args.hosts, args.gpus, 'yes' if cached else 'no',
            spent * 1e3, spent * 1e3 / args.hosts, count))


if __name__ == '__main__':
    main()

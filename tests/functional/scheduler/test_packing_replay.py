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

"""The packing benchmark's placements, through Nova's real scheduler.

A slice of an openb trace (``benchmarks.packing.nova_replay``: 20 hosts
of A100 SXM4, A100 PCIe and T4 GPUs; MIG-backed and time-sliced vGPU
flavors, some requiring a GPU model trait) is booted request by request
through Nova's API, conductor and scheduler (Nova's functional fixtures,
real Placement) with ``VGPUPlacementFilter`` and ``GpuPackingWeigher``
as the only packing logic. Beside it, the benchmark's simulator places
the same request from the same state with the policy the weigher
implements. Every server must land on the simulator's host and GPU
(a request the simulator cannot place must fail to schedule), CPU-only
servers included: the weigher scores them too
(``[gpuvirt_scheduler] weigh_cpu_only_requests``).

Compute hosts run Nova's fake driver; their GPU providers are what our
driver reports, built by the one provider-tree function
(``placement.tree.build_provider_tree``) and applied by ours
(``virt.provider.apply_desired``); each GPU offers every type the
replay's flavors ask of its model, at the type's maximum. GPU i of a
host is its i-th GPU provider in uuid order, node order is the compute
node providers' uuid order (the weigher's fixed tie-breaks).

``PackingReplayTest`` replays the openb trace and is skipped where the
trace is absent (a clean clone: it is never copied into the project);
``SyntheticPackingReplayTest`` replays the same slice of hosts with a
seeded pod list shaped like openb (``benchmarks.packing.synthetic``), so
the comparison runs everywhere. ``SyntheticMultiGpuReplayTest`` adds
4- and 8-GPU flavors (isolated whole-GPU groups), with Placement set as
the docs advise for them.

``GPUVIRT_REPLAY_REQUESTS`` (default 40) sets the number of requests,
``GPUVIRT_REPLAY_SEED`` (42) their order, ``GPUVIRT_REPLAY_CPU_BLIND``
(1: a ``typical_requests`` without vCPUs; default: with them),
``GPUVIRT_REPLAY_MAX_GPUS`` (2) the largest pod of the trace replayed
(openb cases; above 2, Placement is set as for
``SyntheticMultiGpuReplayTest``), ``GPUVIRT_REPLAY_PODS`` the trace's
pod list (gpuspec20),
``GPUVIRT_REPLAY_OUT`` a JSON file for every decision; ``python -m
benchmarks.packing.nova_replay_run`` runs a longer replay and prints the
comparison.
"""

import json
import os
import time

import fixtures
from nova.tests.functional import fixtures as func_fixtures
from nova.tests.functional import integrated_helpers
from nova.virt import fake

from benchmarks.packing import nova_replay
from benchmarks.packing import synthetic
from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import model
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import tree
# NOTE: imported before Nova's fixtures forbid os.uname() (numpy).
from gpuvirt_nova.scheduler import filters
from gpuvirt_nova.scheduler import recent
from gpuvirt_nova.virt import provider

REQUESTS = int(os.environ.get('GPUVIRT_REPLAY_REQUESTS', '40'))
SEED = int(os.environ.get('GPUVIRT_REPLAY_SEED', '42'))
CPU_BLIND = os.environ.get('GPUVIRT_REPLAY_CPU_BLIND', '0') == '1'
#: Whether the simulator lays each GPU out as the scheduler does
#: (nova_replay.SimReplay's relayout); '0' shows what it explains.
RELAYOUT = os.environ.get('GPUVIRT_REPLAY_RELAYOUT', '1') == '1'
#: pods of more GPUs are left out (``nova_replay.build``)
MAX_GPUS = int(os.environ.get('GPUVIRT_REPLAY_MAX_GPUS', '2'))
PODS = os.environ.get('GPUVIRT_REPLAY_PODS', nova_replay.DEFAULT_TRACE)
#: Placement's settings for flavors of many granular groups, as
#: doc/source/scheduler.rst ("Placement settings for large clouds") has
#: them: a cap on the candidates generated, hosts taken in turn, and the
#: pruning of combinations that put two whole-GPU groups on one GPU.
#: Without the pruning, 8 isolated groups over 12 hosts of 8 GPUs cost
#: Placement minutes per request (it walks the combinations of one GPU
#: per group in order, about 355,000 per host before its share of the
#: 1,000 candidates, nearly all rejected by isolate);
#: ``GPUVIRT_REPLAY_PRUNE=0`` shows it.
LARGE_CLOUD_PLACEMENT = {
    'placement': {'max_allocation_candidates': 1000,
                  'allocation_candidates_generation_strategy':
                  'breadth-first'},
    'workarounds': {'optimize_for_wide_provider_trees':
                    os.environ.get('GPUVIRT_REPLAY_PRUNE', '1') == '1'},
}
NOVA_FILTERS = ['ComputeFilter', 'ComputeCapabilitiesFilter',
                'ImagePropertiesFilter',
                'ServerGroupAntiAffinityFilter',
                'ServerGroupAffinityFilter']


def _host_name(i):
    return 'replay%02d' % i


#: Kinds of difference (see benchmarks/README.md, "Nova replay").
#: Placement offered a GPU whose geometry has no room for the request
#: (each vGPU type's inventory is counted alone, and our filter never
#: drops a candidate); the server is deleted so that both sides go on
#: from the same state, as the simulator skips a pod it cannot place.
NO_ROOM = 'placed where the GPU has no room'
#: A request of more than 2 GPUs on the simulator's host, on other GPUs
#: in the very states of the simulator's (empty ones, say): Placement
#: stops at max_allocation_candidates, so the first GPUs in uuid order
#: (the weigher's tie-break) may not be among a host's candidates.
EQUAL_GPUS = 'equal GPUs of the same host'
#: Any other difference: Nova is put where the simulator would have been.
OTHER = 'another placement'


class ReplayResult(object):
    """Per request: what the simulator and Nova decided."""

    def __init__(self):
        self.rows = []      # (request, simulator, nova, kind of difference)
        self.seconds = []   # wall time of the boot, through ACTIVE or ERROR

    def add(self, request, sim, nova, kind=None, seconds=None):
        self.rows.append((request, sim, nova, kind))
        self.seconds.append(seconds)

    def differences(self, kind=None):
        return [row for row in self.rows if row[3] and
                (kind is None or row[3] == kind)]

    def as_dict(self):
        return {'summary': self.summary(), 'rows': [
            {'pod': r.pod, 'type': r.type_name, 'trait': r.trait,
             'gpus': r.gpus, 'vcpus': r.vcpus, 'memory_mb': r.memory_mb,
             'simulator': sim, 'nova': nova, 'difference': kind,
             'seconds': seconds}
            for (r, sim, nova, kind), seconds in zip(self.rows,
                                                     self.seconds)]}

    def summary(self):
        placed = sum(1 for row in self.rows if row[2] is not None)
        return ('%d requests, %d placed by Nova, %d as the simulator '
                'placed them; differences: %d %s, %d %s, %d %s'
                % (len(self.rows), placed,
                   len(self.rows) - len(self.differences()),
                   len(self.differences(NO_ROOM)), NO_ROOM,
                   len(self.differences(EQUAL_GPUS)), EQUAL_GPUS,
                   len(self.differences(OTHER)), OTHER))


_NOVA_PLACEMENT_CONFIG = func_fixtures.PlacementFixture._configure_placement


def _large_cloud_placement(fixture, conf_fixture):
    _NOVA_PLACEMENT_CONFIG(fixture, conf_fixture)
    for group, options in LARGE_CLOUD_PLACEMENT.items():
        conf_fixture.config(group=group, **options)


class PackingReplayTest(integrated_helpers.ProviderUsageBaseTestCase):

    compute_driver = 'fake.MediumFakeDriver'
    REQUESTS = REQUESTS
    SOURCE = 'openb'
    #: Whether the weigher learns its mix from the requests (recent.py)
    #: instead of the configured typical_requests.
    LEARN = False
    MAX_GPUS = MAX_GPUS
    #: how many GPUs the synthetic pods ask
    GPU_COUNTS = synthetic.GPU_COUNTS

    def setUp(self):
        try:
            self.scenario = nova_replay.build(
                requests=self.REQUESTS, seed=SEED, source=self.SOURCE,
                cpu_blind=CPU_BLIND, max_gpus=self.MAX_GPUS, pods_file=PODS,
                gpu_counts=self.GPU_COUNTS)
        except exception.UsageError as exc:
            self.skipTest('the openb trace is not available: %s' % exc)
        if self.MAX_GPUS > 2:
            self.useFixture(fixtures.MonkeyPatch(
                'nova.tests.functional.fixtures.PlacementFixture.'
                '_configure_placement', _large_cloud_placement))
        self.flags(available_filters=[
            'nova.scheduler.filters.all_filters',
            'gpuvirt_nova.scheduler.filters.all_filters'],
            enabled_filters=NOVA_FILTERS + ['VGPUPlacementFilter'],
            weight_classes=[
                'gpuvirt_nova.scheduler.weighers.GpuPackingWeigher'],
            host_subset_size=1, group='filter_scheduler')
        self.flags(cpu_allocation_ratio=1.0, ram_allocation_ratio=1.0,
                   disk_allocation_ratio=1.0, reserved_host_cpus=0,
                   reserved_host_memory_mb=0, reserved_host_disk_mb=0)
        self.flags(instances=-1, cores=-1, ram=-1, group='quota')
        # LEARN: typical_requests empty, the mix learned from the latest
        # requests from the first one on (the usage mix before the
        # minimum is not modelled)
        self.flags(typical_requests={} if self.LEARN else self.scenario.mix,
                   recent_requests_minimum=1, weigher_policy='pack',
                   group='gpuvirt_scheduler')
        super().setUp()
        self.useFixture(fixtures.MockPatchObject(
            filters, 'RECENT', recent.RecentRequests()))
        self.recorded = []
        self.flags(file=os.path.join(
            self.useFixture(fixtures.TempDir()).path, 'layout.yaml'),
            group='gpuvirt_layout')
        names = [_host_name(i) for i in range(len(self.scenario.nodes.names))]
        self.node_of = {name: i for i, name in enumerate(names)}
        test = self

        def update_provider_tree(driver, provider_tree, nodename,
                                 allocations=None):
            test._provider_tree(driver, provider_tree, nodename, allocations)

        self.useFixture(fixtures.MonkeyPatch(
            'nova.virt.fake.FakeDriver.update_provider_tree',
            update_provider_tree))
        self.roots, self.gpu_slots = {}, {}
        for name in names:
            self._start_compute(name)
        for name in names:
            root = self._get_provider_uuid_by_host(name)
            self.roots[root] = self.node_of[name]
            gpus = sorted(
                rp['uuid'] for rp in self.placement.get(
                    '/resource_providers?in_tree=%s' % root,
                    version='1.14').body['resource_providers']
                if rp['uuid'] != root)
            self.gpu_slots.update({uuid: i for i, uuid in enumerate(gpus)})
        ranked = sorted(self.roots, key=lambda r: r)
        order = [0] * len(ranked)
        for position, root in enumerate(ranked):
            order[self.roots[root]] = position
        self.sim = nova_replay.SimReplay(self.scenario, order,
                                         relayout=RELAYOUT)
        self.flavors = {}

    # -- compute side ------------------------------------------------------

    _ORIGINAL = fake.FakeDriver.update_provider_tree

    def _provider_tree(self, driver, provider_tree, nodename,
                       allocations=None):
        """Nova's fake resources, the slice's CPU, memory and GPUs."""
        type(self)._ORIGINAL(driver, provider_tree, nodename, allocations)
        i = self.node_of[nodename]
        nodes = self.scenario.nodes
        inventory = provider_tree.data(nodename).inventory
        vcpus, memory = int(nodes.cpu[i] // 1000), int(nodes.memory[i])
        inventory['VCPU'].update(total=vcpus, max_unit=vcpus)
        inventory['MEMORY_MB'].update(total=memory, max_unit=memory)
        provider_tree.update_inventory(nodename, inventory)
        model_name = self.scenario.catalog_model(i)
        gpu_model = catalog.load().get(model_name)
        gpus = [model.PhysicalGpu(address='0000:%02x:00.0' % (0x10 + g),
                                  model=model_name,
                                  architecture=gpu_model.architecture,
                                  numa_node=0)
                for g in range(int(nodes.gpus[i]))]
        host = model.Host(hostname=nodename, gpus=gpus)
        offer = self.scenario.gpu_offers(i)
        desired = tree.build_provider_tree(
            nodename, host, {g.address: dict(offer) for g in gpus})
        provider.apply_desired(provider_tree, desired)

    # -- requests ----------------------------------------------------------

    def _flavor(self, request):
        key = (request.vcpus, request.memory_mb, request.gpus,
               request.type_name, request.trait)
        if key not in self.flavors:
            self.flavors[key] = self._create_flavor(
                memory_mb=request.memory_mb, vcpu=request.vcpus, disk=1,
                ephemeral=0, extra_spec=request.extra_specs())
        return self.flavors[key]

    def _settle(self, server):
        for _ in range(2400):
            server = self.api.get_server(server['id'])
            if server['status'] in ('ACTIVE', 'ERROR') and \
                    not server['OS-EXT-STS:task_state']:
                return server
            time.sleep(0.05)
        self.fail('server %s still %s' % (server['id'], server['status']))

    def _where(self, server):
        """(node, [GPU slot]) of an ACTIVE server, None for ERROR."""
        if server['status'] != 'ACTIVE':
            return None
        node, gpus = None, []
        allocations = self._get_allocations_by_server_uuid(server['id'])
        for rp, alloc in allocations.items():
            if rp in self.roots:
                node = self.roots[rp]
            for rc, amount in alloc['resources'].items():
                if rc.startswith(naming.VGPU_RC_PREFIX):
                    gpus.extend([self.gpu_slots[rp]] * amount)
        return node, sorted(gpus)

    def replay(self):
        result = ReplayResult()
        opts = filters.CONF.gpuvirt_scheduler
        for j, request in enumerate(self.scenario.requests):
            if self.LEARN:
                # a request of no vGPU adds nothing to learn from: the
                # mix of the requests the scheduler counted so far
                self.sim.learn(j if request.gpus else None, self.recorded,
                               opts.recent_requests_window,
                               opts.recent_requests_minimum)
            sim = self.sim.place(j)
            flavor = self._flavor(request)
            start = time.monotonic()
            server = self.api.post_server({'server': self._build_server(
                flavor_id=flavor, networks='none')})
            server = self._settle(server)
            seconds = round(time.monotonic() - start, 2)
            nova = self._where(server)
            if request.gpus and nova is not None:
                # the scheduler counted it (it had candidates to score)
                self.recorded.append(request.mix_key)
            kind = None
            if nova != sim and sim is None and request.gpus and \
                    not self.sim.room(j, *nova):
                kind = NO_ROOM
                self._delete_server(server)
            elif nova != sim and request.gpus > 2 and \
                    self.sim.interchangeable(sim, nova):
                kind = EQUAL_GPUS
                self.sim.force(j, *nova)
            elif nova != sim:
                kind = OTHER
                self.sim.force(j, *(nova if nova else (None, None)))
            result.add(request, sim, nova, kind, seconds)
        return result

    def test_same_host_and_gpu_as_the_simulator(self):
        result = self.replay()
        out = os.environ.get('GPUVIRT_REPLAY_OUT')
        if out:
            with open(out, 'w') as stream:
                json.dump(result.as_dict(), stream, indent=1)
        self.assertGreater(sum(1 for row in result.rows if row[2]),
                           len(result.rows) // 2, result.summary())
        self.assertEqual([], result.differences(OTHER), result.summary())
        # equal GPUs are Placement's cap deciding a tie now and then, not
        # the rule (it would hide a tie-break of the weigher's)
        large = sum(1 for request, _, nova, _ in result.rows
                    if request.gpus > 2 and nova)
        self.assertLessEqual(len(result.differences(EQUAL_GPUS)),
                             max(1, large // 2), result.summary())
        if self.LEARN:
            # the scheduler counted the very requests the simulator did
            seen = recent.RecentRequests()
            window = filters.CONF.gpuvirt_scheduler.recent_requests_window
            for name in self.recorded:
                seen.record([name], window)
            self.assertEqual(seen.mix(1, cover=1.0),
                             filters.RECENT.mix(1, cover=1.0))


class SyntheticPackingReplayTest(PackingReplayTest):
    """The same replay on pods shaped like openb, without the trace."""

    SOURCE = 'synthetic'


class LearnedMixReplayTest(PackingReplayTest):
    """The replay with typical_requests empty: the mix is learned.

    From the requests the scheduler has seen (recent.py), from the first
    request on.
    """

    LEARN = True


class SyntheticLearnedMixReplayTest(SyntheticPackingReplayTest):
    """The learned-mix replay on the synthetic pods (no trace needed).

    46 requests: the first two whose host depends on the GPUs being laid
    out as the scheduler lays them out (requests 42 and 45; see
    ``nova_replay.SimReplay``'s relayout) are in.
    """

    LEARN = True
    REQUESTS = int(os.environ.get('GPUVIRT_REPLAY_REQUESTS', '46'))


class SyntheticMultiGpuReplayTest(SyntheticPackingReplayTest):
    """The synthetic replay with 4- and 8-GPU flavors.

    Placement runs as the docs advise for such flavors
    (``LARGE_CLOUD_PLACEMENT``): it stops at 1,000 candidates, taking
    hosts in turn, so the GPUs inside a host are chosen among the
    candidates Placement generated first; the pruning it needs is safe
    for these flavors (whole-GPU types, one per GPU, isolated groups).
    70 requests: three 4-GPU and five 8-GPU ones (one of T4s, which no
    host has: both refuse it).
    """

    MAX_GPUS = 8
    GPU_COUNTS = synthetic.MULTI_GPU_COUNTS
    REQUESTS = int(os.environ.get('GPUVIRT_REPLAY_REQUESTS', '70'))


class SyntheticLearnedMultiGpuReplayTest(SyntheticMultiGpuReplayTest):
    """The multi-GPU replay with the mix learned from the requests."""

    LEARN = True

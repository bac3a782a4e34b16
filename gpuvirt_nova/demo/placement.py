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

"""The demo: a simulated GPU cluster pooled in a real Placement.

``run(...)`` builds ``hosts`` simulated hosts from a layout file, syncs
each into Placement with the same provider tree and sync as production,
then places a stream of vGPU requests the way Nova does (GET
/allocation_candidates, a GPU-level choice among the candidates, PUT
/allocations) while some earlier jobs finish, and returns per-GPU usage.
A share of the requests ask two vGPUs through granular request groups
(:mod:`demo_requests`), so one claim may span two GPUs.
``compare(...)`` plays the same stream once per policy on fresh state.

Policies (the GPU-level choice among Placement's candidates):

* ``ours``: the scheduler plugins' own code
  (:func:`gpuvirt_nova.scheduler.gpu_level.pick`: VGPUPlacementFilter's
  fragmentation-aware ordering, GpuPackingWeigher's host choice);
* ``first-fit``: Placement's first candidate, what Nova does alone;
* ``best-fit``: the GPU with the fewest free slots of the type.

Numbers it reports are the scheduler's (see ``scheduler/scoring.py``):

* utilization: GPU share allocated, from the GPU shapes (a 3g.20gb takes
  4/8 of an A100's memory slices), over all GPUs;
* fragmentation rate: free GPU share that no request of the typical mix
  (the demo stream's mix) could use, summed and divided by the cluster's
  GPU capacity.
"""

import collections
import dataclasses
import os
import random
import re
import uuid

from gpuvirt_nova.demo import requests as demo_requests
from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import discover
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import offers as offers_mod
from gpuvirt_nova.placement import sync
from gpuvirt_nova.placement import tree
from gpuvirt_nova.scheduler import gpu_level
from gpuvirt_nova.scheduler import shapes

POLICIES = demo_requests.POLICIES
GROUP_POLICIES = demo_requests.GROUP_POLICIES
DEFAULT_MULTI_SHARE = demo_requests.DEFAULT_MULTI_SHARE
VgpuRequest = demo_requests.VgpuRequest
events = demo_requests.events
choose = demo_requests.choose
stream_mix = demo_requests.stream_mix
#: The order ``compare`` plays them in (baselines first).
COMPARE_ORDER = ('first-fit', 'best-fit', 'ours')

#: Used when no layout file is shipped or given: MIG-carved A100s next to
#: time-sliced L40S (a smaller copy of the shipped demo-mixed.yaml).
FALLBACK_LAYOUT = """
gpu_cluster:
  nodes:
    - host: node01
      gpus:
        - type: A100-PCIE-40GB
          count: 2
          mode: mig
          vgpus:
            - {name: train, mig: 3g.20gb}
            - {name: dev, mig: 2g.10gb}
            - {name: notebook, mig: 1g.5gb}
        - type: A100-PCIE-40GB
          count: 2
          mode: mig
          vgpus:
            - {name: notebook, mig: 1g.5gb, count: 7}
        - type: L40S
          count: 2
          mode: time-sliced
          vgpus:
            - {name: viz, memory: 12GB, count: 4}
"""


@dataclasses.dataclass
class GpuUsage:
    host: str
    address: str
    model: str
    #: {vGPU type: (used, total)}
    slots: dict
    #: GPU share allocated, in milli-GPU (scheduler shapes).
    used_milli: int = 0
    #: Free share no typical request could use, in milli-GPU.
    fragmented_milli: float = 0.0

    @property
    def used(self):
        return sum(u for u, _ in self.slots.values())

    @property
    def total(self):
        return sum(t for _, t in self.slots.values())


@dataclasses.dataclass
class DemoResult:
    gpus: list
    policy: str = POLICIES[0]
    #: Requests (servers), whatever their vGPU count.
    placed: int = 0
    rejected: int = 0
    finished: int = 0
    sync_calls: int = 0
    #: vGPUs of those requests.
    placed_vgpus: int = 0
    rejected_vgpus: int = 0
    finished_vgpus: int = 0
    #: Placed requests that asked more than one vGPU.
    placed_multi: int = 0

    def count(self, outcome, request):
        """Count one request's ``placed``/``rejected``/``finished``."""
        setattr(self, outcome, getattr(self, outcome) + 1)
        vgpus = outcome + '_vgpus'
        setattr(self, vgpus, getattr(self, vgpus) + request.vgpus)
        if outcome == 'placed' and request.vgpus > 1:
            self.placed_multi += 1

    @property
    def capacity(self):
        return float(shapes.MILLI * len(self.gpus))

    @property
    def utilization(self):
        return sum(g.used_milli for g in self.gpus) / self.capacity \
            if self.gpus else 0.0

    @property
    def fragmentation(self):
        """Fragmentation rate as ``scoring.fragmentation_rate`` has it."""
        return sum(g.fragmented_milli for g in self.gpus) / self.capacity \
            if self.gpus else 0.0

    @property
    def idle_gpus(self):
        return sum(1 for g in self.gpus if not g.used)


@dataclasses.dataclass
class Cluster:
    """The demo's hosts once synced: their aggregate and vGPU capacity."""

    hosts: list
    aggregate: str
    #: {vGPU type name: slots}
    capacity: dict
    sync_calls: int = 0


def _sim_mode(gpu_model, gpu_spec):
    from gpuvirt_nova.layout import resolve

    mode = resolve.gpu_mode(gpu_model, gpu_spec)
    if mode == resolve.MIG:
        return 'mig'
    modes = {m.value for m in gpu_model.vgpu_modes}
    for candidate in ('vfio', 'sriov-mdev', 'mdev'):
        if candidate in modes:
            return candidate
    return 'none'


_SIMULATE_RE = re.compile(r'^#\s*simulate:\s*(?P<spec>\S+)\s*$', re.M)


def simulate_hints(text):
    """{layout host: sim spec} from ``# simulate: SPEC@host`` comments.

    Shipped layouts carry such a line saying which hardware their node
    stands for; a spec without ``@host`` applies to every node.
    """
    hints = {}
    for match in _SIMULATE_RE.finditer(text or ''):
        spec_text, _, host = match.group('spec').partition('@')
        hints[host or None] = spec_text
    return hints


def sim_spec(node, hostname, hints=None):
    """The simulator spec of a layout node (``4xA100-SXM4-80GB:vfio+...``).

    A ``# simulate:`` hint for the node wins; else each gpus entry gives
    ``count`` (or its index list, or 1) GPUs of its ``type``.
    """
    hints = hints or {}
    hint = hints.get(node.host) or hints.get(None)
    if hint:
        return hint + '@' + hostname
    the_catalog = catalog.load()
    groups = []
    for gpu_spec in node.gpus:
        if not gpu_spec.model_name or gpu_spec.model_name == 'all':
            raise exception.UsageError(
                '%s: the demo needs type: and count: on every gpus entry to '
                'know which GPUs to simulate' % gpu_spec.path)
        gpu_model = the_catalog.get(gpu_spec.model_name)
        count = gpu_spec.count or (len(gpu_spec.index)
                                   if gpu_spec.index else 1)
        groups.append('%dx%s:%s' % (count, gpu_model.name,
                                    _sim_mode(gpu_model, gpu_spec)))
    if not groups:
        raise exception.UsageError('%s.gpus: the node has no GPUs to '
                                   'simulate' % node.path)
    return '+'.join(groups) + '@' + hostname


def load_layout(path=None):
    """(Layout, simulate hints) from ``path`` or the built-in layout."""
    from gpuvirt_nova.layout import spec as layout_spec

    if not path:
        return (layout_spec.load_text(FALLBACK_LAYOUT,
                                      '<built-in demo layout>'), {})
    try:
        with open(path) as stream:
            text = stream.read()
    except OSError as exc:
        raise exception.UsageError('--layout %s: %s' % (path, exc.strerror))
    return layout_spec.load_file(path), simulate_hints(text)


def check_arguments(hosts=1, requests=0, policy=POLICIES[0],
                    multi_share=0.0, group_policy='none'):
    """Raise UsageError for a bad command-line value.

    Checks --hosts, --requests, --policy, --multi-vgpu-share and
    --group-policy. Called by the command before it touches anything,
    and by the functions that take these values.
    """
    if hosts < 1:
        raise exception.UsageError('--hosts %d: simulate at least one host'
                                   % hosts)
    if policy not in POLICIES:
        raise exception.UsageError('--policy %s: use one of %s'
                                   % (policy, ', '.join(POLICIES)))
    if requests < 0:
        raise exception.UsageError('--requests %d: use 0 or more'
                                   % requests)
    if not 0.0 <= multi_share <= 1.0:
        raise exception.UsageError(
            '--multi-vgpu-share %s: use a fraction from 0 to 1 (0.1 = one '
            'request in ten asks two vGPUs)' % multi_share)
    if group_policy not in GROUP_POLICIES:
        raise exception.UsageError('--group-policy %s: use one of %s' % (
            group_policy, ', '.join(GROUP_POLICIES)))


def build_hosts(layout, count, sim_dir, hints=None, prefix='node'):
    """[(hostname, model.Host, offers)] for ``count`` simulated hosts.

    Hosts are named ``<prefix>01``, ``<prefix>02``...; layout nodes are
    cycled over them.
    """
    from gpuvirt_nova import sim

    check_arguments(hosts=count)
    if not layout.nodes:
        raise exception.UsageError('the layout has no gpu_cluster.nodes')
    hosts = []
    for index in range(count):
        node = layout.nodes[index % len(layout.nodes)]
        hostname = '%s%02d' % (prefix, index + 1)
        spec_text = sim_spec(node, hostname, hints)
        node = dataclasses.replace(node, host=hostname)
        root = os.path.join(sim_dir, hostname)
        sim_host = sim.SimulatedHost.create(root, sim.parse_spec(spec_text),
                                            replace=True)
        host = discover.discover_host(sim_host, hostname=hostname)
        hosts.append((hostname, host,
                      offers_mod.offers_for_node(node, host)))
    return hosts


def place(client, request, policy, user, aggregate, configured_mix=None):
    """Place one request; the consumer UUID, or None when nothing fits.

    ``request`` is a VgpuRequest (or a vGPU type name). Only the demo's
    hosts (members of ``aggregate``) are candidates, so a shared
    Placement's other providers are never touched. A several-vGPU
    request is claimed in one ``PUT /allocations`` that may span GPUs.
    """
    request = demo_requests.as_request(request)
    candidates = client.allocation_candidates(
        demo_requests.placement_query(request.extra_specs(), aggregate))
    chosen = choose(candidates, request.asked(), policy, configured_mix)
    if chosen is None:
        return None
    consumer = str(uuid.uuid4())
    client.put_allocations(consumer, chosen['allocations'],
                           project_id=user[0], user_id=user[1])
    return consumer


def usage(client, hosts, mix_weights=None):
    """[GpuUsage] read back from Placement for the demo's hosts.

    Usage and fragmentation are scored by the scheduler's own view
    (:func:`gpu_level.cluster_view`) of the same inventories and usages.
    """
    the_catalog = catalog.load()
    by_rc = {naming.resource_class(t.name): t.name
             for m in the_catalog.models.values() for t in m.vgpu_types}
    result, summaries = [], {}
    for hostname, host, _ in hosts:
        for gpu in host.gpus:
            provider = client.provider_by_name(
                naming.gpu_provider_name(hostname, gpu.address))
            if provider is None:
                continue
            _, inventories = client.inventories(provider['uuid'])
            used = client.usages(provider['uuid'])
            slots = {by_rc[rc]: (used.get(rc, 0), inv['total'])
                     for rc, inv in inventories.items() if rc in by_rc}
            gpu_model = the_catalog.find(gpu.model)
            summaries[provider['uuid']] = {
                'root_provider_uuid': hostname,
                'traits': [naming.gpu_model_trait(gpu_model.name)]
                if gpu_model else [],
                'resources': {rc: {'capacity': inv['total']
                                   - inv.get('reserved', 0),
                                   'used': used.get(rc, 0)}
                              for rc, inv in inventories.items()}}
            result.append((provider['uuid'], GpuUsage(
                hostname, gpu.address,
                gpu_model.name if gpu_model else gpu.model, slots)))
    views = {v.uuid: v
             for v in gpu_level.cluster_view(summaries, mix_weights)}
    for provider_uuid, gpu_usage in result:
        view = views.get(provider_uuid)
        if view is not None:
            gpu_usage.used_milli = view.used
            gpu_usage.fragmented_milli = view.fragmented
    return [u for _, u in result]


def check_unused_names(client, hosts):
    """Refuse to start when a provider has a demo host's name.

    The demo only ever touches what it made: a provider of that name
    belongs to someone else (a real compute node, another demo).
    """
    for hostname, _host, _offers in hosts:
        if client.provider_by_name(hostname) is not None:
            raise exception.UsageError(
                'Placement already has a provider named %s, which the demo '
                'did not create; the demo never touches providers it did '
                'not make: pick another host name prefix or another '
                'Placement' % hostname)


def teardown(client, hosts):
    """Remove every allocation and provider the demo made on ``hosts``.

    Safe to call at any point (also after a failed or interrupted run):
    what is not there is skipped. Children go before their root.
    """
    for hostname, _host, _offers in hosts:
        root = client.provider_by_name(hostname)
        if root is None:
            continue
        tree_providers = client.providers(in_tree=root['uuid'])
        for provider in tree_providers:
            for consumer in client.provider_allocations(provider['uuid']):
                client.delete_allocations(consumer)
        for provider in sorted(tree_providers, key=lambda p: (
                p['uuid'] == root['uuid'], p['name'])):
            client.delete_provider(provider['uuid'])


def setup(client, hosts, progress=None, total_steps=None):
    """Sync ``hosts`` into Placement in one new aggregate; a Cluster."""
    check_unused_names(client, hosts)
    cluster = Cluster(hosts=hosts, aggregate=str(uuid.uuid4()),
                      capacity=collections.Counter())
    total_steps = total_steps or len(hosts)
    for step, (hostname, host, offers) in enumerate(hosts, 1):
        desired = tree.build_provider_tree(hostname, host, offers)
        report = sync.sync(client, desired, create_root=True)
        cluster.sync_calls += report.calls
        client.add_to_aggregate(
            client.provider_by_name(hostname)['uuid'], cluster.aggregate)
        for spec in desired.providers:
            if spec.inventories:
                # Numbered request groups match member_of on the GPU
                # provider itself, not on its compute node.
                client.add_to_aggregate(
                    client.provider_by_name(spec.name)['uuid'],
                    cluster.aggregate)
            for rc, inventory in spec.inventories.items():
                cluster.capacity[spec.vgpu_types[rc]] += inventory.total
        if progress:
            progress(step, total_steps, 'sync %s' % hostname)
    if not cluster.capacity:
        raise exception.UsageError(
            'the layout gives the simulated hosts no vGPUs to place')
    return cluster


def play(client, cluster, stream, policy, seed=0, configured_mix=None,
         progress=None, first_step=1, total_steps=None, release=False):
    """Place ``stream`` (see :func:`events`) with ``policy``; DemoResult.

    ``release``: delete the allocations still held at the end, so the
    next policy starts from the same empty cluster.
    """
    check_arguments(policy=policy)
    rng = random.Random(seed)
    users = [(str(uuid.UUID(int=rng.getrandbits(128))),
              str(uuid.UUID(int=rng.getrandbits(128)))) for _ in range(8)]
    result = DemoResult(gpus=[], policy=policy,
                        sync_calls=cluster.sync_calls)
    running = []
    for step, (asked, finish, which) in enumerate(stream, first_step):
        request = demo_requests.as_request(asked)
        if running and finish:
            consumer, held = running.pop(int(which * len(running)))
            client.delete_allocations(consumer)
            result.count('finished', held)
        consumer = place(client, request, policy, users[step % len(users)],
                         cluster.aggregate, configured_mix)
        if consumer is None:
            result.count('rejected', request)
        else:
            result.count('placed', request)
            running.append((consumer, request))
        if progress:
            progress(step, total_steps or len(stream),
                     '%s %s' % (policy, request.label))
    result.gpus = usage(client, cluster.hosts, stream_mix(cluster.capacity))
    if release:
        for consumer, _ in running:
            client.delete_allocations(consumer)
    return result


def run(client, hosts, requests, policy=POLICIES[0], seed=0,
        finish_ratio=0.25, progress=None, configured_mix=None,
        multi_share=DEFAULT_MULTI_SHARE, group_policy='none'):
    """Sync ``hosts``, place ``requests`` requests; returns DemoResult.

    ``finish_ratio``: chance that a running job ends before each new
    request, so the cluster churns as a real one does. ``multi_share``
    of the requests ask two vGPUs (granular groups, ``group_policy``).
    """
    check_arguments(requests=requests, policy=policy,
                    multi_share=multi_share, group_policy=group_policy)
    total = len(hosts) + requests
    cluster = setup(client, hosts, progress, total)
    stream = events(cluster.capacity, requests, seed, finish_ratio,
                    multi_share, group_policy)
    return play(client, cluster, stream, policy, seed, configured_mix,
                progress, len(hosts) + 1, total)


def compare(client, hosts, requests, seed=0, finish_ratio=0.25,
            progress=None, configured_mix=None, policies=COMPARE_ORDER,
            multi_share=DEFAULT_MULTI_SHARE, group_policy='none'):
    """The same stream once per policy, each on the empty cluster.

    Returns [DemoResult] in ``policies`` order.
    """
    check_arguments(requests=requests, multi_share=multi_share,
                    group_policy=group_policy)
    for policy in policies:
        check_arguments(policy=policy)
    total = len(hosts) + requests * len(policies)
    cluster = setup(client, hosts, progress, total)
    stream = events(cluster.capacity, requests, seed, finish_ratio,
                    multi_share, group_policy)
    results = []
    for index, policy in enumerate(policies):
        results.append(play(client, cluster, stream, policy, seed,
                            configured_mix, progress,
                            len(hosts) + 1 + index * requests, total,
                            release=True))
    return results

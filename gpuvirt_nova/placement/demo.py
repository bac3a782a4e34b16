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

Numbers it reports:

* utilization: allocated vGPU framebuffer / GPU memory;
* fragmentation: share of the free vGPU memory that sits on partly used
  GPUs, i.e. free capacity a whole-GPU job cannot use (0% when every
  free slot is on an idle GPU).
"""

import collections
import dataclasses
import os
import random
import re
import uuid

from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import discover
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import offers as offers_mod
from gpuvirt_nova.placement import sync
from gpuvirt_nova.placement import tree

POLICIES = ('best-fit', 'first-fit')

#: Used when no layout file is shipped or given: the source article's
#: AI-training node (A100 80GB, 20GB vGPUs) next to MIG-sliced GPUs.
FALLBACK_LAYOUT = """
gpu_cluster:
  nodes:
    - host: node01
      gpus:
        - type: A100-SXM4-80GB
          count: 4
          mode: time-sliced
          vgpus:
            - {name: train-1, memory: 20GB, compute: 25%}
            - {name: train-2, memory: 20GB, compute: 25%}
            - {name: train-3, memory: 20GB, compute: 25%}
            - {name: train-4, memory: 20GB, compute: 25%}
        - type: A100-SXM4-80GB
          count: 4
          mode: mig
          vgpus:
            - {name: big, mig: 3g.40gb}
            - {name: mid, mig: 2g.20gb}
            - {name: small-1, mig: 1g.10gb}
            - {name: small-2, mig: 1g.10gb}
"""


@dataclasses.dataclass
class GpuUsage:
    host: str
    address: str
    model: str
    memory_mib: int
    #: {vGPU type: (used, total)}
    slots: dict

    def framebuffer(self, used=True):
        the_catalog = catalog.load()
        gpu_model = the_catalog.find(self.model)
        total = 0
        for type_name, (n_used, n_total) in self.slots.items():
            size = gpu_model.vgpu_type(type_name).framebuffer_mib
            total += size * (n_used if used else n_total - n_used)
        return total

    @property
    def used(self):
        return sum(u for u, _ in self.slots.values())

    @property
    def total(self):
        return sum(t for _, t in self.slots.values())


@dataclasses.dataclass
class DemoResult:
    gpus: list
    placed: int = 0
    rejected: int = 0
    finished: int = 0
    sync_calls: int = 0

    @property
    def utilization(self):
        memory = sum(g.memory_mib for g in self.gpus)
        return sum(g.framebuffer() for g in self.gpus) / memory \
            if memory else 0.0

    @property
    def fragmentation(self):
        free = sum(g.framebuffer(used=False) for g in self.gpus)
        stranded = sum(g.framebuffer(used=False) for g in self.gpus
                       if g.used)
        return stranded / free if free else 0.0


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


def check_arguments(hosts=1, requests=0, policy=POLICIES[0]):
    """Raise UsageError for a bad --hosts, --requests or --policy.

    Called by the command before it touches anything, and by the
    functions that take these values.
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
        hosts.append((hostname, host, offers_mod.merge_offers(
            offers_mod.offers_for_node(node, host))))
    return hosts


def request_stream(capacity, count, rng):
    """``count`` vGPU type names, drawn in proportion to ``capacity``.

    Larger types come a little more often than their share of slots
    (training jobs), so both packing and fragmentation show.
    """
    names = sorted(capacity)
    sizes = {n: catalog_framebuffer(n) for n in names}
    weights = [capacity[n] * (sizes[n] ** 0.5) for n in names]
    return rng.choices(names, weights=weights, k=count)


def catalog_framebuffer(type_name):
    for gpu_model in catalog.load().models.values():
        for vgpu_type in gpu_model.vgpu_types:
            if vgpu_type.name == type_name:
                return vgpu_type.framebuffer_mib
    return 1


def choose(candidates, resource_class, policy):
    """Index of the allocation request to claim (GPU-level ordering).

    ``candidates`` is Placement's answer. ``first-fit`` takes the first
    (what Nova does without a GPU-level filter); ``best-fit`` takes the
    GPU with the fewest free slots of that class left, so partly used
    GPUs fill before idle ones are broken into.
    """
    requests = candidates['allocation_requests']
    if not requests or policy == 'first-fit':
        return 0 if requests else None
    summaries = candidates['provider_summaries']

    def free(index):
        allocations = requests[index]['allocations']
        provider = next(p for p, a in allocations.items()
                        if resource_class in a['resources'])
        res = summaries[provider]['resources'][resource_class]
        return (res['capacity'] - res['used'], provider)
    return min(range(len(requests)), key=free)


def place(client, resource_class, policy, users, rng, aggregate):
    """Place one vGPU; the consumer UUID, or None when nothing fits.

    Only the demo's hosts (members of ``aggregate``) are candidates, so a
    shared Placement's other providers are never touched.
    """
    candidates = client.allocation_candidates(
        [('resources', '%s:1' % resource_class),
         ('required', naming.MANAGED_TRAIT),
         ('member_of', aggregate)])
    index = choose(candidates, resource_class, policy)
    if index is None:
        return None
    consumer = str(uuid.uuid4())
    project, user = rng.choice(users)
    client.put_allocations(
        consumer, candidates['allocation_requests'][index]['allocations'],
        project_id=project, user_id=user)
    return consumer


def usage(client, hosts):
    """[GpuUsage] read back from Placement for the demo's hosts."""
    by_rc = {naming.resource_class(t.name): t.name
             for m in catalog.load().models.values() for t in m.vgpu_types}
    result = []
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
            memory = gpu.memory_mib or catalog.load().get(
                gpu.model).memory_mib
            result.append(GpuUsage(hostname, gpu.address, gpu.model,
                                   memory, slots))
    return result


def run(client, hosts, requests, policy='best-fit', seed=0,
        finish_ratio=0.25, progress=None):
    """Sync ``hosts``, place ``requests`` vGPUs; returns DemoResult.

    ``finish_ratio``: chance that a running job ends before each new
    request, so the cluster churns as a real one does.
    """
    check_arguments(requests=requests, policy=policy)
    rng = random.Random(seed)
    aggregate = str(uuid.uuid4())
    result = DemoResult(gpus=[])
    capacity = collections.Counter()
    total_steps = len(hosts) + requests
    for step, (hostname, host, offers) in enumerate(hosts, 1):
        desired = tree.build_provider_tree(hostname, host, offers)
        report = sync.sync(client, desired, create_root=True)
        result.sync_calls += report.calls
        client.add_to_aggregate(
            client.provider_by_name(hostname)['uuid'], aggregate)
        for spec in desired.providers:
            for rc, inventory in spec.inventories.items():
                capacity[spec.vgpu_types[rc]] += inventory.total
        if progress:
            progress(step, total_steps, 'sync %s' % hostname)
    if not capacity:
        raise exception.UsageError(
            'the layout gives the simulated hosts no vGPUs to place')
    users = [(str(uuid.UUID(int=rng.getrandbits(128))),
              str(uuid.UUID(int=rng.getrandbits(128)))) for _ in range(8)]
    running = []
    for step, type_name in enumerate(
            request_stream(capacity, requests, rng), len(hosts) + 1):
        if running and rng.random() < finish_ratio:
            client.delete_allocations(
                running.pop(rng.randrange(len(running))))
            result.finished += 1
        consumer = place(client, naming.resource_class(type_name), policy,
                         users, rng, aggregate)
        if consumer is None:
            result.rejected += 1
        else:
            result.placed += 1
            running.append(consumer)
        if progress:
            progress(step, total_steps, 'place %s' % type_name)
    result.gpus = usage(client, hosts)
    return result

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


"""The layout as typed, checked values (after :mod:`.schema` checked shape).

``parse(data)`` turns the validated dict into a Layout: sizes and shares in
numbers, ``count:`` expanded into named vGPUs, named layouts (in the style
of mig-parted's ``mig-configs``) attached to the nodes that select them.
Every value keeps the YAML path it came from, so later checks (resolve,
feasibility, matching against a host) can name it in their errors.
"""

import dataclasses

from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import model
from gpuvirt_nova.layout import schema
from gpuvirt_nova.layout import units

#: ``type: all`` selects every GPU of the node (mig-parted's ``devices: all``).
ALL = 'all'


@dataclasses.dataclass(frozen=True)
class VgpuRequest:
    """One vGPU the operator asked for."""

    name: str
    path: str
    memory_mib: int = None
    compute: float = None
    profile: str = None
    mig: str = None
    start: int = None

    def describe_request(self):
        if self.profile:
            return self.profile
        if self.mig:
            return self.mig
        parts = []
        if self.memory_mib is not None:
            parts.append(units.format_mib(self.memory_mib))
        if self.compute is not None:
            parts.append(units.format_share(self.compute))
        return ', '.join(parts)


@dataclasses.dataclass(frozen=True)
class GpuSpec:
    """One ``gpus[]`` entry: which GPUs, and how each is sliced."""

    path: str
    model_name: str = None
    pci: str = None
    index: tuple = None
    count: int = None
    mode: str = None
    scheduling: str = model.SchedulingMode.EQUAL_SIZE.value
    series: str = 'C'
    vgpus: tuple = ()
    #: ``static``: the layout carves the GPU; ``dynamic``: the driver
    #: carves a MIG instance or time-sliced vGPU per guest (see
    #: gpuvirt_nova.dynamic).
    owner: str = 'static'

    @property
    def dynamic(self):
        return self.owner == 'dynamic'

    def describe_selector(self):
        if self.pci:
            return 'GPU %s' % self.pci
        text = 'every GPU' if self.model_name in (None, ALL) else \
            '%s GPUs' % self.model_name
        if self.index is not None:
            text += ' at index %s' % ','.join(map(str, self.index))
        if self.count:
            text += ' (first %d)' % self.count
        return text


@dataclasses.dataclass(frozen=True)
class NodeSpec:
    host: str
    path: str
    gpus: tuple = ()
    layout_name: str = None


@dataclasses.dataclass(frozen=True)
class Layout:
    nodes: tuple = ()
    layouts: dict = dataclasses.field(default_factory=dict)
    scheduler: dict = dataclasses.field(default_factory=dict)

    def hosts(self):
        return [n.host for n in self.nodes]

    def node(self, host, select=None):
        """The node spec for ``host``; ``select`` swaps in a named layout.

        Raises UsageError naming the known hosts or layouts.
        """
        for node in self.nodes:
            if node.host == host:
                break
        else:
            raise exception.UsageError(
                '--host %s: no entry in gpu_cluster.nodes has host: %s; use '
                'one of %s or add the node to the layout'
                % (host, host, ', '.join(self.hosts()) or '(none)'))
        if select is None:
            return node
        if select not in self.layouts:
            raise exception.UsageError(
                '--select %s: gpu_cluster.layouts has no layout %s; use one '
                'of %s' % (select, select,
                           ', '.join(sorted(self.layouts)) or '(none)'))
        return dataclasses.replace(node, gpus=self.layouts[select],
                                   layout_name=select)


def _fail(path, message):
    raise exception.UsageError('%s: %s' % (path, message))


def _parse_vgpu(data, path, position):
    keys = set(data)
    if 'profile' in keys and 'mig' in keys:
        _fail(path + '.mig', 'give either profile: (a vGPU type) or mig: '
              '(a MIG profile), not both')
    explicit = keys & {'profile', 'mig'}
    sized = keys & {'memory', 'compute'}
    if explicit and sized:
        _fail('%s.%s' % (path, sorted(sized)[0]),
              'not allowed with %s:; either name the profile or give '
              'memory/compute and let the resolver pick it'
              % sorted(explicit)[0])
    if not explicit and not sized:
        _fail(path, 'a vGPU needs memory: (like 10GB), compute: (like '
              '25%), profile: (a vGPU type) or mig: (a MIG profile)')
    values = {}
    for key, parser in (('memory', units.parse_memory),
                        ('compute', units.parse_compute)):
        if key in data:
            try:
                values[key] = parser(data[key])
            except ValueError as exc:
                _fail('%s.%s' % (path, key), str(exc))
    count = data.get('count', 1)
    base = data.get('name')
    requests = []
    for n in range(count):
        if base is None:
            name = 'vgpu-%02d' % (position + n + 1)
        else:
            name = base if count == 1 else '%s-%d' % (base, n + 1)
        requests.append(VgpuRequest(
            name=name, path=path, memory_mib=values.get('memory'),
            compute=values.get('compute'), profile=data.get('profile'),
            mig=data.get('mig'), start=data.get('start')))
    return requests


def _parse_gpu(data, path):
    selectors = [k for k in ('type', 'pci') if k in data]
    if len(selectors) > 1:
        _fail(path + '.pci', 'select a GPU by type: or by pci:, not both')
    if not selectors and 'index' not in data:
        _fail(path, 'missing a selector; add type: (a GPU model, or all), '
              'pci: (an address like 0000:3b:00.0) or index:')
    if 'count' in data and 'type' not in data:
        _fail(path + '.count', 'count: only goes with type:')
    if 'index' in data and 'pci' in data:
        _fail(path + '.index', 'index: does not go with pci:')
    pci = None
    if 'pci' in data:
        try:
            pci = model.normalize_pci_address(data['pci'])
        except ValueError as exc:
            _fail(path + '.pci', str(exc))
    gpu_type = data.get('type')
    if gpu_type and gpu_type != ALL:
        try:
            gpu_type = catalog.load().get(gpu_type).name
        except catalog.UnknownModel as exc:
            _fail(path + '.type', '%s, or all' % exc)
    index = data.get('index')
    if isinstance(index, int):
        index = (index,)
    mode = data.get('mode')
    vgpus = []
    seen = {}
    for i, item in enumerate(data.get('vgpus') or ()):
        for request in _parse_vgpu(item, '%s.vgpus[%d]' % (path, i),
                                   len(vgpus)):
            if request.name in seen:
                _fail(request.path + '.name',
                      'duplicate vGPU name %s (also at %s); give each vGPU '
                      'of a GPU its own name' % (request.name,
                                                 seen[request.name]))
            seen[request.name] = request.path
            vgpus.append(request)
    owner = data.get('owner', 'static')
    if owner == 'dynamic' and vgpus:
        _fail(path + '.vgpus', 'owner: dynamic leaves the carve to the '
              'driver, which makes a MIG instance or time-sliced vGPU per '
              'guest from its flavor; remove vgpus: or choose owner: '
              'static')
    if owner == 'dynamic' and mode not in (None, 'mig', 'time-sliced'):
        _fail(path + '.mode', 'owner: dynamic carves a MIG instance or a '
              'time-sliced vGPU per guest; use mode: mig or mode: '
              'time-sliced (or leave mode: out)')
    if mode == 'none' and vgpus:
        _fail(path + '.vgpus', 'mode: none leaves the GPU whole; remove '
              'vgpus: or choose mode: mig or time-sliced')
    return GpuSpec(
        path=path, model_name=gpu_type, pci=pci,
        index=tuple(index) if index is not None else None,
        count=data.get('count'), mode=mode,
        scheduling=data.get('scheduling',
                            model.SchedulingMode.EQUAL_SIZE.value),
        series=data.get('series', 'C'), vgpus=tuple(vgpus), owner=owner)


def _parse_gpus(items, path):
    return tuple(_parse_gpu(item, '%s[%d]' % (path, i))
                 for i, item in enumerate(items or ()))


def parse(data):
    """Validated layout dict -> Layout. Raises UsageError with the path."""
    schema.validate(data)
    cluster = data['gpu_cluster']
    layouts = {name: _parse_gpus(items, 'gpu_cluster.layouts.%s' % name)
               for name, items in (cluster.get('layouts') or {}).items()}
    # A layout with a scheduler: block configures the scheduler even
    # with no GPU entries; without one, empty lists can do nothing.
    configures = bool(cluster.get('scheduler'))
    if not cluster.get('nodes') and not configures:
        _fail('gpu_cluster.nodes', 'the list is empty, so the layout can '
              'never do anything: add a node (host: and gpus:)')
    nodes = []
    hosts = {}
    for i, item in enumerate(cluster.get('nodes') or ()):
        path = 'gpu_cluster.nodes[%d]' % i
        host = item['host']
        if host in hosts:
            _fail(path + '.host', 'duplicate host %s (also at %s); list '
                  'each host once' % (host, hosts[host]))
        hosts[host] = path
        if 'layout' in item and 'gpus' in item:
            _fail(path + '.layout', 'give either layout: (a named layout) '
                  'or gpus:, not both')
        if 'layout' in item:
            name = item['layout']
            if name not in layouts:
                _fail(path + '.layout', 'no layout %s in gpu_cluster.'
                      'layouts; use one of %s' % (
                          name, ', '.join(sorted(layouts)) or '(none)'))
            nodes.append(NodeSpec(host=host, path=path, gpus=layouts[name],
                                  layout_name=name))
        else:
            nodes.append(NodeSpec(host=host, path=path,
                                  gpus=_parse_gpus(item.get('gpus'),
                                                   path + '.gpus')))
    for node in nodes:
        if not node.gpus and node.layout_name is None and not configures:
            _fail(node.path + '.gpus', 'the list is empty, so this node can '
                  'never do anything: add a GPU entry (type: or pci: and '
                  'vgpus:) or remove the node')
    return Layout(nodes=tuple(nodes), layouts=layouts,
                  scheduler=dict(cluster.get('scheduler') or {}))


def load_file(path):
    """Read, validate and parse a layout file into a Layout."""
    return parse(schema.load_file(path))


def load_text(text, source='<layout>'):
    return parse(schema.load_text(text, source))

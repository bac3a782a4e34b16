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

"""Which physical GPU gets which gpus[] entry, and the checked result.

``pci:`` entries are matched first, then ``index:``, then ``type:`` entries
in file order (``count:`` takes the next N unmatched GPUs of that model in
PCI order; ``type: all`` takes every unmatched GPU). A GPU no entry selects
is carved with its model's ``[gpuvirt_layout] default_vgpu_types`` type
(the most of it the GPU can hold) when the option names the model, and is
left as it is otherwise. Pure: a NodeSpec and a model.Host in, Targets
out.
"""

import dataclasses

from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.layout import feasibility
from gpuvirt_nova.layout import resolve
from gpuvirt_nova.layout import spec


@dataclasses.dataclass(frozen=True)
class Target:
    """The desired state of one physical GPU."""

    address: str
    resolution: object  # resolve.GpuResolution

    @property
    def mode(self):
        return self.resolution.mode

    @property
    def gpu_model(self):
        return self.resolution.gpu_model

    @property
    def vgpus(self):
        return self.resolution.vgpus

    @property
    def dynamic(self):
        """The driver carves this GPU per guest (layout owner: dynamic)."""
        return bool(getattr(self.resolution.spec, 'dynamic', False))

    @property
    def scheduling(self):
        """equal-size or mixed-size (time-sliced vGPU mode)."""
        return self.resolution.scheduling

    @property
    def series(self):
        return getattr(self.resolution.spec, 'series', 'C')


def _fail(path, message):
    raise exception.UsageError('%s: %s' % (path, message))


def _model_of(gpu, path):
    found = catalog.load().find(gpu.model)
    if found is None:
        _fail(path, 'GPU %s is a %s, which the catalog does not know; '
              'select only supported GPUs (gpuvirt-nova catalog list)'
              % (gpu.address, gpu.model))
    return found


def _describe_host(host):
    counts = {}
    for gpu in host.gpus:
        counts[gpu.model] = counts.get(gpu.model, 0) + 1
    return ', '.join('%d x %s' % (n, m) for m, n in sorted(counts.items())) \
        or 'no GPUs'


def match(node, host):
    """[(GpuSpec, PhysicalGpu)] for ``node`` on ``host``; raises UsageError."""
    gpus = sorted(host.gpus, key=lambda g: g.address)
    owner = {}
    pairs = []

    def take(gpu_spec, gpu):
        if gpu.address in owner:
            _fail(gpu_spec.path, 'GPU %s is already selected by %s; select '
                  'each GPU once' % (gpu.address, owner[gpu.address]))
        owner[gpu.address] = gpu_spec.path
        pairs.append((gpu_spec, gpu))

    ordered = [g for g in node.gpus if g.pci] + \
        [g for g in node.gpus if not g.pci and g.index is not None] + \
        [g for g in node.gpus if not g.pci and g.index is None]
    for gpu_spec in ordered:
        if gpu_spec.pci:
            gpu = host.gpu(gpu_spec.pci)
            if gpu is None:
                _fail(gpu_spec.path + '.pci', 'no GPU %s on %s; use one of %s'
                      % (gpu_spec.pci, node.host,
                         ', '.join(g.address for g in gpus) or '(none)'))
            take(gpu_spec, gpu)
            continue
        if gpu_spec.index is not None:
            for index in gpu_spec.index:
                if index >= len(gpus):
                    _fail(gpu_spec.path + '.index', '%s has %d GPUs, no '
                          'index %d' % (node.host, len(gpus), index))
            chosen = [gpus[i] for i in gpu_spec.index]
        else:
            chosen = [g for g in gpus if g.address not in owner]
        if gpu_spec.model_name not in (None, spec.ALL):
            chosen = [g for g in chosen
                      if catalog.load().find(g.model) is not None
                      and catalog.load().find(g.model).name
                      == gpu_spec.model_name]
            if not chosen:
                _fail(gpu_spec.path + '.type', '%s has no free %s GPU (it '
                      'has %s); fix type: or the host' % (
                          node.host, gpu_spec.model_name,
                          _describe_host(host)))
        if gpu_spec.count:
            if len(chosen) < gpu_spec.count:
                _fail(gpu_spec.path + '.count', '%s has %d free GPUs for '
                      'this entry, not %d; lower count:' % (
                          node.host, len(chosen), gpu_spec.count))
            chosen = chosen[:gpu_spec.count]
        for gpu in chosen:
            take(gpu_spec, gpu)
    return pairs


DEFAULTS_FIELD = '[gpuvirt_layout] default_vgpu_types'


def default_specs(default_types):
    """``{catalog model name: GpuSpec}`` from the option's model:type pairs.

    :raises exception.UsageError: naming the option, the pair and the fix.
    """
    the_catalog = catalog.load()
    specs = {}
    for model_name, type_name in sorted((default_types or {}).items()):
        field = '%s %s:%s' % (DEFAULTS_FIELD, model_name, type_name)
        try:
            gpu_model = the_catalog.get(model_name)
            vgpu_type = gpu_model.vgpu_type(type_name)
        except (KeyError, LookupError) as exc:
            raise exception.UsageError('%s: %s' % (field, exc.args[0]))
        specs[gpu_model.name] = spec.GpuSpec(
            path=field, model_name=gpu_model.name,
            vgpus=tuple(spec.VgpuRequest(name='default-%02d' % (n + 1),
                                         path=field,
                                         profile=vgpu_type.name)
                        for n in range(vgpu_type.max_instances)))
    return specs


def resolve_node(node, host, default_types=None):
    """[Target] for every GPU of ``host`` the node's layout selects.

    ``default_types``: ``{GPU model: vGPU type}`` for the GPUs no entry
    selects (``[gpuvirt_layout] default_vgpu_types``).

    Raises UsageError (with the YAML path or the option) on the first
    entry that does not resolve or cannot fit.
    """
    targets = []
    cache = {}
    pairs = match(node, host)
    defaults = default_specs(default_types)
    selected = {gpu.address for _, gpu in pairs}
    for gpu in sorted(host.gpus, key=lambda g: g.address):
        found = catalog.load().find(gpu.model)
        if gpu.address not in selected and found is not None \
                and found.name in defaults:
            pairs.append((defaults[found.name], gpu))
    for gpu_spec, gpu in pairs:
        gpu_model = _model_of(gpu, gpu_spec.path)
        key = (gpu_spec.path, gpu_model.name)
        if key not in cache:
            res = resolve.resolve_gpu(gpu_model, gpu_spec)
            feasibility.check(res)
            cache[key] = res
        targets.append(Target(address=gpu.address, resolution=cache[key]))
    return sorted(targets, key=lambda t: t.address)


def resolve_static(layout):
    """Resolve every entry whose model the file names (no host needed).

    Returns [(NodeSpec or layout name, GpuResolution)]; entries selected by
    pci:, index: or type: all are resolved against a host at plan time.
    """
    results = []
    seen = set()
    groups = [(n.host, n.gpus) for n in layout.nodes] + \
        [('layout %s' % name, gpus)
         for name, gpus in sorted(layout.layouts.items())]
    for owner, gpus in groups:
        for gpu_spec in gpus:
            if gpu_spec.path in seen or gpu_spec.model_name in (None,
                                                                spec.ALL):
                continue
            seen.add(gpu_spec.path)
            res = resolve.resolve_gpu(
                catalog.load().get(gpu_spec.model_name), gpu_spec)
            feasibility.check(res)
            results.append((owner, res))
    return results

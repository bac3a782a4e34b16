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

"""A host's current GPU state written back as a layout (``layout export``).

The result selects each GPU by ``pci:`` and names every slice explicitly
(``profile:`` for a vGPU, ``mig:`` for a bare MIG instance, with its
``start:``), so applying it to the same host plans nothing, and applying it
after a reboot restores exactly this state. Pure: a model.Host in, a plain
dict out.
"""

import collections

from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.layout import plan as plan_mod


def _mig_entries(gpu, gpu_model, vgpu_names):
    """vgpus[] for a GPU in MIG mode: one entry per GPU instance."""
    by_profile = collections.defaultdict(list)
    for name in vgpu_names:
        vgpu_type = gpu_model.vgpu_type(name) if gpu_model else None
        if vgpu_type is not None and vgpu_type.mig_backed:
            by_profile[vgpu_type.mig_profile].append(name)
    entries = []
    for gi in sorted(gpu.gpu_instances, key=lambda g: g.placement.start):
        names = by_profile.get(gi.profile)
        if names:
            entries.append({'profile': names.pop(0),
                            'start': gi.placement.start})
        else:
            entries.append({'mig': gi.profile, 'start': gi.placement.start})
    return entries


def export_gpu(gpu):
    """One ``gpus[]`` entry describing ``gpu`` as it is now."""
    gpu_model = catalog.load().find(gpu.model)
    names = [name for _, name, _ in plan_mod.existing_vgpus(gpu, gpu_model)]
    entry = {'pci': gpu.address}
    if gpu.mig_current:
        entry['mode'] = 'mig'
        vgpus = _mig_entries(gpu, gpu_model, names)
    elif names:
        entry['mode'] = 'time-sliced'
        if len(set(names)) > 1:
            entry['scheduling'] = 'mixed-size'
        vgpus = [{'profile': name} for name in sorted(names)]
    else:
        entry['mode'] = 'none'
        vgpus = []
    if vgpus:
        entry['vgpus'] = [dict(name='vgpu-%02d' % (i + 1), **v)
                          for i, v in enumerate(vgpus)]
    return entry


def export_host(host, hostname=None):
    """The layout document (a dict) of ``host``'s supported GPUs."""
    ordered = sorted(host.gpus, key=lambda g: g.address)
    gpus = [export_gpu(gpu) for gpu in ordered
            if catalog.load().find(gpu.model) is not None]
    return {'gpu_cluster': {'nodes': [
        {'host': hostname or host.hostname or 'localhost', 'gpus': gpus}]}}

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

"""Doctor's check of dynamic GPUs: what carving per guest needs.

A GPU the layout made dynamic (``owner: dynamic``) is carved by the
driver when a guest is defined on it; that needs MIG mode on, its SR-IOV
VFs enabled where the host's vGPU mode uses them, and a vGPU manager that
lists the MIG-backed types of the GPU's series. Every GPU instance on
such a GPU belongs to a guest in the driver's record: one that does not
holds slices Placement believes free, so the next carve there fails.
A dynamic time-sliced GPU (owner record ``mode: time-sliced``) needs MIG
mode off, its VFs, and the time-sliced types of its series and mode.
"""

from gpuvirt_nova.doctor import facts as facts_mod
from gpuvirt_nova.hardware import model
from gpuvirt_nova.placement import tree

Finding = facts_mod.Finding
CHECK = 'dynamic-gpus'


def _common_problems(gpu):
    if gpu.sriov_totalvfs and not gpu.vfs and \
            gpu.vgpu_mode != model.HostVgpuMode.MDEV:
        yield (facts_mod.ERROR, 'SR-IOV VFs are disabled (as after a '
               'reboot): no vGPU can be carved', 'gpuvirt-nova layout apply '
               '--boot enables them before nova-compute starts')


def _time_sliced_problems(gpu, entry):
    series = entry.get('series') or 'C'
    scheduling = entry.get('scheduling') or 'equal-size'
    if gpu.mig_current:
        yield (facts_mod.ERROR, 'MIG mode is on on a dynamic time-sliced '
               'GPU: no time-sliced vGPU can be created', 'gpuvirt-nova '
               'layout apply (it turns MIG mode off)')
    gpu_model = tree._gpu_model(gpu)
    types = [t.name for t in tree.dynamic_time_sliced_types(
        gpu_model, scheduling, series)] if gpu_model else []
    if not types:
        yield (facts_mod.ERROR, 'the catalog lists no %s-series types of '
               'this GPU in %s mode' % (series, scheduling), 'choose '
               'another series: or scheduling: for the GPU in the layout')
    elif gpu.vgpu_type_ids and not [t for t in types
                                    if t in gpu.vgpu_type_ids]:
        yield (facts_mod.ERROR, 'the vGPU manager lists none of the '
               '%s-series time-sliced types (%s)' % (series,
                                                     ', '.join(types)),
               'install the NVIDIA vGPU manager for this GPU')


def _problems(gpu, entry, carved):
    series = entry.get('series') or 'C'
    if entry.get('mode') == 'time-sliced':
        yield from _common_problems(gpu)
        yield from _time_sliced_problems(gpu, entry)
        return
    if not gpu.mig_current:
        yield (facts_mod.ERROR, 'MIG mode is off on a dynamic GPU: no '
               'guest can be carved', 'gpuvirt-nova layout apply (it sets '
               'MIG mode, with the reset Ampere needs)')
    yield from _common_problems(gpu)
    types = [t.name for t in tree.dynamic_types(gpu, series)]
    listed = [t for t in types if t in gpu.vgpu_type_ids]
    if types and gpu.vgpu_type_ids and not listed:
        yield (facts_mod.ERROR, 'the vGPU manager lists none of the '
               'MIG-backed %s-series types (%s)' % (series, ', '.join(types)),
               'install the NVIDIA vGPU manager that supports MIG-backed '
               'vGPUs on this GPU, or choose another series: in the layout')
    mine = {(c.profile, c.start) for c in carved}
    for gi in gpu.gpu_instances:
        if (gi.profile, gi.placement.start) not in mine:
            yield (facts_mod.WARNING, 'GPU instance %d (%s at slice %d) '
                   'belongs to no guest in the driver\'s record: it holds '
                   'slices Placement counts as free' % (
                       gi.id, gi.profile, gi.placement.start),
                   'if no guest uses it, destroy it: nvidia-smi mig -dci '
                   '-gi %d -i %s, then nvidia-smi mig -dgi -gi %d -i %s'
                   % (gi.id, gpu.address, gi.id, gpu.address))


def _summary(gpu, entry):
    if entry.get('mode') == 'time-sliced':
        return 'dynamic time-sliced (%s): MIG off, %d VFs, %d vGPU(s)' % (
            entry.get('scheduling') or 'equal-size', len(gpu.vfs),
            sum(1 for vf in gpu.vfs if vf.current_vgpu_type) +
            len(gpu.mdevs))
    return 'dynamic: MIG on, %d VFs, %d guest instance(s)' % (
        len(gpu.vfs), len(gpu.gpu_instances))


def check_dynamic_gpus(facts):
    """Each dynamic GPU can be carved per guest, and holds no orphan."""
    if facts.dynamic_error:
        return [Finding(CHECK, facts_mod.ERROR, 'host', facts.dynamic_error,
                        'move the file aside and run gpuvirt-nova layout '
                        'apply to write the owner record again')]
    if not facts.dynamic:
        return [Finding(CHECK, facts_mod.SKIPPED, 'host',
                        'no dynamic GPU (layout owner: dynamic)')]
    carved = {}
    for entries in facts.dynamic_carves.values():
        for entry in entries:
            carved.setdefault(entry.gpu, []).append(entry)
    findings = []
    for address, entry in sorted(facts.dynamic.items()):
        gpu = facts.host.gpu(address)
        if gpu is None:
            findings.append(Finding(
                CHECK, facts_mod.ERROR, address, 'the owner record names '
                'a GPU this host does not have', 'check the GPU with '
                'gpuvirt-nova discover; apply the layout again'))
            continue
        problems = list(_problems(gpu, entry, carved.get(address, ())))
        findings += [Finding(CHECK, severity, address, evidence, fix)
                     for severity, evidence, fix in problems]
        if not problems:
            findings.append(Finding(
                CHECK, facts_mod.OK, address, _summary(gpu, entry)))
    return findings

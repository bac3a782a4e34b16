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

"""The host checks: pure functions from HostFacts to Findings.

Each ``check_<name>(facts)`` returns a list of
:class:`~gpuvirt_nova.doctor.facts.Finding` (at least one: an ``ok`` or
``skipped`` finding says what was looked at). The source material's
troubleshooting list is the order: vGPU not detected (IOMMU, vfio, the
host driver and its mode, VFs, MIG reset), slow guests (NUMA affinity,
topology), then what our own pieces need (layout, catalog, nova.conf,
libvirt/QEMU/mdevctl versions, the privileged helper).
"""

import re

from gpuvirt_nova.doctor import facts as facts_mod
from gpuvirt_nova.doctor import topology
from gpuvirt_nova.hardware import catalog as catalog_mod
from gpuvirt_nova.hardware import model
from gpuvirt_nova.layout import plan as plan_mod

Finding = facts_mod.Finding
OK, INFO, SKIPPED = facts_mod.OK, facts_mod.INFO, facts_mod.SKIPPED
WARNING, ERROR = facts_mod.WARNING, facts_mod.ERROR

NVIDIA = 'nvidia'
VFIO_PCI = 'vfio-pci'
#: vGPU 17 (R550) is the first with the vendor-specific VFIO interface.
VENDOR_VFIO_MIN_BRANCH = 550
#: Live migration of vGPU guests (DESIGN section 7).
LIBVIRT_LIVE_MIGRATION = (8, 6)
QEMU_LIVE_MIGRATION = (8, 1)
MDEV_MODES = (model.HostVgpuMode.MDEV, model.HostVgpuMode.SRIOV_MDEV)
OUR_DRIVER = 'gpuvirt.GpuvirtLibvirtDriver'

IOMMU_FIX = ('enable VT-d (Intel) or AMD-Vi/IOMMU (AMD) in the BIOS, add '
             'intel_iommu=on iommu=pt (Intel) or amd_iommu=on iommu=pt '
             '(AMD) to GRUB_CMDLINE_LINUX in /etc/default/grub, run '
             'update-grub and reboot')


def branch(version):
    """``'550.127.06'`` -> 550; None when unknown."""
    match = re.match(r'^\s*(\d+)', version or '')
    return int(match.group(1)) if match else None


def version_tuple(text):
    """``'8.6.0'`` or ``'QEMU emulator version 8.2.2'`` -> (8, 6, 0)."""
    match = re.search(r'(\d+)\.(\d+)(?:\.(\d+))?', text or '')
    if not match:
        return None
    return tuple(int(p) for p in match.groups() if p is not None)


def parse_cpu_set(text):
    """Nova's CPU set syntax (``0-15,^3,32-47``) -> set of ints.

    Raises ValueError on a malformed set.
    """
    include, exclude = set(), set()
    for part in (p.strip() for p in (text or '').split(',')):
        if not part:
            continue
        target = exclude if part.startswith('^') else include
        part = part.lstrip('^')
        low, _, high = part.partition('-')
        low, high = int(low), int(high or low)
        if high < low:
            raise ValueError('%s: range goes backwards' % part)
        target.update(range(low, high + 1))
    return include - exclude


def format_cpu_set(cpus):
    """{0, 1, 2, 5} -> ``'0-2,5'``."""
    parts, run = [], []
    for cpu in sorted(cpus):
        if run and cpu == run[-1] + 1:
            run.append(cpu)
            continue
        if run:
            parts.append(_run_text(run))
        run = [cpu]
    if run:
        parts.append(_run_text(run))
    return ','.join(parts) or '(none)'


def _run_text(run):
    return str(run[0]) if len(run) == 1 else '%d-%d' % (run[0], run[-1])


def _gpus(facts):
    return list(facts.host.gpus) if facts.host else []


def _nvidia_gpus(facts):
    return [g for g in _gpus(facts)
            if facts.drivers.get(g.address, NVIDIA) == NVIDIA]


def _no_gpus(check):
    return [Finding(check, SKIPPED, 'host', 'no NVIDIA GPU on this host')]


# -- vGPU not detected ------------------------------------------------------

def check_iommu(facts):
    """IOMMU on: groups exist, each GPU is in one, the kernel says so."""
    gpus = _gpus(facts)
    ungrouped = [g.address for g in gpus if g.iommu_group is None]
    cmdline = facts.cmdline if facts.cmdline is not None else '(unreadable)'
    if not facts.iommu_groups or ungrouped or not facts.iommu_units:
        evidence = ('%d IOMMU group(s) under /sys/kernel/iommu_groups, '
                    'IOMMU units: %s; GPUs in no IOMMU group: %s; kernel '
                    'command line: %s' % (
                        facts.iommu_groups,
                        ', '.join(facts.iommu_units) or 'none',
                        ', '.join(ungrouped) or 'none', cmdline))
        return [Finding('iommu', ERROR, 'host', 'IOMMU is off: ' + evidence,
                        IOMMU_FIX)]
    return [Finding('iommu', OK, 'host', '%d IOMMU group(s), units %s; '
                    'kernel command line: %s' % (
                        facts.iommu_groups, ', '.join(facts.iommu_units),
                        cmdline))]


def needed_modules(facts):
    """The kernel modules the host's GPUs need, as /sys/module names."""
    needed = {'vfio', 'vfio_pci'}
    nvidia = _nvidia_gpus(facts)
    if nvidia:
        needed.add('nvidia_vgpu_vfio')
    if any(g.vgpu_mode in MDEV_MODES for g in nvidia):
        needed.add('mdev')
    return needed


def check_vfio_modules(facts):
    """vfio, vfio_pci (and mdev, nvidia_vgpu_vfio where used) loaded."""
    if not _gpus(facts):
        return _no_gpus('vfio-modules')
    needed = needed_modules(facts)
    missing = sorted(needed - set(facts.modules))
    if missing:
        return [Finding(
            'vfio-modules', ERROR, 'host',
            'not loaded: %s (needed: %s)' % (', '.join(missing),
                                             ', '.join(sorted(needed))),
            'modprobe %s, and list them in /etc/modules-load.d/vfio.conf '
            'so they load at boot (nvidia_vgpu_vfio comes with the NVIDIA '
            'vGPU manager package)' % ' '.join(m.replace('_', '-')
                                               for m in missing))]
    return [Finding('vfio-modules', OK, 'host',
                    'loaded: %s' % ', '.join(sorted(needed)))]


def check_nvidia_driver(facts):
    """The vGPU manager is loaded, and new enough for the mode it runs."""
    gpus = _gpus(facts)
    if not gpus:
        return [Finding('nvidia-driver', ERROR, 'host',
                        'no NVIDIA GPU found under %s' % facts.root,
                        'check that the GPUs are seated and visible in '
                        'lspci -d 10de:, then load the NVIDIA vGPU manager')]
    version = facts.host.driver_version
    if not version and _nvidia_gpus(facts):
        return [Finding('nvidia-driver', ERROR, 'host',
                        'no NVIDIA driver version (sys/module/nvidia/version '
                        'absent, NVML unavailable)',
                        'install and load the NVIDIA vGPU manager (the '
                        'host driver from the NVIDIA vGPU software '
                        'package): modprobe nvidia')]
    findings = []
    major = branch(version)
    for gpu in gpus:
        if gpu.vgpu_mode is model.HostVgpuMode.VENDOR_VFIO and \
                major is not None and major < VENDOR_VFIO_MIN_BRANCH:
            findings.append(Finding(
                'nvidia-driver', ERROR, gpu.address,
                'vendor-specific VFIO with driver %s (R%d); it needs R%d '
                '(vGPU 17) or later' % (version, major,
                                        VENDOR_VFIO_MIN_BRANCH),
                'upgrade the NVIDIA vGPU manager to vGPU 17 or later'))
    passthrough = [g.address for g in gpus
                   if facts.drivers.get(g.address) == VFIO_PCI]
    evidence = 'driver %s (branch R%s)' % (version or 'none', major or '?')
    if passthrough:
        evidence += '; bound to vfio-pci (whole-GPU passthrough, no ' \
            'vGPUs): %s' % ', '.join(passthrough)
    return findings or [Finding('nvidia-driver', OK, 'host', evidence)]


def check_vgpu_mode(facts):
    """One vGPU mode on the host, and the one the layout plans for."""
    gpus = _nvidia_gpus(facts)
    if not gpus:
        return _no_gpus('vgpu-mode')
    modes = sorted({g.vgpu_mode.value for g in gpus if g.vfs or
                    g.vgpu_mode is not model.HostVgpuMode.NONE})
    evidence = ', '.join('%s: %s' % (g.address, g.vgpu_mode.value)
                         for g in gpus)
    if len(modes) > 1:
        return [Finding(
            'vgpu-mode', WARNING, 'host',
            'GPUs run in different vGPU modes (%s): %s' % (
                ', '.join(modes), evidence),
            'one host driver gives one mode per GPU generation; check '
            'that every GPU is driven by the same vGPU manager (vGPU 17+ '
            'on kernel >= 6.8: vendor-specific VFIO for all Ampere+ GPUs)')]
    return [Finding('vgpu-mode', OK, 'host', evidence)]


def check_sriov_vfs(facts):
    """SR-IOV VFs are enabled on every GPU that needs them for vGPUs."""
    gpus = [g for g in _nvidia_gpus(facts) if g.sriov_totalvfs]
    if not gpus:
        return [Finding('sriov-vfs', SKIPPED, 'host',
                        'no SR-IOV capable GPU bound to the NVIDIA driver')]
    findings = []
    for gpu in gpus:
        if not gpu.vfs:
            findings.append(Finding(
                'sriov-vfs', ERROR, gpu.address,
                'SR-IOV VFs disabled: sriov_numvfs is 0 of %d (as after a '
                'reboot): no vGPU can be created on this GPU'
                % gpu.sriov_totalvfs,
                'run gpuvirt-nova layout apply (it enables the VFs and '
                'verifies them), or /usr/lib/nvidia/sriov-manage -e %s and '
                'check sriov_numvfs afterwards (its exit code is not '
                'trustworthy)' % gpu.address))
        else:
            findings.append(Finding('sriov-vfs', OK, gpu.address,
                                    '%d of %d VFs enabled' % (
                                        len(gpu.vfs), gpu.sriov_totalvfs)))
    return findings


def check_mig_reset(facts):
    """No GPU waits for a reset to apply a MIG mode change."""
    gpus = [g for g in _gpus(facts) if g.mig_capable]
    if not gpus:
        return [Finding('mig-reset', SKIPPED, 'host', 'no MIG-capable GPU')]
    findings = []
    for gpu in gpus:
        if gpu.mig_pending != gpu.mig_current:
            findings.append(Finding(
                'mig-reset', ERROR, gpu.address,
                'MIG mode is %s, pending %s: the change waits for a GPU '
                'reset (Ampere), and until then neither mode works' % (
                    'on' if gpu.mig_current else 'off',
                    'on' if gpu.mig_pending else 'off'),
                'stop the guests on the GPU (gpuvirt-nova layout apply '
                '--drain drains and resets it), or nvidia-smi -r -i %s on '
                'an idle GPU, or reboot the host' % gpu.address))
        else:
            findings.append(Finding(
                'mig-reset', OK, gpu.address, 'MIG mode %s, nothing pending'
                % ('on' if gpu.mig_current else 'off')))
    return findings


def check_host_gpus(facts):
    """The GPUs of one host: one model and one driver branch, or said."""
    gpus = _gpus(facts)
    if not gpus:
        return _no_gpus('host-gpus')
    counts = {}
    for gpu in gpus:
        counts[gpu.model] = counts.get(gpu.model, 0) + 1
    evidence = ', '.join('%d x %s' % (n, m) for m, n in sorted(counts.items()))
    branches = sorted({branch(g.driver_version) for g in gpus
                       if g.driver_version})
    if len(branches) > 1:
        return [Finding('host-gpus', ERROR, 'host',
                        'GPUs report driver branches %s' % branches,
                        'reinstall one NVIDIA vGPU manager and reboot')]
    if len(counts) > 1:
        return [Finding('host-gpus', INFO, 'host', evidence + ': mixed '
                        'models; each model is its own flavor pool')]
    return [Finding('host-gpus', OK, 'host', evidence)]


# -- slow guests -----------------------------------------------------------

def check_numa_affinity(facts):
    """Each GPU's NUMA node has CPUs Nova may pin a guest to."""
    gpus = [g for g in _gpus(facts) if g.numa_node is not None
            and g.numa_node >= 0]
    if not gpus or not facts.node_cpus:
        return [Finding('numa-affinity', SKIPPED, 'host',
                        'no NUMA information (single node)')]
    values = facts.nova.cpu_dedicated_set or facts.nova.vcpu_pin_set
    option = '[compute] cpu_dedicated_set' if facts.nova.cpu_dedicated_set \
        else '[DEFAULT] vcpu_pin_set'
    if not values:
        return [Finding(
            'numa-affinity', INFO, 'host',
            'no [compute] cpu_dedicated_set: guests are not pinned, so a '
            'guest\'s CPUs may sit on another NUMA node than its GPU',
            'for GPU-local CPUs set [compute] cpu_dedicated_set and use '
            'flavors with hw:cpu_policy=dedicated and hw:numa_nodes=1')]
    try:
        pinned = parse_cpu_set(values[-1])
    except ValueError as exc:
        return [Finding('numa-affinity', ERROR, 'host',
                        '%s = %s: %s' % (option, values[-1], exc),
                        'write it as Nova does, for example 0-15,32-47')]
    findings = []
    for gpu in gpus:
        node_cpus = facts.node_cpus.get(gpu.numa_node, set())
        local = pinned & node_cpus
        where = ', '.join('node %d: %s' % (n, format_cpu_set(pinned & c))
                          for n, c in sorted(facts.node_cpus.items())
                          if pinned & c)
        if not local:
            findings.append(Finding(
                'numa-affinity', ERROR, gpu.address,
                'GPU on NUMA node %d, but %s = %s has no CPU there (%s): '
                'every pinned guest with this GPU crosses the socket '
                'interconnect' % (gpu.numa_node, option, values[-1],
                                  where or 'no CPU on any node'),
                'add CPUs of node %d (%s) to %s, and give GPU flavors '
                'hw:numa_nodes=1 so Nova keeps CPUs, memory and GPU on one '
                'node' % (gpu.numa_node, format_cpu_set(node_cpus),
                          option)))
        else:
            findings.append(Finding(
                'numa-affinity', OK, gpu.address,
                'GPU on NUMA node %d with %d pinned CPU(s) there (%s)' % (
                    gpu.numa_node, len(local), format_cpu_set(local))))
    return findings


def check_topology(facts):
    """How the GPUs reach each other: NUMA nodes, PCIe paths, NVLink.

    The part of ``nvidia-smi topo -m`` that decides which GPUs a
    multi-vGPU guest should get. NVLink is read where NVML reports it;
    otherwise it is said to be unknown, never guessed.
    """
    gpus = _gpus(facts)
    if len(gpus) < 2:
        return [Finding('topology', SKIPPED, 'host', 'fewer than two GPUs')]
    nodes = {}
    for gpu in gpus:
        nodes.setdefault(gpu.numa_node, []).append(gpu.address)
    evidence = '; '.join('NUMA node %s: %s' % (n, ', '.join(a))
                         for n, a in sorted(nodes.items(),
                                            key=lambda i: str(i[0])))
    evidence += '; PCIe: %s; NVLink: %s' % (
        _pcie_text(facts, gpus), _nvlink_text(facts))
    findings = [Finding(
        'topology', INFO, address,
        'NVLink partly down: %d of %d links active' % (
            sum(links['active'].values()),
            sum(links['active'].values()) + links['inactive']),
        'if its bridge or board should link them all, check it and the '
        'kernel log for XID 74 (nvidia-smi nvlink -s)')
        for address, links in sorted((facts.nvlink or {}).items())
        if links['active'] and links['inactive']]
    if len(nodes) > 1:
        return [Finding('topology', INFO, 'host', evidence,
                        'a server with vGPUs of several GPUs is fastest on '
                        'GPUs of one node: use hw:numa_nodes=1 in such '
                        'flavors')] + findings
    return [Finding('topology', OK, 'host', evidence)] + findings


def _pcie_text(facts, gpus):
    """``PIX 0000:3b:00.0-0000:5e:00.0; SYS 4 pair(s)`` (nearest first)."""
    by_class = {}
    for i, a in enumerate(gpus):
        for b in gpus[i + 1:]:
            link = topology.pcie_link(
                facts.pcie_paths.get(a.address),
                facts.pcie_paths.get(b.address), a.numa_node, b.numa_node)
            by_class.setdefault(link, []).append(
                '%s-%s' % (a.address, b.address))
    parts = []
    for link in topology.CLASSES:
        pairs = by_class.get(link, [])
        if pairs:
            parts.append('%s %s' % (link, ', '.join(pairs))
                         if len(pairs) <= 4 else
                         '%s %d pair(s)' % (link, len(pairs)))
    if None in by_class:
        parts.append('unknown for %d pair(s) (no PCIe path in sysfs)'
                     % len(by_class[None]))
    return '; '.join(parts)


def _nvlink_text(facts):
    if facts.nvlink is None:
        return 'unknown (%s)' % facts.nvlink_unknown
    silent = sorted(a for a, links in facts.nvlink.items()
                    if not links['reported'])
    if silent and len(silent) == len(facts.nvlink):
        return ('unknown (NVML answers NOT_SUPPORTED on every GPU: no '
                'NVLink, or a driver that does not say)')
    pairs = {}
    for address, links in facts.nvlink.items():
        for peer, count in links['active'].items():
            pairs[tuple(sorted((address, peer)))] = count
    text = ', '.join('%s-%s x%d' % (a, b, n)
                     for (a, b), n in sorted(pairs.items())) \
        or 'no active link'
    if silent:
        text += '; unknown on %s (NOT_SUPPORTED)' % ', '.join(silent)
    return text


# -- our own pieces ----------------------------------------------------------

def check_catalog_drift(facts, gpu_catalog=None):
    """The catalog knows each GPU and names its type ids as the driver."""
    gpus = _gpus(facts)
    if not gpus:
        return _no_gpus('catalog-drift')
    gpu_catalog = gpu_catalog or catalog_mod.load()
    findings = []
    for gpu in gpus:
        gpu_model = gpu_catalog.find(gpu.model)
        if gpu_model is None:
            findings.append(Finding(
                'catalog-drift', WARNING, gpu.address,
                'model %s is not in the catalog: it is reserved and '
                'offered nothing' % gpu.model,
                'upgrade gpuvirt-nova, or add the model to the catalog '
                '(gpuvirt-nova catalog check)'))
            continue
        for name, type_id in sorted(gpu.vgpu_type_ids.items()):
            known = gpu_model.vgpu_type_by_id(type_id)
            short = model.driver_type_name(name)
            if known is not None and known.name != short:
                findings.append(Finding(
                    'catalog-drift', WARNING, gpu.address,
                    'the driver names type id %d %s, the catalog %s'
                    % (type_id, short, known.name),
                    'the driver wins; update the catalog for this driver '
                    'release (gpuvirt-nova catalog check)'))
    # NOTE: discovery's notes are shown, not judged: each names a fact
    # (a type only NVML names, a GPU NVML does not see) that the checks
    # above and the layout judge where it matters.
    for warning in facts.host.warnings:
        findings.append(Finding('catalog-drift', INFO, 'host',
                                'discovery: %s' % warning,
                                'see the evidence; gpuvirt-nova discover '
                                'shows the whole host'))
    return findings or [Finding('catalog-drift', OK, 'host',
                                'catalog matches the %d GPU(s) and their '
                                'driver\'s types' % len(gpus))]


def check_layout(facts):
    """The layout is applied: no pending step, blocked GPU, stale mdev."""
    if facts.layout_error:
        return [Finding('layout', ERROR, 'host', facts.layout_error,
                        'fix the layout file (gpuvirt-nova layout validate)')]
    if facts.plan is None:
        return [Finding('layout', SKIPPED, 'host',
                        'no layout for this host ([gpuvirt_layout] file, '
                        '--layout)')]
    findings = []
    for gpu_plan in facts.plan.gpus:
        if gpu_plan.blocked:
            findings.append(Finding(
                'layout', ERROR, gpu_plan.address,
                'the layout cannot be applied: %s' % gpu_plan.blocked,
                'fix what the evidence names, then gpuvirt-nova layout '
                'apply'))
            continue
        stale = [s for s in gpu_plan.steps
                 if s.action == plan_mod.REMOVE_VGPU and s.args.get('uuid')]
        for step in stale:
            findings.append(Finding(
                'stale-mdevs', WARNING, gpu_plan.address,
                'mdev %s of type %s is not in the layout' % (
                    step.args['uuid'], step.args['type']),
                'gpuvirt-nova layout apply --drain removes it once no '
                'guest uses it'))
        others = [s for s in gpu_plan.steps if s not in stale]
        if others:
            findings.append(Finding(
                'layout', WARNING, gpu_plan.address,
                'half-carved or not applied: %d pending change(s): %s' % (
                    len(others), '; '.join(s.describe() for s in others[:3])
                    + ('; ...' if len(others) > 3 else '')),
                'gpuvirt-nova layout plan shows them; gpuvirt-nova layout '
                'apply --drain makes them'))
    return findings or [Finding('layout', OK, 'host',
                                'the layout is applied on %d GPU(s)'
                                % len(facts.plan.gpus))]

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

"""Checks of what runs around the GPUs: nova.conf, libvirt, QEMU, privsep.

Pure, like :mod:`gpuvirt_nova.doctor.checks`: they read the
:class:`~gpuvirt_nova.doctor.facts.HostFacts` the adapters filled.
"""

import json

from gpuvirt_nova.doctor import checks
from gpuvirt_nova.doctor import dynamic
from gpuvirt_nova.doctor import facts as facts_mod
from gpuvirt_nova.doctor import flavors

Finding = facts_mod.Finding
OK, INFO, SKIPPED = facts_mod.OK, facts_mod.INFO, facts_mod.SKIPPED
WARNING, ERROR = facts_mod.WARNING, facts_mod.ERROR

NVIDIA_VENDOR_IDS = ('10de', '0x10de')


def _nvidia_spec(value):
    """The parsed ``[pci] device_spec`` entry if it matches NVIDIA, else None.

    A value that is not JSON is returned as text: Nova would refuse it.
    """
    try:
        data = json.loads(value)
    except ValueError:
        return value
    entries = data if isinstance(data, list) else [data]
    for entry in entries:
        if isinstance(entry, dict) and str(
                entry.get('vendor_id', '')).lower() in NVIDIA_VENDOR_IDS:
            return entry
    return None


def _spec_hits(entry, facts):
    """GPU addresses (or their VFs') an NVIDIA device_spec entry matches."""
    address = entry.get('address') if isinstance(entry, dict) else None
    hits = []
    for gpu in facts.host.gpus if facts.host else []:
        functions = [gpu.address] + [vf.address for vf in gpu.vfs]
        if address is None or any(
                isinstance(address, str) and f.startswith(address.rstrip('*'))
                for f in functions):
            hits.append(gpu.address)
    return hits


def check_nova_conf(facts):
    """No nova.conf option hands our GPUs to upstream Nova as well."""
    nova = facts.nova
    if not nova.files:
        return [Finding('nova-conf', SKIPPED, 'host',
                        'no nova.conf read (--nova-conf, '
                        '/etc/nova/nova.conf)')]
    where = ', '.join(nova.files)
    findings = []
    if any(v.strip() for v in nova.enabled_mdev_types):
        findings.append(Finding(
            'nova-conf', ERROR, '[devices] enabled_mdev_types',
            '%s sets [devices] enabled_mdev_types = %s: upstream Nova then '
            'reports its own VGPU providers and creates mdevs on the same '
            'GPUs' % (where, nova.enabled_mdev_types[-1]),
            'remove [devices] enabled_mdev_types and the [mdev_*] sections; '
            'gpuvirt-nova offers what the layout carved (see the README, '
            'migrating from enabled_mdev_types)'))
    for value in nova.pci_device_spec:
        entry = _nvidia_spec(value)
        if entry is None:
            continue
        hits = _spec_hits(entry, facts)
        if hits:
            findings.append(Finding(
                'nova-conf', ERROR, '[pci] device_spec',
                '%s: [pci] device_spec %s matches GPUs gpuvirt-nova carves '
                '(%s): Nova would pass their VFs through by hand as well'
                % (where, value, ', '.join(hits)),
                'drop the entry, or narrow it with "address" to GPUs bound '
                'to vfio-pci for whole-GPU passthrough'))
    drivers = [d.strip() for d in nova.compute_driver if d.strip()]
    if drivers and drivers[-1] != checks.OUR_DRIVER:
        findings.append(Finding(
            'nova-conf', WARNING, '[DEFAULT] compute_driver',
            '%s: compute_driver = %s' % (where, drivers[-1]),
            'set compute_driver = %s and start nova-compute as '
            'gpuvirt-nova-compute' % checks.OUR_DRIVER))
    return findings or [Finding('nova-conf', OK, 'host',
                                '%s: no option conflicts with gpuvirt-nova'
                                % where)]


def check_versions(facts):
    """libvirt, QEMU and mdevctl are there, new enough for each feature."""
    if not facts.versions:
        return [Finding('versions', SKIPPED, 'host',
                        'a simulated host: this machine\'s libvirt, QEMU and '
                        'mdevctl would describe another host')]
    findings = []
    for name, minimum in (('libvirt', checks.LIBVIRT_LIVE_MIGRATION),
                          ('qemu', checks.QEMU_LIVE_MIGRATION)):
        text = facts.versions.get(name)
        found = checks.version_tuple(text)
        if found is None:
            findings.append(Finding(
                'versions', ERROR, name, '%s not found' % name,
                'install libvirt-daemon-system and qemu-system-x86 '
                '(nova-compute needs both)'))
        elif found < minimum:
            findings.append(Finding(
                'versions', WARNING, name,
                '%s %s: live migration of vGPU guests needs %s >= %s'
                % (name, text, name, '.'.join(map(str, minimum))),
                'upgrade %s to migrate vGPU guests live; everything else '
                'works' % name))
        else:
            findings.append(Finding('versions', OK, name,
                                    '%s %s' % (name, text)))
    mdev_gpus = [g.address for g in facts.host.gpus
                 if g.vgpu_mode in checks.MDEV_MODES] if facts.host else []
    if mdev_gpus and not facts.versions.get('mdevctl'):
        findings.append(Finding(
            'versions', ERROR, 'mdevctl',
            'mdevctl not found, and GPUs %s make vGPUs as mdevs: libvirt '
            'defines persistent mdevs only through mdevctl'
            % ', '.join(mdev_gpus), 'apt-get install mdevctl'))
    elif facts.versions.get('mdevctl'):
        findings.append(Finding('versions', OK, 'mdevctl',
                                'mdevctl %s' % facts.versions['mdevctl']))
    return findings


def check_privsep(facts):
    """The privileged helper can start: root, or sudo for privsep-helper."""
    info = facts.privsep
    if not info:
        return [Finding('privsep', SKIPPED, 'host',
                        'a simulated host needs no privileged helper')]
    if not info.get('helper'):
        return [Finding('privsep', ERROR, 'privsep-helper',
                        'privsep-helper is not on PATH',
                        'install oslo.privsep in the environment that runs '
                        'gpuvirt-nova and nova-compute')]
    if info.get('euid') == 0:
        return [Finding('privsep', OK, 'privsep-helper',
                        'running as root; helper %s' % info['helper'])]
    if info.get('sudo'):
        return [Finding('privsep', OK, 'privsep-helper',
                        'sudo may run %s without a password' % info['helper'])]
    return [Finding(
        'privsep', WARNING, 'privsep-helper',
        'not root (euid %s) and sudo -n refused: layout apply cannot start '
        'its privileged helpers' % info.get('euid'),
        'run gpuvirt-nova layout apply as root, or allow the nova user to '
        'run privsep-helper through sudo (nova\'s rootwrap or a sudoers '
        'line), or set [privsep_gpuvirt_sysfs] / [privsep_gpuvirt_nvml] '
        'helper_command')]


HOST_CHECKS = (
    checks.check_iommu,
    checks.check_vfio_modules,
    checks.check_nvidia_driver,
    checks.check_vgpu_mode,
    checks.check_sriov_vfs,
    checks.check_mig_reset,
    checks.check_host_gpus,
    checks.check_numa_affinity,
    flavors.check_flavor_numa,
    checks.check_topology,
    checks.check_catalog_drift,
    checks.check_layout,
    dynamic.check_dynamic_gpus,
    check_nova_conf,
    check_versions,
    check_privsep,
)


def run_host(facts):
    """Every host check over ``facts``: [Finding], in the order above."""
    return [finding for check in HOST_CHECKS for finding in check(facts)]

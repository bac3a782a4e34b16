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

"""The doctor's thin adapters: read a host, nova.conf and Placement.

Everything here only reads, and returns plain data
(:mod:`gpuvirt_nova.doctor.facts`) for the pure checks. The host's own
files are read under a root (``/`` on a real host, the simulator's
directory otherwise), so a simulated host is read by the same code;
this machine's programs (libvirt, QEMU, mdevctl, sudo) are asked only
when the root is ``/``.
"""

import os
import re
import shutil
import subprocess

from gpuvirt_nova.doctor import facts as facts_mod
from gpuvirt_nova.doctor import topology
from gpuvirt_nova import exception
from gpuvirt_nova.hardware import sysfs
from gpuvirt_nova.layout import hostlock
from gpuvirt_nova.layout import plan as plan_mod
from gpuvirt_nova.layout import spec as layout_spec
from gpuvirt_nova.layout import target as target_mod
from gpuvirt_nova.placement import naming

CMDLINE = 'proc/cmdline'
IOMMU_GROUPS = 'sys/kernel/iommu_groups'
IOMMU_UNITS = 'sys/class/iommu'
MODULES = 'sys/module'
NUMA_NODES = 'sys/devices/system/node'
#: Seconds a version probe may take before it counts as absent.
PROBE_TIMEOUT = 10

_NODE_RE = re.compile(r'^node(\d+)$')
_PROVIDER_RE = re.compile(r'^(?P<host>.+)_pci_[0-9a-f]{4}_[0-9a-f]{2}_'
                          r'[0-9a-f]{2}_[0-7]$')


def _read(path):
    try:
        with open(path) as stream:
            return stream.read().strip()
    except OSError:
        return None


def _listdir(path):
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def read_platform(root, host):
    """The kernel's view around the GPUs: a dict of HostFacts fields."""
    from gpuvirt_nova.doctor import checks  # the CPU set syntax, pure

    node_cpus = {}
    for name in _listdir(os.path.join(root, NUMA_NODES)):
        match = _NODE_RE.match(name)
        text = match and _read(os.path.join(root, NUMA_NODES, name,
                                            'cpulist'))
        if text:
            try:
                node_cpus[int(match.group(1))] = checks.parse_cpu_set(text)
            except ValueError:
                continue
    drivers = {}
    for gpu in host.gpus:
        link = os.path.join(root, sysfs.PCI_DEVICES, gpu.address, 'driver')
        drivers[gpu.address] = os.path.basename(os.readlink(link)) \
            if os.path.islink(link) else None
    return dict(cmdline=_read(os.path.join(root, CMDLINE)),
                iommu_groups=len(_listdir(os.path.join(root, IOMMU_GROUPS))),
                iommu_units=_listdir(os.path.join(root, IOMMU_UNITS)),
                modules=set(_listdir(os.path.join(root, MODULES))),
                node_cpus=node_cpus, drivers=drivers,
                pcie_paths=topology.read_pcie_paths(
                    root, [g.address for g in host.gpus]))


#: (section, key) -> NovaConf field; sections are compared in lower case.
NOVA_KEYS = {
    ('default', 'compute_driver'): 'compute_driver',
    ('compute', 'cpu_dedicated_set'): 'cpu_dedicated_set',
    ('default', 'vcpu_pin_set'): 'vcpu_pin_set',
    ('devices', 'enabled_mdev_types'): 'enabled_mdev_types',
    ('pci', 'device_spec'): 'pci_device_spec',
    ('pci', 'passthrough_whitelist'): 'pci_device_spec',
}


def read_nova_conf(paths):
    """A NovaConf from the nova.conf files that exist among ``paths``.

    A small reader of oslo.config's INI form, because ``[pci]
    device_spec`` may repeat (configparser would keep only one).
    """
    result = facts_mod.NovaConf()
    for path in paths:
        try:
            with open(path) as stream:
                lines = stream.read().splitlines()
        except OSError:
            continue
        result.files.append(path)
        section = None
        for line in lines:
            text = line.strip()
            if not text or text[0] in '#;':
                continue
            if text.startswith('[') and text.endswith(']'):
                section = text[1:-1].strip().lower()
                continue
            key, sep, value = text.partition('=')
            field = NOVA_KEYS.get((section, key.strip().lower()))
            if sep and field:
                getattr(result, field).append(value.strip())
    return result


def _probe(argv):
    """The first line a version command prints, or None."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        result = subprocess.run(argv, capture_output=True, text=True,
                                timeout=PROBE_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = (result.stdout or result.stderr).strip().splitlines()
    return lines[0].strip() if result.returncode == 0 and lines else None


def _libvirt_version():
    try:
        import libvirt
    except ImportError:
        return _probe(['libvirtd', '--version'])
    number = libvirt.getVersion()
    return '%d.%d.%d' % (number // 1000000, number // 1000 % 1000,
                         number % 1000)


def read_versions():
    """libvirt, QEMU and mdevctl of this machine (None: not found)."""
    qemu = None
    for binary in ('qemu-system-x86_64', 'qemu-system-aarch64',
                   '/usr/libexec/qemu-kvm'):
        qemu = _probe([binary, '--version'])
        if qemu:
            break
    return {'libvirt': _libvirt_version(), 'qemu': qemu,
            'mdevctl': _probe(['mdevctl', 'version'])}


def read_privsep():
    """How the privileged helper would start on this machine."""
    return {'euid': os.geteuid(), 'helper': shutil.which('privsep-helper'),
            'sudo': os.geteuid() != 0 and _probe(
                ['sudo', '-n', 'true']) is not None}


def read_dynamic(directory):
    """(owner entries, driver's carves, error) of the host's dynamic GPUs.

    ``directory``: ``[gpuvirt] state_dir`` (a simulated host's own
    directory when simulated), where both records live.
    """
    from gpuvirt_nova.dynamic import records
    from gpuvirt_nova.layout import owners
    if not directory:
        return {}, {}, None
    try:
        return (owners.read(owners.path_in(directory)),
                records.Records(records.path_in(directory)).load(), None)
    except exception.GpuvirtError as exc:
        return {}, {}, str(exc)


def layout_plan(path, host, node, select=None, defaults=None,
                compute_instances=True, dynamic_now=()):
    """(Plan, targets, error): the layout's plan for ``node`` on ``host``.

    (None, None, None) when the layout names no such node.
    """
    try:
        layout = layout_spec.load_file(path)
        if node not in layout.hosts():
            return None, None, None
        targets = target_mod.resolve_node(layout.node(node, select), host,
                                          defaults)
    except exception.UsageError as exc:
        return None, None, str(exc)
    return plan_mod.make_plan(targets, host, compute_instances,
                              dynamic_now), targets, None


def provider_host(name):
    """``node01_pci_0000_3b_00_0`` -> ``node01`` (None: not a GPU RP)."""
    match = _PROVIDER_RE.match(name)
    return match.group('host') if match else None


def read_providers(client):
    """[GpuProvider] of every GPU provider gpuvirt-nova manages."""
    result = []
    for provider in client.providers_with_trait(naming.MANAGED_TRAIT):
        host = provider_host(provider['name'])
        if host is None:
            continue
        _, traits = client.traits(provider['uuid'])
        _, inventories = client.inventories(provider['uuid'])
        usages = client.usages(provider['uuid'])
        result.append(facts_mod.GpuProvider(
            name=provider['name'], uuid=provider['uuid'], host=host,
            traits=frozenset(traits),
            inventories={rc: {'total': inv['total'],
                              'reserved': inv['reserved'],
                              'used': usages.get(rc, 0)}
                         for rc, inv in inventories.items()}))
    return sorted(result, key=lambda p: p.name)


def apply_running(lock_path, hosts):
    """{host: pid} of the layout applies holding a host's lock here."""
    running = {}
    for host in hosts:
        pid = hostlock.holder_pid(hostlock.lock_file(lock_path, host))
        if pid and _alive(pid):
            running[host] = pid
    return running


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

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

"""What the doctor reads, as plain data, and what it concludes.

The adapters in :mod:`gpuvirt_nova.doctor.gather` fill these from a host
(real or simulated), nova.conf and Placement; the checks in
:mod:`gpuvirt_nova.doctor.checks` and :mod:`gpuvirt_nova.doctor.cluster`
read only these, so each check is tested over plain data and over the
simulator alike.
"""

import dataclasses

OK = 'ok'
INFO = 'info'
SKIPPED = 'skipped'
WARNING = 'warning'
ERROR = 'error'
#: Severity -> the exit code it asks for (the worst one wins).
EXIT_CODES = {OK: 0, INFO: 0, SKIPPED: 0, WARNING: 1, ERROR: 2}


@dataclasses.dataclass(frozen=True)
class Finding:
    """One conclusion of one check, in an operator's words.

    ``check`` is the stable id (``iommu``, ``sriov-vfs``...), ``subject``
    what it is about (a GPU address, a host, a provider), ``evidence``
    what was read, ``fix`` what to do (empty when nothing is wrong).
    """

    check: str
    severity: str
    subject: str
    evidence: str
    fix: str = ''

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass
class NovaConf:
    """The nova.conf values that decide whether ours can work.

    Each is a list of the raw values found (oslo.config multi-options,
    such as ``[pci] device_spec``, may repeat); empty when absent.
    """

    files: list = dataclasses.field(default_factory=list)
    compute_driver: list = dataclasses.field(default_factory=list)
    cpu_dedicated_set: list = dataclasses.field(default_factory=list)
    vcpu_pin_set: list = dataclasses.field(default_factory=list)
    enabled_mdev_types: list = dataclasses.field(default_factory=list)
    pci_device_spec: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class HostFacts:
    """Everything the host-level checks read about one host."""

    hostname: str
    #: The discovered ``hardware.model.Host``.
    host: object
    #: Where sysfs was read (``/`` on a real host).
    root: str = '/'
    simulated: bool = False
    #: ``/proc/cmdline`` (None: unreadable).
    cmdline: str = None
    #: Entries of /sys/kernel/iommu_groups and /sys/class/iommu.
    iommu_groups: int = 0
    iommu_units: list = dataclasses.field(default_factory=list)
    #: Names under /sys/module (loaded or built-in modules).
    modules: set = dataclasses.field(default_factory=set)
    #: GPU address -> the kernel driver it is bound to (None: unbound).
    drivers: dict = dataclasses.field(default_factory=dict)
    #: NUMA node -> set of CPU ids (/sys/devices/system/node).
    node_cpus: dict = dataclasses.field(default_factory=dict)
    #: 'libvirt', 'qemu', 'mdevctl' -> version text or None (not found);
    #: empty when not read (a simulated host: this machine's tools would
    #: describe another host).
    versions: dict = dataclasses.field(default_factory=dict)
    nova: NovaConf = dataclasses.field(default_factory=NovaConf)
    #: The layout's plan for this host (``layout.plan.Plan``) and its
    #: targets (``layout.target.Target``), None without a layout.
    plan: object = None
    targets: list = None
    #: Why the layout could not be planned (None: planned or no layout).
    layout_error: str = None
    #: Privileged helper: {'euid': int, 'helper': path or None,
    #: 'sudo': bool or None}; empty when not read (simulated host).
    privsep: dict = dataclasses.field(default_factory=dict)
    #: GPU address -> its PCIe path under /sys/devices (None: unknown);
    #: see :func:`gpuvirt_nova.doctor.topology.read_pcie_paths`.
    pcie_paths: dict = dataclasses.field(default_factory=dict)
    #: GPU address -> {'active': {peer: links}, 'inactive': n}; None when
    #: NVML cannot tell, and ``nvlink_unknown`` says why.
    nvlink: dict = None
    nvlink_unknown: str = 'not read'
    #: The flavors to check against this host ([Flavor]); None when none
    #: were given.
    flavors: list = None
    #: Dynamic GPUs: {address: owner entry} from the owner record layout
    #: apply writes, and {instance uuid: [Carved]} the driver keeps;
    #: ``dynamic_error`` says why they could not be read.
    dynamic: dict = dataclasses.field(default_factory=dict)
    dynamic_carves: dict = dataclasses.field(default_factory=dict)
    dynamic_error: str = None


@dataclasses.dataclass(frozen=True)
class Flavor:
    """A Nova flavor as the NUMA checks need it."""

    name: str
    vcpus: int = None
    #: Extra specs: {'hw:numa_nodes': '1', 'resources:CUSTOM_...': '1'}.
    specs: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class GpuProvider:
    """One GPU resource provider as Placement holds it."""

    name: str
    uuid: str
    host: str
    traits: frozenset = frozenset()
    #: {resource class: {'total': .., 'reserved': .., 'used': ..}}
    inventories: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ClusterFacts:
    """What the Placement checks read: the managed GPU providers."""

    #: Where Placement was found (a URL, a cloud, the embedded one).
    where: str
    providers: list = dataclasses.field(default_factory=list)
    #: Host names in scope (--host NAME, or every host for --all-hosts).
    hosts: list = dataclasses.field(default_factory=list)
    #: host -> pid of the layout apply holding its lock (readable here).
    apply_running: dict = dataclasses.field(default_factory=dict)
    #: Drift a dry-run sync of this host found (``placement.audit.Drift``),
    #: None when this host's hardware was not compared.
    drift: list = None


def exit_code(findings):
    """0 (ok), 1 (warnings) or 2 (errors): the worst finding decides."""
    return max([EXIT_CODES[f.severity] for f in findings] or [0])

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

"""Where nova-compute reads and writes its GPUs: real or simulated.

A thin adapter so the driver never cares which: ``discover()`` returns a
fresh model.Host, ``writer()`` the HardwareWriter for privileged changes.
With ``[gpuvirt] simulate`` set, each compute host gets its own simulated
host under ``[gpuvirt] state_dir``/``nova-sim``/<hypervisor hostname>, so
several nova-compute services in one process (functional tests, the demo)
each see their own GPUs.
"""

import os

from gpuvirt_nova.conf import backends
from gpuvirt_nova.dynamic import records
from gpuvirt_nova.hardware import discover as discover_mod
from gpuvirt_nova.layout import mdevs as mdevs_mod
from gpuvirt_nova.layout import owners


def simulated_host_root(conf, hostname):
    """Directory of the simulated GPUs of compute host ``hostname``."""
    return os.path.join(conf.gpuvirt.state_dir, 'nova-sim', hostname)


class RealHardware(object):
    def __init__(self, sysfs_root, use_nvml, hostname, state_dir=None):
        self.sysfs_root = sysfs_root
        self.use_nvml = use_nvml
        self.hostname = hostname
        self._writer = None
        #: The GPU owner record layout apply writes (dynamic GPUs).
        self.owners_path = owners.path_in(state_dir) if state_dir else None
        #: The driver's record of its dynamic carves.
        self.records_path = records.path_in(state_dir) if state_dir \
            else None

    def read_gpu(self, address):
        """One GPU read back (what a carve step verifies)."""
        module = discover_mod.nvml_module(
            discover_mod.AUTO if self.use_nvml else None, self.sysfs_root)
        return discover_mod.discover_gpu(self.sysfs_root, module, address)

    def mdevs(self):
        """The mdev door of dynamic carves: libvirt's node devices."""
        return mdevs_mod.LibvirtMdevs()

    def discover(self):
        return discover_mod.discover(
            self.sysfs_root, discover_mod.AUTO if self.use_nvml else None,
            hostname=self.hostname)

    def nvml(self):
        """The pynvml module health checks read; None without NVML."""
        if not self.use_nvml:
            return None
        return discover_mod.nvml_module(discover_mod.AUTO, self.sysfs_root)

    def writer(self):
        if self._writer is None:
            self._writer = backends.privsep_writer()
        return self._writer


class SimulatedHardware(object):
    def __init__(self, sim_host, hostname, root=None):
        self.sim_host = sim_host
        self.hostname = hostname
        self.owners_path = owners.path_in(root) if root else None
        self.records_path = records.path_in(root) if root else None

    def read_gpu(self, address):
        return discover_mod.discover_host_gpu(self.sim_host, address)

    def mdevs(self):
        return mdevs_mod.SimulatedMdevs(self.sim_host)

    def discover(self):
        return discover_mod.discover_host(self.sim_host, self.hostname)

    def nvml(self):
        return self.sim_host.nvml()

    def writer(self):
        return self.sim_host.writer()


def from_conf(conf, hostname):
    """The hardware of compute host ``hostname`` as nova.conf says."""
    group = conf.gpuvirt
    if not group.simulate:
        return RealHardware(group.sysfs_root, group.use_nvml, hostname,
                            group.state_dir)
    root = simulated_host_root(conf, hostname)
    if os.path.isdir(root) and os.listdir(root):
        sim_host = backends.open_or_create_simulated(root)
    else:
        os.makedirs(root, exist_ok=True)
        sim_host = backends.open_or_create_simulated(group.simulate, root)
    return SimulatedHardware(sim_host, hostname, root)

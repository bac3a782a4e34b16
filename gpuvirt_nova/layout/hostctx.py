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

"""Which host the layout commands read and change: real or simulated.

The one place that picks discovery's reader and the HardwareWriter for a
command: ``--simulate SPEC`` / ``--sim-root DIR`` (or ``[gpuvirt]
simulate``) give the simulator, persisted in a directory so that ``apply``
then ``assert`` in two invocations see the same state; otherwise the real
host through discovery and the privileged writer.
"""

import dataclasses
import os
import socket

from gpuvirt_nova.conf import backends
from gpuvirt_nova import exception
from gpuvirt_nova.hardware import discover
from gpuvirt_nova.layout import mdevs
from gpuvirt_nova.layout import owners


@dataclasses.dataclass
class HostContext:
    #: Host name the simulator or this machine reports (None if unknown).
    hostname: str
    read: object
    make_writer: object
    simulated: object = None
    #: ``read_gpu(address)``: one GPU read back (None: derived from read).
    read_gpu: object = None
    #: Callable returning the mdev door (:mod:`gpuvirt_nova.layout.mdevs`);
    #: None: the kernel's files through the writer.
    make_mdevs: object = None
    #: The host's GPU owner record (:mod:`gpuvirt_nova.layout.owners`).
    owners_path: str = None

    def dynamic_gpus(self):
        """Addresses the owner record marks dynamic (empty without one)."""
        if not self.owners_path:
            return frozenset()
        return owners.dynamic_addresses(self.owners_path)

    def gpu_reader(self):
        """``read_gpu(address)``, reading only that GPU where possible."""
        if self.read_gpu is not None:
            return self.read_gpu
        return lambda address: self.read().gpu(address)

    def writer(self):
        return self.make_writer()

    def mdevs(self):
        """The door mdevs are created and removed through."""
        return self.make_mdevs() if self.make_mdevs is not None else None


def simulated(simulate=None, sim_root=None, state_dir=None):
    """Open (or build) a simulated host; returns a HostContext."""
    field = '--sim-root'
    if sim_root is None:
        sim_root = backends.simulated_dir(state_dir, simulate)
        field = '[gpuvirt] state_dir'
    if simulate is None and not (os.path.isdir(sim_root)
                                 and os.listdir(sim_root)):
        raise exception.UsageError(
            '--sim-root %s: no simulated host there; create one with '
            '--simulate SPEC --sim-root %s' % (sim_root, sim_root))
    backends.make_sim_dir(sim_root, field)
    if os.listdir(sim_root):
        sim_host = backends.open_or_create_simulated(sim_root)
        check_same_host(sim_host, simulate, sim_root)
    else:
        sim_host = backends.open_or_create_simulated(simulate, sim_root)
    name = getattr(sim_host, 'hostname', None)
    return HostContext(
        hostname=name,
        read=lambda: discover.discover_host(sim_host, name),
        make_writer=sim_host.writer, simulated=sim_host,
        read_gpu=lambda address: discover.discover_host_gpu(sim_host,
                                                            address),
        make_mdevs=lambda: mdevs.SimulatedMdevs(sim_host),
        owners_path=owners.path_in(sim_root))


def check_same_host(sim_host, simulate, sim_root):
    """Refuse ``--simulate SPEC`` naming another host than ``sim_root`` holds.

    Reopening a kept host ignores the spec; a spec that says otherwise
    would be silently ignored, so it is an error.
    """
    if not simulate:
        return
    from gpuvirt_nova.sim import spec as sim_spec  # simulating only
    wanted = sim_spec.parse_spec(simulate)
    have = sim_host.spec
    same_gpus = [(g.model, g.mode) for g in wanted.gpus] == \
        [(g.model, g.mode) for g in have.gpus]
    named = '@' in simulate
    if not same_gpus or (named and wanted.hostname != have.hostname):
        raise exception.UsageError(
            '--simulate %s: %s already holds another simulated host (%s, '
            '%d GPU(s)); drop --simulate to reopen it, or pick another '
            '--sim-root' % (simulate, sim_root, have.hostname,
                            len(have.gpus)))


def check_host_is_this_one(host, context):
    """Refuse ``--host NODE`` that would read this machine as NODE.

    On a real host, a layout is checked against the hardware of the host
    the command runs on; naming another node must not silently read this
    machine's GPUs instead of that node's.
    """
    if not host or context.simulated is not None:
        return
    mine = {context.hostname, (context.hostname or '').split('.')[0]}
    if host not in mine:
        raise exception.UsageError(
            '--host %s: this is %s, whose GPUs are the ones read here; run '
            'the command on %s, or check the layout without a host (drop '
            '--host), or against a simulated host (--simulate SPEC)'
            % (host, context.hostname, host))


def real(conf):
    """The real host, read through discovery, changed through privsep."""
    group = conf.gpuvirt
    hostname = socket.gethostname()
    nvml = discover.AUTO if group.use_nvml else None

    def read():
        return discover.discover(group.sysfs_root, nvml, hostname=hostname)

    def read_gpu(address):
        module = discover.nvml_module(nvml, group.sysfs_root)
        return discover.discover_gpu(group.sysfs_root, module, address)

    return HostContext(hostname=hostname, read=read,
                       make_writer=backends.privsep_writer,
                       read_gpu=read_gpu, make_mdevs=mdevs.LibvirtMdevs,
                       owners_path=owners.path_in(group.state_dir))


def open_context(conf, simulate=None, sim_root=None):
    """The HostContext the command line (and configuration) asks for."""
    if simulate or sim_root:
        return simulated(simulate, sim_root, conf.gpuvirt.state_dir)
    if conf.gpuvirt.simulate:
        return simulated(conf.gpuvirt.simulate, None, conf.gpuvirt.state_dir)
    return real(conf)


def pick_node(layout, context, host=None):
    """The host name to use: --host, else this host's, else the only node.

    A simulated host without a name that is in the layout takes the
    layout's only node, so a one-node example works without --host.
    """
    if host:
        return host
    names = layout.hosts()
    candidates = [context.hostname] if context.hostname else []
    if context.simulated is None and context.hostname:
        candidates.append(context.hostname.split('.')[0])
    for name in candidates:
        if name in names:
            return name
    if context.simulated is not None and len(names) == 1:
        return names[0]
    raise exception.UsageError(
        '--host: this host (%s) is not in gpu_cluster.nodes; pass --host '
        'with one of %s' % (context.hostname or 'unnamed',
                            ', '.join(names) or '(none)'))

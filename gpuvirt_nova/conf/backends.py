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

"""Which hardware backends the configuration picks: real or simulated.

``hardware/`` reads sysfs and NVML under any root and defines the
HardwareWriter contract, but knows neither the simulator (``sim/``) nor the
privileged daemon (``gpuvirt_nova.privsep``): lower rooms never import
higher ones. This module is where the two are wired in from ``[gpuvirt]``
options and the command line: ``[gpuvirt] simulate`` gives a simulated host
kept under ``state_dir`` and its writer, otherwise the real host and the
privsep writer.

Both backends are imported inside the functions that need them: the
simulator is for tests, the demo and benchmarks, and oslo.privsep (with
eventlet) only for a host that writes, so neither loads in a command that
only reads the real host.
"""

import os

from gpuvirt_nova import conf as conf_mod
from gpuvirt_nova import exception
from gpuvirt_nova.hardware import discover


def privsep_writer():
    """The production HardwareWriter (oslo.privsep entrypoints)."""
    from gpuvirt_nova import privsep  # imported late: writing hosts only
    return privsep.PrivsepWriter()


def open_or_create_simulated(spec_or_root, root=None):
    """A SimulatedHost: the one under a directory, or a new one.

    ``spec_or_root`` names an existing simulated host's directory (it is
    reopened) or is a spec, built under ``root`` unless a host is there
    already.
    """
    from gpuvirt_nova import sim  # imported late: tests and demo only
    if os.path.isdir(spec_or_root):
        return sim.SimulatedHost.open(spec_or_root)
    spec = sim.parse_spec(spec_or_root)
    return sim.SimulatedHost.open_or_create(root, spec)


def discover_simulated(spec_or_root, hostname=None, gpu_catalog=None,
                       use_nvml=True):
    """Discover a simulated host from a spec or an existing root.

    A spec is built in a throwaway directory (on a RAM disk when there is
    one: see ``sim.scratch``) removed afterwards; the returned Host is
    plain data and outlives it.
    """
    if os.path.isdir(spec_or_root):
        return discover.discover_host(open_or_create_simulated(spec_or_root),
                                      hostname, gpu_catalog,
                                      use_nvml=use_nvml)
    from gpuvirt_nova.sim import scratch  # imported late: tests and demo
    with scratch.scratch_root() as root:
        return discover.discover_host(
            open_or_create_simulated(spec_or_root, root), hostname,
            gpu_catalog, use_nvml=use_nvml)


def simulated_dir(state_dir, spec):
    """``<state_dir>/sim/<spec>``: where a persisted simulated host lives.

    Every command that keeps a simulated host between runs (``[gpuvirt]
    simulate``, ``layout --simulate``) finds it here, so they share it.
    """
    slug = ''.join(c if c.isalnum() or c in '.-_' else '_' for c in spec)
    return os.path.join(state_dir, 'sim', slug)


def make_sim_dir(path, field):
    """Create ``path`` for a kept simulated host; UsageError naming ``field``.

    ``field`` is what the user set to get this path (``--sim-root``,
    ``[gpuvirt] state_dir``...).
    """
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise exception.UsageError(
            '%s: cannot create %s (%s); give a writable directory'
            % (field, path, exc.strerror))
    return path


def _simulated_sysfs_root(conf):
    """``[gpuvirt] sysfs_root`` when it names a simulated host, else None."""
    root = conf.gpuvirt.sysfs_root
    if root and os.path.realpath(root) != os.path.realpath('/'):
        return root
    return None


def simulated_root(conf):
    """Where ``[gpuvirt] simulate`` keeps its host.

    The directory persists, so every command sees what the previous one
    wrote.
    """
    return _simulated_sysfs_root(conf) or simulated_dir(
        conf.gpuvirt.state_dir, conf.gpuvirt.simulate)


def simulated_from_conf(conf):
    """The SimulatedHost ``[gpuvirt] simulate`` names, kept between runs."""
    field = '[gpuvirt] sysfs_root' if _simulated_sysfs_root(conf) \
        else '[gpuvirt] state_dir'
    root = make_sim_dir(simulated_root(conf), field)
    return open_or_create_simulated(conf.gpuvirt.simulate, root)


def discover_from_conf(conf, hostname=None, gpu_catalog=None,
                       use_nvml=None):
    """Discover as ``[gpuvirt] simulate/sysfs_root/use_nvml`` say.

    ``use_nvml=False`` turns NVML off whatever the configuration says (the
    command's ``--no-nvml``).
    """
    group = conf.gpuvirt
    use_nvml = group.use_nvml if use_nvml is None else use_nvml
    if group.simulate:
        return discover.discover_host(simulated_from_conf(conf), hostname,
                                      gpu_catalog, use_nvml=use_nvml)
    return discover.discover(group.sysfs_root,
                             discover.AUTO if use_nvml else None,
                             hostname=hostname, gpu_catalog=gpu_catalog)


def default_writer(conf=None):
    """The HardwareWriter the configuration asks for.

    The simulator's when ``[gpuvirt] simulate`` is set (the same host that
    discovery reads, see :func:`simulated_root`), else the production
    PrivsepWriter.
    """
    conf = conf or conf_mod.CONF
    if conf.gpuvirt.simulate:
        return simulated_from_conf(conf).writer()
    return privsep_writer()

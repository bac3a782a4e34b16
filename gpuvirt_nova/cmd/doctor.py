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

"""``gpuvirt-nova doctor``: why vGPUs do not work here, and the fix.

Reads this host (or a simulated one), nova.conf, the layout and, with
``--host NAME`` or ``--all-hosts``, Placement; runs the pure checks of
:mod:`gpuvirt_nova.doctor`; prints one row per finding (check id,
severity, subject, evidence, fix). Exit 0 when all is well (ok, info,
skipped), 1 with warnings, 2 with errors.
"""

import contextlib
import os
import socket

from gpuvirt_nova.cmd import common
from gpuvirt_nova.cmd import placement as placement_cmd
from gpuvirt_nova.conf import backends
from gpuvirt_nova.doctor import cluster
from gpuvirt_nova.doctor import facts as facts_mod
from gpuvirt_nova.doctor import flavors as flavors_mod
from gpuvirt_nova.doctor import gather
from gpuvirt_nova.doctor import services
from gpuvirt_nova.doctor import topology
from gpuvirt_nova import exception
from gpuvirt_nova.hardware import discover
from gpuvirt_nova.placement import audit
from gpuvirt_nova.placement import client as placement_client
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import offers as offers_mod
from gpuvirt_nova.placement import sync
from gpuvirt_nova.placement import tree

COLUMNS = ('check', 'severity', 'subject', 'evidence', 'fix')
NOVA_CONF = '/etc/nova/nova.conf'


@contextlib.contextmanager
def _simulated(spec, sim_root):
    """(SimulatedHost) kept in ``sim_root``, or built for this run only."""
    if sim_root:
        root = common.kept_sim_root(sim_root)
        yield backends.open_or_create_simulated(root)
        return
    from gpuvirt_nova.sim import scratch  # imported late: simulating only
    with scratch.scratch_root() as root:
        yield backends.open_or_create_simulated(spec, root)


class Doctor(common.Lister):
    """Check this host (and Placement) for what stops vGPUs; name the fix."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        placement_cmd.add_placement_options(parser)
        parser.add_argument(
            '--host', metavar='NAME',
            help='Also check Placement for this compute node: GPUs left '
                 'draining, driver branches and models against the other '
                 'hosts, drift from this host\'s hardware.')
        parser.add_argument(
            '--all-hosts', action='store_true',
            help='Also check Placement for every compute node with GPU '
                 'providers gpuvirt-nova manages.')
        parser.add_argument(
            '--sysfs-root', metavar='DIR',
            help='Directory that contains sys/ and proc/ (default: '
                 '[gpuvirt] sysfs_root, "/").')
        common.add_simulate(parser, 'built for this one command '
                                    '(--sim-root reads one that is kept)')
        parser.add_argument(
            '--sim-root', metavar='DIR',
            help='Read the simulated host kept in DIR.')
        parser.add_argument(
            '--no-nvml', action='store_true',
            help='Do not read NVML, only sysfs (also [gpuvirt] use_nvml).')
        parser.add_argument(
            '--layout', metavar='FILE',
            help='The layout to compare the host with (default: '
                 '[gpuvirt_layout] file).')
        common.add_select(parser)
        parser.add_argument(
            '--flavors', metavar='FILE',
            help='Nova flavors to check against this host\'s NUMA nodes '
                 '(flavor-numa): the output of openstack flavor list '
                 '--long -f json.')
        parser.add_argument(
            '--nova-conf', metavar='PATH', action='append', default=[],
            help='nova.conf file(s) to check (repeatable; default: the '
                 '--config-file files, else %s).' % NOVA_CONF)
        return parser

    def take_action(self, parsed_args):
        if parsed_args.host and parsed_args.all_hosts:
            raise exception.UsageError('--host and --all-hosts: give one')
        findings = self.check(parsed_args)
        self.findings = findings
        errors = sum(1 for f in findings if f.severity == facts_mod.ERROR)
        warnings = sum(1 for f in findings
                       if f.severity == facts_mod.WARNING)
        self.app.stderr.write('doctor: %d error(s), %d warning(s)\n'
                              % (errors, warnings))
        return COLUMNS, [(f.check, f.severity, f.subject, f.evidence, f.fix)
                         for f in findings]

    def run(self, parsed_args):
        self.findings = []
        result = super().run(parsed_args)
        return facts_mod.exit_code(self.findings) or result

    # -- gathering ---------------------------------------------------------

    def check(self, parsed_args):
        conf = self.app.conf
        use_nvml = not parsed_args.no_nvml and conf.gpuvirt.use_nvml
        simulate = parsed_args.simulate or (
            None if parsed_args.sim_root or parsed_args.sysfs_root
            else conf.gpuvirt.simulate)
        if simulate or parsed_args.sim_root:
            if not parsed_args.sim_root and not parsed_args.simulate:
                parsed_args.sim_root = backends.make_sim_dir(
                    backends.simulated_root(conf), '[gpuvirt] state_dir')
                if not os.listdir(parsed_args.sim_root):
                    backends.open_or_create_simulated(
                        simulate, parsed_args.sim_root)
            with _simulated(simulate, parsed_args.sim_root) as sim_host:
                host = discover.discover_host(
                    sim_host, parsed_args.host or sim_host.hostname,
                    use_nvml=use_nvml)
                facts = self.host_facts(
                    parsed_args, host, sim_host.sysfs_root, True,
                    sim_host.nvml() if use_nvml else None,
                    state_directory=sim_host.root)
        else:
            root = parsed_args.sysfs_root or conf.gpuvirt.sysfs_root
            discover.check_sysfs_root(root, '--sysfs-root' if
                                      parsed_args.sysfs_root else
                                      '[gpuvirt] sysfs_root')
            host = discover.discover(
                root, discover.AUTO if use_nvml else None,
                hostname=conf.gpuvirt_placement.compute_node
                or socket.gethostname())
            facts = self.host_facts(
                parsed_args, host, root, False,
                discover.nvml_module(discover.AUTO, root) if use_nvml
                else None, state_directory=conf.gpuvirt.state_dir)
        findings = services.run_host(facts)
        if parsed_args.host or parsed_args.all_hosts:
            findings += cluster.run_cluster(
                self.cluster_facts(parsed_args, facts))
        return findings

    def host_facts(self, parsed_args, host, root, simulated, nvml=None,
                   state_directory=None):
        conf = self.app.conf
        on_this_machine = os.path.realpath(root) == os.path.realpath('/')
        nova_files = parsed_args.nova_conf or list(
            self.app.options.config_file) or [NOVA_CONF]
        facts = facts_mod.HostFacts(
            hostname=host.hostname, host=host, root=root,
            simulated=simulated, nova=gather.read_nova_conf(nova_files),
            **gather.read_platform(root, host))
        facts.nvlink, unknown = topology.read_nvlinks(
            nvml, [g.address for g in host.gpus])
        facts.nvlink_unknown = unknown
        if parsed_args.flavors:
            facts.flavors = flavors_mod.load(parsed_args.flavors)
        facts.dynamic, facts.dynamic_carves, facts.dynamic_error = \
            gather.read_dynamic(state_directory)
        if on_this_machine and not simulated:
            facts.versions = gather.read_versions()
            facts.privsep = gather.read_privsep()
        layout = parsed_args.layout or conf.gpuvirt_layout.file
        if not parsed_args.layout and layout and not os.path.exists(layout):
            layout = None  # the default file is optional; --layout is not
        if layout:
            facts.plan, facts.targets, facts.layout_error = \
                gather.layout_plan(
                    layout, host, host.hostname,
                    common.selected_layout(conf, parsed_args),
                    conf.gpuvirt_layout.default_vgpu_types,
                    conf.gpuvirt_layout.create_compute_instances,
                    frozenset(facts.dynamic))
        return facts

    def cluster_facts(self, parsed_args, host_facts):
        conf = self.app.conf
        with placement_cmd.open_placement(conf, parsed_args) as connection:
            try:
                providers = gather.read_providers(connection.client)
                hosts = [parsed_args.host] if parsed_args.host else \
                    sorted({p.host for p in providers})
                drift = None
                if parsed_args.host == host_facts.hostname:
                    drift = self.drift(conf, connection, host_facts)
            except placement_client.PlacementError as exc:
                raise exception.GpuvirtError(str(exc))
        lock_path = conf.gpuvirt_layout.lock_path or (
            os.path.join(host_facts.root, 'locks') if host_facts.simulated
            else os.path.join(conf.gpuvirt.state_dir, 'locks'))
        return facts_mod.ClusterFacts(
            where=connection.where, providers=providers, hosts=hosts,
            apply_running=gather.apply_running(lock_path, hosts),
            drift=drift)

    @staticmethod
    def drift(conf, connection, host_facts):
        """What a dry-run sync of this host would change ([audit.Drift])."""
        host = host_facts.host
        desired = tree.build_provider_tree(
            host_facts.hostname, host, offers_mod.offers_from_hardware(host),
            isolate=True)
        report = sync.sync(connection.client, desired, dry_run=True,
                           retries=conf.gpuvirt_placement.conflict_retries,
                           create_root=connection.embedded)
        draining = [p['name'] for p in connection.client.providers_with_trait(
            naming.DRAINING_TRAIT)]
        return audit.drift(report, draining)

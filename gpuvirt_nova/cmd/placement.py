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

"""``gpuvirt-nova placement sync|show|audit|provider-config``.

Each command reads this host's GPUs (or a simulated host), takes what each
GPU is carved into as its offer (Placement is told what the hardware is,
as the Nova driver tells it), builds the provider tree and
talks to Placement: the one at ``--os-placement-url``, the cloud at
``--os-cloud``, or the embedded one when neither is given.
"""

import socket
import sys

from cliff import command
from oslo_log import log as logging
import yaml

from gpuvirt_nova.cmd import common
from gpuvirt_nova.conf import backends
from gpuvirt_nova import exception
from gpuvirt_nova.placement import audit
from gpuvirt_nova.placement import client as placement_client
from gpuvirt_nova.placement import connect
from gpuvirt_nova.placement import drain as placement_drain
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import offers as offers_mod
from gpuvirt_nova.placement import provider_config
from gpuvirt_nova.placement import sync
from gpuvirt_nova.placement import tree

LOG = logging.getLogger(__name__)


def add_placement_options(parser):
    parser.add_argument(
        '--os-placement-url', metavar='URL',
        help='Placement endpoint (noauth2, token "admin"), for example '
             'http://127.0.0.1:8778. Default: [gpuvirt_placement] '
             'placement_url, $OS_PLACEMENT_URL, else --os-cloud, else the '
             'embedded Placement.')
    parser.add_argument(
        '--os-cloud', metavar='NAME',
        help='Cloud from clouds.yaml. Default: [gpuvirt_placement] cloud '
             'or $OS_CLOUD.')
    parser.add_argument(
        '--state-dir', metavar='DIR',
        help='Directory of the embedded Placement database (default: '
             '[gpuvirt] state_dir when writable, else '
             '~/.local/state/gpuvirt-nova).')
    return parser


def add_host_options(parser):
    parser.add_argument(
        '--host', metavar='NAME',
        help='Compute node name (the hypervisor hostname Nova reports; '
             'also the layout node). Default: [gpuvirt_placement] '
             'compute_node, else the discovered host name.')
    common.add_simulate(parser, 'built for this one command (--sim-root '
                                'reads one that is kept)')
    parser.add_argument(
        '--sim-root', metavar='DIR',
        help='Read the simulated host kept in DIR (by layout --simulate '
             '--sim-root DIR, or sim create DIR SPEC).')
    parser.add_argument(
        '--layout', metavar='FILE',
        help='With --simulate: carve the throwaway simulated host with '
             'this layout file first. GPUs offer what they are carved '
             'into; on a real host apply a layout with gpuvirt-nova '
             'layout apply.')
    common.add_select(parser)
    return parser


def simulating(conf, parsed_args):
    """Why the host these arguments read is simulated, or None."""
    if getattr(parsed_args, 'simulate', None):
        return '--simulate'
    if getattr(parsed_args, 'sim_root', None):
        return '--sim-root'
    if conf.gpuvirt.simulate:
        return '[gpuvirt] simulate'
    return None


def open_placement(conf, parsed_args, embedded_for=None):
    """The Placement the arguments name.

    The embedded one only when the host is simulated, or when
    ``embedded_for`` says why it may stand in.
    """
    group = conf.gpuvirt_placement
    why = embedded_for or simulating(conf, parsed_args)
    return connect.connect(
        placement_url=parsed_args.os_placement_url or group.placement_url,
        cloud=parsed_args.os_cloud or group.cloud,
        state_directory=parsed_args.state_dir or conf.gpuvirt.state_dir,
        embedded_for=why and 'the host is simulated (%s)' % why)


def _carved_simulation(parsed_args, name):
    """A throwaway simulated host carved by ``--layout``: its Host model.

    The carve goes through the layout's one writer, as ``layout apply``
    would do it on a real host; Placement is then told the result.
    """
    from gpuvirt_nova.layout import carve
    from gpuvirt_nova.layout import hostctx
    from gpuvirt_nova.layout import spec as layout_spec
    from gpuvirt_nova.sim import scratch  # imported late: simulating only

    layout = layout_spec.load_file(parsed_args.layout)
    with scratch.scratch_root() as root:
        context = hostctx.simulated(parsed_args.simulate, root)
        node = name or hostctx.pick_node(layout, context)
        carve.carve(context, layout, node, parsed_args.select)
        host = context.read()
        host.hostname = host.hostname or node
        host.dynamic, host.time_sliced = _dynamic_of(context.owners_path)
        return node, host


def _dynamic_of(path):
    """The dynamic GPUs an owner record lists.

    ``({address: series}, {address: scheduling})``: the second holds the
    time-sliced ones.
    """
    from gpuvirt_nova.layout import owners
    return owners.dynamic_series(path), owners.dynamic_time_sliced(path)


def load_host(conf, parsed_args):
    """(compute node name, model.Host).

    ``--layout`` carves a throwaway simulated host (``--simulate``) first;
    a real or kept host is read as it is: Placement is told what the
    hardware is, and a layout reaches the hardware only through ``layout
    apply``.
    """
    name = parsed_args.host or conf.gpuvirt_placement.compute_node
    if parsed_args.layout:
        if not parsed_args.simulate or parsed_args.sim_root:
            raise exception.UsageError(
                '--layout %s: Placement is told what the GPUs are carved '
                'into, not what a file wishes; apply the layout on the '
                'host first (gpuvirt-nova layout apply), then run this '
                'without --layout (--layout is only for a throwaway '
                '--simulate host)' % parsed_args.layout)
        return _carved_simulation(parsed_args, name)
    if parsed_args.sim_root:
        root = common.kept_sim_root(parsed_args.sim_root)
        if parsed_args.simulate:
            from gpuvirt_nova.layout import hostctx
            hostctx.check_same_host(backends.open_or_create_simulated(root),
                                    parsed_args.simulate, root)
        host = backends.discover_simulated(root, hostname=name)
        from gpuvirt_nova.layout import owners
        host.dynamic, host.time_sliced = _dynamic_of(owners.path_in(root))
    elif parsed_args.simulate:
        host = backends.discover_simulated(parsed_args.simulate,
                                           hostname=name)
    else:
        host = backends.discover_from_conf(conf, hostname=name)
        if not conf.gpuvirt.simulate:
            from gpuvirt_nova.layout import owners
            host.dynamic, host.time_sliced = _dynamic_of(
                owners.path_in(conf.gpuvirt.state_dir))
    name = name or host.hostname or socket.gethostname()
    return name, host


def host_offers(conf, parsed_args):
    """(compute node, host, offers): the host's carve as discovered now.

    Placement is told what the hardware is, as the Nova driver tells it;
    a layout not yet applied shows in ``layout plan``, not here.
    """
    name, host = load_host(conf, parsed_args)
    return name, host, offers_mod.offers_from_hardware(
        host, getattr(host, 'dynamic', {}))


def desired_tree(conf, parsed_args):
    """(compute node, host, offers, DesiredTree) from the arguments."""
    name, host, offers = host_offers(conf, parsed_args)
    dynamic = getattr(host, 'dynamic', {})
    if not offers and not dynamic:
        LOG.warning(
            '%s: no GPU offers a vGPU type (%d GPU(s) found, none carved '
            'into vGPUs): carve them with gpuvirt-nova layout apply',
            name, len(host.gpus))
    desired = tree.build_provider_tree(
        name, host, offers, isolate=True, dynamic=dynamic,
        time_sliced=getattr(host, 'time_sliced', {}))
    for address, problem in desired.problems:
        LOG.warning('GPU %s is not offered (an existing provider stays '
                    'fully reserved while guests use it): %s', address,
                    problem)
    return name, host, offers, desired


def _run_sync(conf, connection, desired, dry_run, create_root=False):
    try:
        return sync.sync(connection.client, desired, dry_run=dry_run,
                         retries=conf.gpuvirt_placement.conflict_retries,
                         create_root=create_root or connection.embedded)
    except placement_client.PlacementError as exc:
        raise exception.GpuvirtError(str(exc))


class SyncPlacement(common.Lister):
    """Make Placement hold this host's GPU providers, inventories, traits."""

    machine_only = ('Provider UUID',)

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        add_host_options(add_placement_options(parser))
        parser.add_argument('--dry-run', action='store_true',
                            help='Read only; list what would change.')
        parser.add_argument(
            '--create-compute-node', action='store_true',
            help='Create the compute node provider when Placement lacks it '
                 '(a Placement without Nova; nova-compute normally creates '
                 'it). Implied for the embedded Placement.')
        return parser

    def take_action(self, parsed_args):
        conf = self.app.conf
        name, host, offers, desired = desired_tree(conf, parsed_args)
        with open_placement(conf, parsed_args) as connection:
            report = _run_sync(conf, connection, desired, parsed_args.dry_run,
                               parsed_args.create_compute_node)
            uuids = {}
            if parsed_args.formatter in common.MACHINE_FORMATS and \
                    report.changes:
                uuids = _tree_uuids(connection.client, name)
        for note in report.protected:
            self.app.stderr.write('protected: %s\n' % note)
        self.app.stderr.write(
            '%s%s: %d change(s), %d protected, %d Placement API call(s) '
            '(%d read, %d write), %d conflict(s) retried, on %s\n' % (
                'dry run: ' if parsed_args.dry_run else '', name,
                len(report.changes), len(report.protected), report.calls,
                report.reads, report.writes, report.conflicts,
                connection.where))
        return (('Provider', 'Provider UUID', 'Action', 'Detail'),
                [(c.provider, uuids.get(c.provider), c.action, c.detail)
                 for c in report.changes])


def _tree_uuids(client, name):
    """{provider name: UUID} of compute node ``name``'s tree (2 reads).

    For machine output only: a provider a dry run would create, or one
    the sync deleted, has none.
    """
    try:
        root = client.provider_by_name(name)
        if root is None:
            return {}
        return {p['name']: p['uuid']
                for p in client.providers(in_tree=root['uuid'])}
    except placement_client.PlacementError as exc:
        raise exception.GpuvirtError(str(exc))


class AuditPlacement(common.Lister):
    """Show drift between the hardware/layout and Placement (exit 1)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        return add_host_options(add_placement_options(parser))

    def take_action(self, parsed_args):
        conf = self.app.conf
        name, host, offers, desired = desired_tree(conf, parsed_args)
        with open_placement(conf, parsed_args) as connection:
            report = _run_sync(conf, connection, desired, dry_run=True)
            draining = [naming.gpu_provider_name(name, address)
                        for address in placement_drain.PlacementDrainer(
                            connection.client).draining(name)]
        self.drift = audit.drift(report, draining)
        self.app.stderr.write('%s: %s\n' % (
            name, '%d drift item(s)' % len(self.drift) if self.drift
            else 'no drift'))
        return (('Provider', 'Drift', 'Detail'),
                [(d.provider, d.kind, d.detail) for d in self.drift])

    def run(self, parsed_args):
        self.drift = []
        result = super().run(parsed_args)
        return exception.DriftDetected.exit_code if self.drift else result


def _provider_rows(client, provider):
    _, inventories = client.inventories(provider['uuid'])
    usages = client.usages(provider['uuid'])
    _, traits = client.traits(provider['uuid'])
    custom = sorted(t for t in traits if t.startswith(naming.CUSTOM_PREFIX))
    if not inventories:
        return [(provider['name'], provider['uuid'], None, 0, 0, 0, custom)]
    return [(provider['name'], provider['uuid'], rc, inv['total'],
             inv['reserved'], usages.get(rc, 0), custom)
            for rc, inv in sorted(inventories.items())]


class ShowPlacement(common.Lister):
    """Show the GPU providers in Placement with inventory and usage."""

    machine_only = ('Provider UUID',)

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        add_placement_options(parser)
        parser.add_argument(
            '--host', metavar='NAME',
            help='Only this compute node (default: every compute node with '
                 'GPU providers this package manages).')
        return parser

    def take_action(self, parsed_args):
        conf = self.app.conf
        rows = []
        # Read-only: the embedded Placement a simulated sync filled may be
        # shown when its directory is named.
        with open_placement(conf, parsed_args, embedded_for=(
                parsed_args.state_dir and '--state-dir')) as connection:
            client = connection.client
            try:
                if parsed_args.host:
                    root = client.provider_by_name(parsed_args.host)
                    if root is None:
                        raise exception.UsageError(
                            '--host %s: no such compute node provider in '
                            'Placement (%s)' % (parsed_args.host,
                                                connection.where))
                    providers = [p for p in client.providers(
                        in_tree=root['uuid']) if p['uuid'] != root['uuid']]
                else:
                    providers = client.providers_with_trait(
                        naming.MANAGED_TRAIT)
                for provider in sorted(providers, key=lambda p: p['name']):
                    rows.extend(_provider_rows(client, provider))
            except placement_client.PlacementError as exc:
                raise exception.GpuvirtError(str(exc))
        return (('Provider', 'Provider UUID', 'Resource class', 'Total',
                 'Reserved', 'Used', 'Traits'), rows)


class ProviderConfig(command.Command):
    """Write a Nova provider.yaml adding our traits to Nova's providers."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        add_host_options(parser)
        parser.add_argument(
            '--output', metavar='FILE', default='-',
            help='Where to write (default: stdout). Put it in the '
                 'directory named by nova.conf [compute] '
                 'provider_config_location, for example '
                 '/etc/nova/provider_config/gpuvirt-nova.yaml.')
        return parser

    def take_action(self, parsed_args):
        conf = self.app.conf
        layout_path, parsed_args.layout = parsed_args.layout, None
        name, host, offers = host_offers(conf, parsed_args)
        if layout_path:
            # Upstream Nova reports these providers and creates the mdevs
            # itself: the layout names the types it is configured for.
            from gpuvirt_nova.layout import spec as layout_spec
            offers = offers_mod.offers_from_layout(
                layout_spec.load_file(layout_path), host, name,
                common.selected_layout(conf, parsed_args))
        document, warnings = provider_config.build(name, host, offers)
        for warning in warnings:
            self.app.stderr.write('warning: %s\n' % warning)
        text = ('# Generated by gpuvirt-nova placement provider-config for '
                '%s.\n' % name) + yaml.safe_dump(document, sort_keys=False)
        if parsed_args.output == '-':
            (self.app.stdout or sys.stdout).write(text)
        else:
            common.write_output(parsed_args.output, text)
            self.app.stderr.write('wrote %d provider(s) to %s\n' % (
                len(document['providers']), parsed_args.output))
        return 0

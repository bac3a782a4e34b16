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

"""``gpuvirt-nova layout validate|resolve|plan|apply|assert|export|import``.

Thin commands over :mod:`gpuvirt_nova.layout`: every decision is made by
its pure modules; these only read arguments, pick the host (real or
simulated) and print. Bad input exits 2 with one line naming the YAML path
before anything is written.
"""

import contextlib
import os
import signal
import threading
import time

from oslo_log import log as logging
import yaml

from gpuvirt_nova.cmd import common
from gpuvirt_nova import exception
from gpuvirt_nova.hardware import model
from gpuvirt_nova.layout import apply as apply_mod
from gpuvirt_nova.layout import drain as drain_mod
from gpuvirt_nova.layout import export as export_mod
from gpuvirt_nova.layout import hostctx
from gpuvirt_nova.layout import hostlock
from gpuvirt_nova.layout import migparted
from gpuvirt_nova.layout import plan as plan_mod
from gpuvirt_nova.layout import schema
from gpuvirt_nova.layout import spec
from gpuvirt_nova.layout import target as target_mod

LOG = logging.getLogger(__name__)

RESOLVE_COLUMNS = ('Node', 'GPU entry', 'Model', 'Mode', 'vGPU', 'Request',
                   'Profile', 'Unused')


def _conf(app):
    return app.conf


def _add_file(parser):
    parser.add_argument(
        'file', nargs='?', metavar='LAYOUT',
        help='Layout file (default: [gpuvirt_layout] file).')


def _add_host(parser, host_help=True):
    if host_help:
        parser.add_argument(
            '--host', metavar='NAME',
            help='Node of the layout to act on (default: this host\'s '
                 'name; for a simulated host, its name or the only node).')
    common.add_simulate(
        parser, 'kept under --sim-root or [gpuvirt] state_dir so later '
                'commands see its state')
    parser.add_argument(
        '--sim-root', metavar='DIR',
        help='Directory of the simulated host (created with --simulate, '
             'reopened without it).')
    common.add_select(parser)


def _load(app, parsed_args):
    """The layout file; an empty layout when only defaults are configured.

    ``[gpuvirt_layout] default_vgpu_types`` alone is a layout: a host
    without a file (or a file without this host) is carved from it.
    """
    conf = _conf(app).gpuvirt_layout
    path = parsed_args.file or conf.file
    if not parsed_args.file and conf.default_vgpu_types and \
            not os.path.isfile(path):
        return spec.Layout()
    return spec.load_file(path)


def _node_name(app, parsed_args, layout, context):
    """The node to act on; any host when the defaults cover it."""
    hostctx.check_host_is_this_one(parsed_args.host, context)
    try:
        return hostctx.pick_node(layout, context, parsed_args.host)
    except exception.UsageError:
        name = parsed_args.host or context.hostname
        if not _conf(app).gpuvirt_layout.default_vgpu_types or not name:
            raise
        return name


def _names_host(parsed_args):
    """Whether the arguments name a host to check against (not just a file)."""
    return bool(parsed_args.host or parsed_args.simulate
                or parsed_args.sim_root)


def _context(app, parsed_args):
    return hostctx.open_context(_conf(app), parsed_args.simulate,
                                parsed_args.sim_root)


def _targets(app, parsed_args, layout, context, host=None):
    """(node name, host model, [Target]); all checks before any write."""
    name = _node_name(app, parsed_args, layout, context)
    select = common.selected_layout(_conf(app), parsed_args)
    defaults = _conf(app).gpuvirt_layout.default_vgpu_types
    if name in layout.hosts() or not defaults:
        node = layout.node(name, select)
    else:
        node = spec.NodeSpec(host=name, path=target_mod.DEFAULTS_FIELD)
    host = host or context.read()
    if host.hostname is None:
        host.hostname = name
    return name, host, target_mod.resolve_node(node, host, defaults)


def _plan(app, parsed_args):
    """(node name, Plan) for the host the arguments name (no writes)."""
    layout = _load(app, parsed_args)
    context = _context(app, parsed_args)
    name, host, targets = _targets(app, parsed_args, layout, context)
    return name, plan_mod.make_plan(
        targets, host, _conf(app).gpuvirt_layout.create_compute_instances,
        context.dynamic_gpus())


def _resolution_rows(owner, res):
    model_name = res.gpu_model.name
    if not res.vgpus:
        return [(owner, res.spec.path, model_name, res.mode, None, None,
                 None, None)]
    return [(owner, res.spec.path, model_name, res.mode, r.name,
             r.request.describe_request(), r.target(), _unused(r))
            for r in res.vgpus]


def _unused(resolved):
    """What a vGPU leaves unused: numbers for tools, a phrase for people."""
    return common.Cell({'memory_mib': max(resolved.memory_unused_mib, 0),
                        'compute_percent': round(
                            max(resolved.compute_unused, 0), 2)},
                       resolved.waste())


class _Lister(common.Lister):
    #: Set by take_action; run() returns it as the exit status.
    status = 0

    def run(self, parsed_args):
        result = super().run(parsed_args)
        return result or self.status

    def say(self, text):
        self.app.stderr.write(text + '\n')


class _HostLister(_Lister):
    """A Lister over a layout file and a host (real or simulated)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _add_file(parser)
        _add_host(parser)
        return parser


class ValidateLayout(common.ShowOne):
    """Check a layout file: schema, profiles, feasibility (writes nothing)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _add_file(parser)
        _add_host(parser)
        return parser

    def take_action(self, parsed_args):
        layout = _load(self.app, parsed_args)
        resolved = target_mod.resolve_static(layout)
        checked = 'file'
        if _names_host(parsed_args):
            name, _, targets = _targets(self.app, parsed_args, layout,
                                        _context(self.app, parsed_args))
            checked = 'file and host %s (%d GPUs selected)' % (name,
                                                               len(targets))
        for _, res in resolved:
            for note in res.notes():
                self.app.stderr.write('note: %s\n' % note)
        later = [g.path for n in layout.nodes for g in n.gpus
                 if g.model_name in (None, spec.ALL)]
        return (('Result', 'Checked', 'Nodes', 'GPU entries',
                 'Resolved per host', 'vGPUs', 'Named layouts', 'Scheduler'),
                ('valid', checked, len(layout.nodes),
                 sum(len(n.gpus) for n in layout.nodes),
                 later,
                 sum(len(g.vgpus) for n in layout.nodes for g in n.gpus),
                 sorted(layout.layouts), dict(layout.scheduler)))


class ResolveLayout(_HostLister):
    """Show the profile each requested vGPU resolves to, and the waste."""

    def take_action(self, parsed_args):
        layout = _load(self.app, parsed_args)
        rows = []
        if _names_host(parsed_args):
            name, _, targets = _targets(self.app, parsed_args, layout,
                                        _context(self.app, parsed_args))
            for t in targets:
                rows += [(name, t.address) + row[2:]
                         for row in _resolution_rows(name, t.resolution)]
        else:
            for owner, res in target_mod.resolve_static(layout):
                rows += _resolution_rows(owner, res)
        return RESOLVE_COLUMNS, rows


class PlanLayout(_HostLister):
    """Show the steps that would bring a host to its layout."""

    def take_action(self, parsed_args):
        name, plan = _plan(self.app, parsed_args)
        rows = []
        for gpu_plan in plan.gpus:
            if gpu_plan.blocked:
                rows.append((gpu_plan.address, None, 'blocked',
                             gpu_plan.blocked, False, False))
            for i, step in enumerate(gpu_plan.steps, 1):
                rows.append((gpu_plan.address, i, step.action,
                             step.describe().split(': ', 1)[1],
                             bool(step.destroys), bool(step.reset)))
        draining = [g.address for g in plan.gpus if g.destroys]
        if plan.empty:
            self.say('No changes: %s matches the layout.' % name)
        else:
            self.say('Plan for %s: %d steps on %d GPUs.%s' % (
                name, len(plan.steps),
                sum(1 for g in plan.gpus if g.steps),
                ' Drain first (--drain): %s.' % ', '.join(draining)
                if draining else ''))
        return (('GPU', 'Step', 'Action', 'Description', 'Destroys',
                 'Resets GPU'), rows)


class ApplyLayout(_HostLister):
    """Bring a host to its layout, verifying every step."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            '--drain', action='store_true',
            help='Before a step that destroys a slice, reserve the GPU in '
                 'Placement and wait until no instance uses it.')
        parser.add_argument(
            '--force', action='store_true',
            help='Destroy slices and reset GPUs without draining: only '
                 'when no instance uses them.')
        parser.add_argument(
            '--boot', action='store_true',
            help='Restore after a reboot (systemd unit, before '
                 'nova-compute): wait for the driver, no instance runs yet.')
        parser.add_argument(
            '--no-wait', action='store_true',
            help='Fail at once (exit 1) when another apply holds this '
                 'host\'s lock, instead of waiting up to [gpuvirt_layout] '
                 'lock_timeout seconds.')
        return parser

    def take_action(self, parsed_args):
        conf = _conf(self.app).gpuvirt_layout
        layout = _load(self.app, parsed_args)
        context = _context(self.app, parsed_args)
        lock_path, field = _lock_path(self.app, context)
        lock_host = _node_name(self.app, parsed_args, layout, context)
        with hostlock.apply_lock(lock_path, lock_host,
                                 wait=not parsed_args.no_wait,
                                 timeout=conf.lock_timeout, field=field):
            return self._apply(parsed_args, conf, layout, context)

    def _apply(self, parsed_args, conf, layout, context):
        host = _wait_for_driver(context, conf.boot_driver_timeout) \
            if parsed_args.boot else None
        name, host, targets = _targets(self.app, parsed_args, layout,
                                       context, host)
        writer = context.writer()
        with _drainer(self.app, parsed_args.drain,
                      context.simulated is not None) as drainer, \
                _stop_on_signals(self.say) as stop:
            options = apply_mod.Options(
                stop=stop.is_set,
                force=parsed_args.force or parsed_args.boot,
                drainer=drainer,
                drain_timeout=conf.drain_timeout,
                drain_interval=conf.drain_interval,
                compute_instances=conf.create_compute_instances,
                progress=lambda text: self.say(text),
                mdevs=context.mdevs(),
                owners_path=context.owners_path)
            results = apply_mod.apply(targets, context.read, writer, name,
                                      options,
                                      read_gpu=context.gpu_reader())
        bad = [r for r in results
               if r.status not in (apply_mod.APPLIED, apply_mod.UNCHANGED)]
        self.status = 1 if bad else 0
        if any(r.status == apply_mod.INTERRUPTED for r in results):
            # As a shell reports a command stopped by SIGINT.
            self.status = 128 + signal.SIGINT
        self.say('%s: %d GPUs applied, %d unchanged, %d not applied.' % (
            name, sum(r.status == apply_mod.APPLIED for r in results),
            sum(r.status == apply_mod.UNCHANGED for r in results),
            len(bad)))
        return (('GPU', 'Status', 'Steps done', 'Rolled back', 'Message'),
                [(r.address, r.status, len(r.done), len(r.rolled_back),
                  r.message or None) for r in results])


@contextlib.contextmanager
def _stop_on_signals(say):
    """Turn SIGINT/SIGTERM into a stop between two steps.

    Yields an Event the apply polls: the step in progress finishes, the
    GPU it belongs to is rolled back and any drain released, instead of
    the process dying half-way through a GPU. A second signal while
    stopping is ignored on purpose: the rollback must run to the end.
    """
    stop = threading.Event()

    def handler(signum, frame):
        if not stop.is_set():
            say('%s: stopping after the step in progress; the GPU being '
                'changed is rolled back' % signal.Signals(signum).name)
        stop.set()

    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[signum] = signal.signal(signum, handler)
        except ValueError:  # not the main thread: nothing to install
            break
    try:
        yield stop
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _lock_path(app, context):
    """(directory of the apply lock, the option that sets it).

    ``[gpuvirt_layout] lock_path``, else ``<[gpuvirt] state_dir>/locks``;
    a simulated host keeps its lock in its own directory, so each
    simulated host is locked on its own.
    """
    conf = _conf(app)
    if conf.gpuvirt_layout.lock_path:
        return conf.gpuvirt_layout.lock_path, '[gpuvirt_layout] lock_path'
    if context.simulated is not None:
        return (os.path.join(context.simulated.sysfs_root, 'locks'),
                '--sim-root')
    return (os.path.join(conf.gpuvirt.state_dir, 'locks'),
            '[gpuvirt] state_dir')


def _wait_for_driver(context, timeout, sleep=time.sleep):
    """At boot: the host once every GPU shows a driver version."""
    deadline = time.monotonic() + timeout
    while True:
        host = context.read()
        if host.gpus and all(g.driver_version for g in host.gpus):
            return host
        if time.monotonic() >= deadline:
            return host  # plan_gpu reports each GPU as blocked
        sleep(2)


@contextlib.contextmanager
def _drainer(app, wanted, simulated=False):
    """Yield the Placement drainer for --drain (None without --drain).

    Placement is found as ``gpuvirt-nova placement`` finds it
    (``[gpuvirt_placement] placement_url`` or ``cloud``); the embedded one
    only for a simulated host, never for a real one, whose guests it would
    not know. Without the Placement package, NoPlacement says so.
    """
    if not wanted:
        yield None
        return
    try:
        from gpuvirt_nova.placement import connect
        from gpuvirt_nova.placement import drain as placement_drain
    except ImportError:
        yield drain_mod.NoPlacement()
        return
    conf = _conf(app)
    group = conf.gpuvirt_placement
    with connect.connect(placement_url=group.placement_url,
                         cloud=group.cloud,
                         state_directory=conf.gpuvirt.state_dir,
                         url_option='[gpuvirt_placement] placement_url',
                         embedded_for=simulated and 'a simulated host') \
            as conn:
        app.stderr.write('draining through %s\n' % conn.where)
        yield placement_drain.PlacementDrainer(conn.client)


class UndrainLayout(_Lister):
    """Release GPUs a killed ``layout apply --drain`` left draining."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            '--host', metavar='NAME', required=True,
            help='Compute node whose GPUs to release (the hypervisor '
                 'hostname Nova reports).')
        parser.add_argument(
            '--gpu', metavar='PCI_ADDRESS', action='append',
            help='Only this GPU (repeatable; default: every GPU of the '
                 'host marked draining).')
        parser.add_argument(
            '--simulated', action='store_true',
            help='The host is simulated: the embedded Placement may stand '
                 'in when none is configured.')
        return parser

    def take_action(self, parsed_args):
        with _drainer(self.app, True, parsed_args.simulated) as drainer:
            marked = drainer.draining(parsed_args.host)
            wanted = marked
            if parsed_args.gpu:
                try:
                    wanted = [model.normalize_pci_address(a)
                              for a in parsed_args.gpu]
                except ValueError as exc:
                    raise exception.UsageError('--gpu: %s' % exc)
            for address in wanted:
                drainer.set_reserved(parsed_args.host, address, False)
        self.say('%s: %d GPU(s) released' % (parsed_args.host, len(wanted)))
        return (('GPU', 'Was draining'),
                [(a, a in marked) for a in wanted])


class AssertLayout(_HostLister):
    """Exit 1 and list the drift when a host differs from its layout."""

    def take_action(self, parsed_args):
        name, plan = _plan(self.app, parsed_args)
        rows = [(g.address, 'blocked: %s' % g.blocked)
                for g in plan.gpus if g.blocked]
        rows += [(s.gpu, s.describe().split(': ', 1)[1])
                 for s in plan.steps]
        if rows:
            self.status = exception.DriftDetected.exit_code
            self.say('%s differs from the layout in %d ways.'
                     % (name, len(rows)))
        else:
            self.say('%s matches the layout.' % name)
        return ('GPU', 'Drift (step needed)'), rows


class _DocumentLister(_Lister):
    """A Lister whose -f json/yaml prints a whole layout document."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            '-o', '--output', metavar='FILE',
            help='Also write the layout (YAML) to FILE.')
        return parser

    def write_document(self, parsed_args):
        if parsed_args.output:
            common.write_output(parsed_args.output, yaml.safe_dump(
                self.document, sort_keys=False))
            self.say('wrote %s' % parsed_args.output)


class ExportLayout(_DocumentLister):
    """Write a host's current GPU state as a layout file."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _add_host(parser)
        return parser

    def take_action(self, parsed_args):
        context = _context(self.app, parsed_args)
        host = context.read()
        name = parsed_args.host or context.hostname
        self.document = export_mod.export_host(host, name)
        schema.validate(self.document)
        self.write_document(parsed_args)
        node = self.document['gpu_cluster']['nodes'][0]
        return (('Host', 'GPU', 'Mode', 'vGPUs'),
                [(node['host'], g['pci'], g['mode'],
                  ', '.join(v.get('profile') or v.get('mig')
                            for v in g.get('vgpus', ())) or '-')
                 for g in node['gpus']])


class ImportMigParted(_DocumentLister):
    """Convert an NVIDIA mig-parted config file into named layouts."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('migparted_file', metavar='MIG_PARTED_FILE',
                            help='mig-parted config (version: v1).')
        parser.add_argument('--host', metavar='NAME',
                            help='Add a node NAME that uses --select.')
        parser.add_argument('--select', metavar='CONFIG',
                            help='The mig-parted config the node uses.')
        return parser

    def take_action(self, parsed_args):
        data = schema.load_yaml_file(parsed_args.migparted_file)
        self.document = migparted.to_layout(
            data, parsed_args.host, parsed_args.select,
            parsed_args.migparted_file)
        spec.parse(self.document)
        target_mod.resolve_static(spec.parse(self.document))
        self.write_document(parsed_args)
        layouts = self.document['gpu_cluster']['layouts']
        return (('Layout', 'GPU entry', 'Mode', 'vGPUs'),
                [(name, ', '.join('%s=%s' % (k, g[k]) for k in
                                  ('type', 'index') if k in g),
                  g['mode'], ', '.join('%s x%d' % (v['mig'],
                                                   v.get('count', 1))
                                       for v in g.get('vgpus', ())) or '-')
                 for name, gpus in sorted(layouts.items()) for g in gpus])

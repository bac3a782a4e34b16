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

"""``gpuvirt-nova demo``: a simulated GPU cluster placed through Placement.

Runs with no cloud and no GPU: simulated hosts from a layout file, the
real Placement code in process on SQLite (or ``--placement-url``), and
vGPU requests placed as Nova would place them, the GPU-level choice made
by the scheduler plugins' own code. Ends with a table of every GPU's
usage and the cluster's utilization and fragmentation rate, requests and
vGPUs counted apart (``--multi-vgpu-share`` of the requests ask two vGPUs
through granular request groups); ``--compare``
plays the same stream with each policy and prints one row per policy;
``--with-nova`` boots servers through an in-process Nova instead.
"""

import argparse
import os
import shutil
import sys
import uuid

from oslo_log import log as logging

import gpuvirt_nova
from gpuvirt_nova.cmd import common
from gpuvirt_nova.cmd import nova_demo
from gpuvirt_nova.cmd import report as report_cmd
from gpuvirt_nova.demo import carving
from gpuvirt_nova.demo import placement as demo
from gpuvirt_nova import exception
from gpuvirt_nova.placement import client as placement_client
from gpuvirt_nova.placement import connect

LOG = logging.getLogger(__name__)

DEFAULT_LAYOUT = 'demo-mixed.yaml'
DEFAULT_HOSTS = 4
NOVA_DEMO_HOSTS = 2


def shipped_layout(name=DEFAULT_LAYOUT, folder='demo'):
    """Path of a file shipped in etc/gpuvirt-nova/<folder>, or None."""
    here = os.path.dirname(os.path.abspath(gpuvirt_nova.__file__))
    for base in (os.path.join(here, os.pardir), sys.prefix, '/'):
        path = os.path.normpath(os.path.join(
            base, 'etc', 'gpuvirt-nova', folder, name))
        if os.path.isfile(path):
            return path
    return None


class ProgressBar:
    """``[#####.....]  12/40  place A100-2-10C`` on one stderr line."""

    def __init__(self, stream, width=30):
        self.stream = stream
        self.width = width
        self.tty = hasattr(stream, 'isatty') and stream.isatty()
        self._last = -1

    def __call__(self, done, total, label):
        filled = self.width * done // max(total, 1)
        if not self.tty:
            # One line per tenth, so logs stay short.
            tenth = 10 * done // max(total, 1)
            if tenth == self._last and done != total:
                return
            self._last = tenth
        bar = '#' * filled + '.' * (self.width - filled)
        line = '[%s] %*d/%d  %s' % (bar, len(str(total)), done, total, label)
        self.stream.write(('\r%-79s' if self.tty else '%s\n') % line[:79])
        if done == total and self.tty:
            self.stream.write('\n')
        self.stream.flush()


def _pct(value):
    """A fraction: 0.25 for tools, ``25.0%`` for people."""
    return common.Cell(round(value, 4), '%.1f%%' % (100.0 * value))


def _used_total(used, total):
    return common.Cell({'used': used, 'total': total},
                       '%d/%d' % (used, total))


def _rows(result):
    rows = []
    for gpu in result.gpus:
        rows.append((
            gpu.host, gpu.address, gpu.model,
            common.Cell({t: {'used': u, 'total': n}
                         for t, (u, n) in sorted(gpu.slots.items())},
                        '\n'.join('%s %d/%d' % (t, u, n)
                                  for t, (u, n) in sorted(gpu.slots.items()))),
            _used_total(gpu.used, gpu.total),
            _pct(gpu.used_milli / 1000.0),
            _pct(gpu.fragmented_milli / 1000.0)))
    used = sum(g.used for g in result.gpus)
    total = sum(g.total for g in result.gpus)
    rows.append(('TOTAL',
                 '%d GPUs, %d idle' % (len(result.gpus), result.idle_gpus),
                 result.policy, _counts(result), _used_total(used, total),
                 _pct(result.utilization), _pct(result.fragmentation)))
    return rows


def _counts(result):
    """Requests and vGPUs, counted apart (a request may ask several)."""
    return ('requests: %d placed (%d with 2+ vGPUs), %d rejected, %d '
            'finished\nvGPUs: %d placed, %d rejected, %d finished' % (
                result.placed, result.placed_multi, result.rejected,
                result.finished, result.placed_vgpus,
                result.rejected_vgpus, result.finished_vgpus))


COLUMNS = ('Host', 'GPU', 'Model', 'vGPUs used/total', 'Used', 'Util',
           'Fragmented')
COMPARE_COLUMNS = ('Policy', 'Requests placed', 'Requests rejected',
                   'Requests finished', 'vGPUs placed', 'vGPUs rejected',
                   'vGPUs held', 'GPUs in use', 'Idle GPUs', 'Utilization',
                   'Fragmentation rate')


CARVE_COLUMNS = ('Carve', 'Requests placed', 'Requests rejected',
                 'Rejected with a GPU idle', 'Requests finished', 'GPUs',
                 'Dynamic GPUs', 'Idle GPUs', 'Utilization',
                 'Fragmentation rate')


def _summary_row(result):
    return (result.policy, result.placed, result.rejected, result.finished,
            result.placed_vgpus, result.rejected_vgpus,
            sum(g.used for g in result.gpus),
            len(result.gpus) - result.idle_gpus, result.idle_gpus,
            _pct(result.utilization), _pct(result.fragmentation))


class Demo(common.Lister):
    """Simulate a GPU cluster, pool it in Placement, place vGPU requests."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--hosts', type=int, default=None, metavar='N',
                            help='Simulated hosts (default %d; %d with '
                                 '--with-nova).' % (DEFAULT_HOSTS,
                                                    NOVA_DEMO_HOSTS))
        parser.add_argument('--requests', type=int, default=120,
                            metavar='N',
                            help='Requests (servers) to place (default '
                                 '120).')
        parser.add_argument(
            '--multi-vgpu-share', type=float,
            default=demo.DEFAULT_MULTI_SHARE, metavar='FRACTION',
            help='Share of the requests that ask two vGPUs, as granular '
                 'request groups (default %s).' % demo.DEFAULT_MULTI_SHARE)
        parser.add_argument(
            '--group-policy', choices=demo.GROUP_POLICIES, default='none',
            help='group_policy of the two-vGPU requests: none (both may '
                 'land on one GPU, as "flavor create --vgpus 2" sets) or '
                 'isolate (two different GPUs).')
        parser.add_argument(
            '--layout', metavar='FILE',
            help='Layout file; its nodes are cycled over the hosts. '
                 'Default: the shipped %s, else a built-in mixed '
                 'MIG and time-sliced layout.' % DEFAULT_LAYOUT)
        parser.add_argument(
            '--placement-url', metavar='URL',
            help='Use this Placement (noauth2) instead of the embedded one.')
        parser.add_argument(
            '--policy', choices=demo.POLICIES, default=demo.POLICIES[0],
            help='GPU-level choice among allocation candidates: ours (the '
                 'scheduler filter and weigher, default), first-fit (what '
                 'Nova does alone) or best-fit.')
        parser.add_argument(
            '--compare', action='store_true',
            help='Play the same request stream with first-fit, best-fit '
                 'and ours, each on the empty cluster, and print one row '
                 'per policy.')
        parser.add_argument(
            '--compare-carve', action='store_true',
            help='Play the same request stream on the layout\'s static '
                 'carve and with its GPUs dynamic (a MIG instance or a '
                 'mixed-size time-sliced vGPU carved per request; '
                 'time-sliced GPUs without a mixed-size mode stay '
                 'static), and print one row per carve.')
        parser.add_argument(
            '--with-nova', action='store_true',
            help='Boot vGPU servers through an in-process Nova instead '
                 '(same as "nova demo").')
        parser.add_argument('--seed', type=int, default=0,
                            help='Random seed of the request stream.')
        parser.add_argument('--state-dir', metavar='DIR',
                            help='Where the demo keeps its simulated hosts '
                                 'and Placement database.')
        parser.add_argument('--plot', metavar='FILE.png',
                            help='End with the cluster report\'s picture '
                                 'of every GPU\'s slots (needs '
                                 'matplotlib).')
        return parser

    @staticmethod
    def _carve_table(results):
        return (CARVE_COLUMNS, [
            (r.carve, r.placed, r.rejected, r.rejected_idle, r.finished,
             r.gpus, r.dynamic_gpus, r.idle_gpus, _pct(r.utilization),
             _pct(r.fragmentation)) for r in results])

    def _layout(self, parsed_args):
        if parsed_args.layout:
            return demo.load_layout(parsed_args.layout)
        path = shipped_layout()
        if path:
            try:
                return demo.load_layout(path)
            except exception.UsageError as exc:
                LOG.warning('shipped layout %s not usable (%s); using the '
                            'built-in demo layout', path, exc)
        return demo.load_layout(None)

    def _with_nova(self, parsed_args):
        hosts = NOVA_DEMO_HOSTS if parsed_args.hosts is None \
            else parsed_args.hosts
        return nova_demo.NovaDemo(self.app, self.app_args).take_action(
            argparse.Namespace(hosts=hosts, servers=3, types=None))

    def take_action(self, parsed_args):
        if parsed_args.with_nova:
            return self._with_nova(parsed_args)
        hosts_count = DEFAULT_HOSTS if parsed_args.hosts is None \
            else parsed_args.hosts
        demo.check_arguments(hosts_count, parsed_args.requests,
                             parsed_args.policy, parsed_args.multi_vgpu_share,
                             parsed_args.group_policy)
        shape = dict(multi_share=parsed_args.multi_vgpu_share,
                     group_policy=parsed_args.group_policy)
        layout, hints = self._layout(parsed_args)
        base = os.path.join(connect.state_dir(
            parsed_args.state_dir or self.app.conf.gpuvirt.state_dir), 'demo')
        shutil.rmtree(base, ignore_errors=True)
        os.makedirs(base)
        # Against another Placement the demo's hosts get names no real
        # host has, and everything it made goes when it ends.
        external = bool(parsed_args.placement_url)
        prefix = 'demo-%s-' % uuid.uuid4().hex[:6] if external else 'node'
        hosts = demo.build_hosts(layout, hosts_count,
                                 os.path.join(base, 'sim'), hints,
                                 prefix=prefix)
        progress = ProgressBar(self.app.stderr)
        mix = self.app.conf.gpuvirt_scheduler.typical_requests
        with connect.connect(placement_url=parsed_args.placement_url,
                             state_directory=base,
                             url_option='--placement-url',
                             embedded_for='the demo') as connection:
            self.app.stderr.write('%d simulated hosts, %d GPUs, Placement: '
                                  '%s\n' % (len(hosts),
                                            sum(len(h.gpus)
                                                for _, h, _ in hosts),
                                            connection.where))
            demo.check_unused_names(connection.client, hosts)
            try:
                if parsed_args.compare_carve:
                    return self._carve_table(carving.compare(
                        connection.client, hosts, parsed_args.requests,
                        seed=parsed_args.seed, mix=mix,
                        multi_share=parsed_args.multi_vgpu_share))
                if parsed_args.compare:
                    results = demo.compare(
                        connection.client, hosts, parsed_args.requests,
                        seed=parsed_args.seed, progress=progress,
                        configured_mix=mix, **shape)
                else:
                    results = [demo.run(
                        connection.client, hosts, parsed_args.requests,
                        policy=parsed_args.policy, seed=parsed_args.seed,
                        progress=progress, configured_mix=mix, **shape)]
                if not parsed_args.compare and not external:
                    report_cmd.demo_ending(self.app, connection.client,
                                           parsed_args.plot)
            except placement_client.PlacementError as exc:
                raise exception.GpuvirtError(str(exc))
            finally:
                # Also on Ctrl-C: a real Placement keeps nothing of ours.
                if external:
                    self.app.stderr.write('removing the demo\'s providers '
                                          'and allocations from %s\n'
                                          % connection.where)
                    demo.teardown(connection.client, hosts)
        for result in results:
            self.app.stderr.write(
                '%s: %d requests placed (%d vGPUs, %d requests of two), %d '
                'rejected (%d vGPUs; no GPU left for the type), %d finished '
                'while running; utilization %s, fragmentation rate %s, %d '
                'idle GPUs\n' % (
                    result.policy, result.placed, result.placed_vgpus,
                    result.placed_multi, result.rejected,
                    result.rejected_vgpus, result.finished,
                    _pct(result.utilization), _pct(result.fragmentation),
                    result.idle_gpus))
        if parsed_args.compare:
            return COMPARE_COLUMNS, [_summary_row(r) for r in results]
        return COLUMNS, _rows(results[0])

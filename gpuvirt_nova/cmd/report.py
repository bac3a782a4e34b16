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

"""``gpuvirt-nova report``: the cluster's GPUs as Placement holds them.

Utilization per GPU model, vGPU type and project, the scheduler's
fragmentation rate, idle, fenced and draining GPUs
(:mod:`gpuvirt_nova.scheduler.report`); ``-f json`` for tools,
``--plot FILE.png`` for people. When the monitor's utilization history
is there (:mod:`gpuvirt_nova.monitor.history`), the report summarizes it
and the picture adds a utilization-over-time chart. matplotlib is
optional: only ``--plot`` needs it.
"""
import os

import json
import time

from cliff import command

from gpuvirt_nova.cmd import placement as placement_cmd
from gpuvirt_nova import exception
from gpuvirt_nova.monitor import history as history_mod
from gpuvirt_nova.placement import client as placement_client
from gpuvirt_nova.scheduler import report

#: Slot colours of the plot: used, free, reserved (draining), fenced.
COLOURS = {'used': '#d62728', 'free': '#2ca02c', 'reserved': '#7f7f7f',
           'fenced': '#000000'}


def _pct(value):
    return '%.1f%%' % (100.0 * value)


def _table(data):
    """The report as plain text: one block per view."""
    lines = ['GPUs: %d  utilization: %s  fragmentation rate: %s' % (
        data['gpus'], _pct(data['utilization']),
        _pct(data['fragmentation_rate'])), '', 'Per GPU model:']
    for name, entry in data['by_model'].items():
        lines.append('  %-24s %3d GPU(s)  %s' % (
            name, entry['gpus'], _pct(entry['utilization'])))
    lines += ['', 'Per vGPU type (used/total slots, reserved):']
    for name, entry in data['by_vgpu_type'].items():
        lines.append('  %-24s %4d/%-4d reserved %-4d %s' % (
            name, entry['used'], entry['total'], entry['reserved'],
            _pct(entry['utilization'])))
    lines += ['', 'Per project (vGPUs, GPU share):']
    for name, entry in data['by_project'].items():
        lines.append('  %-36s %4d  %.2f  %s' % (
            name, entry['vgpus'], entry['gpu_share'], ', '.join(
                '%s x%d' % kv for kv in sorted(entry['types'].items()))))
    lines.append('')
    for what in ('idle', 'fenced', 'draining'):
        lines.append('%s GPUs: %s' % (what.capitalize(),
                                      ', '.join(data[what]) or '-'))
    over_time = data.get('utilization_over_time')
    if over_time:
        lines += ['', 'GPU utilization over time (monitor history): %d '
                  'rounds, %s to %s, mean %.1f%%, peak %.1f%%' % (
                      over_time['rounds'], _when(over_time['start']),
                      _when(over_time['end']), over_time['mean'],
                      over_time['peak'])]
    return '\n'.join(lines) + '\n'


def _when(seconds):
    return time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(seconds))


def over_time(records):
    """The history's summary for the report, or None without history."""
    means = history_mod.mean_series(records)
    if not means:
        return None
    values = [v for _t, v in means]
    return {'rounds': len(means), 'start': means[0][0], 'end': means[-1][0],
            'mean': round(sum(values) / len(values), 2),
            'peak': max(values),
            'series': [[t, round(v, 2)] for t, v in means]}


def _import_pyplot():
    try:
        import matplotlib
        matplotlib.use('Agg')
        from matplotlib import pyplot
    except ImportError:
        raise exception.UsageError(
            '--plot needs matplotlib, which is not installed: pip install '
            'matplotlib (or run without --plot)')
    return pyplot


def _slot_states(gpu):
    """[(vGPU type, state)] of one GPU's slots, state in COLOURS."""
    states = []
    for name, slot in sorted(gpu['slots'].items()):
        free_state = 'fenced' if gpu['fenced'] else 'reserved'
        held = max(slot['reserved'] - slot['used'], 0)
        states += [(name, 'used')] * slot['used']
        states += [(name, free_state)] * min(held, slot['total']
                                             - slot['used'])
        states += [(name, 'free')] * max(
            slot['total'] - slot['used'] - held, 0)
    return states


def plot(data, path, records=()):
    """Draw each GPU's vGPU slots (used/free/reserved/fenced) to ``path``.

    With history ``records``, a utilization-over-time chart below.
    """
    pyplot = _import_pyplot()
    gpus = data['per_gpu']
    height = 1 + 0.45 * max(len(gpus), 1)
    lines = history_mod.series(records)
    if lines:
        figure, (axes, chart) = pyplot.subplots(
            2, 1, figsize=(10, height + 3.5),
            gridspec_kw={'height_ratios': [height, 3.5]})
        _chart(chart, lines, history_mod.mean_series(records))
    else:
        figure, axes = pyplot.subplots(figsize=(10, height))
    for row, gpu in enumerate(gpus):
        states = _slot_states(gpu)
        width = 1.0 / max(len(states), 1)
        for index, (_name, state) in enumerate(states):
            axes.barh(row, width, left=index * width, color=COLOURS[state],
                      edgecolor='white', height=0.8)
    axes.set_yticks(range(len(gpus)))
    axes.set_yticklabels(['%s (%s)' % (g['provider'], g['model'])
                          for g in gpus], fontsize=7)
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.set_xlabel('vGPU slots of each GPU')
    axes.set_title('GPU utilization %s, fragmentation rate %s' % (
        _pct(data['utilization']), _pct(data['fragmentation_rate'])))
    from matplotlib import patches
    axes.legend(handles=[patches.Patch(color=c, label=s)
                         for s, c in COLOURS.items()],
                loc='lower right', fontsize=7)
    figure.tight_layout()
    figure.savefig(path, format='png')
    pyplot.close(figure)


#: Above this many GPUs the chart draws the mean alone, not every GPU.
CHART_GPU_LINES = 12


def _chart(axes, lines, means):
    """Each GPU's utilization and the mean over time (minutes)."""
    start = min(points[0][0] for points in lines.values())
    if len(lines) <= CHART_GPU_LINES:
        for name, points in sorted(lines.items()):
            axes.plot([(t - start) / 60.0 for t, _v in points],
                      [v for _t, v in points], linewidth=0.8, label=name)
    axes.plot([(t - start) / 60.0 for t, _v in means],
              [v for _t, v in means], color='black', linewidth=2,
              label='mean')
    axes.set_ylim(0, 100)
    axes.set_xlabel('minutes since %s' % _when(start))
    axes.set_ylabel('GPU utilization %')
    axes.set_title('GPU utilization over time')
    axes.legend(loc='upper right', fontsize=6, ncol=2)


def history_path(conf, given=None):
    """The history file to read: ``given``, else the monitor's own."""
    if given:
        return given
    group = conf.gpuvirt_monitor
    return group.history_file or history_mod.default_path(
        conf.gpuvirt.state_dir)


def demo_ending(app, client, plot_path=None):
    """The report the demo ends with: text on stderr, the picture if asked.

    stderr, so the demo's own ``-f json`` output stays one document.
    """
    try:
        gpus = report.read(client)
    except placement_client.PlacementError as exc:
        raise exception.GpuvirtError(str(exc))
    data = report.build(gpus, app.conf.gpuvirt_scheduler.typical_requests)
    app.stderr.write('\nCluster report (gpuvirt-nova report):\n%s\n'
                     % _table(data))
    if plot_path:
        plot(data, plot_path)
        app.stderr.write('wrote %s\n' % plot_path)
    return data


class Report(command.Command):
    """Report GPU utilization, fragmentation, idle and fenced GPUs."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        placement_cmd.add_placement_options(parser)
        parser.add_argument('-f', '--format', choices=('table', 'json'),
                            default='table', help='Output format.')
        parser.add_argument('--plot', metavar='FILE.png',
                            help="Also draw each GPU's slots into a PNG "
                                 "(needs matplotlib), and the utilization "
                                 "over time when there is history.")
        parser.add_argument('--history', metavar='FILE',
                            help='Utilization history the monitor wrote '
                                 '(default: [gpuvirt_monitor] '
                                 'history_file, when it exists).')
        return parser

    def take_action(self, parsed_args):
        conf = self.app.conf
        if parsed_args.plot:
            _import_pyplot()  # fail before any Placement call
        path = history_path(conf, parsed_args.history)
        if parsed_args.history and not os.path.isfile(path):
            raise exception.UsageError(
                '--history %s: no such file; give the file the monitor '
                'writes ([gpuvirt_monitor] history_file)' % path)
        # Read-only, as placement show: the embedded Placement a simulated
        # sync filled may be read when its directory is named.
        with placement_cmd.open_placement(conf, parsed_args, embedded_for=(
                parsed_args.state_dir and '--state-dir')) as connection:
            try:
                gpus = report.read(connection.client)
            except placement_client.PlacementError as exc:
                raise exception.GpuvirtError(str(exc))
        data = report.build(
            gpus, conf.gpuvirt_scheduler.typical_requests)
        records = history_mod.load(path)
        data['utilization_over_time'] = over_time(records)
        if parsed_args.format == 'json':
            self.app.stdout.write(json.dumps(data, indent=2,
                                             sort_keys=True) + '\n')
        else:
            self.app.stdout.write(_table(data))
        if parsed_args.plot:
            plot(data, parsed_args.plot, records)
            self.app.stderr.write('wrote %s\n' % parsed_args.plot)
        return 0

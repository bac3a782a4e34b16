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

"""``gpuvirt-nova monitor``: GPU telemetry, alerts, notifications, metrics.

Runs :mod:`gpuvirt_nova.monitor.daemon` every ``[gpuvirt_monitor]
interval`` seconds until SIGTERM/SIGINT, serving the Prometheus endpoint
(``prometheus_host``:``prometheus_port``, localhost by default);
``--once`` samples one round and prints one row per GPU.
"""

import signal
import threading

from gpuvirt_nova.cmd import common
from gpuvirt_nova.monitor import daemon
from gpuvirt_nova.monitor import prometheus

COLUMNS = ('GPU', 'Model', 'Present', 'GPU util %', 'FB used MiB',
           'FB total MiB', 'Temp C', 'Power W', 'vGPUs', 'Instances',
           'Alerts')


class Monitor(common.Lister):
    """Sample GPUs, raise alerts, send notifications, serve Prometheus."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--once', action='store_true',
                            help='Sample one round, print it and exit.')
        parser.add_argument('--no-notify', action='store_true',
                            help='Send no notifications.')
        common.add_simulate(parser, 'kept under [gpuvirt] state_dir')
        return parser

    def take_action(self, parsed_args):
        conf = self.app.conf
        if parsed_args.simulate:
            conf.set_override('simulate', parsed_args.simulate, 'gpuvirt')
        if parsed_args.no_notify or parsed_args.once:
            conf.set_override('notifications_enabled', False,
                              'gpuvirt_monitor')
        if parsed_args.once:
            conf.set_override('libvirt_uri', '', 'gpuvirt_monitor')
            conf.set_override('history_keep', 0, 'gpuvirt_monitor')
        monitor = daemon.from_conf(conf)
        if parsed_args.once:
            host_sample, _events = monitor.run_once()
            return COLUMNS, rows(host_sample, monitor.state.alerts)
        group = conf.gpuvirt_monitor
        if group.prometheus_enabled:
            _server, port = prometheus.serve(
                prometheus.make_registry(monitor.state),
                group.prometheus_host, group.prometheus_port)
            self.app.stderr.write('metrics on http://%s:%d/metrics\n'
                                  % (group.prometheus_host, port))
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        monitor.run(stop, group.interval)
        return COLUMNS, rows(monitor.state.sample, monitor.state.alerts) \
            if monitor.state.sample else []


def rows(host_sample, alerts):
    result = []
    for gpu in host_sample.gpus:
        m = gpu.metrics
        result.append((
            gpu.address, gpu.model, gpu.present, m.get('gpu_util'),
            m.get('fb_used_mib'), m.get('fb_total_mib'),
            m.get('temperature_c'), m.get('power_w'),
            sum(1 for v in host_sample.vgpus
                if v.gpu_address == gpu.address),
            list(gpu.instances),
            [rule for rule, _scope, subject in alerts
             if subject == gpu.address]))
    return result

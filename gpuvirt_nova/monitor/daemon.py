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

"""The monitor loop: sample, attribute, evaluate, emit.

One round (:meth:`Monitor.run_once`): read NVML (the sampler), match
vGPUs to Nova instances (libvirt domains), run the alert rules, update
what the Prometheus endpoint shows and queue notifications. Every piece
it calls is passed in, so tests drive it on the simulator and a fixed
clock; :func:`from_conf` wires the real ones from ``[gpuvirt_monitor]``.
A failing piece costs that round's data, never the loop.
"""

import dataclasses
import logging as std_logging
import socket
import time

from oslo_log import log as logging

from gpuvirt_nova.monitor import attribution
from gpuvirt_nova.monitor import drift as drift_mod
from gpuvirt_nova.monitor import fence
from gpuvirt_nova.monitor import history as history_mod
from gpuvirt_nova.monitor import notify
from gpuvirt_nova.monitor import rules as rules_mod
from gpuvirt_nova.monitor import sampler as sampler_mod

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class MonitorState:
    """What the endpoint renders: the latest round's results."""

    sample: object = None
    alerts: list = dataclasses.field(default_factory=list)
    unhealthy: dict = dataclasses.field(default_factory=dict)
    #: ``{name: (value, help)}``, or a callable giving it at each scrape
    #: (the emitter's counts move between rounds, while the broker is
    #: down as much as when it is up).
    counters: object = dataclasses.field(default_factory=dict)


class Monitor:
    """Samples one host in rounds (see the module docstring)."""

    def __init__(self, discover, sampler, rules, domains=None,
                 emitter=None, clock=time.time, rediscover_every=20,
                 metrics_every=4, drift=None, history=None):
        """Wire the pieces of one round.

        ``discover()`` -> model.Host; ``domains(warnings)`` ->
        [attribution.Domain]; ``emitter``: a notify.Emitter or None;
        ``drift(host)`` -> addresses of the GPUs whose carve differs from
        the layout, or None (not checked), asked after each discovery;
        ``history``: a history.Writer each round is appended to, or None.
        """
        self.discover = discover
        self.sampler = sampler
        self.rules = rules
        self.domains = domains
        self.emitter = emitter
        self.clock = clock
        self.rediscover_every = rediscover_every
        self.metrics_every = metrics_every
        self.state = MonitorState()
        self.eval_state = rules_mod.EvalState()
        self.rounds = 0
        self._host = None
        self.drift = drift
        self.history = history
        self._drift = None
        self.sample_seconds = 0.0

    def _hardware(self):
        if self._host is None or self.rounds % self.rediscover_every == 0:
            self._host = self.discover()
            if self.drift is not None:
                self._drift = self._check_drift(self._host)
        return self._host

    def _check_drift(self, host):
        try:
            return self.drift(host)
        except Exception:
            LOG.exception('layout drift check failed; not checked this '
                          'time')
            return None

    def run_once(self):
        """One round; returns (HostSample, [AlertEvent])."""
        started = time.process_time()
        host = self._hardware()
        host_sample = self.sampler.sample(host, self.clock())
        host_sample.drift = None if self._drift is None else \
            list(self._drift)
        if self.domains is not None:
            attribution.attribute(host_sample,
                                  self.domains(host_sample.warnings))
        self.eval_state, events = rules_mod.evaluate(
            self.rules, self.eval_state, host_sample)
        self.rounds += 1
        self.sample_seconds += time.process_time() - started
        self.state.sample = host_sample
        self.state.alerts = rules_mod.active(self.eval_state)
        self.state.unhealthy = {
            g.address: fence.health(g) for g in host_sample.gpus
            if fence.health(g)}
        for event in events:
            LOG.log(std_logging.WARNING if event.state == rules_mod.RAISED
                    else std_logging.INFO,
                    'alert %s %s on %s %s: %s (value %s)', event.rule,
                    event.state, event.scope, event.subject, event.summary,
                    event.value)
        self._emit(host_sample, events)
        if self.history is not None:
            self.history.append(host_sample)
        self.state.counters = self.counters
        return host_sample, events

    def _emit(self, host_sample, events):
        if self.emitter is None:
            return
        for event in events:
            self.emitter.emit(notify.ALERT_EVENT,
                              notify.alert_payload(host_sample.hostname,
                                                   event),
                              notify.alert_priority(event))
        if self.metrics_every and (self.rounds - 1) % self.metrics_every \
                == 0:
            self.emitter.emit(notify.METRICS_EVENT,
                              notify.metrics_payload(host_sample))

    def counters(self):
        result = {'gpuvirt_monitor_samples': (
            self.rounds, 'Sampling rounds done.'),
            'gpuvirt_monitor_sample_cpu_seconds': (
                self.sample_seconds, 'CPU time spent sampling.')}
        if self.emitter is not None:
            result['gpuvirt_notifications_sent'] = (
                self.emitter.sent, 'Notifications the broker took.')
            result['gpuvirt_notifications_lost'] = (
                self.emitter.lost, 'Notifications not delivered (broker '
                'down, queue full).')
        return result

    def run(self, stop, interval):
        """Rounds every ``interval`` seconds until ``stop`` (an Event)."""
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:
                LOG.exception('monitor round failed; next in %ss', interval)
            stop.wait(interval)


def from_conf(conf, hostname=None):
    """A Monitor, its Prometheus state and the emitter, from the options.

    Returns the Monitor (``monitor.state`` is what the endpoint shows).
    """
    from gpuvirt_nova.conf import backends
    from gpuvirt_nova.hardware import discover as discover_mod
    group = conf.gpuvirt_monitor
    if conf.gpuvirt.simulate:
        sim_host = backends.simulated_from_conf(conf)
        nvml = sim_host.nvml()
        hostname = hostname or sim_host.hostname
    else:
        nvml = discover_mod.nvml_module(
            discover_mod.AUTO if conf.gpuvirt.use_nvml else None,
            conf.gpuvirt.sysfs_root)
    sampler = sampler_mod.Sampler(nvml, hostname=hostname)
    if not sampler.start():
        LOG.warning('GPU metrics unavailable: %s; sampling health and '
                    'carve only', sampler.why_not)
    emitter = None
    if group.notifications_enabled:
        send, _transport = notify.oslo_sender(conf)
        emitter = notify.Emitter(
            send, 'gpuvirt-monitor:%s' % (hostname or socket.gethostname()),
            queue_size=group.notification_queue_size)
    domains = None
    if group.libvirt_uri:
        def read_domains(warnings):
            return attribution.libvirt_domains(group.libvirt_uri, warnings)
        domains = read_domains
    history = None
    if group.history_keep:
        history = history_mod.Writer(
            group.history_file or history_mod.default_path(
                conf.gpuvirt.state_dir), group.history_keep)
    return Monitor(
        history=history,
        discover=lambda: backends.discover_from_conf(conf, hostname),
        drift=drift_mod.from_conf(conf, hostname),
        sampler=sampler, rules=rules_mod.default_rules(group),
        domains=domains, emitter=emitter,
        rediscover_every=group.rediscover_every,
        metrics_every=group.metrics_notification_every)

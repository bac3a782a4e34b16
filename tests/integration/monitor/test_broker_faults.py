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

"""The broker goes down under the monitor, then comes back (scenario 6).

With ``GPUVIRT_TEST_TRANSPORT_URL`` set, the monitor's notifier talks to
the real RabbitMQ through a TCP relay of the test's own: closing the
relay is the broker going down for this notifier alone (connections cut,
new ones refused) without stopping a broker other tests use; opening it
again is the broker coming back. Without a broker, the same story runs on
``fake://`` with a sender that fails while the broker is "down".

Either way: sampling goes on while the broker is down, every
notification not delivered is counted (``gpuvirt_notifications_lost``),
and once the broker is back notifications flow again from the same
emitter and transport, with nothing restarted.
"""

import os
import socket
import threading
import urllib.parse
import uuid

import fixtures
from oslo_config import cfg
import oslo_messaging
from oslotest import base
from prometheus_client import parser

from gpuvirt_nova.monitor import notify
from gpuvirt_nova.monitor import prometheus
from tests.integration.monitor import test_notifications
from tests import sim_fixture
from tests.unit.monitor import helpers

WAIT = test_notifications.WAIT


class Relay:
    """A TCP relay to ``target`` that can be cut and reopened."""

    def __init__(self, target):
        self.target = target
        self.port = None
        self._server = None
        self._conns = []
        self._lock = threading.Lock()

    def open(self):
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(('127.0.0.1', self.port or 0))
        server.listen(16)
        self.port = server.getsockname()[1]
        self._server = server
        threading.Thread(target=self._accept, args=(server,),
                         daemon=True).start()

    def cut(self):
        """Refuse new connections and break the ones open."""
        server, self._server = self._server, None
        if server is not None:
            # shutdown wakes the accept() blocked on it; close alone
            # would leave the port listening until that returns.
            try:
                server.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            server.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            for sock in conn:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def _accept(self, server):
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns.append((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b),
                                 daemon=True).start()

    @staticmethod
    def _pump(source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Broker:
    """Down/up switch over the real broker (a relay) or ``fake://``."""

    def __init__(self, test):
        url = os.environ.get('GPUVIRT_TEST_TRANSPORT_URL')
        self.relay = None
        self.down = False
        if url:
            parts = urllib.parse.urlsplit(url)
            self.relay = Relay((parts.hostname, parts.port or 5672))
            self.relay.open()
            test.addCleanup(self.relay.cut)
            netloc = parts.netloc.rsplit('@', 1)
            host = '127.0.0.1:%d' % self.relay.port
            netloc = '%s@%s' % (netloc[0], host) if len(netloc) == 2 \
                else host
            self.url = urllib.parse.urlunsplit(parts._replace(
                netloc=netloc))
        else:
            self.url = 'fake://'

    def wrap(self, send):
        """``send`` that fails while a fake broker is down."""
        if self.relay is not None:
            return send

        def fake_send(message, priority):
            if self.down:
                raise ConnectionRefusedError('fake broker is down')
            send(message, priority)
        return fake_send

    def stop(self):
        self.down = True
        if self.relay is not None:
            self.relay.cut()

    def start(self):
        self.down = False
        if self.relay is not None:
            self.relay.open()


class BrokerDownAndBackTests(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.FakeLogger())
        real = os.environ.get('GPUVIRT_TEST_TRANSPORT_URL') or 'fake://'
        self.broker = Broker(self)
        conf = cfg.ConfigOpts()
        conf([], project='gpuvirt-test')
        self.topic = 'gpuvirt-test-%s' % uuid.uuid4().hex[:8]
        oslo_messaging.set_transport_defaults('gpuvirt')
        # The listener talks to the broker directly: only the monitor's
        # side goes down. With fake://, one transport serves both.
        listen = oslo_messaging.get_notification_transport(conf, url=real)
        self.addCleanup(listen.cleanup)
        if self.broker.relay is not None:
            transport = oslo_messaging.get_notification_transport(
                conf, url=self.broker.url)
            self.addCleanup(transport.cleanup)
        else:
            transport = listen
        conf.set_override('topics', [self.topic],
                          group='oslo_messaging_notifications')
        self.endpoint = test_notifications.Endpoint()
        listener = oslo_messaging.get_notification_listener(
            listen, [oslo_messaging.Target(topic=self.topic)],
            [self.endpoint], executor='threading')
        listener.start()
        self.addCleanup(listener.wait)
        self.addCleanup(listener.stop)
        send, _ = notify.oslo_sender(conf, transport)
        self.emitter = notify.Emitter(self.broker.wrap(send),
                                      'gpuvirt-monitor:node1',
                                      queue_size=4)
        self.addCleanup(self.emitter.close)
        sim_host = self.useFixture(sim_fixture.SimulatedHostFixture(
            '1xA100-PCIE-40GB:vfio')).host
        self.monitor, self.pf, _vf = helpers.busy_monitor(sim_host,
                                                          self.emitter)
        self.sim_host = sim_host

    def counters(self):
        text = prometheus.render(prometheus.make_registry(
            self.monitor.state))
        return {s.name: s.value
                for f in parser.text_string_to_metric_families(text)
                for s in f.samples
                if s.name.startswith('gpuvirt_notifications_')
                or s.name == 'gpuvirt_monitor_samples_total'}

    def alerts_received(self, state):
        return [p['gpuvirt_object.data'] for e, p in self.endpoint.received
                if e == notify.ALERT_EVENT and
                p['gpuvirt_object.data']['state'] == state]

    def test_sampling_goes_on_losses_counted_and_delivery_resumes(self):
        self.monitor.run_once()
        self.assertTrue(self.endpoint.wait_for(
            lambda e, p: e == notify.METRICS_EVENT))
        self.assertTrue(self.emitter.flush(WAIT))
        self.assertEqual(0, self.emitter.lost)

        self.broker.stop()
        # The GPU overheats while the broker is down: the alert is raised
        # (and lost), every round samples.
        self.sim_host.set_telemetry(self.pf, temperature_c=95)
        for _ in range(8):
            sample, _events = self.monitor.run_once()
            self.assertEqual(95, sample.gpus[0].metrics['temperature_c'])
        self.assertIn(('gpu_temperature', 'gpu', self.pf),
                      self.monitor.state.alerts)
        self.assertTrue(self.emitter.flush(WAIT))
        sent_before = self.emitter.sent
        # 8 metrics notifications and the alert: none delivered.
        self.assertEqual(9, self.emitter.lost)
        counters = self.counters()
        self.assertEqual(9, counters['gpuvirt_notifications_lost_total'])
        self.assertEqual(9, counters['gpuvirt_monitor_samples_total'])

        self.broker.start()
        # The GPU cools down: the clear reaches the listener through the
        # same emitter and transport, nothing restarted.
        self.sim_host.set_telemetry(self.pf, temperature_c=40)
        self.monitor.run_once()
        self.assertTrue(self.emitter.flush(WAIT))
        self.assertTrue(self.endpoint.wait_for(
            lambda e, p: e == notify.ALERT_EVENT and
            p['gpuvirt_object.data']['state'] == 'cleared'))
        self.assertEqual([], self.alerts_received('raised'))
        (cleared,) = self.alerts_received('cleared')
        self.assertEqual(('gpu_temperature', self.pf),
                         (cleared['rule'], cleared['subject']))
        self.assertEqual(9, self.emitter.lost)
        self.assertEqual(sent_before + 2, self.emitter.sent)
        self.assertEqual(sent_before + 2,
                         self.counters()['gpuvirt_notifications_sent_total'])

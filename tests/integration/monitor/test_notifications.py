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

"""The monitor's notifications through oslo.messaging.

Through the RabbitMQ broker ``GPUVIRT_TEST_TRANSPORT_URL`` names (CI sets
it), else through ``fake://``: a listener receives gpuvirt.gpu.metrics
and the alert the simulator provokes. With the broker gone, sampling and
the Prometheus view go on and the lost notifications are counted.
"""

import os
import threading
import uuid

import fixtures
from oslo_config import cfg
import oslo_messaging
from oslotest import base

from gpuvirt_nova.monitor import notify
from gpuvirt_nova.monitor import prometheus
from tests import sim_fixture
from tests.unit.monitor import helpers

#: Generous: a loaded 2-core CI machine; the waits end on events.
WAIT = 120


class Endpoint:
    def __init__(self):
        self.received = []
        self.changed = threading.Condition()

    def _got(self, ctxt, publisher_id, event_type, payload, metadata):
        with self.changed:
            self.received.append((event_type, payload))
            self.changed.notify_all()

    info = warn = error = _got

    def wait_for(self, predicate):
        with self.changed:
            return self.changed.wait_for(
                lambda: any(predicate(e, p) for e, p in self.received),
                timeout=WAIT)


class NotificationTests(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        url = os.environ.get('GPUVIRT_TEST_TRANSPORT_URL') or 'fake://'
        self.conf = cfg.ConfigOpts()
        self.conf([], project='gpuvirt-test')
        # A topic of our own: parallel runs on one broker never meet.
        self.topic = 'gpuvirt-test-%s' % uuid.uuid4().hex[:8]
        oslo_messaging.set_transport_defaults('gpuvirt')
        transport = oslo_messaging.get_notification_transport(self.conf,
                                                              url=url)
        self.addCleanup(transport.cleanup)
        self.conf.set_override('topics', [self.topic],
                               group='oslo_messaging_notifications')
        self.endpoint = Endpoint()
        listener = oslo_messaging.get_notification_listener(
            transport, [oslo_messaging.Target(topic=self.topic)],
            [self.endpoint], executor='threading')
        listener.start()
        self.addCleanup(listener.wait)
        self.addCleanup(listener.stop)
        send, _ = notify.oslo_sender(self.conf, transport)
        self.emitter = notify.Emitter(send, 'gpuvirt-monitor:node1')
        self.addCleanup(self.emitter.close)
        self.sim_host = self.useFixture(sim_fixture.SimulatedHostFixture(
            '1xA100-PCIE-40GB:vfio')).host

    def test_metrics_and_an_injected_alert_arrive(self):
        monitor, pf, vf = helpers.busy_monitor(self.sim_host, self.emitter)
        monitor.run_once()
        self.assertTrue(self.endpoint.wait_for(
            lambda e, p: e == notify.METRICS_EVENT))
        # The simulator overheats the GPU: the rule raises an alert.
        self.sim_host.set_telemetry(pf, temperature_c=95)
        monitor.run_once()
        self.assertTrue(self.endpoint.wait_for(
            lambda e, p: e == notify.ALERT_EVENT))
        metrics = next(p for e, p in self.endpoint.received
                       if e == notify.METRICS_EVENT)
        self.assertEqual('GpuMetricsPayload', metrics['gpuvirt_object.name'])
        self.assertEqual('1.1', metrics['gpuvirt_object.version'])
        data = metrics['gpuvirt_object.data']
        self.assertEqual('node1', data['host'])
        (vgpu,) = data['vgpus']
        self.assertEqual(helpers.PROJECT, vgpu['owner']['project_id'])
        self.assertEqual(vf, vgpu['device'])
        alert = next(p for e, p in self.endpoint.received
                     if e == notify.ALERT_EVENT)['gpuvirt_object.data']
        self.assertEqual(('gpu_temperature', 'raised', pf),
                         (alert['rule'], alert['state'], alert['subject']))
        self.assertEqual(95, alert['value'])
        self.assertTrue(self.emitter.flush(WAIT))
        self.assertEqual(0, self.emitter.lost)


class BrokerStoppedTests(base.BaseTestCase):

    def test_sampling_goes_on_and_lost_notifications_are_counted(self):
        conf = cfg.ConfigOpts()
        conf([], project='gpuvirt-test')
        # Nothing listens on port 1: a broker that is down.
        transport = oslo_messaging.get_notification_transport(
            conf, url='rabbit://guest:guest@127.0.0.1:1/')
        self.addCleanup(transport.cleanup)
        send, _ = notify.oslo_sender(conf, transport)
        # The sender blocks on the first message until the test lets it
        # go: the queue (size 2) fills, and sampling must not wait.
        release = threading.Event()

        def held_send(message, priority):
            release.wait(WAIT)
            send(message, priority)

        emitter = notify.Emitter(held_send, 'gpuvirt-monitor:node1',
                                 queue_size=2)
        self.addCleanup(emitter.close)
        sim_host = self.useFixture(sim_fixture.SimulatedHostFixture(
            '1xA100-PCIE-40GB:vfio')).host
        monitor, pf, _vf = helpers.busy_monitor(sim_host, emitter)
        self.useFixture(fixtures.FakeLogger())
        for _ in range(6):
            monitor.run_once()
        self.assertEqual(6, monitor.rounds)
        # One held in the sender, two queued, the rest dropped.
        self.assertGreaterEqual(emitter.lost, 3)
        release.set()
        self.assertTrue(emitter.flush(WAIT))
        # The three that reached the sender failed on the dead broker.
        self.assertEqual(6, emitter.lost)
        self.assertEqual(0, emitter.sent)
        text = prometheus.render(prometheus.make_registry(monitor.state))
        monitor.run_once()
        text = prometheus.render(prometheus.make_registry(monitor.state))
        self.assertIn('gpuvirt_notifications_lost_total', text)
        self.assertIn('DCGM_FI_DEV_GPU_UTIL', text)

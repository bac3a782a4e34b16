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

"""Versioned notifications: ``gpuvirt.gpu.metrics`` and ``gpuvirt.gpu.alert``.

Payloads follow Nova's versioned-notification envelope, with our own
namespace::

    {"gpuvirt_object.name": "GpuAlertPayload",
     "gpuvirt_object.namespace": "gpuvirt",
     "gpuvirt_object.version": "1.0",
     "gpuvirt_object.data": {...}}

``GpuMetricsPayload`` 1.0 data: ``host``, ``timestamp`` (seconds since
the epoch), ``driver_version``, ``gpus`` (each: ``address``, ``model``,
``index``, ``uuid``, ``present``, ``metrics`` (keys of
``monitor.sample.GPU_METRICS``), ``xids``, ``last_xid``,
``unsupported``, ``instances``), ``vgpus`` (each: ``gpu_address``,
``vgpu_id``, ``device_kind``, ``device``, ``vgpu_type``, ``vm_id``,
``owner`` {``instance_uuid``, ``instance_name``, ``domain_name``,
``project_id``, ``project_name``, ``user_id``}, ``metrics``); since
1.1 each vGPU's ``gpu_instance_id`` and ``migs`` (each: ``gpu_address``,
``gpu_instance_id``, ``profile``, ``placement``, ``device_kind``,
``device``, ``vgpu_type``, ``owner``, ``metrics`` (keys of
``monitor.sample.MIG_METRICS``)).
``GpuAlertPayload`` 1.0 data: ``host``, ``rule``, ``state`` (``raised``
or ``cleared``), ``severity``, ``scope`` (``gpu``, ``vgpu``, ``host``),
``subject``, ``value``, ``summary``, ``labels``. A new field raises the
minor version; a changed or removed one the major.

Sending never blocks sampling: :meth:`Emitter.emit` queues, a thread
sends as oslo.messaging's ``messagingv2`` driver does, with no retry,
and a notification the broker does not take (or one the full queue
drops) is counted in ``lost``.
"""

import queue
import threading
import time
import uuid

from gpuvirt_nova.monitor import sample as sample_mod

METRICS_EVENT = 'gpuvirt.gpu.metrics'
ALERT_EVENT = 'gpuvirt.gpu.alert'
METRICS_PAYLOAD = ('GpuMetricsPayload', '1.1')
ALERT_PAYLOAD = ('GpuAlertPayload', '1.0')


def envelope(name_version, data):
    name, version = name_version
    return {'gpuvirt_object.name': name,
            'gpuvirt_object.namespace': 'gpuvirt',
            'gpuvirt_object.version': version,
            'gpuvirt_object.data': data}


def metrics_payload(host_sample):
    data = sample_mod.to_dict(host_sample)
    data['host'] = data.pop('hostname')
    data.pop('warnings', None)
    return envelope(METRICS_PAYLOAD, data)


def alert_payload(host, event):
    return envelope(ALERT_PAYLOAD, {
        'host': host, 'rule': event.rule, 'state': event.state,
        'severity': event.severity, 'scope': event.scope,
        'subject': event.subject, 'value': event.value,
        'summary': event.summary, 'labels': dict(event.labels)})


def alert_priority(event):
    if event.state == 'cleared':
        return 'INFO'
    return 'ERROR' if event.severity == 'critical' else 'WARN'


class Emitter:
    """Queues notifications; a daemon thread hands them to the broker."""

    def __init__(self, send, publisher_id, queue_size=100):
        """``send(message dict, priority)`` raises when not delivered."""
        self._send = send
        self.publisher_id = publisher_id
        self._queue = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self.sent = 0
        self.lost = 0
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='gpuvirt-notify')
        self._thread.start()

    def emit(self, event_type, payload, priority='INFO'):
        message = {'message_id': str(uuid.uuid4()),
                   'publisher_id': self.publisher_id,
                   'event_type': event_type, 'priority': priority,
                   'payload': payload,
                   'timestamp': time.strftime('%Y-%m-%d %H:%M:%S',
                                              time.gmtime())}
        try:
            self._queue.put_nowait((message, priority))
        except queue.Full:
            self._count_lost()

    def _count_lost(self):
        with self._lock:
            self.lost += 1

    def _run(self):
        while True:
            item = self._queue.get()
            if item is None:
                return
            message, priority = item
            try:
                self._send(message, priority)
            except Exception:
                self._count_lost()
            else:
                with self._lock:
                    self.sent += 1
            finally:
                self._queue.task_done()

    def flush(self, timeout=None):
        """Wait until every queued notification is sent or lost."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self):
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass


def oslo_sender(conf, transport=None):
    """``send(message, priority)`` through oslo.messaging (messagingv2).

    The notification transport and topics are oslo.messaging's own
    options (``[oslo_messaging_notifications]``). Returns (send,
    transport).
    """
    import oslo_messaging
    if transport is None:
        transport = oslo_messaging.get_notification_transport(conf)
    topics = list(conf.oslo_messaging_notifications.topics)

    def send(message, priority):
        # What oslo.messaging's messagingv2 driver does, without its
        # catch-all: a failure must reach the emitter to be counted.
        # retry=0: a stopped broker fails this message at once.
        for topic in topics:
            target = oslo_messaging.Target(
                topic='%s.%s' % (topic, priority.lower()))
            transport._send_notification(target, {}, message, version=2.0,
                                         retry=0)

    return send, transport

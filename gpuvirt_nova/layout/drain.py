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

"""Draining a GPU before a step that would destroy a slice.

A Drainer is the narrow seam to Placement: reserve the GPU's provider so
the scheduler sends nothing new there, then wait until its allocations are
gone. The Placement client implements it; ``NoPlacement`` is what runs
when no Placement is configured and says so.
"""

import abc
import time

from oslo_log import log as logging

from gpuvirt_nova import exception

LOG = logging.getLogger(__name__)


class Drainer(abc.ABC):
    """What ``layout apply --drain`` needs from Placement."""

    @abc.abstractmethod
    def set_reserved(self, host, gpu_address, reserved):
        """Reserve (or release) all inventory of the GPU's provider."""

    @abc.abstractmethod
    def has_allocations(self, host, gpu_address):
        """True while any consumer holds resources on the GPU's provider."""


class NoPlacement(Drainer):
    """No Placement configured: draining is impossible, and we say why."""

    MESSAGE = ('--drain: no Placement is configured, so the GPU cannot be '
               'drained; configure [placement] credentials in nova.conf, or '
               'stop the instances on the GPU and pass --force')

    def set_reserved(self, host, gpu_address, reserved):
        raise exception.UsageError(self.MESSAGE)

    def has_allocations(self, host, gpu_address):
        raise exception.UsageError(self.MESSAGE)


def drain(drainer, host, gpu_address, timeout, interval, sleep=time.sleep,
          clock=time.monotonic, stop=None):
    """Reserve the GPU and wait until it has no allocations.

    Returns True when drained; False after ``timeout`` seconds or once
    ``stop()`` says so (the GPU is released again, so a failed drain
    changes nothing). An exception while waiting (KeyboardInterrupt
    included) releases it too before it propagates; only a kill -9 can
    leave a drain behind, and ``gpuvirt-nova layout undrain`` clears it.
    """
    drainer.set_reserved(host, gpu_address, True)
    deadline = clock() + timeout
    try:
        while drainer.has_allocations(host, gpu_address):
            if clock() >= deadline or (stop is not None and stop()):
                drainer.set_reserved(host, gpu_address, False)
                return False
            LOG.info('waiting for the instances on %s %s to leave',
                     host, gpu_address)
            sleep(interval)
    except BaseException:
        drainer.set_reserved(host, gpu_address, False)
        raise
    return True

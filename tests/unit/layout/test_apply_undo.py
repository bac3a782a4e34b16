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

"""Rollback of a step whose write went through but did not read back.

The hardware is the simulator; the wrappers below only change what the
apply sees of it: the read-back right after a chosen write lies (or
fails), or a chosen write is dropped while reporting success.
"""

import dataclasses

from gpuvirt_nova import exception
from gpuvirt_nova.hardware import discover
from gpuvirt_nova.layout import apply
from tests.unit.layout import base
from tests.unit.layout import test_apply


class WatchedWriter:
    """The simulator's writer; calls ``hook`` after the Nth matching call.

    ``drop``: the Nth matching call is not made at all, yet returns as if
    it succeeded (a tool that reports success for a write that did not
    take).
    """

    def __init__(self, writer, match, hook=None, nth=1, drop=False):
        self._writer = writer
        self._match = match
        self._hook = hook
        self._nth = nth
        self._drop = drop
        self.seen = 0

    def __getattr__(self, name):
        method = getattr(self._writer, name)

        def call(*args):
            hit = self._match(name, args)
            if hit:
                self.seen += 1
            if hit and self.seen == self._nth and self._drop:
                return None
            result = method(*args)
            if hit and self.seen == self._nth and self._hook:
                self._hook()
            return result
        return call


class ReadBack:
    """Per-GPU discovery of the simulator; the read after ``arm()`` lies."""

    def __init__(self, sim_host, lie):
        self.sim_host = sim_host
        self.lie = lie
        self.armed = False
        self.lied = 0

    def arm(self):
        self.armed = True

    def __call__(self, address):
        gpu = discover.discover_host_gpu(self.sim_host, address)
        if self.armed:
            self.armed = False
            self.lied += 1
            return self.lie(gpu)
        return gpu


def fail_to_read(gpu):
    raise exception.DiscoveryError('%s: config space read failed'
                                   % gpu.address)


def hide_mdevs(gpu):
    return dataclasses.replace(gpu, mdevs=[])


def hide_gpu_instances(gpu):
    return dataclasses.replace(gpu, gpu_instances=[])


def writes_to(suffix):
    return lambda name, args: name == 'write_sysfs' and \
        args[0].endswith(suffix)


class TestUndoOfUnverifiedStep(base.LayoutTestCase):

    def run_apply(self, text, sim_host, writer, read_gpu):
        return apply.apply(self.targets(text, sim_host),
                           self.reader(sim_host), writer, 'node01',
                           apply.Options(), read_gpu=read_gpu)

    def check_restored(self, sim_host, before, results):
        self.assertEqual(apply.FAILED, results[0].status)
        self.assertNotIn('rollback of', results[0].message)
        self.assertEqual(before, self.state(sim_host))

    def test_created_mdev_hidden_from_read_back_is_removed(self):
        sim_host = self.sim_host('1xT4:mdev@node01')
        before = self.state(sim_host)
        read_gpu = ReadBack(sim_host, hide_mdevs)
        writer = WatchedWriter(sim_host.writer(), writes_to('/create'),
                               read_gpu.arm, nth=2)
        results = self.run_apply(test_apply.TIME_SLICED % 'T4', sim_host,
                                 writer, read_gpu)
        self.assertEqual(1, read_gpu.lied)
        self.assertIn('is not there after creating it', results[0].message)
        self.check_restored(sim_host, before, results)
        # Both creations are undone, the unverified one first.
        self.assertEqual(2, len(results[0].rolled_back))
        self.assertEqual(results[0].done[0], results[0].rolled_back[-1])

    def test_vf_type_whose_read_back_fails_is_cleared(self):
        sim_host = self.sim_host('1xA100-PCIE-40GB:vfio@node01')
        before = self.state(sim_host)
        read_gpu = ReadBack(sim_host, fail_to_read)
        writer = WatchedWriter(sim_host.writer(),
                               writes_to('/current_vgpu_type'),
                               read_gpu.arm, nth=1)
        results = self.run_apply(test_apply.TIME_SLICED % 'A100-40GB',
                                 sim_host, writer, read_gpu)
        self.assertIn('back failed: %s: config space read failed'
                      % results[0].address, results[0].message)
        self.check_restored(sim_host, before, results)
        # The failing step is undone first, then the steps before it.
        self.assertIn('create vGPU', results[0].rolled_back[0])
        self.assertNotIn(results[0].rolled_back[0], results[0].done)
        self.assertEqual(results[0].done[::-1][:len(
            results[0].rolled_back) - 1], results[0].rolled_back[1:])

    def test_gpu_instance_hidden_from_read_back_is_destroyed(self):
        sim_host = self.sim_host('1xA100-PCIE-40GB:mig@node01')
        before = self.state(sim_host)
        read_gpu = ReadBack(sim_host, hide_gpu_instances)
        writer = WatchedWriter(
            sim_host.writer(),
            lambda name, args: name == 'create_gpu_instance',
            read_gpu.arm, nth=2)
        results = self.run_apply(test_apply.TWO_GPUS, sim_host, writer,
                                 read_gpu)
        self.assertEqual(1, read_gpu.lied)
        self.assertIn('is not there after creating it', results[0].message)
        self.check_restored(sim_host, before, results)

    def test_write_that_did_not_take_is_not_undone(self):
        sim_host = self.sim_host('1xT4:mdev@node01')
        before = self.state(sim_host)
        writer = WatchedWriter(sim_host.writer(), writes_to('/create'),
                               nth=2, drop=True)
        results = self.run_apply(test_apply.TIME_SLICED % 'T4', sim_host,
                                 writer, self.gpu_reader(sim_host))
        self.check_restored(sim_host, before, results)
        # Only the first creation took; the dropped one had nothing to
        # undo, so only the first is listed as rolled back.
        self.assertEqual([results[0].done[0]], results[0].rolled_back)

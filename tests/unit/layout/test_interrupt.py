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

"""Interrupted apply and drain: no GPU half-carved, no drain left behind."""

import os
import signal

import fixtures

from gpuvirt_nova.cmd import layout as layout_cmd
from gpuvirt_nova.layout import apply
from gpuvirt_nova.layout import drain
from gpuvirt_nova.layout import plan as plan_mod
from tests.unit.layout import base

#: Two time-sliced GPUs, eight A100-5C each: eight steps per GPU.
LAYOUT = """
gpu_cluster:
  nodes:
    - host: node01
      gpus:
        - type: A100-PCIE-40GB
          vgpus:
            - {profile: A100-5C, count: 8}
"""
SPEC = '2xA100-PCIE-40GB:vfio'


class _Drainer(drain.Drainer):
    """Records the reservation a drain holds; nobody uses the GPU."""

    def __init__(self, busy_checks=0):
        self.reserved = set()
        self.busy_checks = busy_checks

    def set_reserved(self, host, gpu_address, reserved):
        (self.reserved.add if reserved else self.reserved.discard)(
            gpu_address)

    def has_allocations(self, host, gpu_address):
        self.busy_checks -= 1
        return self.busy_checks >= 0


class _StopAfter(object):
    """``stop()`` turns True once ``count`` steps were written."""

    def __init__(self, sim_host, count):
        self.sim_host = sim_host
        self.start = len(sim_host.journal_entries())
        self.count = count

    def __call__(self):
        return len(self.sim_host.journal_entries()) - self.start \
            >= self.count


class TestStop(base.LayoutTestCase):

    def setUp(self):
        super().setUp()
        self.sim = self.sim_host(SPEC)
        self.gpus = sorted(g.address for g in self.read(self.sim).gpus)

    def test_a_stop_rolls_the_gpu_back_and_leaves_the_others(self):
        before = self.state(self.sim)
        results = self.apply_layout(LAYOUT, self.sim, options=apply.Options(
            stop=_StopAfter(self.sim, 5)))
        self.assertEqual([apply.INTERRUPTED] * 2,
                         [r.status for r in results])
        self.assertEqual(5, len(results[0].rolled_back))
        self.assertEqual('not started: interrupted', results[1].message)
        # Not 5 of 8 vGPUs: the GPU is as it was.
        self.assertEqual(before, self.state(self.sim))

    def test_keyboard_interrupt_mid_gpu_rolls_it_back_then_propagates(self):
        before = self.state(self.sim)
        real_apply_sysfs = self.sim.apply_sysfs
        writes = []

        def apply_sysfs(request):
            writes.append(request.path)
            if len(writes) == 4:
                raise KeyboardInterrupt()
            return real_apply_sysfs(request)

        self.useFixture(fixtures.MockPatchObject(
            self.sim, 'apply_sysfs', side_effect=apply_sysfs))
        drainer = _Drainer()
        self.assertRaises(
            KeyboardInterrupt, self.apply_layout, LAYOUT, self.sim,
            options=apply.Options(drainer=drainer))
        self.assertEqual(before, self.state(self.sim))
        self.assertEqual(set(), drainer.reserved)

    def test_a_stop_while_draining_releases_the_drain(self):
        # The GPU must be drained (the layout destroys its carve) and its
        # guests take their time: a stop comes meanwhile.
        self.apply_layout(LAYOUT, self.sim)
        carved = self.state(self.sim)
        drainer = _Drainer(busy_checks=1000)
        stops = iter([False, False, True])
        results = self.apply_layout(
            LAYOUT.replace('A100-5C, count: 8', 'A100-10C, count: 4'),
            self.sim, options=apply.Options(
                drainer=drainer, drain_timeout=3600, drain_interval=0,
                stop=lambda: next(stops, True)))
        self.assertEqual(apply.INTERRUPTED, results[0].status)
        self.assertIn('interrupted while draining', results[0].message)
        self.assertEqual(set(), drainer.reserved)
        self.assertEqual(carved, self.state(self.sim))

    def test_an_exception_while_draining_releases_the_drain(self):
        drainer = _Drainer(busy_checks=1000)

        def sleep(seconds):
            raise KeyboardInterrupt()

        self.assertRaises(KeyboardInterrupt, drain.drain, drainer, 'node01',
                          self.gpus[0], 3600, 1, sleep=sleep)
        self.assertEqual(set(), drainer.reserved)


class TestKilledAtEveryStep(base.LayoutTestCase):
    """kill -9 after any step (no rollback at all), then a rerun converges.

    A killed process runs no cleanup: the test stops the apply with an
    exception after step k and turns the rollback off, which is what the
    host looks like after kill -9 there.
    """

    def test_rerun_converges_from_every_step_boundary(self):
        layout = LAYOUT.replace('type: A100-PCIE-40GB',
                                'type: A100-PCIE-40GB\n          count: 1')
        probe = self.sim_host(SPEC, name='probe')
        steps = len(plan_mod.make_plan(self.targets(layout, probe),
                                       self.read(probe)).steps)
        self.assertEqual(8, steps)
        for killed_after in range(steps + 1):
            sim_host = self.sim_host(SPEC, name='k%d' % killed_after)
            with fixtures.MockPatch('gpuvirt_nova.layout.apply._rollback'):
                self.apply_layout(layout, sim_host, options=apply.Options(
                    stop=_StopAfter(sim_host, killed_after)))
            results = self.apply_layout(layout, sim_host)
            self.assertNotIn(apply.FAILED, [r.status for r in results],
                             killed_after)
            self.assertEqual(
                [], list(plan_mod.make_plan(
                    self.targets(layout, sim_host),
                    self.read(sim_host)).steps), killed_after)


class TestSignals(base.LayoutTestCase):

    def test_sigint_and_sigterm_become_a_stop_and_handlers_come_back(self):
        said = []
        before = signal.getsignal(signal.SIGINT)
        for signum in (signal.SIGINT, signal.SIGTERM):
            with layout_cmd._stop_on_signals(said.append) as stop:
                self.assertFalse(stop.is_set())
                os.kill(os.getpid(), signum)
                self.assertTrue(stop.is_set())
        self.assertEqual(before, signal.getsignal(signal.SIGINT))
        self.assertIn('stopping after the step in progress', said[0])


class TestNeverTheWrongHost(base.LayoutTestCase):
    """--simulate and --host never silently read other hardware."""

    def test_simulate_naming_another_host_than_sim_root_holds(self):
        root = os.path.join(self.tmp, 'kept')
        path = self.write_layout(LAYOUT)
        rc, out, err = self.cli('layout', 'plan', path, '--simulate', SPEC,
                                '--sim-root', root, '--host', 'node01')
        self.assertEqual(0, rc, err)
        # Same spec again: reopened. Another one: refused, not ignored.
        rc, out, err = self.cli('layout', 'plan', path, '--simulate', SPEC,
                                '--sim-root', root, '--host', 'node01')
        self.assertEqual(0, rc, err)
        for command in (('layout', 'plan', path),
                        ('placement', 'sync', '--state-dir', self.tmp)):
            rc, out, err = self.cli(*(command + (
                '--simulate', '1xT4:mdev', '--sim-root', root, '--host',
                'node01')))
            self.assertEqual(2, rc, err)
            self.assertIn('already holds another simulated host',
                          err.strip().splitlines()[-1])

    def test_host_naming_another_machine_is_refused(self):
        path = self.write_layout(LAYOUT.replace('node01', 'render02'))
        for command in ('resolve', 'plan', 'validate'):
            rc, out, err = self.cli('layout', command, path, '--host',
                                    'render02')
            self.assertEqual(2, rc, err)
            self.assertIn('--host render02: this is', err)
            self.assertIn('--simulate SPEC', err)


class TestSchedulerOnlyLayout(base.LayoutTestCase):

    def test_a_scheduler_block_alone_is_a_layout(self):
        layout = self.layout('gpu_cluster:\n'
                             '  nodes:\n'
                             '    - host: host1\n'
                             '  scheduler:\n'
                             '    max_jobs_per_user: 2\n')
        self.assertEqual({'max_jobs_per_user': 2}, layout.scheduler)


class TestFullyCarvedGpuIsQuiet(base.LayoutTestCase):
    """A driver lists only the types it can still create.

    A GPU carved full names its own type in no list: the catalog names
    it, and discovery does not warn about a healthy host.
    """

    def test_no_type_warning_on_a_full_mig_gpu(self):
        sim_host = self.sim_host('1xA100-PCIE-40GB:mig')
        layout = ('gpu_cluster:\n'
                  '  nodes:\n'
                  '    - host: node01\n'
                  '      gpus:\n'
                  '        - type: A100-PCIE-40GB\n'
                  '          vgpus:\n'
                  '            - {profile: A100-2-10C, count: 3}\n')
        results = self.apply_layout(layout, sim_host)
        self.assertEqual([apply.APPLIED], [r.status for r in results])
        host = self.read(sim_host)
        self.assertEqual(3, sum(vf.current_vgpu_type == 'A100-2-10C'
                                for vf in host.gpus[0].vfs))
        self.assertEqual([], [w for w in host.warnings
                              if 'vGPU type id' in w])

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

"""One ``layout apply`` at a time per host: the inter-process lock."""

import os
import subprocess
import sys
import textwrap
import threading

from gpuvirt_nova.layout import hostlock
from tests.unit.layout import base

#: A second process that takes the apply lock, says so, and holds it until
#: its stdin closes.
HOLDER = textwrap.dedent('''\
    import sys
    from gpuvirt_nova.layout import hostlock
    with hostlock.apply_lock(sys.argv[1], sys.argv[2]) as path:
        print(path, flush=True)
        sys.stdin.read()
    ''')


class LockTestCase(base.LayoutTestCase):

    def hold_in_other_process(self, lock_path, hostname):
        """Start a process holding the lock; return (process, lock file)."""
        proc = subprocess.Popen(
            [sys.executable, '-c', HOLDER, lock_path, hostname],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            cwd=base.REPO)
        self.addCleanup(self.release, proc)
        path = proc.stdout.readline().strip()
        self.assertEqual(hostlock.lock_file(lock_path, hostname), path)
        return proc, path

    @staticmethod
    def release(proc):
        if proc.poll() is None:
            proc.stdin.close()
            proc.wait()


class TestApplyLock(LockTestCase):

    def setUp(self):
        super().setUp()
        self.lock_path = os.path.join(self.tmp, 'locks')

    def test_no_wait_fails_at_once_naming_file_and_holder_pid(self):
        proc, path = self.hold_in_other_process(self.lock_path, 'node01')
        exc = self.assertRaises(
            hostlock.LockBusy, self.enter, 'node01', wait=False)
        self.assertEqual(1, exc.exit_code)
        self.assertIn(path, str(exc))
        self.assertIn('pid %d' % proc.pid, str(exc))
        self.assertIn('--no-wait', str(exc))
        self.assertNotIn('\n', str(exc))

    def test_waiting_gives_up_after_the_timeout(self):
        self.hold_in_other_process(self.lock_path, 'node01')
        exc = self.assertRaises(
            hostlock.LockBusy, self.enter, 'node01', wait=True, timeout=0)
        self.assertIn('lock_timeout', str(exc))

    def test_free_again_once_the_holder_is_done(self):
        proc, path = self.hold_in_other_process(self.lock_path, 'node01')
        self.release(proc)
        self.assertEqual(path, self.enter('node01', wait=False))
        self.assertIsNone(hostlock.holder_pid(path))

    def test_another_host_is_not_blocked(self):
        self.hold_in_other_process(self.lock_path, 'node01')
        self.assertEqual(hostlock.lock_file(self.lock_path, 'node02'),
                         self.enter('node02', wait=False))

    def test_two_threads_of_one_process_exclude_each_other(self):
        # A POSIX file lock alone would let both threads in.
        holding, done = threading.Event(), threading.Event()

        def hold():
            with hostlock.apply_lock(self.lock_path, 'node01'):
                holding.set()
                done.wait()
        thread = threading.Thread(target=hold)
        thread.start()
        self.addCleanup(thread.join)
        self.addCleanup(done.set)
        holding.wait()
        exc = self.assertRaises(
            hostlock.LockBusy, self.enter, 'node01', wait=False)
        self.assertIn('pid %d' % os.getpid(), str(exc))

    def test_waiting_runs_follow_each_other(self):
        events = []
        lock = threading.Lock()

        def run(name):
            with hostlock.apply_lock(self.lock_path, 'node01', timeout=60):
                for step in ('start', 'end'):
                    with lock:
                        events.append((name, step))
                    threading.Event().wait(0.01)
        threads = [threading.Thread(target=run, args=(n,))
                   for n in 'abcd']
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(8, len(events))
        for first, second in zip(events[::2], events[1::2]):
            self.assertEqual(first[0], second[0], events)
            self.assertEqual(('start', 'end'), (first[1], second[1]))

    def test_unwritable_lock_path_is_a_usage_error_naming_the_option(self):
        blocker = os.path.join(self.tmp, 'a-file')
        open(blocker, 'w').close()
        exc = self.assertRaises(
            hostlock.exception.UsageError, self.enter, 'node01',
            lock_path=os.path.join(blocker, 'locks'))
        self.assertIn('[gpuvirt_layout] lock_path', str(exc))

    def enter(self, hostname, lock_path=None, **kwargs):
        with hostlock.apply_lock(lock_path or self.lock_path, hostname,
                                 **kwargs) as path:
            return path


class TestApplyCommandLock(LockTestCase):

    def test_apply_no_wait_refuses_while_another_apply_runs(self):
        layout = self.write_layout(base.DESIGN_EXAMPLE)
        root = os.path.join(self.tmp, 'sim')
        rc, _, err = self.cli('layout', 'plan', layout, '--simulate',
                              '1xA100-PCIE-40GB:mig', '--sim-root', root)
        self.assertEqual(0, rc, err)
        host = base.sim.SimulatedHost.open(root)
        before = host.journal_entries()
        proc, path = self.hold_in_other_process(
            os.path.join(root, 'locks'), 'node01')
        rc, out, err = self.cli('layout', 'apply', layout, '--sim-root',
                                root, '--no-wait')
        self.assertEqual(1, rc, err)
        self.assertIn(path, err)
        self.assertIn('pid %d' % proc.pid, err)
        self.assertEqual(before, host.journal_entries())
        self.release(proc)
        rc, out, err = self.cli('layout', 'apply', layout, '--sim-root',
                                root, '--no-wait', '-f', 'json')
        self.assertEqual(0, rc, err)
        self.assertIn('"applied"', out)

    def test_lock_path_option_is_used(self):
        layout = self.write_layout(base.DESIGN_EXAMPLE)
        root = os.path.join(self.tmp, 'sim')
        lock_path = os.path.join(self.tmp, 'elsewhere')
        conf = self.write_layout('[gpuvirt_layout]\nlock_path = %s\n'
                                 % lock_path, name='gpuvirt.conf')
        self.hold_in_other_process(lock_path, 'node01')
        rc, out, err = self.cli('--config-file', conf, 'layout', 'apply',
                                layout, '--simulate', '1xA100-PCIE-40GB:mig',
                                '--sim-root', root, '--no-wait')
        self.assertEqual(1, rc, err)
        self.assertIn(hostlock.lock_file(lock_path, 'node01'), err)

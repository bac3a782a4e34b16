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

"""The boot-time restore: the systemd unit and ``apply --boot``."""

import configparser
import os

from gpuvirt_nova import exception
from gpuvirt_nova.layout import drain
from gpuvirt_nova import sim
from tests.unit.layout import base

UNIT = os.path.join(base.REPO, 'etc', 'systemd',
                    'gpuvirt-nova-layout.service')


class TestSystemdUnit(base.LayoutTestCase):

    def setUp(self):
        super().setUp()
        self.unit = configparser.ConfigParser(strict=False,
                                              interpolation=None)
        self.unit.optionxform = str
        self.unit.read(UNIT)

    def test_ordered_after_the_nvidia_driver_and_before_nova_compute(self):
        after = self.unit['Unit']['After'].split()
        before = self.unit['Unit']['Before'].split()
        self.assertIn('nvidia-vgpu-mgr.service', after)
        self.assertIn('nova-compute.service', before)
        self.assertIn('libvirtd.service', before)

    def test_runs_apply_boot_once(self):
        service = self.unit['Service']
        self.assertEqual('oneshot', service['Type'])
        self.assertIn('layout apply --boot', service['ExecStart'])
        self.assertTrue(os.path.isabs(service['ExecStart'].split()[0]))


class TestBootApply(base.LayoutTestCase):

    def test_boot_restores_after_each_reboot(self):
        path = self.write_layout(base.DESIGN_EXAMPLE)
        root = os.path.join(self.tmp, 'sim')
        rc, _, err = self.cli('layout', 'apply', path, '--simulate',
                              '2xA100-PCIE-40GB:mig@node01', '--sim-root',
                              root)
        self.assertEqual(0, rc, err)
        sim_host = self.open_sim(root)
        applied = self.state(sim_host)
        for _ in range(2):
            sim_host.reboot()
            rc, _, err = self.cli('layout', 'apply', '--boot', path,
                                  '--sim-root', root)
            self.assertEqual(0, rc, err)
            self.assertEqual(applied, self.state(sim_host))

    def test_boot_uses_the_configured_layout_file(self):
        path = self.write_layout(base.DESIGN_EXAMPLE)
        conf = os.path.join(self.tmp, 'gpuvirt.conf')
        with open(conf, 'w') as stream:
            stream.write('[gpuvirt_layout]\nfile = %s\n' % path)
        root = os.path.join(self.tmp, 'sim')
        rc, _, err = self.cli('--config-file', conf, 'layout', 'apply',
                              '--boot', '--simulate',
                              '1xA100-PCIE-40GB:mig@node01', '--sim-root',
                              root)
        self.assertEqual(0, rc, err)
        rc, _, err = self.cli('--config-file', conf, 'layout', 'assert',
                              '--sim-root', root)
        self.assertEqual(0, rc, err)

    def test_unwritable_state_dir_is_named_not_sim_root(self):
        blocker = os.path.join(self.tmp, 'file')
        with open(blocker, 'w'):
            pass
        conf = os.path.join(self.tmp, 'gpuvirt.conf')
        with open(conf, 'w') as stream:
            stream.write('[gpuvirt]\nstate_dir = %s\n' % blocker)
        path = self.write_layout(base.DESIGN_EXAMPLE)
        rc, _, err = self.cli('--config-file', conf, 'layout', 'plan', path,
                              '--simulate', '1xA100-PCIE-40GB:mig@node01')
        self.assertEqual(2, rc, err)
        self.assertIn('[gpuvirt] state_dir: cannot create %s' % blocker, err)
        self.assertNotIn('--sim-root', err)

    @staticmethod
    def open_sim(root):
        return sim.SimulatedHost.open(root)


class TestDrain(base.LayoutTestCase):

    class Drainer(drain.Drainer):
        def __init__(self, polls_busy):
            self.polls_busy = polls_busy
            self.reserved = []

        def set_reserved(self, host, gpu_address, reserved):
            self.reserved.append(reserved)

        def has_allocations(self, host, gpu_address):
            self.polls_busy -= 1
            return self.polls_busy >= 0

    def test_drained_after_allocations_leave(self):
        drainer = self.Drainer(polls_busy=3)
        sleeps = []
        self.assertTrue(drain.drain(drainer, 'n', '0000:3b:00.0', 60, 5,
                                    sleep=sleeps.append,
                                    clock=lambda: 0))
        self.assertEqual([True], drainer.reserved)
        self.assertEqual([5, 5, 5], sleeps)

    def test_timeout_releases_the_gpu(self):
        drainer = self.Drainer(polls_busy=100)
        now = iter(range(0, 1000, 10))
        self.assertFalse(drain.drain(drainer, 'n', '0000:3b:00.0', 30, 10,
                                     sleep=lambda s: None,
                                     clock=lambda: next(now)))
        self.assertEqual([True, False], drainer.reserved)

    def test_no_placement_says_so(self):
        exc = self.assertRaises(exception.UsageError,
                                drain.NoPlacement().set_reserved, 'n',
                                '0000:3b:00.0', True)
        self.assertIn('no Placement is configured', str(exc))

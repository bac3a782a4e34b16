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

"""``gpuvirt-nova monitor --once`` on a simulated host."""

import json
import os

import fixtures
from oslo_config import cfg
from oslotest import base

from gpuvirt_nova.monitor import daemon
from gpuvirt_nova.monitor import history
from tests.unit.cmd import cli


class MonitorCommandTests(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.cli = self.useFixture(cli.CliFixture()).cli
        self.state_dir = self.useFixture(fixtures.TempDir()).path
        cfg.CONF.set_override('state_dir', self.state_dir, 'gpuvirt')
        for name, group in (('state_dir', 'gpuvirt'),
                            ('simulate', 'gpuvirt'),
                            ('notifications_enabled', 'gpuvirt_monitor'),
                            ('libvirt_uri', 'gpuvirt_monitor'),
                            ('history_keep', 'gpuvirt_monitor')):
            self.addCleanup(cfg.CONF.clear_override, name, group)

    def test_once_prints_every_gpu(self):
        rc, out, err = self.cli('monitor', '--once', '--simulate',
                                '2xA100-PCIE-40GB:vfio', '-f', 'json')
        self.assertEqual(0, rc, err)
        rows = json.loads(out)
        self.assertEqual(['0000:3b:00.0', '0000:5e:00.0'],
                         [r['gpu'] for r in rows])
        self.assertTrue(all(r['present'] for r in rows))
        self.assertEqual(40960, rows[0]['fb_total_mib'])

    def test_once_writes_no_history(self):
        rc, _out, err = self.cli('monitor', '--once', '--simulate',
                                 '2xA100-PCIE-40GB:vfio')
        self.assertEqual(0, rc, err)
        self.assertFalse(os.path.exists(history.default_path(
            self.state_dir)))

    def test_the_daemon_keeps_history_under_the_state_dir(self):
        cfg.CONF.set_override('simulate', '2xA100-PCIE-40GB:vfio',
                              'gpuvirt')
        cfg.CONF.set_override('notifications_enabled', False,
                              'gpuvirt_monitor')
        cfg.CONF.set_override('libvirt_uri', '', 'gpuvirt_monitor')
        monitor = daemon.from_conf(cfg.CONF)
        self.addCleanup(monitor.sampler.close)
        for _ in range(2):
            sample, _events = monitor.run_once()
        records = history.load(history.default_path(self.state_dir))
        self.assertEqual(2, len(records))
        self.assertEqual({'0000:3b:00.0', '0000:5e:00.0'},
                         set(records[0]['gpus']))
        # No layout file names this host: drift not checked.
        self.assertIsNone(sample.drift)

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

"""``gpuvirt-nova sim create|show|reboot`` run in process."""

import json
import os

import fixtures
from oslotest import base

from gpuvirt_nova import sim
from tests import sim_fixture
from tests.unit.cmd import cli as cli_fixture


class SimCommandTestCase(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.run_cli = self.useFixture(cli_fixture.CliFixture()).cli
        self.root = os.path.join(self.useFixture(fixtures.TempDir(
            rootdir=sim_fixture.scratch_dir())).path, 'host')

    def test_create_show_reboot(self):
        rc, out, _err = self.run_cli('sim', 'create', self.root,
                                     'A100-PCIE-40GB:mig+T4:mdev@node01',
                                     '-f', 'json')
        self.assertEqual(0, rc)
        self.assertEqual('node01', json.loads(out)['hostname'])
        writer = sim.SimulatedHost.open(self.root).writer()
        writer.create_gpu_instance('0000:3b:00.0', '3g.20gb', 4)
        rc, out, _err = self.run_cli('sim', 'show', self.root, '-f', 'json')
        rows = {r['address']: r for r in json.loads(out)}
        self.assertEqual('1:3g.20gb@4', rows['0000:3b:00.0']['gpu_instances'])
        self.assertEqual('on', rows['0000:3b:00.0']['mig'])
        self.assertEqual('-', rows['0000:5e:00.0']['mig'])
        rc, out, _err = self.run_cli('sim', 'reboot', self.root, '-f',
                                     'json')
        self.assertEqual(2, json.loads(out)['boot'])
        rc, out, _err = self.run_cli('sim', 'show', self.root, '-f', 'json')
        rows = {r['address']: r for r in json.loads(out)}
        self.assertEqual('-', rows['0000:3b:00.0']['gpu_instances'])
        self.assertEqual((0, 0, 20), tuple(
            rows['0000:3b:00.0'][k]
            for k in ('vfs_used', 'vfs_enabled', 'vfs_total')))

    def test_usage_errors_exit_2(self):
        rc, _out, err = self.run_cli('sim', 'create', self.root, 'bogus')
        self.assertEqual(2, rc)
        self.assertIn("unknown GPU model 'bogus'", err)
        rc, _out, err = self.run_cli('sim', 'show', self.root)
        self.assertEqual(2, rc)
        self.assertIn('holds no simulated host', err)
        blocker = os.path.join(os.path.dirname(self.root), 'file')
        with open(blocker, 'w'):
            pass
        rc, _out, err = self.run_cli('sim', 'create',
                                     os.path.join(blocker, 'host'), 'T4')
        self.assertEqual(2, rc)
        self.assertIn('give a writable directory', err)

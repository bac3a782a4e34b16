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

import fixtures
from oslo_config import cfg
from oslotest import base

from gpuvirt_nova.cmd import main


class TestNovaDemoCommand(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.stdout = self.useFixture(fixtures.StringStream('stdout')).stream
        self.stderr = self.useFixture(fixtures.StringStream('stderr')).stream
        self.useFixture(fixtures.MonkeyPatch('sys.stdout', self.stdout))
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', self.stderr))
        self.addCleanup(cfg.CONF.reset)
        self.useFixture(fixtures.MonkeyPatch(
            'gpuvirt_nova.cmd.main.DEFAULT_CONFIG_FILES', ()))

    def test_zero_servers_is_a_usage_error(self):
        app = main.GpuvirtApp()
        app.stdout = self.stdout
        app.stderr = self.stderr
        rc = app.run(['nova', 'demo', '--servers', '0'])
        self.assertEqual(2, rc)
        self.stderr.seek(0)
        self.assertIn('--servers must be at least 1', self.stderr.read())

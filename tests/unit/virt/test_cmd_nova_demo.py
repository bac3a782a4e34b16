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

from oslotest import base

from tests.unit.cmd import cli as cli_fixture


class TestNovaDemoCommand(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.cli = self.useFixture(cli_fixture.CliFixture()).cli

    def test_zero_servers_is_a_usage_error(self):
        rc, _out, err = self.cli('nova', 'demo', '--servers', '0')
        self.assertEqual(2, rc)
        self.assertIn('--servers must be at least 1', err)

    def test_a_type_the_demo_hosts_do_not_carry_is_a_usage_error(self):
        rc, out, err = self.cli('nova', 'demo', '--type', 'A100-99C')
        self.assertEqual(2, rc)
        self.assertIn('--type A100-99C', err)
        self.assertEqual('', out)

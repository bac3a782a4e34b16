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

"""How a privsep daemon starts: directly as root, else as Nova asks."""

import fixtures
from oslo_privsep import priv_context
from oslotest import base

from gpuvirt_nova import privsep

ROOTWRAP = ['sudo', 'nova-rootwrap', '/etc/nova/rootwrap.conf']
VENV_BIN = '/opt/venv/bin'


class HelperPrefixTests(base.BaseTestCase):

    def test_root_runs_the_helper_directly_from_its_own_scripts(self):
        choice = privsep.helper_prefix(0, ROOTWRAP, VENV_BIN,
                                       '/usr/bin:/opt/venv/bin:/bin',
                                       sudo_found=False)
        self.assertEqual(['env', 'PATH=/opt/venv/bin:/usr/bin:/bin'],
                         choice.command)
        self.assertTrue(choice.usable)
        self.assertIn('without sudo', choice.reason)

    def test_root_with_sudo_still_needs_neither(self):
        choice = privsep.helper_prefix(0, ['sudo'], VENV_BIN, '/usr/bin',
                                       sudo_found=True)
        self.assertNotIn('sudo', choice.command)

    def test_another_user_keeps_nova_s_request(self):
        choice = privsep.helper_prefix(1000, ROOTWRAP, VENV_BIN, '/usr/bin',
                                       sudo_found=True)
        self.assertEqual(ROOTWRAP, choice.command)
        self.assertTrue(choice.usable)

    def test_another_user_without_sudo_is_told_the_fixes(self):
        choice = privsep.helper_prefix(1000, None, VENV_BIN, '/usr/bin',
                                       sudo_found=False)
        self.assertEqual(['sudo'], choice.command)
        self.assertFalse(choice.usable)
        for fix in ('as root', 'etc/sudoers.d/gpuvirt-nova',
                    'helper_command'):
            self.assertIn(fix, choice.reason)


class InitTests(base.BaseTestCase):
    """The wrap of oslo.privsep's ``init`` that nova-compute calls."""

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.MonkeyPatch(
            'oslo_privsep.priv_context.init', priv_context.init))
        self.useFixture(fixtures.MonkeyPatch(
            'oslo_privsep.priv_context._HELPER_COMMAND_PREFIX', ['sudo']))
        self.useFixture(fixtures.MonkeyPatch('sys.executable',
                                             VENV_BIN + '/python3'))
        self.useFixture(fixtures.EnvironmentVariable('PATH', '/usr/bin'))

    def helper_command(self):
        cmd = privsep.sysfs_pctxt.helper_command('/tmp/sock')
        return cmd[:cmd.index('privsep-helper') + 1]

    def test_as_root_every_context_starts_its_helper_directly(self):
        self.useFixture(fixtures.MonkeyPatch('os.geteuid', lambda: 0))
        privsep.choose_root_helper_at_init()
        privsep.choose_root_helper_at_init()
        # What nova.cmd.compute.main does after reading its files.
        priv_context.init(root_helper=ROOTWRAP)
        self.assertEqual(['env', 'PATH=/opt/venv/bin:/usr/bin',
                          'privsep-helper'], self.helper_command())

    def test_as_another_user_nova_s_request_stands(self):
        self.useFixture(fixtures.MonkeyPatch('os.geteuid', lambda: 1000))
        privsep.choose_root_helper_at_init()
        priv_context.init(root_helper=ROOTWRAP)
        self.assertEqual(ROOTWRAP + ['privsep-helper'],
                         self.helper_command())

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

"""The privileged helpers start without sudo, by ``helper_command``.

oslo.privsep starts its daemon as ``sudo privsep-helper ...`` unless the
context's section sets ``helper_command``; many containers have no sudo
and run nova-compute as root. With the documented setting
(``helper_command = privsep-helper --config-file /etc/nova/nova.conf``
in ``[privsep_gpuvirt_sysfs]`` and ``[privsep_gpuvirt_nvml]``) the sysfs
daemon starts, and it still refuses a write to a device that is not an
NVIDIA GPU: the refusal comes back from the daemon.
"""

import os
import sys

import fixtures
from oslo_config import cfg
from oslo_config import fixture as config_fixture
from oslotest import base

from gpuvirt_nova import exception
from gpuvirt_nova import privsep

HELPER = os.path.join(os.path.dirname(sys.executable), 'privsep-helper')


class NoSudoHelperTests(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest('the helper keeps capabilities only as root')
        if not os.path.exists(HELPER):
            self.skipTest('%s absent' % HELPER)
        conf_dir = self.useFixture(fixtures.TempDir()).path
        conf_file = os.path.join(conf_dir, 'nova.conf')
        command = '%s --config-file %s' % (HELPER, conf_file)
        with open(conf_file, 'w') as f:
            f.write('[privsep_gpuvirt_sysfs]\nhelper_command = %s\n'
                    % command)
        conf = self.useFixture(config_fixture.Config(cfg.CONF))
        conf.config(helper_command=command, group='privsep_gpuvirt_sysfs')
        # No sudo on PATH, whatever this machine has.
        self.useFixture(fixtures.EnvironmentVariable(
            'PATH', os.path.dirname(sys.executable)))
        self.addCleanup(self.stop_daemon)

    def stop_daemon(self):
        if privsep.sysfs_pctxt.channel is not None:
            privsep.sysfs_pctxt.stop()

    def test_sysfs_daemon_starts_and_refuses_a_non_nvidia_device(self):
        self.assertIsNone(privsep.sysfs_pctxt.channel)
        with self.assertRaises(exception.GpuvirtError) as caught:
            privsep.write_sysfs(
                '/sys/bus/pci/devices/0000:ff:1f.7/sriov_numvfs', '1')
        self.assertIsNotNone(privsep.sysfs_pctxt.channel)
        self.assertIn('0000:ff:1f.7', str(caught.exception))


class RootDefaultHelperTests(base.BaseTestCase):
    """No ``helper_command`` at all: as root, nova-compute's choice.

    ``gpuvirt-nova-compute`` wraps the ``priv_context.init`` call Nova
    makes with ``sudo nova-rootwrap ...``; as root the daemon then starts
    with no sudo and no setting (``privsep.helper_prefix``).
    """

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest('the choice applies to root only')
        if not os.path.exists(HELPER):
            self.skipTest('%s absent' % HELPER)
        from oslo_privsep import priv_context
        self.priv_context = priv_context
        self.useFixture(fixtures.MonkeyPatch(
            'oslo_privsep.priv_context.init', priv_context.init))
        self.useFixture(fixtures.MonkeyPatch(
            'oslo_privsep.priv_context._HELPER_COMMAND_PREFIX', ['sudo']))
        conf = self.useFixture(config_fixture.Config(cfg.CONF))
        conf.config(helper_command=None, group='privsep_gpuvirt_sysfs')
        # Neither sudo nor the virtualenv's scripts on PATH.
        self.useFixture(fixtures.EnvironmentVariable('PATH', '/usr/bin:/bin'))
        self.addCleanup(self.stop_daemon)

    def stop_daemon(self):
        if privsep.sysfs_pctxt.channel is not None:
            privsep.sysfs_pctxt.stop()

    def test_sysfs_daemon_starts_without_sudo_or_a_setting(self):
        privsep.choose_root_helper_at_init()
        self.priv_context.init(
            root_helper=['sudo', 'nova-rootwrap', '/etc/nova/rootwrap.conf'])
        command = privsep.sysfs_pctxt.helper_command('/tmp/sock')
        self.assertNotIn('sudo', command)
        self.assertIsNone(privsep.sysfs_pctxt.channel)
        with self.assertRaises(exception.GpuvirtError) as caught:
            privsep.write_sysfs(
                '/sys/bus/pci/devices/0000:ff:1f.7/sriov_numvfs', '1')
        self.assertIsNotNone(privsep.sysfs_pctxt.channel)
        self.assertIn('0000:ff:1f.7', str(caught.exception))

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

"""The cliff application: configuration loading and exit codes."""

import os
import tempfile
from unittest import mock

import fixtures
from openstack.compute.v2 import server
from oslo_config import cfg
from oslotest import base

from gpuvirt_nova.cmd import main


class TestMain(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.stdout = self.useFixture(fixtures.StringStream('stdout')).stream
        self.stderr = self.useFixture(fixtures.StringStream('stderr')).stream
        self.useFixture(fixtures.MonkeyPatch('sys.stdout', self.stdout))
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', self.stderr))
        self.addCleanup(cfg.CONF.reset)
        # The host's own /etc files must not leak into tests.
        self.useFixture(fixtures.MonkeyPatch(
            'gpuvirt_nova.cmd.main.DEFAULT_CONFIG_FILES', ()))

    def _run(self, *argv):
        with mock.patch('sys.stdout', self.stdout), \
                mock.patch('sys.stderr', self.stderr):
            app = main.GpuvirtApp()
            app.stdout = self.stdout
            app.stderr = self.stderr
            return app.run(list(argv))

    def test_missing_config_file_exits_2_with_one_line(self):
        rc = self._run('--config-file', '/nonexistent/gpuvirt.conf',
                       'catalog', 'list')
        self.assertEqual(2, rc)
        self.stderr.seek(0)
        err = self.stderr.read().strip().splitlines()
        self.assertEqual(1, len(err))
        self.assertIn('--config-file /nonexistent/gpuvirt.conf', err[0])

    def config(self, text):
        with tempfile.NamedTemporaryFile('w', suffix='.conf',
                                         delete=False) as f:
            f.write(text)
        self.addCleanup(os.unlink, f.name)
        return f.name

    def err_lines(self):
        self.stderr.seek(0)
        return self.stderr.read().strip().splitlines()

    def test_bad_option_value_stops_at_load_in_one_line(self):
        # oslo.config converts lazily; the value must fail before any
        # command runs, not in the middle of a drain.
        for text, option in (
                ('[gpuvirt]\nuse_nvml = maybe\n', '[gpuvirt] use_nvml'),
                ('[gpuvirt_layout]\ndrain_timeout = ten\n',
                 '[gpuvirt_layout] drain_timeout')):
            self.stderr.seek(0)
            self.stderr.truncate()
            rc = self._run('--config-file', self.config(text), 'catalog',
                           'list')
            self.assertEqual(2, rc)
            err = self.err_lines()
            self.assertEqual(1, len(err), err)
            self.assertIn(option, err[0])
            self.assertNotIn('LocationInfo', err[0])
            cfg.CONF.reset()

    def test_unknown_option_of_our_groups_is_warned(self):
        path = self.config('[gpuvirt]\nsysfs_rot = /x\n'
                           '[DEFAULT]\ndebug = true\n')
        rc = self._run('--config-file', path, 'catalog', 'list')
        self.assertEqual(0, rc)
        err = self.err_lines()
        self.assertEqual(1, len(err), err)
        self.assertIn('[gpuvirt] sysfs_rot is not an option', err[0])
        self.assertIn('did you mean sysfs_root?', err[0])

    def test_config_file_option_is_read(self):
        with tempfile.NamedTemporaryFile('w', suffix='.conf',
                                         delete=False) as f:
            f.write('[gpuvirt]\nsysfs_root = /srv/fake-root\n')
        self.addCleanup(os.unlink, f.name)
        self.assertEqual(0, self._run('--config-file', f.name,
                                      'catalog', 'list'))
        self.assertEqual('/srv/fake-root', cfg.CONF.gpuvirt.sysfs_root)

    def test_global_placement_url_overrides_the_config(self):
        self.assertEqual(0, self._run(
            '--os-placement-url', 'http://127.0.0.1:8778',
            'catalog', 'list'))
        self.assertEqual('http://127.0.0.1:8778',
                         cfg.CONF.gpuvirt_placement.placement_url)

    def test_usage_error_from_a_command_exits_2(self):
        self.assertEqual(2, self._run('catalog', 'show', 'no-such-gpu'))
        self.stderr.seek(0)
        self.assertIn("unknown GPU model 'no-such-gpu'", self.stderr.read())

    def test_typical_requests_from_the_servers(self):
        servers = [server.Server.existing(id='s%d' % i, flavor={
            'original_name': 'vgpu.small', 'vcpus': 4, 'ram': 8192,
            'extra_specs': {'resources:CUSTOM_VGPU_A100_1_5C': '1'}})
            for i in range(3)]
        sdk = mock.Mock()
        sdk.compute.servers.return_value = servers
        with mock.patch('gpuvirt_nova.placement.connect.sdk_for_cloud',
                        return_value=sdk):
            self.assertEqual(0, self._run(
                'flavor', 'typical-requests', '--os-cloud', 'c1', '-f',
                'value', '-c', 'typical_requests'))
        sdk.compute.servers.assert_called_once_with(details=True,
                                                    all_projects=True)
        self.stdout.seek(0)
        self.assertEqual('CUSTOM_VGPU_A100_1_5C/4:3', self.stdout.read()
                         .strip())

    def test_typical_requests_needs_flavors_embedded_in_servers(self):
        sdk = mock.Mock()
        # what openstacksdk gives below microversion 2.47: a linked flavor
        sdk.compute.servers.return_value = [server.Server.existing(
            id='s1', flavor={'id': 'f1', 'links': []})]
        with mock.patch('gpuvirt_nova.placement.connect.sdk_for_cloud',
                        return_value=sdk):
            self.assertEqual(2, self._run('flavor', 'typical-requests',
                                          '--os-cloud', 'c1'))
        self.stderr.seek(0)
        self.assertIn('microversion 2.47', self.stderr.read())
        self.assertEqual(2, self._run('flavor', 'typical-requests'))

    def test_catalog_list_json(self):
        self.assertEqual(0, self._run('catalog', 'list', '-f', 'json'))
        self.stdout.seek(0)
        self.assertIn('A100-PCIE-40GB', self.stdout.read())


class TestDefaultConfigFiles(base.BaseTestCase):

    def test_only_existing_defaults_are_used(self):
        with tempfile.NamedTemporaryFile() as f:
            self.assertEqual(
                [f.name], main.existing_default_config_files(
                    ('/nonexistent/nova.conf', f.name)))

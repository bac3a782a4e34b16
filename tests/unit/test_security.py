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

"""Security: the fault suite's scenario 10.

Privileged operations exist only as privsep entrypoints, each checking
its arguments before it acts (the table below lists every one and what
it refuses; a new entrypoint without a row fails); no shell anywhere; no
sysfs write lands outside the one file it names, whatever the type name,
PCI address or UUID (path traversal, fuzzed); the Prometheus endpoint
binds to localhost by default; no password or token reaches the logs.
"""

import ast
import logging
import os
import shutil
import tempfile
from unittest import mock

import fixtures
import hypothesis
from hypothesis import strategies as st
from oslo_config import cfg
from oslo_privsep import priv_context
import testtools

import gpuvirt_nova
from gpuvirt_nova.conf import monitor as monitor_conf
from gpuvirt_nova.hardware import writers
from gpuvirt_nova import privsep
from gpuvirt_nova import sim
from tests import sim_fixture
from tests.unit.cmd import cli as cli_fixture

GPU = '0000:3b:00.0'
UUID = '4b20d080-1b54-4048-85b3-a6a62d165c01'

#: Every privsep entrypoint: arguments it must refuse before acting.
ENTRYPOINTS = {
    'write_sysfs': [
        ('/sys/bus/pci/devices/%s/../../../../etc/shadow' % GPU, 'x'),
        ('/etc/passwd', 'x'),
        ('/sys/bus/pci/devices/%s/sriov_numvfs' % GPU, '1; reboot'),
        ('/sys/class/mdev_bus/%s/mdev_supported_types/nvidia-1/../'
         'remove' % GPU, UUID),
        ('/sys/bus/mdev/devices/../../../etc/x/remove', '1'),
    ],
    'set_mig_mode': [('../../etc', True), ('0000:3b:00.0\n', True)],
    'reset_gpu': [('0000:3b:00.0; rm -rf /',), ('-i',)],
    'create_gpu_instance': [(GPU, '../x', 0), (GPU, '1g.5gb', '0; id'),
                            ('x', '1g.5gb', 0)],
    'destroy_gpu_instance': [(GPU, '1 2'), ('$(id)', 1)],
    'create_compute_instance': [(GPU, 'a', None), (GPU, 1, '../x')],
    'destroy_compute_instance': [(GPU, 1, 'x'), (GPU, -1, 0)],
}


def entrypoints():
    """{name: (context, function)} of privsep's entrypoints."""
    found = {}
    for name, value in vars(privsep).items():
        context = getattr(value, priv_context._ENTRYPOINT_ATTR, None)
        if context is not None:
            found[name] = (context, value)
    return found


class TestPrivsepEntrypoints(testtools.TestCase):

    def test_every_entrypoint_is_listed(self):
        self.assertEqual(sorted(ENTRYPOINTS), sorted(entrypoints()))
        contexts = {name: context for name, (context, _)
                    in entrypoints().items()}
        self.assertEqual({privsep.sysfs_pctxt},
                         {contexts['write_sysfs']})
        self.assertEqual({privsep.nvml_pctxt}, {
            c for n, c in contexts.items() if n != 'write_sysfs'})

    def test_each_refuses_bad_arguments_before_acting(self):
        # In the daemon's place (the function itself), with NVML, the
        # file system and processes watched: a refusal touches none.
        nvml = mock.MagicMock()
        execute = self.useFixture(fixtures.MockPatch(
            'oslo_concurrency.processutils.execute')).mock
        opened = self.useFixture(fixtures.MockPatch(
            'gpuvirt_nova.privsep._write_file')).mock
        self.useFixture(fixtures.MockPatch('gpuvirt_nova.privsep._pynvml',
                                           return_value=nvml))
        for name, cases in sorted(ENTRYPOINTS.items()):
            _, function = entrypoints()[name]
            # oslo.privsep's entrypoint: partial(context._wrap, body).
            body = function.args[0]
            for args in cases:
                self.assertRaises(writers.InvalidWrite, body, *args)
                self.assertEqual([], execute.call_args_list, (name, args))
                self.assertEqual([], opened.call_args_list, (name, args))
                self.assertEqual([], [c for c in nvml.mock_calls
                                      if not c[0].startswith('NVML')],
                                 (name, args))


def _python_files():
    top = os.path.dirname(gpuvirt_nova.__file__)
    for directory, _, names in os.walk(top):
        for name in names:
            if name.endswith('.py'):
                yield os.path.join(directory, name)


class TestNoShell(testtools.TestCase):

    def test_no_shell_invocation_anywhere(self):
        found = []
        for path in _python_files():
            with open(path) as f:
                tree = ast.parse(f.read(), path)
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                func = ast.unparse(node.func)
                if func in ('os.system', 'os.popen', 'subprocess.getoutput',
                            'subprocess.getstatusoutput', 'os.execl',
                            'os.execlp', 'os.spawnl', 'os.spawnlp'):
                    found.append('%s:%d %s' % (path, node.lineno, func))
                for keyword in node.keywords:
                    if keyword.arg == 'shell' and not (
                            isinstance(keyword.value, ast.Constant)
                            and keyword.value.value is False):
                        found.append('%s:%d shell=' % (path, node.lineno))
        self.assertEqual([], found)


class TestPathTraversal(testtools.TestCase):
    """Writes under a simulated host's root: never outside the file."""

    #: The writable attributes, with the parts that come from config,
    #: sysfs or the layout left open: {a} PCI address, {t} type, {u} UUID.
    TEMPLATES = ['/sys/bus/pci/devices/{a}/sriov_numvfs',
                 '/sys/bus/pci/devices/{a}/nvidia/current_vgpu_type',
                 '/sys/class/mdev_bus/{a}/mdev_supported_types/{t}/create',
                 '/sys/bus/pci/devices/{a}/mdev_supported_types/{t}/create',
                 '/sys/bus/mdev/devices/{u}/remove']
    #: What such a part may be made of: good values and traversals.
    PARTS = [GPU, '0000:3b:00.4', 'nvidia-1', UUID, '..', '../..',
             '../../../../../../..', '.', '', '%2e%2e', GPU + '/..',
             '../outside', 'nvidia-1/../..', UUID + '/../..', '\n',
             GPU + '\n', '*', '~']

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(dir=sim_fixture.scratch_dir())
        cls.host = sim.SimulatedHost.create(
            os.path.join(cls.tmp, 'host'), '1xA100-PCIE-40GB:vfio')
        # Files a traversal would reach: beside and above the root.
        cls.outside = os.path.join(cls.tmp, 'outside')
        os.makedirs(cls.outside)
        with open(os.path.join(cls.outside, 'shadow'), 'w') as f:
            f.write('secret')

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def snapshot(self):
        result = {}
        for directory, _, names in os.walk(self.tmp):
            if directory.startswith(self.host.sysfs_root):
                continue
            for name in names:
                path = os.path.join(directory, name)
                with open(path, 'rb') as f:
                    result[path] = f.read()
        return result

    @hypothesis.settings(max_examples=300, deadline=None, derandomize=True,
                         database=None)
    @hypothesis.given(st.sampled_from(TEMPLATES),
                      st.lists(st.sampled_from(PARTS), min_size=1,
                               max_size=3).map(''.join),
                      st.lists(st.sampled_from(PARTS), min_size=1,
                               max_size=3).map(''.join),
                      st.lists(st.sampled_from(PARTS), max_size=2).map(
                          '/'.join),
                      st.sampled_from(['1', '0', UUID, '../x', '4', '']))
    # A well-formed path to an attribute that is not there (a VF has no
    # sriov_numvfs): refused, not created.
    @hypothesis.example(TEMPLATES[0], '0000:3b:00.4', '', '', '1')
    def test_no_write_outside_its_file(self, template, part, other, tail,
                                       value):
        path = template.format(a=part, t=other, u=part)
        if tail:
            path += '/' + tail
        before = self.snapshot()
        written = []
        real_write = privsep._write_file

        def write(target, text):
            existed = os.path.isfile(target)
            real_write(target, text)
            written.append((target, existed))

        with mock.patch.object(privsep, '_write_file', write):
            try:
                privsep.checked_write(path, value, self.host.sysfs_root)
            except (writers.InvalidWrite, writers.HardwareRefused):
                pass
        for target, existed in written:
            # Only an attribute that exists (sysfs makes no files), inside
            # the root, named plainly (no .. nor . to resolve).
            self.assertTrue(existed, path)
            self.assertEqual(os.path.normpath(path), path)
            real = os.path.realpath(target)
            self.assertTrue(real.startswith(os.path.realpath(
                self.host.sysfs_root) + os.sep), (path, real))
        self.assertEqual(before, self.snapshot(), path)


class TestExposure(testtools.TestCase):

    def test_prometheus_binds_to_localhost_by_default(self):
        conf = cfg.ConfigOpts()
        conf.register_opts(monitor_conf.OPTS, monitor_conf.GROUP)
        conf([])
        self.assertEqual('127.0.0.1', conf.gpuvirt_monitor.prometheus_host)

    def test_no_password_or_token_in_logs(self):
        secret_password = 'pw-7d1f0c9e-not-in-logs'
        secret_token = 'tok-4a9b2e77-not-in-logs'
        tmp = self.useFixture(fixtures.TempDir()).path
        clouds = os.path.join(tmp, 'clouds.yaml')
        with open(clouds, 'w') as f:
            # Nothing listens on port 9: every request fails at once.
            f.write('clouds:\n'
                    '  pw:\n'
                    '    auth:\n'
                    '      auth_url: http://127.0.0.1:9/identity\n'
                    '      username: nova\n'
                    '      password: %s\n'
                    '      project_name: service\n'
                    '      user_domain_name: Default\n'
                    '      project_domain_name: Default\n'
                    '  tok:\n'
                    '    auth_type: admin_token\n'
                    '    auth:\n'
                    '      endpoint: http://127.0.0.1:9/placement\n'
                    '      token: %s\n' % (secret_password, secret_token))
        self.useFixture(fixtures.EnvironmentVariable(
            'OS_CLIENT_CONFIG_FILE', clouds))
        for name in ('OS_CLOUD', 'OS_PLACEMENT_URL'):
            self.useFixture(fixtures.EnvironmentVariable(name))
        logs = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))
        cli = self.useFixture(cli_fixture.CliFixture()).cli
        said = []
        for cloud in ('pw', 'tok'):
            for command in (('placement', 'show'),
                            ('placement', 'audit', '--simulate',
                             '1xT4:mdev@cn1', '--sim-root',
                             os.path.join(tmp, 'sim'))):
                rc, out, err = cli('--debug', *(command + (
                    '--os-cloud', cloud, '--host', 'cn1', '--state-dir',
                    tmp)))
                self.assertNotEqual(0, rc, err)
                said += [out, err]
        said.append(logs.output)
        # The commands did try the clouds (so the secrets were in use).
        self.assertIn('127.0.0.1:9', '\n'.join(said))
        for secret in (secret_password, secret_token):
            self.assertEqual([], [text for text in said if secret in text])

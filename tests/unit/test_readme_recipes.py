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

"""The operator guide's recipes work as written.

The scheduler snippet keeps Nova's own default filters (oslo.config
cannot append to a list: the line replaces Nova's default), names only
filters that exist, and keys ``project_weights`` by project id. The
Placement recipe is run: its commands start Placement under gunicorn in
a temporary directory (only the port is changed, to a free one), and the
next block's ``placement sync`` talks to it.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from nova.conf import scheduler as nova_scheduler
from oslo_config import cfg
from oslotest import base

from gpuvirt_nova.scheduler import filters as our_filters
from gpuvirt_nova.sim import scratch
from tests.unit import guide

REPO = guide.REPO
#: How long Placement may take to answer on a loaded CI machine.
START_TIMEOUT = 300


def console_script(block):
    """A console block's commands as a shell script (``$ `` stripped)."""
    return '\n'.join(line[2:] if line.startswith('$ ') else line
                     for line in block.splitlines()) + '\n'


def nova_default_filters():
    for opt in nova_scheduler.filter_scheduler_opts:
        if opt.name == 'enabled_filters':
            return list(opt.default)
    raise AssertionError('Nova has no enabled_filters option')


class TestSchedulerSnippet(base.BaseTestCase):

    def snippet(self):
        [ini] = [b for b in guide.blocks(guide.pages()['scheduler'], 'ini')
                 if 'enabled_filters' in b]
        values = {}
        for line in ini.splitlines():
            key, sep, value = line.partition('=')
            if sep and not line.lstrip().startswith('#'):
                values[key.strip()] = value.split('#')[0].strip()
        return values

    def test_filters_append_ours_to_novas_defaults(self):
        enabled = self.snippet()['enabled_filters'].split(',')
        defaults = nova_default_filters()
        self.assertEqual(defaults, enabled[:len(defaults)])
        ours = enabled[len(defaults):]
        self.assertEqual({'VGPUUserLimitFilter', 'VGPUFairShareFilter',
                          'VGPUPlacementFilter', 'VGPUGeometryFilter'},
                         set(ours))
        for name in ours:
            self.assertTrue(hasattr(our_filters, name), name)

    def test_project_weights_are_keyed_by_project_id(self):
        value = self.snippet()['project_weights']
        weights = cfg.types.Dict()(value)
        self.assertTrue(weights)
        for project in weights:
            self.assertRegex(project, r'^[0-9a-f]{32}$')


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class TestPlacementRecipe(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        if shutil.which('gunicorn', path=self.path()) is None:
            self.skipTest('gunicorn is not installed (test-requirements)')
        self.tmp = tempfile.mkdtemp(dir=scratch.scratch_dir())
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    @staticmethod
    def path():
        return os.pathsep.join([os.path.dirname(sys.executable),
                                os.environ.get('PATH', '')])

    def start(self, script, port):
        env = dict(os.environ, PATH=self.path(), HOME=self.tmp,
                   TMPDIR=self.tmp)
        # The gunicorn command runs in the foreground as written: run the
        # script in its own process group, and end the group afterwards.
        process = subprocess.Popen(
            ['bash', '-e', '-c', script], cwd=self.tmp, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.addCleanup(self.stop, process)
        deadline = time.monotonic() + START_TIMEOUT
        url = 'http://127.0.0.1:%d/' % port
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.fail('the recipe ended (exit %s): %s' % (
                    process.returncode, process.stdout.read().decode()))
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        return env
            except OSError:
                time.sleep(0.5)
        self.fail('Placement did not answer at %s' % url)

    @staticmethod
    def stop(process):
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def test_recipe_as_written(self):
        section = guide.section('placement',
                                'Trying it against a Placement service')
        serve, use = guide.blocks(section, 'console')[:2]
        self.assertNotIn('/home/', serve)
        port = free_port()
        script = console_script(serve).replace('8778', str(port))
        # Installed already (test-requirements); no network in CI.
        script = script.replace('pip install gunicorn\n', '')
        env = self.start(script, port)
        sync = console_script(use).splitlines()
        sync = '\n'.join(line for line in sync if not line.startswith(
            'openstack') and 'resource provider list' not in line)
        sync = sync.replace('8778', str(port)).replace(
            'etc/gpuvirt-nova/', os.path.join(REPO, 'etc', 'gpuvirt-nova',
                                              ''))
        result = subprocess.run(['bash', '-e', '-c', sync], cwd=self.tmp,
                                env=env, capture_output=True, text=True,
                                timeout=600)
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertIn('train01_pci_', result.stdout)
        self.assertTrue(os.path.exists(os.path.join(
            self.tmp, *[p for p in os.listdir(self.tmp)
                        if p.startswith('tmp')][:1], 'placement.sqlite')))

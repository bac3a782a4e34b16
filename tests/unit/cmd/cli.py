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

"""Run the ``gpuvirt-nova`` app in the test's process, isolated.

One fixture for every command test: the host's own configuration files
are not read, the global configuration is reset afterwards, and
``cli(*argv)`` returns (exit code, stdout, stderr).
"""

import io

import fixtures
from oslo_config import cfg

from gpuvirt_nova.cmd import main


class CliFixture(fixtures.Fixture):

    def _setUp(self):
        # The app loads the global configuration; no test may leak it.
        self.addCleanup(cfg.CONF.reset)
        # The host's own /etc files must not leak into tests.
        self.useFixture(fixtures.MonkeyPatch(
            'gpuvirt_nova.cmd.main.DEFAULT_CONFIG_FILES', ()))

    @staticmethod
    def cli(*argv):
        """Run ``gpuvirt-nova ARGV``: (exit code, stdout, stderr)."""
        out, err = io.StringIO(), io.StringIO()
        with fixtures.MonkeyPatch('sys.stdout', out), \
                fixtures.MonkeyPatch('sys.stderr', err):
            app = main.GpuvirtApp()
            app.stdout, app.stderr = out, err
            rc = app.run([str(a) for a in argv])
        return rc, out.getvalue(), err.getvalue()

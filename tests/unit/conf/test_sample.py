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

"""The shipped configuration sample must match the options in the code."""

import os
import subprocess
import sys
import tempfile

from oslotest import base

from gpuvirt_nova.conf import opts

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))
SAMPLE = os.path.join(REPO, 'etc', 'gpuvirt-nova', 'gpuvirt-nova.conf.sample')
GENERATOR_CONF = os.path.join(REPO, 'etc', 'oslo-config-generator',
                              'gpuvirt-nova.conf')


class TestConfigSample(base.BaseTestCase):

    def test_every_option_has_help(self):
        for group, options in opts.list_opts():
            for opt in options:
                self.assertTrue(opt.help, '%s.%s has no help text'
                                % (group.name, opt.name))

    def test_sample_is_current(self):
        # NOTE: regenerate with `tox -e genconfig` when this fails.
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, 'sample')
            subprocess.run(
                [sys.executable, '-m', 'oslo_config.generator',
                 '--config-file', GENERATOR_CONF, '--output-file', out],
                check=True, cwd=REPO)
            with open(out) as fresh, open(SAMPLE) as shipped:
                self.assertEqual(
                    fresh.read(), shipped.read(),
                    'etc/gpuvirt-nova/gpuvirt-nova.conf.sample is stale: '
                    'run "tox -e genconfig"')

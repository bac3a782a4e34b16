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

"""tools/bootstrap.sh waits for the dpkg lock instead of failing at once."""

import hashlib
import os
import subprocess

import fixtures
from oslotest import base

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

#: Stands in for Debian's tools: every package is missing; apt-get fails
#: as it does when another apt holds the lock, unless told to wait.
STUB = """#!/bin/sh
echo "$0 $*" >> "{log}"
case "$0" in
  */dpkg) exit 1 ;;
  */apt-get) case "$*" in *DPkg::Lock::Timeout=*) exit 0 ;; esac
             echo "E: Could not get lock /var/lib/dpkg/lock-frontend" >&2
             exit 100 ;;
esac
exit 0
"""


class TestBootstrapAptLock(base.BaseTestCase):

    def test_both_apt_calls_wait_for_the_lock(self):
        tmp = self.useFixture(fixtures.TempDir()).path
        log = os.path.join(tmp, 'calls.log')
        stubs = os.path.join(tmp, 'bin')
        os.makedirs(stubs)
        for name in ('dpkg', 'apt-get', 'sudo'):
            path = os.path.join(stubs, name)
            with open(path, 'w') as f:
                f.write(STUB.format(log=log))
            os.chmod(path, 0o755)
        # A virtualenv that is already up to date: only apt is exercised.
        venv = os.path.join(tmp, 'venv')
        os.makedirs(os.path.join(venv, 'bin'))
        os.symlink('/bin/true', os.path.join(venv, 'bin', 'python'))
        digest = hashlib.sha256()
        for name in ('requirements.txt', 'test-requirements.txt',
                     'setup.cfg'):
            with open(os.path.join(REPO, name), 'rb') as f:
                digest.update(f.read())
        with open(os.path.join(venv, '.gpuvirt-requirements.sha256'),
                  'w') as f:
            f.write(digest.hexdigest() + '\n')
        env = dict(os.environ, PATH=stubs + os.pathsep + os.environ['PATH'],
                   GPUVIRT_VENV=venv, GPUVIRT_APT_LOCK_TIMEOUT='7')
        done = subprocess.run(['bash', os.path.join(REPO, 'tools',
                                                    'bootstrap.sh')],
                              env=env, capture_output=True, text=True)
        self.assertEqual(0, done.returncode, done.stderr)
        self.assertIn('waiting up to 7s for the dpkg lock', done.stdout)
        with open(log) as f:
            apt = [line for line in f if '/apt-get ' in line]
        self.assertEqual(2, len(apt), apt)
        for line in apt:
            self.assertIn('DPkg::Lock::Timeout=7', line)

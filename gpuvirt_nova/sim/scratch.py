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

"""Throwaway simulated hosts, built where building them is cheap.

A simulated host is thousands of small files; on tmpfs (``/dev/shm``) it
is built about twenty times faster than on a journaling disk file system.
Tests (:mod:`tests.sim_fixture`) and commands that need a host only
for the length of one call (``discover --simulate``) build it here;
hosts a user asked to keep (``--sim-root``, ``[gpuvirt] state_dir``) stay
where the user put them.
"""

import contextlib
import os
import shutil
import tempfile

#: Environment variable naming the directory throwaway hosts go under.
TMPDIR_ENV = 'GPUVIRT_SIM_TMPDIR'
_RAM_DISK = '/dev/shm'


def scratch_dir():
    """The directory to build throwaway hosts under, or None.

    ``$GPUVIRT_SIM_TMPDIR`` when set, else a writable RAM disk, else None
    (the system's temporary directory).
    """
    override = os.environ.get(TMPDIR_ENV)
    if override:
        return override
    if os.path.isdir(_RAM_DISK) and os.access(_RAM_DISK, os.W_OK):
        return _RAM_DISK
    return None


@contextlib.contextmanager
def scratch_root(prefix='gpuvirt-sim-'):
    """Yield a new empty directory under ``scratch_dir()``; remove it after."""
    root = tempfile.mkdtemp(prefix=prefix, dir=scratch_dir())
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)

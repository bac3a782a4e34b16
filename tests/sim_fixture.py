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

"""A test fixture: a simulated host in a temporary directory.

For any test that needs GPUs::

    host = self.useFixture(sim_fixture.SimulatedHostFixture(
        '2xA100-PCIE-40GB:mig')).host

The directory goes away when the test ends.
"""

import fixtures

from gpuvirt_nova.sim import host as host_mod
from gpuvirt_nova.sim import scratch

#: Environment variable naming the directory simulated hosts go under.
TMPDIR_ENV = scratch.TMPDIR_ENV
#: Where tests build simulated hosts: a RAM disk when there is one.
scratch_dir = scratch.scratch_dir


class SimulatedHostFixture(fixtures.Fixture):
    """Creates ``self.host`` (a SimulatedHost) from a spec in a temp dir."""

    def __init__(self, spec='2xA100-PCIE-40GB:mig'):
        super().__init__()
        self.spec = spec
        self.host = None

    def _setUp(self):
        root = self.useFixture(fixtures.TempDir(rootdir=scratch_dir())).path
        self.host = host_mod.SimulatedHost.create(root, self.spec)

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

"""Shared helpers of the layout tests: a simulated host and the CLI."""

import os
import textwrap

import fixtures
from oslotest import base

from gpuvirt_nova.hardware import discover
from gpuvirt_nova.hardware import model
from gpuvirt_nova.layout import apply
from gpuvirt_nova.layout import spec
from gpuvirt_nova.layout import target
from gpuvirt_nova import sim
from tests import sim_fixture
from tests.unit.cmd import cli as cli_fixture

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))
EXAMPLES = os.path.join(REPO, 'etc', 'gpuvirt-nova', 'layouts')

DESIGN_EXAMPLE = textwrap.dedent('''\
    gpu_cluster:
      nodes:
        - host: node01
          gpus:
            - type: A100-40GB
              vgpus:
                - name: vgpu-01
                  memory: 10GB
                  compute: 25%
                - name: vgpu-02
                  memory: 8GB
                  compute: 15%
      scheduler:
        policy: fair-share
        max_jobs_per_user: 3
    ''')


def example_spec(path):
    """The simulator spec an example names in its ``# simulate:`` line."""
    with open(path) as stream:
        for line in stream:
            if line.startswith('# simulate:'):
                return line.split(':', 1)[1].strip()
    raise AssertionError('%s has no "# simulate:" line' % path)


class LayoutTestCase(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir(
            rootdir=sim_fixture.scratch_dir())).path
        self.cli = self.useFixture(cli_fixture.CliFixture()).cli

    def sim_host(self, spec_text, name='sim'):
        return sim.SimulatedHost.create(os.path.join(self.tmp, name),
                                        spec_text)

    @staticmethod
    def read(sim_host):
        return discover.discover_host(sim_host)

    def reader(self, sim_host):
        return lambda: self.read(sim_host)

    def write_layout(self, text, name='layout.yaml'):
        path = os.path.join(self.tmp, name)
        with open(path, 'w') as stream:
            stream.write(textwrap.dedent(text))
        return path

    @staticmethod
    def layout(text):
        return spec.load_text(textwrap.dedent(text))

    def targets(self, layout, sim_host, node='node01'):
        """The Targets ``layout`` (text or Layout) gives ``sim_host``."""
        if isinstance(layout, str):
            layout = self.layout(layout)
        return target.resolve_node(layout.node(node), self.read(sim_host))

    def apply_layout(self, layout, sim_host, node='node01', options=None):
        """Apply ``layout`` to ``sim_host`` as ``layout apply`` does.

        Each step is read back with the per-GPU discovery the command uses.
        """
        return apply.apply(self.targets(layout, sim_host, node),
                           self.reader(sim_host), sim_host.writer(), node,
                           options, read_gpu=self.gpu_reader(sim_host))

    @staticmethod
    def gpu_reader(sim_host):
        return lambda address: discover.discover_host_gpu(sim_host, address)

    @staticmethod
    def state(sim_host):
        """Everything discovery sees, as plain data (for comparisons)."""
        return model.to_dict(discover.discover_host(sim_host).gpus)

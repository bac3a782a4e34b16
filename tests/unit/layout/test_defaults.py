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

"""[gpuvirt_layout] default_vgpu_types: carved by layout, never offered."""

import os

import fixtures
from oslo_config import cfg
from oslo_config import fixture as config_fixture
from oslotest import base

from gpuvirt_nova import conf as gpuvirt_conf
from gpuvirt_nova import exception
from gpuvirt_nova.hardware import discover
from gpuvirt_nova.layout import plan as plan_mod
from gpuvirt_nova.layout import spec
from gpuvirt_nova.layout import target
from tests import sim_fixture
from tests.unit.cmd import cli as cli_fixture

LAYOUT = """
gpu_cluster:
  nodes:
    - host: node01
      gpus:
        - index: [0]
          vgpus:
            - {profile: A100-20C, count: 2}
"""


class TestDefaultTypes(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        sim = self.useFixture(sim_fixture.SimulatedHostFixture(
            '2xA100-PCIE-40GB:vfio')).host
        self.host = discover.discover_host(sim, 'node01')
        self.gpu0, self.gpu1 = sorted(g.address for g in self.host.gpus)

    def types(self, targets):
        return {t.address: sorted(r.type_name for r in t.vgpus)
                for t in targets}

    def test_gpus_no_entry_selects_get_the_default_type_at_its_maximum(self):
        node = spec.load_text(LAYOUT).node('node01')
        targets = target.resolve_node(node, self.host,
                                      {'A100-PCIE-40GB': 'A100-10C'})
        self.assertEqual({self.gpu0: ['A100-20C'] * 2,
                          self.gpu1: ['A100-10C'] * 4},
                         self.types(targets))

    def test_without_defaults_unselected_gpus_are_left_alone(self):
        node = spec.load_text(LAYOUT).node('node01')
        self.assertEqual([self.gpu0], [t.address for t in
                                       target.resolve_node(node, self.host)])

    def test_defaults_alone_plan_the_whole_host(self):
        node = spec.NodeSpec(host='node01', path=target.DEFAULTS_FIELD)
        targets = target.resolve_node(node, self.host,
                                      {'A100-40GB': 'A100-10C'})
        plan = plan_mod.make_plan(targets, self.host)
        self.assertEqual(2, len(targets))
        self.assertTrue(plan.steps)

    def test_a_bad_pair_names_the_option(self):
        node = spec.NodeSpec(host='node01', path=target.DEFAULTS_FIELD)
        exc = self.assertRaises(exception.UsageError, target.resolve_node,
                                node, self.host,
                                {'A100-PCIE-40GB': 'A100-99C'})
        self.assertIn('[gpuvirt_layout] default_vgpu_types', str(exc))
        self.assertIn('A100-99C', str(exc))


class TestDeprecatedGroup(base.BaseTestCase):

    def test_the_placement_group_name_still_works(self):
        conf = cfg.ConfigOpts()
        gpuvirt_conf.register_opts(conf)
        self.useFixture(config_fixture.Config(conf))
        path = self.create_tempfiles([(
            'old', '[gpuvirt_placement]\n'
                   'default_vgpu_types = T4:T4-4Q\n')])[0]
        conf(['--config-file', path])
        self.assertEqual({'T4': 'T4-4Q'},
                         conf.gpuvirt_layout.default_vgpu_types)


class TestDefaultsThroughTheCommands(base.BaseTestCase):
    """No layout file: layout apply carves the defaults, sync reports them."""

    def test_apply_carves_then_placement_is_told(self):
        tmp = self.useFixture(fixtures.TempDir(
            rootdir=sim_fixture.scratch_dir())).path
        cli = self.useFixture(cli_fixture.CliFixture()).cli
        conf = os.path.join(tmp, 'gpuvirt.conf')
        with open(conf, 'w') as f:
            f.write('[gpuvirt_layout]\n'
                    'file = %s\n'
                    'default_vgpu_types = A100-PCIE-40GB:A100-10C\n'
                    % os.path.join(tmp, 'no-such-layout.yaml'))
        root = os.path.join(tmp, 'sim')
        host = ('--simulate', '1xA100-PCIE-40GB:vfio', '--sim-root', root,
                '--host', 'node01')
        sync = ('--config-file', conf, 'placement', 'sync', '--sim-root',
                root, '--host', 'node01', '--state-dir',
                os.path.join(tmp, 'state'), '-f', 'json')

        # Not carved yet: nothing offered.
        rc, out, err = cli('--config-file', conf, 'layout', 'plan', *host)
        self.assertEqual(0, rc, err)
        rc, out, err = cli(*sync)
        self.assertEqual(0, rc, err)
        self.assertNotIn('CUSTOM_VGPU_A100_10C', out)

        rc, out, err = cli('--config-file', conf, 'layout', 'apply',
                           '--force', *host[2:])
        self.assertEqual(0, rc, err)
        rc, out, err = cli('--config-file', conf, 'layout', 'assert',
                           *host[2:])
        self.assertEqual(0, rc, err)
        rc, out, err = cli(*sync)
        self.assertEqual(0, rc, err)
        self.assertIn('CUSTOM_VGPU_A100_10C', out)

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

"""Backend wiring: simulated hosts and the writer ``[gpuvirt]`` picks."""

import os

import fixtures
from oslo_config import cfg
from oslo_config import fixture as config_fixture
from oslotest import base

from gpuvirt_nova import conf
from gpuvirt_nova.conf import backends
from gpuvirt_nova.conf import hardware as hardware_conf
from gpuvirt_nova import exception
from gpuvirt_nova import privsep
from gpuvirt_nova import sim
from tests import sim_fixture

A = '0000:3b:00.0'


class TestDiscoverSimulated(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir(
            rootdir=sim_fixture.scratch_dir())).path

    def test_a_spec_is_built_in_the_scratch_dir_and_removed(self):
        self.useFixture(fixtures.EnvironmentVariable(
            sim_fixture.TMPDIR_ENV, self.tmp))
        roots = []
        create = sim.SimulatedHost.create

        # NOTE: MonkeyPatch keeps a classmethod a classmethod.
        def recording_create(cls, root_dir, spec, replace=False):
            roots.append(root_dir)
            return create(root_dir, spec, replace)
        self.useFixture(fixtures.MonkeyPatch(
            'gpuvirt_nova.sim.SimulatedHost.create', recording_create))
        host = backends.discover_simulated('1xT4:mdev')
        self.assertEqual(['T4'], [g.model for g in host.gpus])
        [root] = roots
        self.assertEqual(self.tmp, os.path.dirname(root))
        self.assertFalse(os.path.exists(root))

    def test_bad_spec_is_a_usage_error(self):
        self.assertRaises(exception.UsageError,
                          backends.discover_simulated, 'bogus')


class TestDiscoverFromConf(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir(
            rootdir=sim_fixture.scratch_dir())).path
        self.conf = self.useFixture(config_fixture.Config(cfg.ConfigOpts()))
        hardware_conf.register_opts(self.conf.conf)
        self.conf.config(group='gpuvirt', state_dir=self.tmp)

    def test_simulated_host_persists_between_calls(self):
        self.conf.config(group='gpuvirt', simulate='1xA100-PCIE-40GB:mig')
        first = backends.discover_from_conf(self.conf.conf)
        self.assertEqual([], first.gpus[0].gpu_instances)
        root = backends.simulated_root(self.conf.conf)
        self.assertTrue(root.startswith(self.tmp))
        sim.SimulatedHost.open(root).writer().create_gpu_instance(
            A, '3g.20gb', 0)
        second = backends.discover_from_conf(self.conf.conf)
        self.assertEqual(['3g.20gb'],
                         [gi.profile for gi in second.gpus[0].gpu_instances])

    def test_unwritable_state_dir_names_the_option(self):
        blocker = os.path.join(self.tmp, 'file')
        with open(blocker, 'w'):
            pass
        self.conf.config(group='gpuvirt', simulate='1xT4:mdev',
                         state_dir=blocker)
        exc = self.assertRaises(exception.UsageError,
                                backends.discover_from_conf, self.conf.conf)
        self.assertIn('[gpuvirt] state_dir: cannot create %s' % blocker,
                      str(exc))

    def test_sysfs_root_and_use_nvml(self):
        sim_host = sim.SimulatedHost.create(self.tmp, '1xT4:mdev')
        self.conf.config(group='gpuvirt', sysfs_root=sim_host.sysfs_root,
                         use_nvml=False)
        host = backends.discover_from_conf(self.conf.conf)
        self.assertEqual(['T4'], [g.model for g in host.gpus])
        self.assertIn('use_nvml is false', host.warnings[0])


class TestDefaultWriter(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.conf = self.useFixture(config_fixture.Config(conf.CONF))

    def test_production_writer_by_default(self):
        self.assertIsInstance(backends.default_writer(),
                              privsep.PrivsepWriter)
        self.assertIsInstance(backends.privsep_writer(),
                              privsep.PrivsepWriter)

    def test_simulated_writer_when_simulating(self):
        state_dir = self.useFixture(fixtures.TempDir(
            rootdir=sim_fixture.scratch_dir())).path
        self.conf.config(group='gpuvirt', simulate='T4:mdev@node03',
                         state_dir=state_dir)
        writer = backends.default_writer()
        self.assertEqual('node03', writer.host.hostname)
        self.assertTrue(writer.host.root.startswith(state_dir))
        self.assertEqual(writer.host.root,
                         backends.default_writer().host.root)

    def test_writer_and_discovery_share_the_simulated_host(self):
        state_dir = self.useFixture(fixtures.TempDir(
            rootdir=sim_fixture.scratch_dir())).path
        self.conf.config(group='gpuvirt', simulate='1xA100-PCIE-40GB:mig',
                         state_dir=state_dir)
        backends.default_writer().create_gpu_instance(A, '3g.20gb', 0)
        host = backends.discover_from_conf(conf.CONF)
        self.assertEqual(['3g.20gb'],
                         [gi.profile for gi in host.gpus[0].gpu_instances])

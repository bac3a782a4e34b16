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

import fixtures
from oslo_config import fixture as config_fixture
from oslotest import base

from gpuvirt_nova import conf
from gpuvirt_nova.virt import hardware


class TestFromConf(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.conf = self.useFixture(config_fixture.Config(conf.CONF))
        self.state_dir = self.useFixture(fixtures.TempDir()).path

    def test_real_host_reads_sysfs_root(self):
        source = hardware.from_conf(conf.CONF, 'node1')
        self.assertIsInstance(source, hardware.RealHardware)
        self.assertEqual('/', source.sysfs_root)

    def test_each_compute_host_gets_its_own_simulated_gpus(self):
        self.conf.config(simulate='1xA100-PCIE-40GB:vfio',
                         state_dir=self.state_dir, group='gpuvirt')
        one = hardware.from_conf(conf.CONF, 'node1')
        two = hardware.from_conf(conf.CONF, 'node2')
        gpu = one.discover().gpus[0]
        one.writer().write_sysfs(
            '/sys/bus/pci/devices/%s/sriov_numvfs' % gpu.address, '0')
        self.assertEqual([], one.discover().gpus[0].vfs)
        self.assertNotEqual([], two.discover().gpus[0].vfs)
        # Reopened, not recreated: state survives.
        again = hardware.from_conf(conf.CONF, 'node1')
        self.assertEqual([], again.discover().gpus[0].vfs)

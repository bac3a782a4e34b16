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

"""The mdev door: libvirt node devices on real hosts, persisted."""

import os

import fixtures
from oslotest import base

from gpuvirt_nova.hardware import discover
from gpuvirt_nova.layout import mdevs
from gpuvirt_nova import sim
from tests import sim_fixture
from tests.unit.cmd import cli as cli_fixture

UUID = '8a5d3c5e-2c9f-4a6e-9d3c-3f1f1c2b9a01'


class _Recorder(object):
    """Records the libvirt node-device calls made (the API's shape)."""

    def __init__(self, persistent=True):
        self.calls = []
        self.persistent = persistent

    def nodeDeviceDefineXML(self, xml, flags):
        self.calls.append(('define', mdevs.parse_mdev_nodedev(xml)))
        return self

    def nodeDeviceLookupByName(self, name):
        self.calls.append(('lookup', name))
        return self

    def create(self):
        self.calls.append(('create',))

    def setAutostart(self, value):
        self.calls.append(('autostart', value))

    def isActive(self):
        return True

    def isPersistent(self):
        return self.persistent

    def destroy(self):
        self.calls.append(('destroy',))

    def undefine(self):
        self.calls.append(('undefine',))


class TestLibvirtMdevs(base.BaseTestCase):

    def test_created_defined_started_and_autostarted(self):
        conn = _Recorder()
        mdevs.LibvirtMdevs(lambda: conn).create('0000:3b:00.4', 'nvidia-692',
                                                UUID)
        self.assertEqual(
            [('define', (UUID, '0000:3b:00.4', 'nvidia-692')), ('create',),
             ('autostart', 1)], conn.calls)

    def test_removed_persistently(self):
        conn = _Recorder()
        mdevs.LibvirtMdevs(lambda: conn).remove('0000:3b:00.4', UUID)
        self.assertEqual(
            [('lookup', 'mdev_%s_pci_0000_3b_00_4' % UUID.replace('-', '_')),
             ('destroy',), ('undefine',)], conn.calls)

    def test_a_transient_mdev_is_only_stopped(self):
        conn = _Recorder(persistent=False)
        mdevs.LibvirtMdevs(lambda: conn).remove('0000:3b:00.4', UUID)
        self.assertNotIn(('undefine',), conn.calls)

    def test_node_device_xml_round_trip(self):
        xml = mdevs.mdev_nodedev('aaaa', '0000:3b:00.4', 'nvidia-692')
        self.assertIn('<parent>pci_0000_3b_00_4</parent>', xml)
        self.assertEqual(('aaaa', '0000:3b:00.4', 'nvidia-692'),
                         mdevs.parse_mdev_nodedev(xml))


class TestSimulatedMdevs(base.BaseTestCase):

    def test_created_mdevs_survive_a_reboot_removed_ones_do_not(self):
        sim = self.useFixture(sim_fixture.SimulatedHostFixture(
            '1xT4:mdev')).host
        gpu = discover.discover_host(sim).gpus[0]
        mdev_type = gpu.mdev_types[0].mdev_type
        door = mdevs.SimulatedMdevs(sim)
        door.create(gpu.address, mdev_type, UUID)
        other = UUID.replace('8a5d', '9b6e')
        door.create(gpu.address, mdev_type, other)
        door.remove(gpu.address, other)
        sim.reboot()
        self.assertEqual([UUID], [m.uuid for m in
                                  discover.discover_host(sim).gpus[0].mdevs])


class TestLayoutApplyPersistsMdevs(base.BaseTestCase):

    def test_mdevs_layout_apply_made_come_back_after_a_reboot(self):
        tmp = self.useFixture(fixtures.TempDir(
            rootdir=sim_fixture.scratch_dir())).path
        path = os.path.join(tmp, 'layout.yaml')
        with open(path, 'w') as f:
            f.write('gpu_cluster:\n'
                    '  nodes:\n'
                    '    - host: node01\n'
                    '      gpus:\n'
                    '        - type: T4\n'
                    '          vgpus:\n'
                    '            - {profile: T4-4Q, count: 2}\n')
        root = os.path.join(tmp, 'sim')
        cli = self.useFixture(cli_fixture.CliFixture()).cli
        rc, out, err = cli('layout', 'apply', path, '--simulate', '1xT4:mdev',
                           '--sim-root', root, '--host', 'node01')
        self.assertEqual(0, rc, err)
        sim_host = sim.SimulatedHost.open(root)
        made = {m.uuid for m in discover.discover_host(sim_host).gpus[0].mdevs}
        self.assertEqual(2, len(made))
        sim_host.reboot()
        self.assertEqual(made, {m.uuid for m in discover.discover_host(
            sim_host).gpus[0].mdevs})
        rc, out, err = cli('layout', 'assert', path, '--sim-root', root,
                           '--host', 'node01')
        self.assertEqual(0, rc, err)

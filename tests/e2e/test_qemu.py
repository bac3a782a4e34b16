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

"""A server without a GPU on the mini cloud's real libvirtd and QEMU."""

import os
import shutil

from tests.e2e import base
from tools.minicloud import cloud as minicloud
from tools.minicloud import configs

HOST = configs.QEMU_HOST
#: A small flavor without a vGPU (QEMU really allocates its memory).
FLAVOR = 'e2e.plain'


class QemuHostTests(base.MiniCloudTestCase):

    def setUp(self):
        super().setUp()
        skipped = os.path.join(self.state, minicloud.QEMU_SKIPPED)
        if os.path.exists(skipped):
            with open(skipped) as f:
                self.skipTest('no %s in this mini cloud: %s'
                              % (HOST, f.read().strip()))
        import libvirt
        libvirt.registerErrorHandler(lambda *args: None, None)
        self.libvirt = libvirt
        uri = 'qemu+unix:///system?socket=%s' % os.path.join(
            self.state, 'libvirt', 'sock', 'libvirt-sock')
        self.conn = libvirt.open(uri)
        self.addCleanup(self.conn.close)

    def test_server_without_gpu_boots_through_our_driver(self):
        if not any(f['Name'] == FLAVOR
                   for f in self.openstack('flavor', 'list')):
            self.openstack('flavor', 'create', '--ram', '128', '--disk', '1',
                           '--vcpus', '1', FLAVOR)
        server = self.openstack(
            '--os-compute-api-version', '2.74', 'server', 'create',
            '--flavor', FLAVOR, '--image', base.IMAGE, '--nic', 'none',
            '--host', HOST, 'e2e-qemu')
        self.addCleanup(self.delete_quietly, server['id'])
        server = self.settle(server['id'])
        self.assertEqual('ACTIVE', server['status'], server.get('fault'))
        self.assertEqual(HOST, server['OS-EXT-SRV-ATTR:host'])
        # The guest is a QEMU process of the real libvirtd, no device added.
        dom = self.conn.lookupByUUIDString(server['id'])
        self.assertTrue(dom.isActive())
        xml = dom.XMLDesc(0)
        self.assertNotIn('<hostdev', xml)
        pid_file = os.path.join(self.state, 'libvirt', 'run', 'qemu',
                                '%s.pid' % dom.name())
        with open(pid_file) as f:
            pid = int(f.read())
        with open('/proc/%d/comm' % pid) as f:
            self.assertTrue(f.read().startswith('qemu'))
        # Its allocation is the compute node's alone (a real libvirt names
        # the node after the machine): no GPU provider, no vGPU class.
        allocations = self.allocations(server['id'])
        self.assertEqual(1, len(allocations), allocations)
        self.assertEqual({'VCPU': 1, 'MEMORY_MB': 128, 'DISK_GB': 1},
                         allocations.popitem()[1])
        # Nova's and our privileged helpers started, with no sudo here.
        with open(os.path.join(self.state, 'logs', '%s.log' % HOST)) as f:
            log = f.read()
        self.assertIn('privsep-helper starts directly, without sudo', log)
        self.assertIn('privsep daemon running as pid', log)
        self.record('server-show-qemu.txt', '%s\nsudo on PATH: %s\n' % (
            self.openstack('server', 'show', server['id'], '-c', 'name',
                           '-c', 'status', '-c', 'OS-EXT-SRV-ATTR:host',
                           '-c', 'OS-EXT-SRV-ATTR:instance_name', fmt=None),
            shutil.which('sudo') or 'none'))

        self.delete(server['id'])
        self.assertRaises(self.libvirt.libvirtError,
                          self.conn.lookupByUUIDString, server['id'])
        self.assertFalse(os.path.exists('/proc/%d' % pid))

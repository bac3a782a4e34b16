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

"""vGPU servers on the mini cloud, driven by the ``openstack`` CLI."""

import datetime
import json
import os
import time

from gpuvirt_nova.cmd import common
from gpuvirt_nova.virt import assign
from tests.e2e import base

#: Keys of ``flavor sync -f json`` rows.
FLAVOR = common.column_key('Flavor')
ACTION = common.column_key('Action')

#: Small flavors: the fake hosts have 16 GB and 16 CPUs.
FLAVOR_SIZE = ('--ram', '512', '--disk', '1', '--vcpus', '1')
#: Per type: the flavor ``flavor sync`` makes and the host that has it.
TIME_SLICED = ('vgpu.a100-10c', 'A100-10C', 'compute-vfio')
MIG_BACKED = ('vgpu.a100-2-10c', 'A100-2-10C', 'compute-mig')
HOSTS = ('compute-vfio', 'compute-mig')
#: The type both hosts offer (tools/minicloud/configs.py), and its flavor.
SHARED = ('vgpu.a100-20c', 'A100-20C')
#: Host-targeted cold migration needs compute API 2.56.
COMPUTE_API = ('--os-compute-api-version', '2.56')


class VgpuServerTests(base.MiniCloudTestCase):

    def setUp(self):
        super().setUp()
        self.sync_flavors()

    def sync_flavors(self):
        out = self.gpuvirt_nova('flavor', 'sync', '--os-cloud', base.ADMIN,
                                *FLAVOR_SIZE, '-f', 'json')
        return {row[FLAVOR]: row for row in json.loads(out)}

    def audit(self, hostname):
        """``placement audit`` of one host: (exit 0?, its rows)."""
        root = '%s/%s/nova-sim/%s' % (self.state, hostname, hostname)
        try:
            out = self.gpuvirt_nova(
                'placement', 'audit', '--os-cloud', base.ADMIN, '--host',
                hostname, '--sim-root', root, '-f', 'json')
        except base.CommandFailed as exc:
            return False, str(exc)
        return True, json.loads(out)

    def assert_on_its_gpu(self, server, flavor, type_name, hostname):
        """The server is on ``hostname``, its one VF on the allocated GPU.

        The VF carries the flavor's type; returns its address.
        """
        self.assertEqual('ACTIVE', server['status'], server.get('fault'))
        self.assertEqual(hostname, server['OS-EXT-SRV-ATTR:host'])
        allocations = self.allocations(server['id'])
        rc = 'CUSTOM_VGPU_%s' % type_name.replace('-', '_')
        gpu_rps = [name for name, res in allocations.items() if rc in res]
        self.assertEqual(1, len(gpu_rps), allocations)
        self.assertTrue(gpu_rps[0].startswith(hostname + '_pci_'),
                        gpu_rps)
        self.assertEqual(1, allocations[gpu_rps[0]][rc])
        devices = self.domain_devices(hostname, server['id'])
        self.assertEqual(1, len(devices), devices)
        kind, address = devices.pop()
        self.assertEqual(assign.KIND_VF, kind)
        self.assertEqual((gpu_rps[0], type_name),
                         self.vf_home(hostname, address))
        return address

    def test_flavor_sync_creates_the_vgpu_flavors(self):
        rows = self.sync_flavors()
        for flavor, type_name, _ in (TIME_SLICED, MIG_BACKED):
            self.assertIn(flavor, rows)
            shown = self.openstack('flavor', 'show', flavor)
            rc = 'CUSTOM_VGPU_%s' % type_name.replace('-', '_')
            self.assertEqual('1', shown['properties']['resources:%s' % rc])
            self.assertEqual(
                'required',
                shown['properties']['trait:CUSTOM_GPUVIRT_MANAGED'])
        # A second sync changes nothing.
        self.assertEqual({'unchanged'},
                         {row[ACTION] for row in rows.values()})

    def test_time_sliced_and_mig_servers_go_active_on_their_gpu(self):
        carved = {h: self.host_hardware(h) for h in HOSTS}
        servers = {}
        for flavor, type_name, hostname in (TIME_SLICED, MIG_BACKED):
            server = self.boot('e2e-%s' % type_name.lower(), flavor)
            self.assert_on_its_gpu(server, flavor, type_name, hostname)
            servers[server['id']] = hostname
            self.record('server-show-%s.txt' % type_name, self.openstack(
                'server', 'show', server['id'], '-c', 'name', '-c', 'status',
                '-c', 'OS-EXT-SRV-ATTR:host', '-c', 'flavor', fmt=None))
            self.record('allocation-show-%s.txt' % type_name, self.openstack(
                'resource', 'provider', 'allocation', 'show', server['id'],
                fmt=None) + ''.join(
                    '%s: %s\n' % item for item in sorted(
                        self.allocations(server['id']).items())))
        for server_id in servers:
            self.delete(server_id)
        for server_id, hostname in servers.items():
            self.assertEqual([], self.openstack(
                'resource', 'provider', 'allocation', 'show', server_id))
            self.assertEqual(set(), self.used_devices(hostname))
        for hostname in HOSTS:
            self.assertEqual(self.vf_types(carved[hostname]),
                             self.vf_types(self.host_hardware(hostname)))
            clean, rows = self.audit(hostname)
            self.assertTrue(clean, rows)

    def test_user_at_max_jobs_per_user_gets_a_fault_naming_the_cap(self):
        flavor = TIME_SLICED[0]
        for index in range(3):
            server = self.boot('e2e-alice-%d' % index, flavor,
                               cloud=base.ALICE)
            self.assertEqual('ACTIVE', server['status'],
                             server.get('fault'))
        refused = self.boot('e2e-alice-over', flavor, cloud=base.ALICE)
        self.assertEqual('ERROR', refused['status'])
        message = refused['fault']['message']
        self.assertIn('max_jobs_per_user is 3', message)
        self.assertIn('holds 3 vGPU(s)', message)
        self.record('fault-max-jobs-per-user.txt', message + '\n')

    def test_compute_restart_keeps_every_guest_device(self):
        before = {}
        for flavor, type_name, hostname in (TIME_SLICED, MIG_BACKED):
            server = self.boot('e2e-restart-%s' % type_name.lower(), flavor)
            vf = self.assert_on_its_gpu(server, flavor, type_name, hostname)
            before[server['id']] = (hostname, vf,
                                    self.allocations(server['id']))
        restarted = datetime.datetime.utcnow()
        for hostname in HOSTS:
            self.minicloud('restart', hostname)
        self.wait_computes_reported_since(restarted)
        for server_id, (hostname, vf, allocations) in before.items():
            server = self.settle(server_id)
            self.assertEqual('ACTIVE', server['status'])
            self.assertEqual({(assign.KIND_VF, vf)},
                             self.domain_devices(hostname, server_id))
            self.assertEqual(allocations, self.allocations(server_id))
        # The restarted driver knows which VFs its guests hold: a new
        # guest of the same type gets another one.
        flavor, type_name, hostname = TIME_SLICED
        server = self.boot('e2e-after-restart', flavor)
        vf = self.assert_on_its_gpu(server, flavor, type_name, hostname)
        self.assertNotIn(vf, {v for h, v, _ in before.values()})

    def test_cold_migration_moves_the_vgpu_to_the_other_host(self):
        server, source, dest = self.boot_on_either_host('e2e-cold')
        self.openstack(*COMPUTE_API, 'server', 'migrate', '--wait',
                       server['id'], fmt=None)
        resized = self.settle(server['id'], states=('VERIFY_RESIZE',
                                                    'ERROR'))
        self.assertEqual('VERIFY_RESIZE', resized['status'],
                         resized.get('fault'))
        self.openstack('server', 'migration', 'confirm', server['id'],
                       fmt=None)
        self.assert_moved(server['id'], source, dest)

    def test_live_migration_moves_the_vgpu_to_the_named_host(self):
        server, source, dest = self.boot_on_either_host('e2e-live')
        self.openstack(*COMPUTE_API, 'server', 'migrate', '--live-migration',
                       '--host', dest, '--wait', server['id'], fmt=None)
        self.assert_moved(server['id'], source, dest)
        self.record('server-show-live-migrated.txt', self.openstack(
            'server', 'show', server['id'], '-c', 'name', '-c', 'status',
            '-c', 'OS-EXT-SRV-ATTR:host', '-c', 'flavor', fmt=None))
        self.record('allocation-show-live-migrated.txt', self.openstack(
            'resource', 'provider', 'allocation', 'show', server['id'],
            fmt=None) + ''.join('%s: %s\n' % item for item in sorted(
                self.allocations(server['id']).items())))

    # -- helpers --------------------------------------------------------------

    def boot_on_either_host(self, name):
        """A server of the type both hosts offer: (server, source, dest)."""
        flavor, type_name = SHARED
        server = self.boot(name, flavor)
        source = server['OS-EXT-SRV-ATTR:host']
        self.assertIn(source, HOSTS)
        self.assert_on_its_gpu(server, flavor, type_name, source)
        dest, = set(HOSTS) - {source}
        return server, source, dest

    def assert_moved(self, server_id, source, dest):
        """ACTIVE on ``dest`` with a device there; nothing left on source."""
        flavor, type_name = SHARED
        server = self.settle(server_id)
        self.assert_on_its_gpu(server, flavor, type_name, dest)
        allocations = self.allocations(server_id)
        self.assertEqual([], [rp for rp in allocations
                              if rp == source or rp.startswith(source + '_')],
                         allocations)
        self.assertEqual(set(), self.used_devices(source))
        for hostname in HOSTS:
            clean, rows = self.audit(hostname)
            self.assertTrue(clean, rows)

    def vf_types(self, host):
        return {vf.address: vf.current_vgpu_type for gpu in host.gpus
                for vf in gpu.vfs if vf.current_vgpu_type}

    def used_devices(self, hostname):
        store = os.path.join(self.state, hostname, 'fake-libvirt')
        keys = set()
        for name in os.listdir(store):
            keys |= self.domain_devices(hostname, name[:-len('.json')])
        return keys

    def wait_computes_reported_since(self, moment):
        """Until both computes have reported state after ``moment`` (UTC).

        A nova-compute reports only once its init_host is done.
        """
        deadline = time.monotonic() + base.BOOT_TIMEOUT
        while time.monotonic() < deadline:
            rows = self.openstack('compute', 'service', 'list',
                                  '--service', 'nova-compute')
            fresh = {r['Host'] for r in rows
                     if r['State'] == 'up' and r['Updated At'] and
                     datetime.datetime.fromisoformat(
                         r['Updated At'][:19]) > moment}
            if fresh >= set(HOSTS):
                return
            time.sleep(3)
        self.fail('computes did not report after their restart')

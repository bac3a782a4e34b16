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

"""GPU state integrity on the compute node, through Nova's own fixtures.

One owner per device (the carve belongs to ``layout apply``; guests only
borrow devices), inventory from the hardware as carved now, one reconcile
rule that never writes below usage, and a node that never goes down over
one GPU's surprise.
"""

import threading

import fixtures
from nova.tests.fixtures import libvirt as fakelibvirt

from gpuvirt_nova.demo import nova as inprocess
from gpuvirt_nova.layout import plan as plan_mod
from gpuvirt_nova.layout import spec as layout_spec
from gpuvirt_nova.layout import target as target_mod
from gpuvirt_nova.placement import naming
from gpuvirt_nova.virt import assign
from tests.functional import base

RC_2_10C = naming.resource_class('A100-2-10C')
RC_3_20C = naming.resource_class('A100-3-20C')
RC_7_40C = naming.resource_class('A100-7-40C')
RC_1_5C = naming.resource_class('A100-1-5C')

#: GPU 1 carved whole (one 7g.40gb) instead of two 3g.20gb.
LAYOUT_GPU1_WHOLE = inprocess.layout_text(('index: [0]', 'A100-2-10C', 3),
                                          ('index: [1]', 'A100-7-40C', 1))


class _Base(base.GpuvirtTestBase):

    def cpu_flavor(self):
        return self._create_flavor(memory_mb=512, vcpu=1, disk=1,
                                   ephemeral=0)

    def inventory(self, hostname, gpu_index):
        return self._get_provider_inventory(
            self.gpu_rp_uuid(hostname, gpu_index))

    def assert_fully_reserved(self, inventory):
        for rc, record in inventory.items():
            self.assertEqual(record['total'], record['reserved'], rc)

    def assert_cpu_only_server_boots(self, hostname):
        server = self._create_server(flavor_id=self.cpu_flavor(),
                                     networks='none', host=hostname)
        self.assertEqual(hostname, server['OS-EXT-SRV-ATTR:host'])
        return server


class MigHostTests(_Base):
    """Two A100s carved 3 x 2g.10gb and 2 x 3g.20gb (the default LAYOUT)."""

    def setUp(self):
        super().setUp()
        self.start_gpu_compute('host1')

    def test_a_type_leaving_while_in_use_never_takes_the_node_down(self):
        server = self._create_server(
            flavor_id=self.vgpu_flavor('A100-3-20C'), networks='none')
        # The operator forces another carve on GPU 1 while a guest still
        # holds a 3g.20gb vGPU there: the hardware now offers one
        # A100-7-40C, and Placement holds an A100-3-20C allocation.
        self.carve('host1', LAYOUT_GPU1_WHOLE)
        self._run_periodics()

        inventory = self.inventory('host1', 1)
        # Never lowered below usage: kept, fully reserved.
        self.assertGreaterEqual(inventory[RC_3_20C]['total'], 1)
        self.assert_fully_reserved(inventory)
        # The new type is there but offers nothing while the old guest
        # fills the GPU.
        self.assertIn(RC_7_40C, inventory)
        self._create_server(flavor_id=self.vgpu_flavor('A100-7-40C'),
                            networks='none', expected_state='ERROR')

        # Every other claim on the host still works, and the compute
        # service comes back after a restart.
        self.assert_cpu_only_server_boots('host1')
        self.restart_compute_service('host1')
        self._run_periodics()
        self.assert_cpu_only_server_boots('host1')
        self._create_server(flavor_id=self.vgpu_flavor('A100-2-10C'),
                            networks='none')

        # Once the old guest is gone the new carve is offered.
        self._delete_server(server)
        self._run_periodics()
        inventory = self.inventory('host1', 1)
        self.assertEqual({RC_7_40C}, set(inventory))
        self.assertEqual(0, inventory[RC_7_40C]['reserved'])
        self._create_server(flavor_id=self.vgpu_flavor('A100-7-40C'),
                            networks='none')

    def test_an_unapplied_layout_changes_no_inventory(self):
        before = self.inventory('host1', 0)
        # The layout file asks 7 x 1g.5gb of GPU 0; nobody applied it.
        layout = self.layout_file('host1', self.LAYOUT.replace(
            'A100-2-10C, count: 3', 'A100-1-5C, count: 7'))
        self.flags(file=layout, group='gpuvirt_layout')
        self.computes['host1'].manager.rt.reportclient \
            .clear_provider_cache()
        self._run_periodics()
        after = self.inventory('host1', 0)
        self.assertEqual(before, after)
        self.assertNotIn(RC_1_5C, after)
        self.assertEqual(3, after[RC_2_10C]['total'])
        self._create_server(flavor_id=self.vgpu_flavor('A100-2-10C'),
                            networks='none')

    def test_an_unknown_type_id_on_one_vf_leaves_the_host_working(self):
        gpu0 = self.hardware('host1').gpu(self.gpu_address('host1', 0))
        free_vf = next(vf.address for vf in gpu0.vfs
                       if not vf.current_vgpu_type)
        # A driver newer than our catalog (or a hand) typed a VF.
        self.sims['host1'].force_vf_type_id(free_vf, 1145)
        self._run_periodics()
        # The rest of the host works: the other GPU, CPU-only servers, a
        # restart of the compute service.
        server = self._create_server(
            flavor_id=self.vgpu_flavor('A100-3-20C'), networks='none')
        self.assertEqual(1, len(self.domain_keys('host1', server)))
        self.assert_cpu_only_server_boots('host1')
        self.restart_compute_service('host1')
        self.assert_cpu_only_server_boots('host1')
        # That GPU's provider offers nothing new, and the log says why.
        self.assert_fully_reserved(self.inventory('host1', 0))
        self._create_server(flavor_id=self.vgpu_flavor('A100-2-10C'),
                            networks='none', expected_state='ERROR')
        self.assertIn('GPU %s is not offered' % gpu0.address,
                      self.stdlog.logger.output)
        self.assertIn('nvidia-1145', self.stdlog.logger.output)


class TimeSlicedHostTests(_Base):
    """One A100 carved as ten time-sliced A100-4C VFs (vendor VFIO)."""

    SIM_SPEC = '1xA100-PCIE-40GB:vfio'
    LAYOUT = inprocess.layout_text(('type: A100-PCIE-40GB', 'A100-4C', 10))

    def layout_steps(self, hostname):
        """Steps ``layout assert`` would report for the host's layout."""
        layout = layout_spec.load_file(self.layout_file(hostname))
        host = self.hardware(hostname)
        targets = target_mod.resolve_node(layout.node(hostname), host)
        return plan_mod.make_plan(targets, host).steps

    def test_deleted_servers_leave_offers_and_the_layout_unchanged(self):
        self.start_gpu_compute('host1')
        rc = naming.resource_class('A100-4C')
        carve = self.carve_state('host1')
        flavor = self.vgpu_flavor('A100-4C')
        servers = [self._create_server(flavor_id=flavor, networks='none')
                   for _ in range(3)]
        for server in servers:
            self._delete_server(server)
        self._run_periodics()
        inventory = self.inventory('host1', 0)
        self.assertEqual(10, inventory[rc]['total'])
        self.assertEqual(0, inventory[rc]['reserved'])
        self.assertEqual(carve, self.carve_state('host1'))
        self.assertEqual([], list(self.layout_steps('host1')))

    def test_ten_concurrent_boots_never_share_a_device(self):
        self.start_gpu_compute('host1')
        driver = self.computes['host1'].driver
        # Every spawn waits in libvirt's define until all ten have chosen
        # their device, so ten claims are open at once when each one
        # chooses: a device choice that ignored in-flight claims would
        # hand the same VF out twice. Event-driven, no timing.
        arrived = threading.Barrier(10)
        open_claims = []
        real_define = fakelibvirt.Connection.defineXML
        real_devices = driver._gpuvirt_devices

        def define(conn, xml):
            try:
                arrived.wait(timeout=60)
            except threading.BrokenBarrierError:
                pass
            return real_define(conn, xml)

        def devices(context, instance, *args, **kwargs):
            open_claims.append(sum(bool(keys) for keys in
                                   driver._gpuvirt_claims.values()))
            return real_devices(context, instance, *args, **kwargs)

        self.useFixture(fixtures.MonkeyPatch(
            'nova.tests.fixtures.libvirt.Connection.defineXML', define))
        self.useFixture(fixtures.MockPatchObject(
            driver, '_gpuvirt_devices', side_effect=devices))

        flavor = self.vgpu_flavor('A100-4C')
        body = self._build_server(flavor_id=flavor, networks='none')
        body['min_count'] = 10
        body['return_reservation_id'] = True
        reservation = self.api.post_server({'server': body})[
            'reservation_id']
        servers = self.api.get_servers(
            search_opts={'reservation_id': reservation})
        self.assertEqual(10, len(servers))
        keys = set()
        for server in servers:
            server = self.settle(server)
            self.assertEqual('ACTIVE', server['status'],
                             server.get('fault'))
            server_keys = self.domain_keys('host1', server)
            self.assertEqual(1, len(server_keys))
            self.assertEqual(assign.KIND_VF, next(iter(server_keys))[0])
            keys |= server_keys
        self.assertEqual(10, len(keys))
        # The test really overlapped the claims: the last choices were
        # made while nine others were still open.
        self.assertEqual(10, len(open_claims))
        self.assertEqual(9, max(open_claims))

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

"""Servers with vGPU flavors through Nova's API, on simulated A100s.

Each compute has two A100-PCIE-40GB in MIG mode with SR-IOV VFs on the
vendor-specific VFIO interface (vGPU 17+), carved by ``layout apply``
before nova-compute starts: GPU 0 as three 2g.10gb MIG-backed vGPUs
(A100-2-10C, each on its own VF), GPU 1 as two 3g.20gb (A100-3-20C).
The driver only hands carved devices out: no test here expects a guest
to change the carve.
"""

import os

from keystoneauth1 import adapter as ka_adapter
from keystoneauth1 import session as ka_session
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.functional.api import client as api_client
from nova.tests.functional.libvirt import base as libvirt_base

from gpuvirt_nova.demo import nova as inprocess
from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.placement import client as placement_client
from gpuvirt_nova.placement import drain as placement_drain
from gpuvirt_nova.placement import naming
from gpuvirt_nova.virt import assign
from tests.functional import base

TYPE_2_10C = 'A100-2-10C'
TYPE_3_20C = 'A100-3-20C'


class VgpuServerTests(base.GpuvirtTestBase):

    def setUp(self):
        super().setUp()
        self.start_gpu_compute('host1')
        self.flavor_2_10c = self.vgpu_flavor(TYPE_2_10C)
        self.flavor_3_20c = self.vgpu_flavor(TYPE_3_20C)

    def assert_server_has_vf(self, hostname, server, gpu_index, type_name):
        """One hostdev, a VF of that GPU carrying that type; returns it."""
        return self.one_vf(hostname, server, gpu_index, type_name)

    def boot_2_10c(self):
        """An A100-2-10C server on host1's first GPU: (server, its VF)."""
        server = self._create_server(flavor_id=self.flavor_2_10c,
                                     networks='none')
        return server, self.assert_server_has_vf('host1', server, 0,
                                                 TYPE_2_10C)

    def assert_boot_fails_cleanly(self, flavor):
        """The boot ends in ERROR holding no vGPU, no device, no domain."""
        carve = self.carve_state('host1')
        server = self._create_server(flavor_id=flavor, networks='none',
                                     expected_state='ERROR')
        self.assertEqual({}, self.vgpu_allocations(server))
        self.assertEqual(carve, self.carve_state('host1'))
        self.assertEqual({}, self.computes['host1'].driver._gpuvirt_claims)
        conn = self.computes['host1'].driver._host.get_connection()
        self.assertEqual([], conn.listAllDomains())

    def test_boot_lands_on_gpu_provider_with_its_device(self):
        # GPU 0 offers only 2g.10gb, GPU 1 only 3g.20gb (the MIG layout).
        for flavor, gpu_index, type_name, rc in (
                (self.flavor_2_10c, 0, TYPE_2_10C, 'CUSTOM_VGPU_A100_2_10C'),
                (self.flavor_3_20c, 1, TYPE_3_20C, 'CUSTOM_VGPU_A100_3_20C')):
            server = self._create_server(flavor_id=flavor, networks='none')
            self.assertEqual({self.gpu_rp_uuid('host1', gpu_index): {rc: 1}},
                             self.vgpu_allocations(server))
            self.assert_server_has_vf('host1', server, gpu_index, type_name)

    def test_fill_host_then_no_valid_host_then_delete_frees(self):
        servers = [self._create_server(flavor_id=self.flavor_3_20c,
                                       networks='none')
                   for _ in range(2)]
        vfs = {self.assert_server_has_vf('host1', s, 1, TYPE_3_20C)
               for s in servers}
        self.assertEqual(2, len(vfs))

        carve = self.carve_state('host1')
        failed = self._create_server(flavor_id=self.flavor_3_20c,
                                     networks='none', expected_state='ERROR')
        self.assertIn('No valid host', failed['fault']['message'])
        # Nothing leaked: only the two servers' VFs are in use.
        self.assertEqual({(assign.KIND_VF, vf) for vf in vfs},
                         self.used_devices('host1'))

        self._delete_server(servers[0])
        # The device is free again, and still carved: the host's
        # capacity did not change with the guest's life.
        self.assertEqual(carve, self.carve_state('host1'))
        again = self._create_server(flavor_id=self.flavor_3_20c,
                                    networks='none')
        self.assertIn(self.assert_server_has_vf('host1', again, 1,
                                                TYPE_3_20C), vfs)

    def test_two_vgpus_get_two_devices(self):
        flavor = self.vgpu_flavor(TYPE_2_10C, TYPE_2_10C)
        server = self._create_server(flavor_id=flavor, networks='none')
        keys = self.domain_keys('host1', server)
        self.assertEqual(2, len(keys))
        for kind, vf_address in keys:
            self.assertEqual(assign.KIND_VF, kind)
            self.assertEqual(TYPE_2_10C, self.vf_types('host1')[vf_address])
        self.assertEqual(
            {self.gpu_rp_uuid('host1', 0): {'CUSTOM_VGPU_A100_2_10C': 2}},
            self.vgpu_allocations(server))

    def test_reboot_stop_start_keep_the_device(self):
        server, vf = self.boot_2_10c()
        self._reboot_server(server, hard=True)
        self.assertEqual(vf, self.assert_server_has_vf(
            'host1', server, 0, TYPE_2_10C))
        self._stop_server(server)
        self._start_server(server)
        self._wait_for_state_change(server, 'ACTIVE')
        self.assertEqual(vf, self.assert_server_has_vf(
            'host1', server, 0, TYPE_2_10C))

    def make_instance_dir(self, server):
        """Rescue keeps the original definition in the instance's dir."""
        os.makedirs(os.path.join(inprocess.CONF.instances_path,
                                 server['id']), exist_ok=True)

    def fill_gpu0(self):
        """Three 2g.10gb servers fill GPU 0; each gets its own VF."""
        servers = [self._create_server(flavor_id=self.flavor_2_10c,
                                       networks='none')
                   for _ in range(3)]
        vfs = {self.assert_server_has_vf('host1', s, 0, TYPE_2_10C)
               for s in servers}
        self.assertEqual(3, len(vfs))
        return servers

    def test_rescue_unrescue_delete_frees_the_device(self):
        server, vf = self.boot_2_10c()
        self.make_instance_dir(server)
        server = self._rescue_server(server)
        self.assertEqual(vf, self.assert_server_has_vf(
            'host1', server, 0, TYPE_2_10C))
        server = self._unrescue_server(server)
        self.assertEqual(vf, self.assert_server_has_vf(
            'host1', server, 0, TYPE_2_10C))
        self.assertEqual({}, self.computes['host1'].driver._gpuvirt_claims)
        self._delete_server(server)
        self.assertEqual(set(), self.used_devices('host1'))
        # No claim left behind: the GPU fills up again.
        self.fill_gpu0()

    def test_rescued_server_deleted_frees_the_device(self):
        server = self._create_server(flavor_id=self.flavor_2_10c,
                                     networks='none')
        self.make_instance_dir(server)
        self._rescue_server(server)
        self._delete_server(server)
        self.assertEqual(set(), self.used_devices('host1'))
        self.fill_gpu0()

    def test_suspend_resume_keeps_the_device_and_claims_nothing(self):
        server, vf = self.boot_2_10c()
        server = self._suspend_server(server)
        server = self._resume_server(server)
        self.assertEqual(vf, self.assert_server_has_vf(
            'host1', server, 0, TYPE_2_10C))
        self.assertEqual({}, self.computes['host1'].driver._gpuvirt_claims)
        self._delete_server(server)
        self.fill_gpu0()

    def test_resume_without_domain_rebuilds_it_and_claims_nothing(self):
        server, vf = self.boot_2_10c()
        server = self._suspend_server(server)
        # The domain is gone (undefined behind Nova's back): resume builds
        # a new definition through _get_guest_xml.
        conn = self.computes['host1'].driver._host.get_connection()
        conn.lookupByUUIDString(server['id']).undefine()
        server = self._resume_server(server)
        self.assertEqual(vf, self.assert_server_has_vf(
            'host1', server, 0, TYPE_2_10C))
        self.assertEqual({}, self.computes['host1'].driver._gpuvirt_claims)
        self._delete_server(server)
        self.assertEqual(set(), self.used_devices('host1'))
        self.fill_gpu0()

    def test_driver_keeps_a_drained_gpu_reserved(self):
        reportclient = self.computes['host1'].manager.rt.reportclient
        adapter = ka_adapter.Adapter(
            ka_session.Session(auth=None), service_type='placement',
            endpoint_override=self.placement_fixture.endpoint,
            additional_headers={'x-auth-token': self.placement_fixture.token},
            raise_exc=False)
        drainer = placement_drain.PlacementDrainer(
            placement_client.PlacementClient(adapter))
        rp_uuid = self.gpu_rp_uuid('host1', 0)
        rc = 'CUSTOM_VGPU_A100_2_10C'
        drainer.set_reserved('host1', self.gpu_address('host1', 0), True)
        # Nova's provider cache refreshes (here: now), then the periodic
        # report runs: the drain must survive it.
        reportclient.clear_provider_cache()
        self._run_periodics()
        self.assertEqual(3, self._get_provider_inventory(rp_uuid)[rc][
            'reserved'])
        self.assertIn(naming.DRAINING_TRAIT,
                      self._get_provider_traits(rp_uuid))
        self._create_server(flavor_id=self.flavor_2_10c, networks='none',
                            expected_state='ERROR')

        drainer.set_reserved('host1', self.gpu_address('host1', 0), False)
        reportclient.clear_provider_cache()
        self._run_periodics()
        self.assertEqual(0, self._get_provider_inventory(rp_uuid)[rc][
            'reserved'])
        self.assertNotIn(naming.DRAINING_TRAIT,
                         self._get_provider_traits(rp_uuid))

    def test_soft_reboot_falling_back_to_hard_keeps_the_domain(self):
        server = self._create_server(flavor_id=self.flavor_2_10c,
                                     networks='none')
        conn = self.computes['host1'].driver._host.get_connection()
        # The guest stopped and the host lost its VFs: the soft reboot
        # cannot shut it down and falls back to a hard reboot, which must
        # not tear the domain down when the vGPU cannot come back.
        inprocess.power_off_all(conn)
        self.sims['host1'].reboot()
        # (Casts are calls in these tests: the compute's error surfaces.)
        self.assertRaises(api_client.OpenStackApiException,
                          self.api.post_server_action, server['id'],
                          {'reboot': {'type': 'SOFT'}})
        self._wait_for_server_parameter(
            server, {'OS-EXT-STS:vm_state': 'error'})
        # Its definition (and so its record of the device) is kept.
        self.assertFalse(conn.lookupByUUIDString(server['id']).isActive())
        self.assertIn('cannot be restored, so it is not started',
                      self.stdlog.logger.output)

    def test_guests_never_write_to_the_hardware(self):
        # One writer per piece of device state: the carve belongs to
        # layout apply. With every privileged write failing, a guest's
        # whole life still works, and leaves the carve as it was.
        carve = self.carve_state('host1')
        self.sims['host1'].inject_failure('*', count=None)
        server, vf = self.boot_2_10c()
        self._reboot_server(server, hard=True)
        self._delete_server(server)
        self.assertEqual(carve, self.carve_state('host1'))
        self.fill_gpu0()

    def test_allocation_without_hardware_fails_the_boot(self):
        # Upstream's "ACTIVE with a vGPU allocation but no device": here
        # GPU 1's vGPUs vanish behind Placement's back; the boot must
        # fail and leave nothing behind.
        gpu = self.hardware('host1').gpu(self.gpu_address('host1', 1))
        writer = self.sims['host1'].writer()
        for vf in gpu.vfs:
            if vf.current_vgpu_type:
                writer.write_sysfs('/sys/bus/pci/devices/%s/nvidia/'
                                   'current_vgpu_type' % vf.address, '0')
        self.assert_boot_fails_cleanly(self.flavor_3_20c)

    def test_host_reboot_restores_devices(self):
        self.flags(resume_guests_state_on_host_boot=True)
        server, vf = self.boot_2_10c()

        conn = self.computes['host1'].driver._host.get_connection()
        inprocess.power_off_all(conn)
        self.sims['host1'].reboot()
        self.assertEqual({}, self.vf_types('host1'))
        # What layout apply --boot does before nova-compute starts.
        self.carve('host1')

        self.restart_compute_service('host1')
        server = self._wait_for_state_change(server, 'ACTIVE')
        self.assertEqual(vf, self.assert_server_has_vf(
            'host1', server, 0, TYPE_2_10C))
        self.assertTrue(conn.lookupByUUIDString(server['id']).isActive())

    def test_host_reboot_without_device_reports_error(self):
        self.flags(resume_guests_state_on_host_boot=True)
        server = self._create_server(flavor_id=self.flavor_2_10c,
                                     networks='none')
        conn = self.computes['host1'].driver._host.get_connection()
        inprocess.power_off_all(conn)
        self.sims['host1'].reboot()
        # VFs stay disabled: the device cannot be restored.
        self.restart_compute_service('host1')
        server = self._wait_for_server_parameter(
            server, {'OS-EXT-STS:vm_state': 'error'})
        # Not started without its GPU; its definition is kept; both the
        # start-up restore and the resume say why.
        self.assertFalse(conn.lookupByUUIDString(server['id']).isActive())
        self.assertIn('instance %s: its vGPU device(s) cannot be restored'
                      % server['id'], self.stdlog.logger.output)
        self.assertIn('cannot be restored, so it is not started',
                      self.stdlog.logger.output)
        self.assertEqual({}, self.vf_types('host1'))


class VgpuMoveTests(base.GpuvirtTestBase):

    def setUp(self):
        super().setUp()
        self.start_gpu_compute('host1')
        self.start_gpu_compute('host2')
        self.flavor_2_10c = self.vgpu_flavor(TYPE_2_10C)
        self.flavor_3_20c = self.vgpu_flavor(TYPE_3_20C)

    def test_cold_migrate_and_resize_move_the_device(self):
        server = self._create_server(flavor_id=self.flavor_2_10c,
                                     networks='none')
        source = self.host_of(server)
        dest = 'host2' if source == 'host1' else 'host1'

        server = self._migrate_server(server)
        self.assertEqual(dest, self.host_of(server))
        self._confirm_resize(server, host=source)
        self.assertEqual(set(), self.used_devices(source))
        keys = self.domain_keys(dest, server)
        self.assertEqual(1, len(keys))
        self.assertEqual(TYPE_2_10C,
                         self.vf_types(dest)[next(iter(keys))[1]])
        self.assertEqual(
            {self.gpu_rp_uuid(dest, 0): {'CUSTOM_VGPU_A100_2_10C': 1}},
            self.vgpu_allocations(server))

        server = self._resize_server(server, self.flavor_3_20c)
        self._confirm_resize(server, host=dest)
        back = self.host_of(server)
        self.assertEqual(source, back)
        self.assertEqual(set(), self.used_devices(dest))
        (_kind, vf), = self.domain_keys(back, server)
        self.assertEqual(TYPE_3_20C, self.vf_types(back)[vf])
        self.assertEqual(
            {self.gpu_rp_uuid(back, 1): {'CUSTOM_VGPU_A100_3_20C': 1}},
            self.vgpu_allocations(server))


class SriovMdevTests(base.GpuvirtTestBase):
    """One A100 whose VFs are mdev parents (vGPU <= 16).

    The layout carves it into four A100-10C mdevs.
    """

    SIM_SPEC = '1xA100-PCIE-40GB:sriov-mdev'
    LAYOUT = inprocess.layout_text(('type: A100-PCIE-40GB', 'A100-10C', 4))

    def mdevs(self, hostname):
        return {m.uuid: m for g in self.hardware(hostname).gpus
                for m in g.mdevs}

    def test_carved_mdev_is_used_and_kept_across_reboot(self):
        self.start_gpu_compute('host1')
        carved = set(self.mdevs('host1'))
        self.assertEqual(4, len(carved))
        flavor = self.vgpu_flavor('A100-10C')
        server = self._create_server(flavor_id=flavor, networks='none')
        keys = self.domain_keys('host1', server)
        self.assertEqual(1, len(keys))
        kind, mdev_uuid = keys.pop()
        self.assertEqual(assign.KIND_MDEV, kind)
        self.assertIn(mdev_uuid, carved)
        mdev = self.mdevs('host1')[mdev_uuid]
        self.assertEqual(self.gpu_address('host1', 0),
                         self.vf_gpu('host1', mdev.parent))

        self._reboot_server(server, hard=True)
        self.assertEqual({(assign.KIND_MDEV, mdev_uuid)},
                         self.domain_keys('host1', server))

        # A second server never gets the first one's mdev, and no guest
        # creates or removes one.
        other = self._create_server(flavor_id=flavor, networks='none')
        self.assertNotIn((assign.KIND_MDEV, mdev_uuid),
                         self.domain_keys('host1', other))
        self._delete_server(other)
        self.assertEqual(carved, set(self.mdevs('host1')))

    def test_an_unapplied_layout_changes_neither_offers_nor_mdevs(self):
        self.start_gpu_compute('host1')
        rp_uuid = self.gpu_rp_uuid('host1', 0)
        server = self._create_server(flavor_id=self.vgpu_flavor('A100-10C'),
                                     networks='none')
        carved = set(self.mdevs('host1'))
        inventory = self._get_provider_inventory(rp_uuid)
        # The layout file now asks another type; nobody applied it.
        layout = self.layout_file('host1', self.LAYOUT.replace(
            'A100-10C, count: 4', 'A100-20C, count: 2'))
        self.flags(file=layout, group='gpuvirt_layout')
        self.flags(default_vgpu_types={'A100-PCIE-40GB': 'A100-20C'},
                   group='gpuvirt_layout')
        self._run_periodics()
        self.assertEqual(inventory, self._get_provider_inventory(rp_uuid))
        self.assertEqual(carved, set(self.mdevs('host1')))
        self.assertEqual(1, len(self.domain_keys('host1', server)))


class LayoutMdevTests(base.GpuvirtTestBase):
    """A T4 (mdev, no SR-IOV) carved by the layout, no default types."""

    SIM_SPEC = '1xT4:mdev'
    MDEV_UUID = '6f1d0c1e-5d0a-4c55-9a53-0d3b2f3b7a10'

    def test_layout_mdev_is_offered_kept_and_used(self):
        sim_host = self.create_sim_host('host1', carve=False)
        gpu = self.hardware('host1').gpus[0]
        sim_host.writer().write_sysfs(
            '/sys/class/mdev_bus/%s/mdev_supported_types/nvidia-%d/create'
            % (gpu.address, catalog.load().find(gpu.model).vgpu_type(
                'T4-4Q').type_id),
            self.MDEV_UUID)
        self.start_compute(hostname='host1',
                           libvirt_version=self.FAKE_LIBVIRT_VERSION,
                           qemu_version=self.FAKE_QEMU_VERSION)
        self._run_periodics()
        # Offered as the GPU is carved (as placement sync reports it), and
        # not undefined as unused.
        inventory = self._get_provider_inventory(
            self.gpu_rp_uuid('host1', 0))
        self.assertEqual(1, inventory['CUSTOM_VGPU_T4_4Q']['total'])
        self.assertEqual([self.MDEV_UUID],
                         [m.uuid for m in self.hardware('host1').gpus[0]
                          .mdevs])
        server = self._create_server(flavor_id=self.vgpu_flavor('T4-4Q'),
                                     networks='none')
        self.assertEqual({(assign.KIND_MDEV, self.MDEV_UUID)},
                         self.domain_keys('host1', server))


class VgpuEvacuateShelveTests(base.GpuvirtTestBase):

    def setUp(self):
        super().setUp()
        self.start_gpu_compute('host1')
        self.start_gpu_compute('host2')
        self.flavor = self.vgpu_flavor(TYPE_3_20C)

    def _one_vf(self, hostname, server):
        keys = self.domain_keys(hostname, server)
        self.assertEqual(1, len(keys))
        kind, vf_address = keys.pop()
        self.assertEqual(assign.KIND_VF, kind)
        self.assertEqual(TYPE_3_20C, self.vf_types(hostname)[vf_address])
        self.assertEqual(self.gpu_address(hostname, 1),
                         self.vf_gpu(hostname, vf_address))
        return vf_address

    def test_shelve_offload_unshelve_gets_a_device_again(self):
        server = self._create_server(flavor_id=self.flavor, networks='none')
        host = server['OS-EXT-SRV-ATTR:host']
        self._one_vf(host, server)
        self._shelve_server(server)
        self.assertEqual(set(), self.used_devices(host))
        server = self._unshelve_server(server)
        self._one_vf(server['OS-EXT-SRV-ATTR:host'], server)

    def test_evacuate_gets_a_device_on_the_new_host(self):
        server = self._create_server(flavor_id=self.flavor, networks='none')
        source = server['OS-EXT-SRV-ATTR:host']
        dest = 'host2' if source == 'host1' else 'host1'
        self.computes[source].stop()
        self.api.put_service(self.computes[source].service_ref.uuid,
                             {'forced_down': True})
        # Since microversion 2.95 an evacuated server arrives stopped.
        server = self._evacuate_server(server, expected_host=dest)
        vf = self._one_vf(dest, server)
        server = self._start_server(server)
        self.assertEqual(vf, self._one_vf(dest, server))
        # The source's allocation stays until the source compute is back.
        self.assertEqual({'CUSTOM_VGPU_A100_3_20C': 1},
                         self.vgpu_allocations(server)[
                             self.gpu_rp_uuid(dest, 1)])


class VgpuLiveMigrationTests(libvirt_base.LibvirtMigrationMixin,
                             base.GpuvirtTestBase):

    def setUp(self):
        super().setUp()
        self.src = self.start_gpu_compute('host1')
        self.dest = self.start_gpu_compute('host2')
        self.flavor = self.vgpu_flavor(TYPE_2_10C)

    def _migrate_stub(self, domain, destination, params, flags):
        super()._migrate_stub(domain, destination, params, flags)
        # What libvirt does with the flag Nova always passes; the fake
        # keeps the source domain, which would hold its VF forever.
        if flags & fakelibvirt.VIR_MIGRATE_UNDEFINE_SOURCE:
            domain.undefine()

    def test_live_migration_moves_the_vf(self):
        self.server = self._create_server(flavor_id=self.flavor,
                                          networks='none', host='host1')
        (_kind, src_vf), = self.domain_keys('host1', self.server)
        self.assertEqual(TYPE_2_10C, self.vf_types('host1')[src_vf])
        src_carve = self.carve_state('host1')

        server = self._live_migrate(self.server, host='host2')
        self.assertTrue(self.migrate_stub_ran)
        self.assertEqual('host2', server['OS-EXT-SRV-ATTR:host'])
        keys = self.domain_keys('host2', server)
        self.assertEqual(1, len(keys))
        (kind, dest_vf), = keys
        self.assertEqual(assign.KIND_VF, kind)
        self.assertEqual(TYPE_2_10C, self.vf_types('host2')[dest_vf])
        self.assertEqual(self.gpu_address('host2', 0),
                         self.vf_gpu('host2', dest_vf))
        # The source VF is free once the guest has left, still carved.
        self.assertEqual(set(), self.used_devices('host1'))
        self.assertEqual(src_carve, self.carve_state('host1'))
        self.assertEqual(
            {self.gpu_rp_uuid('host2', 0): {'CUSTOM_VGPU_A100_2_10C': 1}},
            self.vgpu_allocations(server))


class ConflictingConfigTests(base.GpuvirtTestBase):

    def test_upstream_vgpu_options_refused_at_start(self):
        self.flags(enabled_mdev_types=['nvidia-692'], group='devices')
        exc = self.assertRaises(exception.ConfigError,
                                self.start_gpu_compute, 'host1')
        self.assertIn('[devices] enabled_mdev_types', str(exc))

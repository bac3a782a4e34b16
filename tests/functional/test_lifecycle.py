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

"""Server life cycles that move or roll back a vGPU, through Nova's fixtures.

Resize revert, same-host resize, live migration that fails or is
aborted, an evacuated source host coming back, and the driver and the
standalone ``placement sync`` agreeing on what the hardware offers. In
each the carve is left as ``layout apply`` made it, no device claim
outlives the operation, and a device is in use exactly where a domain
names it.

No wait here depends on the machine's speed: every wait polls with a
generous bound (sized for a loaded 2-core machine) or waits on an event.
"""

import threading
import time

import fixtures
from keystoneauth1 import adapter as ka_adapter
from keystoneauth1 import session as ka_session
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.functional.libvirt import base as libvirt_base

from gpuvirt_nova.placement import client as placement_client
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import offers as offers_mod
from gpuvirt_nova.placement import sync as sync_mod
from gpuvirt_nova.placement import tree as tree_mod
from tests.functional import base

TYPE_2_10C = 'A100-2-10C'
TYPE_3_20C = 'A100-3-20C'
RC_2_10C = naming.resource_class(TYPE_2_10C)
RC_3_20C = naming.resource_class(TYPE_3_20C)

#: Polls of 0.5 s: five minutes, for a loaded 2-core machine.
RETRIES = 600
#: Seconds to wait for a notification or an event.
TIMEOUT = 300

OUT_OF_SCOPE = 'vGPU devices chosen outside a claim scope'


class _Base(base.GpuvirtTestBase):
    """Generous waits for Nova's helpers, and our own assertions."""

    def _wait_for_state_change(self, server, expected_status,
                               max_retries=RETRIES, wait_for_fault_key=True):
        # Nova's helper with a generous bound, that stops at once when the
        # server went to ERROR instead.
        api = getattr(self, 'admin_api', self.api)
        for _ in range(max_retries):
            server = api.get_server(server['id'])
            if server['status'] == expected_status and (
                    expected_status != 'ERROR' or not wait_for_fault_key or
                    'fault' in server):
                return server
            if server['status'] == 'ERROR' and expected_status != 'ERROR':
                self.fail('server %s went to ERROR waiting for %s: %s' % (
                    server['id'], expected_status,
                    server.get('fault', {}).get('message')))
            time.sleep(0.5)
        self.fail('server %s never reached %s (last: %s)'
                  % (server['id'], expected_status, server['status']))

    def _wait_for_migration_status(self, server, expected_statuses):
        statuses = {status.lower() for status in expected_statuses}
        actual = None
        for _ in range(RETRIES):
            for migration in self.api.api_get(
                    '/os-migrations').body['migrations']:
                if migration['instance_uuid'] == server['id']:
                    actual = migration['status']
                    if actual.lower() in statuses:
                        return migration
            time.sleep(0.5)
        self.fail('migration of %s never reached %s (last: %s)'
                  % (server['id'], sorted(statuses), actual))

    def _resize_server(self, server, flavor_id):
        self.api.post_server_action(
            server['id'], {'resize': {'flavorRef': flavor_id}})
        self.notifier.wait_for_versioned_notifications(
            'instance.resize.end', timeout=TIMEOUT)
        return self._wait_for_state_change(server, 'VERIFY_RESIZE')

    def _revert_resize(self, server):
        self.api.post_server_action(server['id'], {'revertResize': None})
        server = self._wait_for_state_change(server, 'ACTIVE')
        self._wait_for_migration_status(server, ['reverted'])
        # The source's allocations come back in finish_revert_resize.
        self.notifier.wait_for_versioned_notifications(
            'instance.resize_revert.end', timeout=TIMEOUT)
        return server

    def assert_no_claims(self, *hostnames):
        for hostname in hostnames:
            driver = self.computes[hostname].driver
            self.assertEqual({}, driver._gpuvirt_claims, hostname)
            self.assertEqual({}, driver._gpuvirt_held, hostname)
            self.assertEqual({}, driver._gpuvirt_scopes, hostname)
        # Every device was chosen while a claim was open.
        self.assertNotIn(OUT_OF_SCOPE, self.stdlog.logger.output)

    def usages(self, rp_uuid):
        return {rc: n for rc, n in self.placement.get(
            '/resource_providers/%s/usages' % rp_uuid).body['usages'].items()
            if n}


class ResizeTests(_Base):

    def setUp(self):
        super().setUp()
        self.start_gpu_compute('host1')
        self.flavor_2_10c = self.vgpu_flavor(TYPE_2_10C)
        self.flavor_3_20c = self.vgpu_flavor(TYPE_3_20C)

    def test_resize_revert_gives_the_source_device_back(self):
        server = self._create_server(flavor_id=self.flavor_2_10c,
                                     networks='none', host='host1')
        src_vf = self.one_vf('host1', server, 0, TYPE_2_10C)
        carves = {'host1': self.carve_state('host1')}
        self.start_gpu_compute('host2')
        carves['host2'] = self.carve_state('host2')

        server = self._resize_server(server, self.flavor_3_20c)
        self.assertEqual('host2', self.host_of(server))
        dest_vf = self.one_vf('host2', server, 1, TYPE_3_20C)
        self.assertEqual({('vf', dest_vf)}, self.used_devices('host2'))

        server = self._revert_resize(server)
        self.assertEqual('host1', self.host_of(server))
        # The source device again (Placement's allocation is back on the
        # same GPU, and the driver prefers what the guest held).
        self.assertEqual(src_vf, self.one_vf('host1', server, 0,
                                             TYPE_2_10C))
        self.assertEqual({('vf', src_vf)}, self.used_devices('host1'))
        # The destination's device is free, nothing is claimed anywhere,
        # and Placement holds only the source GPU's vGPU.
        self.assertEqual(set(), self.used_devices('host2'))
        self.assert_no_claims('host1', 'host2')
        self.assertEqual({self.gpu_rp_uuid('host1', 0): {RC_2_10C: 1}},
                         self.vgpu_allocations(server))
        self.assertEqual({}, self.usages(self.gpu_rp_uuid('host2', 1)))
        # Nobody changed the carve on either host.
        self.assertEqual(carves, {h: self.carve_state(h) for h in carves})
        # host2's 3g.20gb devices both serve new guests.
        for _ in range(2):
            self._create_server(flavor_id=self.flavor_3_20c,
                                networks='none', host='host2')

    def test_same_host_resize_to_another_type(self):
        self.flags(allow_resize_to_same_host=True)
        server = self._create_server(flavor_id=self.flavor_2_10c,
                                     networks='none')
        old_vf = self.one_vf('host1', server, 0, TYPE_2_10C)
        carve = self.carve_state('host1')

        server = self._resize_server(server, self.flavor_3_20c)
        self.assertEqual('host1', self.host_of(server))
        new_vf = self.one_vf('host1', server, 1, TYPE_3_20C)
        # Only the new type's device is in use; the old one is free (the
        # migration still holds its allocation until the confirm).
        self.assertEqual({('vf', new_vf)}, self.used_devices('host1'))
        self.assert_no_claims('host1')

        server = self._confirm_resize(server, host='host1')
        self.assertEqual(new_vf, self.one_vf('host1', server, 1,
                                             TYPE_3_20C))
        self.assertEqual({('vf', new_vf)}, self.used_devices('host1'))
        self.assert_no_claims('host1')
        self.assertEqual({self.gpu_rp_uuid('host1', 1): {RC_3_20C: 1}},
                         self.vgpu_allocations(server))
        self.assertEqual({}, self.usages(self.gpu_rp_uuid('host1', 0)))
        self.assertEqual(carve, self.carve_state('host1'))
        # The old VF serves a new guest: GPU 0 fills up with three.
        vfs = {self.one_vf('host1', self._create_server(
            flavor_id=self.flavor_2_10c, networks='none'), 0, TYPE_2_10C)
            for _ in range(3)}
        self.assertIn(old_vf, vfs)

    def test_same_host_resize_revert_keeps_the_old_device(self):
        self.flags(allow_resize_to_same_host=True)
        server = self._create_server(flavor_id=self.flavor_2_10c,
                                     networks='none')
        old_vf = self.one_vf('host1', server, 0, TYPE_2_10C)
        server = self._resize_server(server, self.flavor_3_20c)
        new_vf = self.one_vf('host1', server, 1, TYPE_3_20C)
        server = self._revert_resize(server)
        self.assertEqual(old_vf, self.one_vf('host1', server, 0,
                                             TYPE_2_10C))
        self.assertNotIn(('vf', new_vf), self.used_devices('host1'))
        self.assert_no_claims('host1')
        self.assertEqual({self.gpu_rp_uuid('host1', 0): {RC_2_10C: 1}},
                         self.vgpu_allocations(server))
        self.assertEqual({}, self.usages(self.gpu_rp_uuid('host1', 1)))


class LiveMigrationRollbackTests(libvirt_base.LibvirtMigrationMixin,
                                 _Base):
    """A live migration that fails or is aborted leaves nothing behind."""

    def setUp(self):
        super().setUp()
        self.src = self.start_gpu_compute('host1')
        self.dest = self.start_gpu_compute('host2')
        self.flavor = self.vgpu_flavor(TYPE_2_10C)
        #: what the stub does: 'fail' the job, or 'wait' for an abort.
        self.outcome = 'fail'
        #: host2's claims while the migration runs.
        self.dest_claims = None
        self.running = threading.Event()
        self.aborted = threading.Event()
        # What libvirt does on virDomainAbortJob: the job ends cancelled.
        self.useFixture(fixtures.MonkeyPatch(
            'nova.tests.fixtures.libvirt.Domain.abortJob',
            lambda domain: self._abort_job(domain)))

    def _abort_job(self, domain):
        domain._job_type = fakelibvirt.VIR_DOMAIN_JOB_CANCELLED
        self.aborted.set()

    def _migrate_stub(self, domain, destination, params, flags):
        self.migrate_stub_ran = True
        with self.dest.driver._gpuvirt_lock:
            self.dest_claims = {
                uuid: set(keys) for uuid, keys in
                self.dest.driver._gpuvirt_claims.items()}
        if self.outcome == 'fail':
            domain.fail_job()
        else:
            # Like libvirt: the job runs, and virDomainMigrateToURI3
            # returns only once it ended. Returning at once instead let
            # Nova's monitor find no job and a finished operation, which
            # it reads as a failed migration when the abort came late.
            domain._job_type = fakelibvirt.VIR_DOMAIN_JOB_UNBOUNDED
            self.running.set()
            self.aborted.wait(TIMEOUT)

    def boot(self):
        self.server = self._create_server(flavor_id=self.flavor,
                                          networks='none', host='host1')
        vf = self.one_vf('host1', self.server, 0, TYPE_2_10C)
        return self.server, vf

    def assert_rolled_back(self, server, vf, carves):
        server = self._wait_for_server_parameter(
            server, {'status': 'ACTIVE', 'OS-EXT-SRV-ATTR:host': 'host1',
                     'OS-EXT-STS:task_state': None},
            max_retries=RETRIES)
        self.assertTrue(self.migrate_stub_ran)
        # The destination really had claimed a device for the guest.
        self.assertEqual([server['id']], list(self.dest_claims))
        self.assertEqual(1, len(self.dest_claims[server['id']]))
        # The guest runs on the source with its device.
        self.assertEqual(vf, self.one_vf('host1', server, 0, TYPE_2_10C))
        self.assertTrue(self.src.driver._host.get_connection()
                        .lookupByUUIDString(server['id']).isActive())
        # No claim left at either end, no device used on the destination.
        self.assert_no_claims('host1', 'host2')
        self.assertEqual(set(), self.used_devices('host2'))
        self.assertEqual({self.gpu_rp_uuid('host1', 0): {RC_2_10C: 1}},
                         self.vgpu_allocations(server))
        self.assertEqual({}, self.usages(self.gpu_rp_uuid('host2', 0)))
        self.assertEqual(carves, {h: self.carve_state(h) for h in carves})
        # Every device of the destination's GPU serves new guests.
        for _ in range(3):
            self._create_server(flavor_id=self.flavor, networks='none',
                                host='host2')
        return server

    def carves(self):
        return {h: self.carve_state(h) for h in ('host1', 'host2')}

    def test_failed_live_migration_rolls_back_both_ends(self):
        server, vf = self.boot()
        carves = self.carves()
        self._live_migrate(server, migration_expected_state='failed',
                           host='host2')
        self.assert_rolled_back(server, vf, carves)

    def test_aborted_live_migration_rolls_back_both_ends(self):
        self.outcome = 'wait'
        server, vf = self.boot()
        carves = self.carves()
        self.api.post_server_action(
            server['id'], {'os-migrateLive': {'host': 'host2',
                                              'block_migration': 'auto'}})
        self.assertTrue(self.running.wait(TIMEOUT))
        migration = self._wait_for_migration_status(server, ['running'])
        # Nova's own abort API, while libvirt's job runs.
        self.api.api_delete('/servers/%s/migrations/%s'
                            % (server['id'], migration['id']))
        self._wait_for_migration_status(server, ['cancelled'])
        self.assert_rolled_back(server, vf, carves)


class EvacuatedSourceReturnsTests(_Base):

    def setUp(self):
        super().setUp()
        self.start_gpu_compute('host1')
        self.start_gpu_compute('host2')
        self.flavor = self.vgpu_flavor(TYPE_3_20C)

    def test_source_host_coming_back_frees_its_device(self):
        server = self._create_server(flavor_id=self.flavor,
                                     networks='none', host='host1')
        src_vf = self.one_vf('host1', server, 1, TYPE_3_20C)
        carve = self.carve_state('host1')
        self.computes['host1'].stop()
        service = self.computes['host1'].service_ref.uuid
        self.api.put_service(service, {'forced_down': True})
        server = self._evacuate_server(server, expected_host='host2')
        dest_vf = self.one_vf('host2', server, 1, TYPE_3_20C)
        # host1 is down: its stale domain and allocation are still there.
        self.assertEqual({('vf', src_vf)}, self.used_devices('host1'))
        self.assertEqual({RC_3_20C: 1},
                         self.usages(self.gpu_rp_uuid('host1', 1)))

        # host1's compute comes back: Nova destroys the evacuated guest
        # and drops the source allocation.
        self.restart_compute_service('host1')
        self.api.put_service(service, {'forced_down': False})
        self._wait_for_migration_status(server, ['completed'])
        self.assertEqual(set(), self.used_devices('host1'))
        self.assertEqual({}, self.usages(self.gpu_rp_uuid('host1', 1)))
        self.assertEqual({self.gpu_rp_uuid('host2', 1): {RC_3_20C: 1}},
                         self.vgpu_allocations(server))
        self.assertEqual(carve, self.carve_state('host1'))
        self.assert_no_claims('host1', 'host2')
        # The restore at start-up understood the allocation on host2.
        self.assertNotIn('cannot be restored', self.stdlog.logger.output)
        # The evacuated guest keeps its device on host2.
        server = self._start_server(server)
        self.assertEqual(dest_vf, self.one_vf('host2', server, 1,
                                              TYPE_3_20C))
        # Both of host1's 3g.20gb devices serve new guests.
        vfs = {self.one_vf('host1', self._create_server(
            flavor_id=self.flavor, networks='none', host='host1'),
            1, TYPE_3_20C) for _ in range(2)}
        self.assertIn(src_vf, vfs)


class DriverAndSyncAgreeTests(_Base):
    """The driver and ``placement sync`` report the same tree."""

    def setUp(self):
        super().setUp()
        self.start_gpu_compute('host1')
        adapter = ka_adapter.Adapter(
            ka_session.Session(auth=None), service_type='placement',
            endpoint_override=self.placement_fixture.endpoint,
            additional_headers={'x-auth-token': self.placement_fixture.token},
            raise_exc=False)
        self.client = placement_client.PlacementClient(adapter)

    def desired_tree(self, hostname):
        """What ``gpuvirt-nova placement sync`` builds for the host."""
        host = self.hardware(hostname)
        desired = tree_mod.build_provider_tree(
            hostname, host, offers_mod.offers_from_hardware(host),
            isolate=True)
        self.assertEqual([], list(desired.problems))
        return desired

    def gpu_providers(self, hostname):
        """{name: (generation, inventories, traits)} of the GPU providers."""
        root = self._get_provider_uuid_by_name(hostname)
        result = {}
        for rp in self.placement.get(
                '/resource_providers?in_tree=%s' % root,
                version='1.14').body['resource_providers']:
            if rp['uuid'] == root:
                continue
            result[rp['name']] = (
                rp['generation'],
                self._get_provider_inventory(rp['uuid']),
                set(self._get_provider_traits(rp['uuid'])))
        return result

    def run_driver_report(self, hostname):
        # Nova's provider cache refreshes (here: now), then the periodic
        # report runs with what Placement holds.
        self.computes[hostname].manager.rt.reportclient \
            .clear_provider_cache()
        self._run_periodics()

    def test_steady_state_needs_no_change_either_way(self):
        # A guest on each GPU, and a layout file wishing another carve
        # that nobody applied: both writers report the hardware.
        for type_name in (TYPE_2_10C, TYPE_3_20C):
            self._create_server(flavor_id=self.vgpu_flavor(type_name),
                                networks='none')
        self.flags(file=self.layout_file('host1', self.LAYOUT.replace(
            'A100-2-10C, count: 3', 'A100-1-5C, count: 7')),
            group='gpuvirt_layout')
        self.run_driver_report('host1')
        providers = self.gpu_providers('host1')
        self.assertEqual(2, len(providers))

        report = sync_mod.sync(self.client, self.desired_tree('host1'))
        self.assertEqual([], report.changes)
        self.assertEqual([], report.protected)
        self.assertEqual(0, report.writes)
        self.assertEqual(providers, self.gpu_providers('host1'))

        # And the driver, after the sync, changes nothing either.
        self.run_driver_report('host1')
        self.assertEqual(providers, self.gpu_providers('host1'))
        report = sync_mod.sync(self.client, self.desired_tree('host1'),
                               dry_run=True)
        self.assertEqual([], report.changes)


class QueuedLiveMigrationAbortTests(libvirt_base.LibvirtMigrationMixin,
                                    _Base):
    """A live migration aborted while queued frees the destination."""

    def setUp(self):
        super().setUp()
        # One live migration at a time: the second one queues.
        self.flags(max_concurrent_live_migrations=1)
        self.src = self.start_gpu_compute('host1')
        self.dest = self.start_gpu_compute('host2')
        self.flavor = self.vgpu_flavor(TYPE_2_10C)
        self.running = threading.Event()
        self.release = threading.Event()
        # A failing test never leaves the first migration waiting.
        self.addCleanup(self.release.set)

    def _migrate_stub(self, domain, destination, params, flags):
        # The first migration holds the source's only migration slot
        # until the test lets it finish, then completes.
        self.running.set()
        self.assertTrue(self.release.wait(TIMEOUT))
        self.dest.driver._host.get_connection().createXML(
            params['destination_xml'],
            'fake-createXML-doesnt-care-about-flags')
        domain.complete_job()
        if flags & fakelibvirt.VIR_MIGRATE_UNDEFINE_SOURCE:
            domain.undefine()
        self.migrate_stub_ran = True

    def live_migrate(self, server):
        self.api.post_server_action(
            server['id'], {'os-migrateLive': {'host': 'host2',
                                              'block_migration': 'auto'}})

    def test_abort_of_a_queued_migration_frees_the_destination(self):
        first, second = (self._create_server(
            flavor_id=self.flavor, networks='none', host='host1')
            for _ in range(2))
        second_vf = self.one_vf('host1', second, 0, TYPE_2_10C)
        self.live_migrate(first)
        self.assertTrue(self.running.wait(TIMEOUT))
        self.live_migrate(second)
        migration = self._wait_for_migration_status(second, ['queued'])
        # The destination claimed a device for each incoming guest.
        self.assertEqual({first['id'], second['id']},
                         set(self.dest.driver._gpuvirt_claims))

        self.api.api_delete('/servers/%s/migrations/%s'
                            % (second['id'], migration['id']))
        self._wait_for_migration_status(second, ['cancelled'])
        second = self._wait_for_server_parameter(
            second, {'status': 'ACTIVE', 'OS-EXT-STS:task_state': None},
            max_retries=RETRIES)
        # Nova tells the destination nothing of a queued abort: its next
        # periodic report drops the claim of the cancelled migration.
        self._run_periodics()
        self.assertEqual({first['id']},
                         set(self.dest.driver._gpuvirt_claims))
        self.assertEqual({first['id']}, set(self.dest.driver._gpuvirt_held))

        self.release.set()
        first = self._wait_for_server_parameter(
            first, {'status': 'ACTIVE', 'OS-EXT-SRV-ATTR:host': 'host2',
                    'OS-EXT-STS:task_state': None},
            max_retries=RETRIES)
        self._wait_for_migration_status(first, ['completed'])
        first_vf = self.one_vf('host2', first, 0, TYPE_2_10C)
        self.assertEqual(second_vf, self.one_vf('host1', second, 0,
                                                TYPE_2_10C))
        self.assertEqual({('vf', first_vf)}, self.used_devices('host2'))
        self.assert_no_claims('host1', 'host2')
        # host2's GPU 0 serves two more guests (three devices in all).
        for _ in range(2):
            self._create_server(flavor_id=self.flavor, networks='none',
                                host='host2')

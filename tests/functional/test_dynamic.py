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

"""Dynamic GPUs through Nova: a MIG instance carved per guest at boot.

One compute host, one A100-PCIE-40GB on vendor VFIO that the layout
marks ``owner: dynamic``; flavors ask for its MIG slices and a profile
(:func:`gpuvirt_nova.dynamic.requests.flavor_extra_specs`); the real
scheduler runs :class:`VGPUGeometryFilter`, the driver carves.
"""

import threading
import time
import types
from unittest import mock

import fixtures
from nova import context as nova_context
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.functional.api import client
from oslo_utils import uuidutils

from gpuvirt_nova.dynamic import requests
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.layout import apply
from gpuvirt_nova.placement import naming
# NOTE: imported before Nova's fixtures forbid os.uname() (numpy).
from gpuvirt_nova.scheduler import filters  # noqa: F401
from tests.functional import base

MODEL = 'A100-PCIE-40GB'
LAYOUT = '''gpu_cluster:
  nodes:
    - host: {host}
      gpus:
        - index: [0]
          owner: dynamic
'''


class _DynamicBase(base.GpuvirtTestBase):

    SIM_SPEC = '1xA100-PCIE-40GB:mig'
    LAYOUT = LAYOUT

    def _setup_scheduler_service(self):
        self.flags(available_filters=[
            'nova.scheduler.filters.all_filters',
            'gpuvirt_nova.scheduler.filters.all_filters'],
            group='filter_scheduler')
        self.ADDITIONAL_FILTERS = ['VGPUGeometryFilter']
        return super()._setup_scheduler_service()

    def setUp(self):
        super().setUp()
        self.start_gpu_compute('host1')
        self.gpu = self.gpu_address('host1', 0)
        self.rp = self.gpu_rp_uuid('host1', 0)
        self.flavors = {}
        for profile in catalog.load().get(MODEL).mig_profiles:
            self.flavors[profile.name] = self._create_flavor(
                memory_mb=512, vcpu=1, disk=1, ephemeral=0,
                extra_spec=requests.flavor_extra_specs(
                    profile.name, profile.compute_slices,
                    profile.memory_slices))

    # -- helpers ------------------------------------------------------------

    def post(self, profile):
        return self.api.post_server({'server': self._build_server(
            flavor_id=self.flavors[profile], networks='none')})

    def boot(self, profile):
        return self.settle(self.post(profile))

    def instances(self):
        """{start slice: profile} of the GPU's MIG instances."""
        gpu = self.hardware('host1').gpu(self.gpu)
        return {gi.placement.start: gi.profile for gi in gpu.gpu_instances}

    def assert_on_own_instance(self, server, profile):
        self.assertEqual('ACTIVE', server['status'], server.get('fault'))
        self.one_vf('host1', server, 0, self.type_of(profile))

    def type_of(self, profile):
        for vgpu_type in catalog.load().get(MODEL).vgpu_types:
            if vgpu_type.mig_profile == profile and \
                    vgpu_type.series.value == 'C':
                return vgpu_type.name

    def usages(self):
        return self._get_provider_usages(self.rp)

    def busy_traits(self):
        return sorted(t for t in self._get_provider_traits(self.rp)
                      if naming.SLICE_USED_TRAIT_RE.match(t))


class DynamicGpuTest(_DynamicBase):
    """One host, one dynamic A100."""

    def test_provider_offers_slices_of_a_dynamic_gpu(self):
        inventory = self._get_provider_inventory(self.rp)
        self.assertEqual({naming.MIG_COMPUTE_SLICE_RC: 7,
                          naming.MIG_MEMORY_SLICE_RC: 8,
                          naming.DYNAMIC_VGPU_RC: 8},
                         {rc: inv['total'] for rc, inv in inventory.items()})
        traits = self._get_provider_traits(self.rp)
        self.assertIn(naming.DYNAMIC_TRAIT, traits)
        self.assertIn(naming.mig_profile_trait('4g.20gb'), traits)
        self.assertEqual({}, self.instances())

    def test_mixes_no_static_carve_serves_all_land(self):
        # 4g + 3g, then (once they left) 2g + 2g + 2g + 1g: no single
        # static carve of an A100 offers both mixes.
        first = [self.boot('4g.20gb'), self.boot('3g.20gb')]
        for server, profile in zip(first, ('4g.20gb', '3g.20gb')):
            self.assert_on_own_instance(server, profile)
        self.assertEqual({0: '4g.20gb', 4: '3g.20gb'}, self.instances())
        for server in first:
            self._delete_server(server)
        self._run_periodics()
        self.assertEqual({}, self.instances())
        self.assertEqual({naming.MIG_COMPUTE_SLICE_RC: 0,
                          naming.MIG_MEMORY_SLICE_RC: 0,
                          naming.DYNAMIC_VGPU_RC: 0}, self.usages())

        second = ['2g.10gb', '2g.10gb', '2g.10gb', '1g.5gb']
        servers = [self.boot(p) for p in second]
        for server, profile in zip(servers, second):
            self.assert_on_own_instance(server, profile)
        self.assertEqual({0: '2g.10gb', 2: '2g.10gb', 4: '2g.10gb',
                          6: '1g.5gb'}, self.instances())
        self.assertEqual({naming.MIG_COMPUTE_SLICE_RC: 7,
                          naming.MIG_MEMORY_SLICE_RC: 7,
                          naming.DYNAMIC_VGPU_RC: 4}, self.usages())

    def test_4g_refused_while_a_1g_holds_slice_0(self):
        three = self.boot('3g.20gb')   # best room: slices 4-7
        one = self.boot('1g.5gb')      # then slice 0
        self.assertEqual({4: '3g.20gb', 0: '1g.5gb'}, self.instances())
        self._delete_server(three)
        self._run_periodics()
        self.assertEqual({0: '1g.5gb'}, self.instances())
        self.assertEqual(['CUSTOM_GPUVIRT_SLICE_0_USED'], self.busy_traits())

        # Placement alone has room (1+4 of 7 compute, 1+4 of 8 memory);
        # the only 4g.20gb placement overlaps slice 0: the scheduler
        # refuses, and the host never tries.
        refused = self.boot('4g.20gb')
        self.assertEqual('ERROR', refused['status'])
        self.assertIn('No valid host', refused['fault']['message'])
        self.assertEqual({0: '1g.5gb'}, self.instances())

        self._delete_server(one)
        self._run_periodics()
        self.assertEqual([], self.busy_traits())
        four = self.boot('4g.20gb')
        self.assert_on_own_instance(four, '4g.20gb')
        self.assertEqual({0: '4g.20gb'}, self.instances())

    def test_boots_in_a_row_take_distinct_placements(self):
        servers = [self.boot('2g.10gb') for _ in range(3)]
        for server in servers:
            self.assert_on_own_instance(server, '2g.10gb')
        self.assertEqual({0: '2g.10gb', 2: '2g.10gb', 4: '2g.10gb'},
                         self.instances())
        devices = [self.domain_keys('host1', s) for s in servers]
        self.assertEqual(3, len(set().union(*devices)))

    def test_concurrent_carves_never_share_a_placement(self):
        # Casts are calls in these tests, so boots through the API run one
        # after another; three spawns' device steps run here at once, each
        # carve dwelling between choosing a placement and creating the
        # instance: only the driver's lock keeps them apart.
        create_gi = apply.create_gi

        def slow_create_gi(*args, **kwargs):
            time.sleep(0.5)
            return create_gi(*args, **kwargs)
        self.useFixture(fixtures.MockPatchObject(apply, 'create_gi',
                                                 slow_create_gi))
        driver = self.computes['host1'].driver
        context = nova_context.get_admin_context()
        profile = catalog.load().get(MODEL).mig_profile('2g.10gb')
        specs = requests.flavor_extra_specs(profile.name, 2, 2)
        got, errors = {}, []

        def spawn_devices():
            instance = types.SimpleNamespace(
                uuid=uuidutils.generate_uuid(),
                flavor=types.SimpleNamespace(extra_specs=specs))
            driver._gpuvirt_allocations[instance.uuid] = {self.rp: {
                'resources': {naming.MIG_COMPUTE_SLICE_RC: 2,
                              naming.MIG_MEMORY_SLICE_RC: 2}}}
            try:
                with driver._claim_scope(instance):
                    got[instance.uuid] = driver._gpuvirt_devices(
                        context, instance)
            except Exception as exc:
                errors.append(exc)
        threads = [threading.Thread(target=spawn_devices) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual([], errors)
        self.assertEqual({0: '2g.10gb', 2: '2g.10gb', 4: '2g.10gb'},
                         self.instances())
        self.assertEqual(3, len({d.key for ds in got.values() for d in ds}))
        # No guest was defined for them: the next update takes them back.
        self._run_periodics()
        self.assertEqual({}, self.instances())

    def test_host_reboot_restores_every_guests_instance(self):
        self.flags(resume_guests_state_on_host_boot=True)
        three = self.boot('3g.20gb')
        one = self.boot('1g.5gb')       # slice 0, not where a fresh 1g goes
        self._delete_server(three)
        two = self.boot('2g.10gb')
        servers = {'1g.5gb': one, '2g.10gb': two}
        before = self.instances()
        self.assertEqual('1g.5gb', before[0])
        vfs = {p: self.domain_keys('host1', s) for p, s in servers.items()}

        conn = self.computes['host1'].driver._host.get_connection()
        base.inprocess.power_off_all(conn)
        self.sims['host1'].reboot()
        self.assertEqual({}, self.instances())
        self.carve('host1')   # layout apply --boot: MIG mode and VFs only
        self.assertEqual({}, self.instances())

        self.restart_compute_service('host1')
        # Every instance is back where it was, with the VF its guest's
        # definition names.
        self.assertEqual(before, self.instances())
        for profile, server in servers.items():
            server = self._wait_for_state_change(server, 'ACTIVE')
            self.assertEqual(vfs[profile], self.domain_keys('host1', server))
            self.assert_on_own_instance(server, profile)

    def test_a_failed_boot_leaves_no_instance(self):
        def refuse(*args, **kwargs):
            raise fakelibvirt.make_libvirtError(
                fakelibvirt.libvirtError, 'injected libvirt failure',
                error_code=fakelibvirt.VIR_ERR_INTERNAL_ERROR,
                error_domain=fakelibvirt.VIR_FROM_QEMU)
        with mock.patch('nova.tests.fixtures.libvirt.Connection.defineXML',
                        side_effect=refuse):
            server = self.boot('3g.20gb')
        self.assertEqual('ERROR', server['status'])
        self._run_periodics()
        self.assertEqual({}, self.instances())
        self.assertEqual([], self.busy_traits())
        # The slices are free: the largest profile fits again.
        self.assert_on_own_instance(self.boot('7g.40gb'), '7g.40gb')


class DynamicGpuMigrationTest(_DynamicBase):
    """Two hosts, each with one dynamic A100."""

    def setUp(self):
        super().setUp()
        self.start_gpu_compute('host2')

    def instances_on(self, hostname):
        gpu = self.hardware(hostname).gpus[0]
        return {gi.placement.start: gi.profile for gi in gpu.gpu_instances}

    def test_cold_migration_carves_at_the_destination(self):
        server = self.boot('3g.20gb')
        server, source, dest = self.cold_migrate(server)
        self.assertEqual({}, self.instances_on(source))
        self.assertEqual({4: '3g.20gb'}, self.instances_on(dest))
        (kind, _vf), = self.domain_keys(dest, server)
        self.assertEqual('vf', kind)

    def test_live_migration_is_refused_and_the_guest_stays(self):
        server = self.boot('2g.10gb')
        source = self.host_of(server)
        before = self.instances_on(source)
        # (Casts are calls in these tests: the refusal surfaces here; in a
        # cloud the migration ends in error and the server stays.)
        self.assertRaises(
            client.OpenStackApiException, self.api.post_server_action,
            server['id'], {'os-migrateLive': {
                'host': 'host2' if source == 'host1' else 'host1',
                'block_migration': 'auto'}})
        self.assertIn('live migration of guests on dynamic GPUs is not '
                      'supported yet', self.stdlog.logger.output)
        server = self._wait_for_state_change(server, 'ACTIVE')
        self.assertEqual(source, self.host_of(server))
        self.assertEqual(before, self.instances_on(source))
        self.assertEqual({}, self.instances_on(
            'host2' if source == 'host1' else 'host1'))

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

"""Dynamic time-sliced GPUs through Nova: a vGPU created per guest.

One compute host, one A100-PCIE-40GB on vendor VFIO in mixed-size
mode (an R580 driver, so each VF reports its ``placement_id``) that the
layout marks ``owner: dynamic, mode: time-sliced``; flavors ask for its
framebuffer slices and a type
(:func:`gpuvirt_nova.dynamic.requests.ts_flavor_extra_specs`); the real
scheduler runs :class:`VGPUGeometryFilter`, the driver creates the
vGPU.
"""

import os
import shutil
import tempfile

from gpuvirt_nova.dynamic import requests
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import model
from gpuvirt_nova.hardware import ts_placement
from gpuvirt_nova.placement import naming
# NOTE: imported before Nova's fixtures forbid os.uname() (numpy).
from gpuvirt_nova.scheduler import filters  # noqa: F401
from tests.functional import base

MODEL = 'A100-PCIE-40GB'
SIM_HOST = '''hostname: host1
driver_version: "580.65.06"
gpus:
  - model: %s
    mode: vfio
    scheduling: mixed-size
''' % MODEL
LAYOUT = '''gpu_cluster:
  nodes:
    - host: {host}
      gpus:
        - index: [0]
          owner: dynamic
          mode: time-sliced
          scheduling: mixed-size
'''


class _TimeSlicedBase(base.GpuvirtTestBase):
    """Hosts with one dynamic time-sliced A100 each; type flavors."""

    LAYOUT = LAYOUT

    def _setup_scheduler_service(self):
        self.flags(available_filters=[
            'nova.scheduler.filters.all_filters',
            'gpuvirt_nova.scheduler.filters.all_filters'],
            group='filter_scheduler')
        self.flags(cluster_usage_cache_seconds=0, group='gpuvirt_scheduler')
        self.ADDITIONAL_FILTERS = [
            'VGPUUserLimitFilter', 'VGPUFairShareFilter',
            'VGPUGeometryFilter']
        return super()._setup_scheduler_service()

    def setUp(self):
        directory = tempfile.mkdtemp(prefix='gpuvirt-ts-')
        self.addCleanup(shutil.rmtree, directory)
        self.SIM_SPEC = os.path.join(directory, 'host.yaml')
        with open(self.SIM_SPEC, 'w') as handle:
            handle.write(SIM_HOST)
        super().setUp()
        self.start_gpu_compute('host1')
        self.gpu = self.gpu_address('host1', 0)
        self.rp = self.gpu_rp_uuid('host1', 0)
        self.model = catalog.load().get(MODEL)
        self.flavors = {}
        for vgpu_type in self.model.time_sliced_types('C'):
            self.flavors[vgpu_type.name] = self._create_flavor(
                memory_mb=512, vcpu=1, disk=1, ephemeral=0,
                extra_spec=requests.ts_flavor_extra_specs(
                    vgpu_type.name,
                    ts_placement.type_slices(self.model, vgpu_type)))

    # -- helpers ------------------------------------------------------------

    def boot(self, type_name):
        return self.settle(self.api.post_server({'server': self._build_server(
            flavor_id=self.flavors[type_name], networks='none')}))

    def placements(self):
        """{placement slot: type} of the GPU's vGPUs, as the VFs report."""
        gpu = self.hardware('host1').gpu(self.gpu)
        return {vf.placement_id: vf.current_vgpu_type for vf in gpu.vfs
                if vf.current_vgpu_type}

    def assert_valid(self, placements):
        """Each at one of its type's placements, none overlapping."""
        taken = set()
        for start, type_name in placements.items():
            vgpu_type = self.model.vgpu_type(type_name)
            size = ts_placement.placement_size(self.model, vgpu_type)
            where = model.Placement(start, size)
            self.assertIn(where, ts_placement.supported_placements(
                self.model, vgpu_type))
            self.assertFalse(where.slices & taken, placements)
            taken |= where.slices

    def usages(self):
        return self._get_provider_usages(self.rp)

    def busy_traits(self):
        return sorted(t for t in self._get_provider_traits(self.rp)
                      if naming.SLICE_USED_TRAIT_RE.match(t))

    def assert_active(self, server, type_name):
        self.assertEqual('ACTIVE', server['status'], server.get('fault'))
        return self.one_vf('host1', server, 0, type_name)


class DynamicTimeSlicedTest(_TimeSlicedBase):
    """One host, one dynamic time-sliced A100 in mixed-size mode."""

    def test_provider_offers_framebuffer_slices(self):
        inventory = self._get_provider_inventory(self.rp)
        self.assertEqual({naming.FB_SLICE_RC: 40, naming.DYNAMIC_VGPU_RC: 8},
                         {rc: inv['total'] for rc, inv in inventory.items()})
        traits = self._get_provider_traits(self.rp)
        for trait in (naming.DYNAMIC_TRAIT, naming.MIXED_SIZE_TRAIT,
                      naming.vgpu_type_trait('A100-20C'),
                      naming.vgpu_type_trait('A100-4C')):
            self.assertIn(trait, traits)
        self.assertEqual({}, self.placements())

    def test_mixed_sizes_land_at_valid_placements_and_deletes_return(self):
        # 20C + 10C + 5C + 4C share one GPU: no equal-size carve, and no
        # static carve of one type, serves them all.
        kinds = ['A100-20C', 'A100-10C', 'A100-5C', 'A100-4C']
        servers = [self.boot(t) for t in kinds]
        for server, type_name in zip(servers, kinds):
            self.assert_active(server, type_name)
        self.assertEqual({0: 'A100-20C', 4: 'A100-10C', 6: 'A100-5C',
                          7: 'A100-4C'}, self.placements())
        self.assert_valid(self.placements())
        self.assertEqual({naming.FB_SLICE_RC: 39, naming.DYNAMIC_VGPU_RC: 4},
                         self.usages())
        for server in servers:
            self._delete_server(server)
        self._run_periodics()
        self.assertEqual({}, self.placements())
        self.assertEqual({naming.FB_SLICE_RC: 0, naming.DYNAMIC_VGPU_RC: 0},
                         self.usages())
        self.assertEqual([], self.busy_traits())

    def test_type_without_a_free_placement_is_refused_until_a_delete(self):
        eights = [self.boot('A100-8C') for _ in range(4)]
        for server in eights:
            self.assert_active(server, 'A100-8C')
        self.assertEqual({0: 'A100-8C', 2: 'A100-8C', 4: 'A100-8C',
                          6: 'A100-8C'}, self.placements())
        self._run_periodics()
        self.assertEqual(8, len(self.busy_traits()))

        # Placement alone has room (8 of 40 slices free, a 5C takes 5);
        # every placement slot is taken: the scheduler refuses, and the
        # host never tries.
        refused = self.boot('A100-5C')
        self.assertEqual('ERROR', refused['status'])
        self.assertIn('No valid host', refused['fault']['message'])
        self.assertNotIn('cannot carve a time-sliced vGPU',
                         self.stdlog.logger.output)
        self.assertEqual(4, len(self.placements()))

        second = eights[1]
        self._delete_server(second)
        self._run_periodics()
        self.assertEqual(6, len(self.busy_traits()))
        five = self.boot('A100-5C')
        self.assert_active(five, 'A100-5C')
        self.assertEqual({0: 'A100-8C', 2: 'A100-5C', 4: 'A100-8C',
                          6: 'A100-8C'}, self.placements())
        self.assertEqual({naming.FB_SLICE_RC: 29, naming.DYNAMIC_VGPU_RC: 4},
                         self.usages())

    def test_host_reboot_restores_every_guests_vgpu(self):
        self.flags(resume_guests_state_on_host_boot=True)
        small = self.boot('A100-4C')       # slot 0
        large = self.boot('A100-20C')      # slots 4-7
        ten = self.boot('A100-10C')        # slots 2-3
        self._delete_server(small)
        self._run_periodics()
        servers = {'A100-20C': large, 'A100-10C': ten}
        before = self.placements()
        self.assertEqual({2: 'A100-10C', 4: 'A100-20C'}, before)
        vfs = {t: self.domain_keys('host1', s) for t, s in servers.items()}

        conn = self.computes['host1'].driver._host.get_connection()
        base.inprocess.power_off_all(conn)
        self.sims['host1'].reboot()
        self.assertEqual({}, self.placements())
        self.carve('host1')   # layout apply --boot: VFs only
        self.assertEqual({}, self.placements())

        self.restart_compute_service('host1')
        # Every guest's vGPU is back, on the VF its definition names, in
        # the order of the recorded placements (each at its old one or
        # lower).
        after = self.placements()
        self.assertEqual(sorted(before.values()), sorted(after.values()))
        self.assert_valid(after)
        for type_name, server in servers.items():
            server = self._wait_for_state_change(server, 'ACTIVE')
            self.assertEqual(vfs[type_name],
                             self.domain_keys('host1', server))
            self.assert_active(server, type_name)

    def test_max_jobs_per_user_counts_guests_not_slices(self):
        # Two guests of 20 and 10 slices are two vGPUs: the third boot is
        # refused whatever its size; a delete makes room again.
        self.flags(max_jobs_per_user=2, group='gpuvirt_scheduler')
        first = self.boot('A100-20C')
        self.assert_active(first, 'A100-20C')
        self.assert_active(self.boot('A100-10C'), 'A100-10C')
        refused = self.boot('A100-4C')
        self.assertEqual('ERROR', refused['status'])
        self.assertIn('holds 2 vGPU(s) and asks 1 more',
                      refused['fault']['message'])
        self._delete_server(first)
        self.assert_active(self.boot('A100-4C'), 'A100-4C')


class DynamicTimeSlicedMigrationTest(_TimeSlicedBase):
    """Two hosts, each with one dynamic time-sliced A100."""

    def setUp(self):
        super().setUp()
        self.start_gpu_compute('host2')

    def vgpus_on(self, hostname):
        gpu = self.hardware(hostname).gpus[0]
        return {vf.placement_id: vf.current_vgpu_type for vf in gpu.vfs
                if vf.current_vgpu_type}

    def test_cold_migration_creates_at_the_destination(self):
        server = self.boot('A100-10C')
        server, source, dest = self.cold_migrate(server)
        self.assertEqual({}, self.vgpus_on(source))
        self.assertEqual({0: 'A100-10C'}, self.vgpus_on(dest))
        (kind, _vf), = self.domain_keys(dest, server)
        self.assertEqual('vf', kind)

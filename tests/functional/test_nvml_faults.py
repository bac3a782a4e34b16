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

"""NVML faults through Nova, the driver and Placement (fault scenario 7).

A critical XID, a timeout or another NVML error on one GPU fences that
GPU alone: its provider is reserved and marked with the reason, the
other GPU keeps its inventory and takes the new servers, nova-compute
stays up. A driver/library version mismatch says nothing about any one
GPU: the fences stay as they are until NVML answers again.
"""

import pynvml

from gpuvirt_nova.demo import nova as inprocess
from gpuvirt_nova.placement import naming
from tests.functional import base

TYPE = 'A100-2-10C'
RC = naming.resource_class(TYPE)


class NvmlFaultTests(base.GpuvirtTestBase):

    LAYOUT = inprocess.layout_text(('index: [0]', TYPE, 3),
                                   ('index: [1]', TYPE, 3))

    def setUp(self):
        super().setUp()
        # A healthy GPU is released at its first healthy check (the wait
        # itself is unit-tested in test_fence).
        self.flags(fence_release_after=0, group='gpuvirt_monitor')
        self.start_gpu_compute('host1')
        self.sim = self.sims['host1']
        self.sick, self.well = (self.gpu_address('host1', i) for i in (0, 1))
        # The first update opens NVML and watches for XIDs from then on.
        self._run_periodics()

    def provider(self, index):
        uuid = self.gpu_rp_uuid('host1', index)
        return (self._get_provider_inventory(uuid)[RC],
                set(self._get_provider_traits(uuid)))

    def assert_fenced(self, reason):
        inventory, traits = self.provider(0)
        self.assertEqual(inventory['total'], inventory['reserved'])
        self.assertIn(naming.UNHEALTHY_TRAIT, traits)
        self.assertIn(naming.unhealthy_trait(reason), traits)

    def assert_offered(self, index):
        inventory, traits = self.provider(index)
        self.assertEqual(0, inventory['reserved'])
        self.assertNotIn(naming.UNHEALTHY_TRAIT, traits)

    def assert_compute_up_and_lands_on_the_well_gpu(self):
        (service,) = [s for s in self.admin_api.get_services(
            binary='nova-compute') if s['host'] == 'host1']
        self.assertEqual('up', service['state'])
        server = self._create_server(flavor_id=self.vgpu_flavor(TYPE),
                                     networks='none')
        (rp,) = self.vgpu_allocations(server)
        self.assertEqual(self.gpu_rp_uuid('host1', 1), rp)

    def test_a_critical_xid_fences_that_gpu(self):
        self.sim.inject_xid(self.sick, 79)
        self.sim.inject_xid(self.well, 13)  # an application's fault
        self._run_periodics()
        self.assert_fenced('xid-79')
        self.assert_offered(1)
        self.assertIn('GPU %s is fenced (xid-79)' % self.sick,
                      self.stdlog.logger.output)
        self.assert_compute_up_and_lands_on_the_well_gpu()
        # No new XID since: healthy, offered again.
        self._run_periodics()
        self.assert_offered(0)

    def test_an_nvml_timeout_on_one_gpu_fences_it_alone(self):
        self.sim.set_gpu_nvml_error(self.sick, pynvml.NVML_ERROR_TIMEOUT)
        self._run_periodics()
        self.assert_fenced('nvml-timeout')
        self.assert_offered(1)
        self.assert_compute_up_and_lands_on_the_well_gpu()
        self.sim.set_gpu_nvml_error(self.sick, pynvml.NVML_ERROR_UNKNOWN)
        self._run_periodics()
        self.assert_fenced('nvml-error')
        self.sim.set_gpu_nvml_error(self.sick, None)
        self._run_periodics()
        self.assert_offered(0)

    def test_gpu_is_lost_fences_it_alone(self):
        self.sim.set_gpu_lost(self.sick)
        self._run_periodics()
        self.assert_fenced('gpu-lost')
        self.assert_offered(1)
        self.assert_compute_up_and_lands_on_the_well_gpu()

    def test_a_version_mismatch_keeps_the_fences_as_they_are(self):
        self.sim.set_gpu_lost(self.sick)
        self._run_periodics()
        self.assert_fenced('gpu-lost')
        # The driver is upgraded under NVML: every GPU answers a version
        # mismatch, so none can be judged; the lost one comes back
        # meanwhile but stays fenced, the other stays offered.
        self.sim.set_gpu_lost(self.sick, False)
        for name in ('nvmlInit', 'nvmlDeviceGetUUID'):
            self.sim.inject_failure(
                name, nvml_error=pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH,
                count=None)
        self._run_periodics()
        self.assert_fenced('gpu-lost')
        self.assert_offered(1)
        self.assertIn('fences kept as they are', self.stdlog.logger.output)
        self.assert_compute_up_and_lands_on_the_well_gpu()
        # NVML answers again: judged healthy, released.
        self.sim.clear_failures()
        self._run_periodics()
        self.assert_offered(0)

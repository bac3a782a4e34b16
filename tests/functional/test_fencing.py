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

"""Fencing an unhealthy GPU through Nova, the driver and Placement.

The simulator loses a GPU -> the driver's next provider update reserves
its whole inventory and marks why -> a new vGPU server lands on the other
GPU -> the GPU comes back -> after its healthy time it is offered again.
"""

from gpuvirt_nova.demo import nova as inprocess
from gpuvirt_nova.placement import naming
from tests.functional import base

TYPE = 'A100-2-10C'
RC = naming.resource_class(TYPE)
LOST_TRAIT = naming.unhealthy_trait('gpu-lost')


class FencingTests(base.GpuvirtTestBase):

    # Both GPUs offer the same type, so the scheduler may pick either.
    LAYOUT = inprocess.layout_text(('index: [0]', TYPE, 3),
                                   ('index: [1]', TYPE, 3))

    def setUp(self):
        super().setUp()
        # No waiting in the test: a recovered GPU is released at the
        # first healthy update (the wait itself is unit-tested).
        self.flags(fence_release_after=0, group='gpuvirt_monitor')
        self.start_gpu_compute('host1')

    def provider(self, index):
        uuid = self.gpu_rp_uuid('host1', index)
        return (self._get_provider_inventory(uuid)[RC],
                set(self._get_provider_traits(uuid)))

    def gpu_of(self, server):
        (rp,) = self.vgpu_allocations(server)
        return rp

    def test_lost_gpu_is_fenced_and_offered_again_when_back(self):
        flavor = self.vgpu_flavor(TYPE)
        # A guest already on the GPU that will be lost.
        first = self._create_server(flavor_id=flavor, networks='none')
        sick = [self.gpu_rp_uuid('host1', i) for i in (0, 1)].index(
            self.gpu_of(first))
        well = 1 - sick
        lost = self.gpu_address('host1', sick)

        self.sims['host1'].set_gpu_lost(lost)
        self._run_periodics()
        inventory, traits = self.provider(sick)
        self.assertEqual(inventory['total'], inventory['reserved'])
        self.assertIn(naming.UNHEALTHY_TRAIT, traits)
        self.assertIn(LOST_TRAIT, traits)
        other_inventory, other_traits = self.provider(well)
        self.assertEqual(0, other_inventory['reserved'])
        self.assertNotIn(naming.UNHEALTHY_TRAIT, other_traits)
        self.assertIn('GPU %s is fenced (gpu-lost)' % lost,
                      self.stdlog.logger.output)

        # New servers land on the other GPU; the guest on the lost one
        # is left alone.
        for _ in range(2):
            server = self._create_server(flavor_id=flavor, networks='none')
            self.assertEqual(self.gpu_rp_uuid('host1', well),
                             self.gpu_of(server))
        self.assertEqual('ACTIVE', self.api.get_server(first['id'])[
            'status'])
        self.assertEqual(1, len(self.domain_keys('host1', first)))

        # The GPU comes back: offered again, the mark gone.
        self.sims['host1'].set_gpu_lost(lost, False)
        self._run_periodics()
        inventory, traits = self.provider(sick)
        self.assertEqual(0, inventory['reserved'])
        self.assertNotIn(naming.UNHEALTHY_TRAIT, traits)
        self.assertNotIn(LOST_TRAIT, traits)
        # Three slots are free: one on the healthy GPU, two on the
        # recovered one; three servers fit only if it is offered.
        landed = [self.gpu_of(self._create_server(flavor_id=flavor,
                                                  networks='none'))
                  for _ in range(3)]
        self.assertEqual(2, landed.count(self.gpu_rp_uuid('host1', sick)))

    def test_a_restarted_compute_keeps_the_fence(self):
        lost = self.gpu_address('host1', 0)
        self.flags(fence_release_after=3600, group='gpuvirt_monitor')
        self.sims['host1'].set_gpu_lost(lost)
        self._run_periodics()
        self.sims['host1'].set_gpu_lost(lost, False)
        # nova-compute restarts: its memory is gone, the mark is not,
        # and the GPU still waits its healthy time.
        self.restart_compute_service('host1')
        self._run_periodics()
        inventory, traits = self.provider(0)
        self.assertEqual(inventory['total'], inventory['reserved'])
        self.assertIn(LOST_TRAIT, traits)

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

"""``apply --drain`` against the real Placement code (embedded, SQLite).

The GPU's provider is synced from the layout, an instance's allocation
holds it, and apply must leave the GPU alone until the allocation is gone,
releasing the reservation either way.
"""

import os
import uuid

from gpuvirt_nova.layout import apply
from gpuvirt_nova.placement import connect
from gpuvirt_nova.placement import drain as placement_drain
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import offers
from gpuvirt_nova.placement import sync
from gpuvirt_nova.placement import tree
from tests.unit.layout import base

NODE = 'node01'


class TestDrainThroughPlacement(base.LayoutTestCase):

    def setUp(self):
        super().setUp()
        self.sim = self.sim_host('1xA100-PCIE-40GB:mig@%s' % NODE)
        self.layout_2g = self.layout(base.DESIGN_EXAMPLE)
        self.layout_3g = self.layout(base.DESIGN_EXAMPLE.replace(
            '8GB', '16GB'))
        self.apply(self.layout_2g, apply.Options())
        conn = connect.connect(state_directory=os.path.join(self.tmp, 'pl'),
                               embedded_for='a simulated host')
        self.client = conn.__enter__().client
        self.addCleanup(conn.__exit__, None, None, None)
        host = self.read(self.sim)
        sync.sync(self.client, tree.build_provider_tree(
            NODE, host, offers.offers_from_layout(self.layout_2g, host,
                                                  NODE)), create_root=True)
        self.address = host.gpus[0].address
        self.rp = self.client.provider_by_name(
            naming.gpu_provider_name(NODE, self.address))['uuid']

    def apply(self, layout, options):
        return self.apply_layout(layout, self.sim, NODE, options)

    def reserved(self):
        return [inv['reserved'] for inv in
                self.client.inventories(self.rp)[1].values()]

    def test_allocated_gpu_is_skipped_then_applied_once_free(self):
        consumer = str(uuid.uuid4())
        resource_class = list(self.client.inventories(self.rp)[1])[0]
        self.client.put_allocations(
            consumer, {self.rp: {'resources': {resource_class: 1}}},
            project_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()))
        before = self.state(self.sim)
        drainer = placement_drain.PlacementDrainer(self.client)
        options = apply.Options(drainer=drainer, drain_timeout=0,
                                drain_interval=0)
        result = self.apply(self.layout_3g, options)[0]
        self.assertEqual(apply.SKIPPED, result.status)
        self.assertEqual(before, self.state(self.sim))
        self.assertEqual([0], self.reserved())

        self.client.delete_allocations(consumer)
        result = self.apply(self.layout_3g, options)[0]
        self.assertEqual(apply.APPLIED, result.status, result.message)
        self.assertEqual([0], self.reserved())
        profiles = {gi.profile
                    for gi in self.read(self.sim).gpus[0].gpu_instances}
        self.assertEqual({'2g.10gb', '3g.20gb'}, profiles)

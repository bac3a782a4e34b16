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

"""The layout engine drains a GPU through the real Placement."""

import uuid

from gpuvirt_nova import exception
from gpuvirt_nova.layout import drain
from gpuvirt_nova.placement import drain as placement_drain
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import sync
from gpuvirt_nova.placement import tree
from tests.integration.placement import base

A = '0000:3b:00.0'
RC = 'CUSTOM_VGPU_A100_2_10C'


class TestPlacementDrainer(base.PlacementTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.host = base.simulated_host('1xA100-PCIE-40GB:mig')

    def setUp(self):
        super().setUp()
        sync.sync(self.client, tree.build_provider_tree(
            self.compute_node, self.host, {A: {'A100-2-10C': 3}}),
            create_root=True)
        self.uuid = self.client.provider_by_name(
            naming.gpu_provider_name(self.compute_node, A))['uuid']
        self.drainer = placement_drain.PlacementDrainer(self.client)

    def test_reserve_and_release(self):
        self.drainer.set_reserved(self.compute_node, A, True)
        self.assertEqual(3, self.client.inventories(self.uuid)[1][RC][
            'reserved'])
        self.drainer.set_reserved(self.compute_node, A, False)
        self.assertEqual(0, self.client.inventories(self.uuid)[1][RC][
            'reserved'])

    def sync_undrained(self):
        """A sync from a tree built without any draining GPU."""
        return sync.sync(self.client, tree.build_provider_tree(
            self.compute_node, self.host, {A: {'A100-2-10C': 3}}))

    def test_sync_keeps_a_drained_gpu_reserved(self):
        self.drainer.set_reserved(self.compute_node, A, True)
        self.assertIn(naming.DRAINING_TRAIT,
                      self.client.traits(self.uuid)[1])
        report = self.sync_undrained()
        self.assertEqual([], report.changes)
        self.assertEqual(0, report.writes)
        self.assertEqual(3, self.client.inventories(self.uuid)[1][RC][
            'reserved'])
        self.assertIn(naming.DRAINING_TRAIT,
                      self.client.traits(self.uuid)[1])

        self.drainer.set_reserved(self.compute_node, A, False)
        self.assertNotIn(naming.DRAINING_TRAIT,
                         self.client.traits(self.uuid)[1])
        self.sync_undrained()
        self.assertEqual(0, self.client.inventories(self.uuid)[1][RC][
            'reserved'])

    def test_sync_reserves_a_gpu_marked_while_unreserved(self):
        # The drainer marks first, then reserves: a sync in between
        # already reserves.
        self.drainer._set_mark(self.uuid, True)
        self.sync_undrained()
        self.assertEqual(3, self.client.inventories(self.uuid)[1][RC][
            'reserved'])

    def test_drain_times_out_while_allocated_and_releases(self):
        consumer = str(uuid.uuid4())
        self.client.put_allocations(
            consumer, {self.uuid: {'resources': {RC: 1}}},
            project_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()))
        self.assertTrue(self.drainer.has_allocations(self.compute_node, A))
        ticks = iter(range(100))
        drained = drain.drain(self.drainer, self.compute_node, A, timeout=2,
                              interval=1, sleep=lambda s: None,
                              clock=lambda: next(ticks))
        self.assertFalse(drained)
        self.assertEqual(0, self.client.inventories(self.uuid)[1][RC][
            'reserved'])
        self.client.delete_allocations(consumer)
        self.assertTrue(drain.drain(self.drainer, self.compute_node, A,
                                    timeout=2, interval=1,
                                    sleep=lambda s: None))
        self.assertEqual(3, self.client.inventories(self.uuid)[1][RC][
            'reserved'])

    def test_unknown_gpu_is_a_usage_error(self):
        exc = self.assertRaises(exception.UsageError,
                                self.drainer.has_allocations,
                                self.compute_node, '0000:99:00.0')
        self.assertIn('placement sync', str(exc))

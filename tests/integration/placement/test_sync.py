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

"""``placement sync`` against the real Placement code (SQLite or MariaDB)."""

import uuid

from gpuvirt_nova import exception
from gpuvirt_nova.placement import client as placement_client
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import sync
from gpuvirt_nova.placement import tree
from tests.integration.placement import base

SPEC = '2xA100-PCIE-40GB:mig'
A = '0000:3b:00.0'
B = '0000:5e:00.0'
UPSTREAM = '0000:86:00.0'
RC_MIG = 'CUSTOM_VGPU_A100_2_10C'
RC_TS = 'CUSTOM_VGPU_A100_4C'
OFFERS = {A: {'A100-2-10C': 3}, B: {'A100-4C': 10}}


class SyncTestCase(base.PlacementTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.host = base.simulated_host(SPEC)

    def name(self, address):
        return naming.gpu_provider_name(self.compute_node, address)

    def desired(self, offers=None, **kwargs):
        return tree.build_provider_tree(
            self.compute_node, self.host,
            OFFERS if offers is None else offers, **kwargs)

    def sync(self, offers=None, client=None, **kwargs):
        return sync.sync(client or self.client, self.desired(offers),
                         create_root=True, **kwargs)

    def gpu_providers(self):
        root = self.client.provider_by_name(self.compute_node)
        return {p['name']: p for p in self.client.providers(
            in_tree=root['uuid']) if p['uuid'] != root['uuid']}

    def inventory(self, name):
        provider = self.client.provider_by_name(name)
        return self.client.inventories(provider['uuid'])[1]

    def traits(self, name):
        provider = self.client.provider_by_name(name)
        return self.client.traits(provider['uuid'])[1]

    def allocate(self, provider_name, rc, count):
        provider = self.client.provider_by_name(provider_name)
        consumer = str(uuid.uuid4())
        self.client.put_allocations(
            consumer, {provider['uuid']: {'resources': {rc: count}}},
            project_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()))
        return consumer


class TestFirstAndSecondSync(SyncTestCase):

    def test_first_sync_creates_the_tree(self):
        report = self.sync()
        providers = self.gpu_providers()
        root = self.client.provider_by_name(self.compute_node)
        name_a = self.name(A)
        name_b = self.name(B)
        self.assertEqual({name_a, name_b}, set(providers))
        for provider in providers.values():
            self.assertEqual(root['uuid'], provider['parent_provider_uuid'])
        inventory = self.inventory(name_a)[RC_MIG]
        self.assertEqual((3, 0, 1, 3, 1, 1.0), (
            inventory['total'], inventory['reserved'], inventory['min_unit'],
            inventory['max_unit'], inventory['step_size'],
            inventory['allocation_ratio']))
        self.assertEqual({RC_TS}, set(self.inventory(name_b)))
        expected = set(self.desired().provider(name_a).traits)
        self.assertEqual(expected, self.traits(name_a))
        self.assertIn('CUSTOM_MIG_2G_10GB', self.traits(name_a))
        self.assertGreater(report.writes, 0)
        self.assertEqual(report.calls, report.reads + report.writes)

    def test_first_sync_does_not_read_back_what_it_created(self):
        report = self.sync()
        # Root by name, its tree, the classes, the traits: the same four
        # reads whatever the number of GPUs; each GPU is then one POST,
        # its inventory and its traits, written from the POST's answer.
        self.assertEqual(4, report.reads)
        gpus = len(self.desired().providers)
        names = [c for c in report.changes
                 if c.action in ('create resource class', 'create trait')]
        # + the root's POST and the names this Placement lacked.
        self.assertEqual(1 + 3 * gpus + len(names), report.writes)

    def test_second_sync_writes_nothing(self):
        self.sync()
        self.client.reset_counts()
        report = self.sync()
        self.assertEqual(0, report.writes)
        self.assertEqual(0, self.client.writes)
        self.assertGreater(report.reads, 0)
        self.assertEqual([], report.changes)

    def test_dry_run_writes_nothing_and_reports(self):
        self.sync()
        report = self.sync({A: {'A100-2-10C': 2}}, dry_run=True)
        self.assertEqual(0, report.writes)
        actions = {(c.provider, c.action) for c in report.changes}
        self.assertIn((self.name(A), 'update inventory'), actions)
        self.assertIn((self.name(B), 'delete provider'), actions)
        self.assertEqual(3, self.inventory(
            self.name(A))[RC_MIG]['total'])

    def test_missing_compute_node_without_create_root(self):
        exc = self.assertRaises(exception.UsageError, sync.sync,
                                self.client, self.desired())
        self.assertIn(self.compute_node, str(exc))
        self.assertEqual(0, self.client.writes)


class TestLayoutChanges(SyncTestCase):

    def test_layout_change_updates_totals_and_traits(self):
        self.sync()
        name_a = self.name(A)
        report = self.sync({A: {'A100-3-20C': 2}, B: {'A100-4C': 5}})
        self.assertEqual({'CUSTOM_VGPU_A100_3_20C'},
                         set(self.inventory(name_a)))
        self.assertEqual(2, self.inventory(name_a)[
            'CUSTOM_VGPU_A100_3_20C']['total'])
        traits = self.traits(name_a)
        self.assertIn('CUSTOM_MIG_3G_20GB', traits)
        self.assertNotIn('CUSTOM_MIG_2G_10GB', traits)
        self.assertNotIn('CUSTOM_VGPU_TYPE_A100_2_10C', traits)
        self.assertEqual(5, self.inventory(
            self.name(B))[RC_TS]['total'])
        self.assertGreater(report.writes, 0)
        self.assertEqual(0, self.sync({A: {'A100-3-20C': 2},
                                       B: {'A100-4C': 5}}).writes)

    def test_draining_reserves_the_whole_gpu(self):
        self.sync()
        desired = self.desired(draining=[B])
        sync.sync(self.client, desired)
        inventory = self.inventory(self.name(B))
        self.assertEqual(10, inventory[RC_TS]['reserved'])

    def test_foreign_traits_are_left_alone(self):
        self.sync()
        name = self.name(A)
        provider = self.client.provider_by_name(name)
        self.client.create_trait('CUSTOM_RACK_A')
        generation, traits = self.client.traits(provider['uuid'])
        self.client.set_traits(provider['uuid'], generation,
                               traits | {'CUSTOM_RACK_A'})
        self.assertEqual(0, self.sync().writes)
        self.sync({A: {'A100-4C': 1}, B: {'A100-4C': 10}})
        traits = self.traits(name)
        self.assertIn('CUSTOM_RACK_A', traits)
        self.assertNotIn('CUSTOM_MIG_2G_10GB', traits)

    def test_stale_provider_without_allocations_is_deleted(self):
        self.sync()
        report = self.sync({A: {'A100-2-10C': 3}})
        self.assertEqual([self.name(A)],
                         list(self.gpu_providers()))
        self.assertIn('delete provider', [c.action for c in report.changes])

    def test_providers_we_did_not_create_are_never_deleted(self):
        root = self.client.provider_by_name(self.compute_node) or \
            self.client.create_provider(self.compute_node)
        upstream = self.name(UPSTREAM)
        self.client.create_provider(upstream, root['uuid'])
        self.sync()
        self.assertIn(upstream, self.gpu_providers())


class TestProtection(SyncTestCase):

    def test_provider_with_allocations_is_kept_and_reserved(self):
        self.sync()
        name_b = self.name(B)
        self.allocate(name_b, RC_TS, 2)
        report = self.sync({A: {'A100-2-10C': 3}})
        self.assertIn(name_b, self.gpu_providers())
        inventory = self.inventory(name_b)[RC_TS]
        self.assertEqual((10, 10), (inventory['total'],
                                    inventory['reserved']))
        self.assertEqual(1, len(report.protected))
        self.assertIn(name_b, report.protected[0])
        self.assertIn('2 %s' % RC_TS, report.protected[0])
        self.assertEqual(0, self.sync({A: {'A100-2-10C': 3}}).writes)

    def test_inventory_never_lowered_below_usage(self):
        self.sync()
        name_a = self.name(A)
        self.allocate(name_a, RC_MIG, 2)
        report = self.sync({A: {'A100-2-10C': 1}, B: {'A100-4C': 10}})
        inventory = self.inventory(name_a)[RC_MIG]
        self.assertEqual(2, inventory['total'])
        self.assertEqual(2, inventory['reserved'])
        self.assertIn('2 are allocated', report.protected[0])

    def test_freed_allocations_let_the_change_through(self):
        self.sync()
        name_b = self.name(B)
        consumer = self.allocate(name_b, RC_TS, 1)
        self.sync({A: {'A100-2-10C': 3}})
        self.client.delete_allocations(consumer)
        self.sync({A: {'A100-2-10C': 3}})
        self.assertNotIn(name_b, self.gpu_providers())


class _RacingClient(placement_client.PlacementClient):
    """Lets another writer bump a provider's generation before our PUTs."""

    def __init__(self, adapter, rival, bumps):
        super().__init__(adapter)
        self.rival = rival
        self.bumps = bumps

    def set_inventories(self, uuid, generation, inventories):
        if self.bumps:
            self.bumps -= 1
            trait = 'CUSTOM_RACK_B%d' % self.bumps
            self.rival.create_trait(trait)
            rival_generation, traits = self.rival.traits(uuid)
            self.rival.set_traits(uuid, rival_generation, traits | {trait})
        return super().set_inventories(uuid, generation, inventories)


class TestConcurrentWriter(SyncTestCase):

    def test_generation_conflicts_are_retried_on_fresh_state(self):
        self.sync()
        rival = self.new_client()
        racing = _RacingClient(self.sdk.placement, rival, bumps=2)
        report = self.sync({A: {'A100-2-10C': 2}, B: {'A100-4C': 8}},
                           client=racing)
        self.assertEqual(2, report.conflicts)
        name_a = self.name(A)
        self.assertEqual(2, self.inventory(name_a)[RC_MIG]['total'])
        self.assertTrue({'CUSTOM_RACK_B0', 'CUSTOM_RACK_B1'}
                        <= self.traits(name_a))

    def test_conflicts_that_never_end_fail_with_the_call(self):
        self.sync()
        rival = self.new_client()
        racing = _RacingClient(self.sdk.placement, rival, bumps=100)
        exc = self.assertRaises(
            placement_client.Conflict, self.sync,
            {A: {'A100-2-10C': 1}}, client=racing, retries=2)
        self.assertIn('409', str(exc))


class TestBackend(base.PlacementTestCase):

    def test_runs_on_the_configured_database(self):
        expected = 'mysql' if base.os.environ.get(base.DB_URL_ENV) \
            else 'sqlite'
        self.assertEqual(expected, self.database.backend)
        self.assertEqual(expected, self.service.engine.dialect.name)

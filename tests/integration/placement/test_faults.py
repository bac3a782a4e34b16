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

"""Faults between the sync and a real Placement (SQLite or MariaDB).

A generation-conflict storm: twenty writers on one provider tree at once.
Placement's generations are the only lock; every writer must finish, and
no trait or inventory written by one may be lost to another.
"""

import threading

from gpuvirt_nova.placement import client as placement_client
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import sync
from gpuvirt_nova.placement import tree
from tests.integration.placement import base

SPEC = '2xA100-PCIE-40GB:mig'
A = '0000:3b:00.0'
B = '0000:5e:00.0'
BEFORE = {A: {'A100-2-10C': 3}, B: {'A100-4C': 10}}
AFTER = {A: {'A100-3-20C': 2}, B: {'A100-4C': 8}}
WRITERS = 20
#: Operator traits each operator writer adds to every GPU provider.
OPERATOR_ROUNDS = 3


class _StormClient(placement_client.PlacementClient):
    """Waits, before its first guarded write, until every writer has read.

    So all writers act on the same stale state and the conflicts really
    happen, whatever the speed of the machine.
    """

    GUARDED = ('create_provider', 'set_inventories', 'set_traits')

    def __init__(self, adapter, barrier):
        super().__init__(adapter)
        self.barrier = barrier
        for name in self.GUARDED:
            setattr(self, name, self._first_waits(getattr(self, name)))

    def _first_waits(self, method):
        def call(*args, **kwargs):
            if self.barrier is not None:
                barrier, self.barrier = self.barrier, None
                try:
                    barrier.wait(timeout=120)
                except threading.BrokenBarrierError:
                    pass
            return method(*args, **kwargs)
        return call


class TestGenerationConflictStorm(base.PlacementTestCase):
    """Twenty syncs, or nineteen and an operator changing traits."""

    def setUp(self):
        super().setUp()
        self.all_read = threading.Barrier(WRITERS)
        self.reports = []

    def new_storm_client(self):
        return _StormClient(self.new_client().adapter, self.all_read)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.host = base.simulated_host(SPEC)

    def desired(self, offers):
        return tree.build_provider_tree(self.compute_node, self.host, offers)

    def name(self, address):
        return naming.gpu_provider_name(self.compute_node, address)

    def storm(self, workers):
        """Run ``workers`` (callables) at once; the exceptions they raise."""
        start = threading.Barrier(len(workers))
        errors = []

        def run(work):
            try:
                start.wait(timeout=120)
                work()
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(w,)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            # A liveness bound only: a hung writer fails the test.
            thread.join(timeout=600)
        self.assertEqual([], [t for t in threads if t.is_alive()])
        return errors

    def syncer(self, offers):
        client = self.new_storm_client()
        return lambda: self.reports.append(
            sync.sync(client, self.desired(offers)))

    def operator(self, addresses):
        """An operator's own client adding traits, retrying on 409."""
        client = self.new_storm_client()
        traits = ['CUSTOM_RACK_R%d' % i for i in range(OPERATOR_ROUNDS)]
        for trait in traits:
            client.create_trait(trait)

        def work():
            for trait in traits:
                for address in addresses:
                    uuid = client.provider_by_name(self.name(address))[
                        'uuid']
                    for _ in range(100):
                        generation, current = client.traits(uuid)
                        try:
                            client.set_traits(uuid, generation,
                                              current | {trait})
                            break
                        except placement_client.Conflict:
                            continue
        return work, set(traits)

    def gpu_providers(self):
        root = self.client.provider_by_name(self.compute_node)
        return [p for p in self.client.providers(in_tree=root['uuid'])
                if p['uuid'] != root['uuid']]

    def assert_tree(self, offers, operator_traits=frozenset()):
        desired = self.desired(offers)
        providers = self.gpu_providers()
        names = sorted(p['name'] for p in providers)
        # No duplicates: one provider per GPU, none left over.
        self.assertEqual(sorted(s.name for s in desired.providers), names)
        for spec in desired.providers:
            self.assertEqual(1, len(self.client.providers(name=spec.name)))
            uuid = self.client.provider_by_name(spec.name)['uuid']
            _, inventory = self.client.inventories(uuid)
            self.assertEqual(
                {rc: (inv.total, inv.reserved)
                 for rc, inv in spec.inventories.items()},
                {rc: (inv['total'], inv['reserved'])
                 for rc, inv in inventory.items()})
            _, traits = self.client.traits(uuid)
            self.assertEqual(set(spec.traits) | set(operator_traits),
                             traits)
        # And a later sync finds nothing to write.
        self.assertEqual(0, sync.sync(self.client, desired).writes)

    def test_twenty_first_syncs_create_one_tree(self):
        self.client.create_provider(self.compute_node)
        errors = self.storm([self.syncer(BEFORE) for _ in range(WRITERS)])
        self.assertEqual([], errors)
        # All twenty raced to create the first GPU's provider.
        self.assertEqual(WRITERS, len(self.reports))
        self.assertGreaterEqual(sum(r.conflicts for r in self.reports),
                                WRITERS - 1)
        self.assert_tree(BEFORE)

    def test_syncs_and_an_operator_lose_nothing(self):
        self.client.create_provider(self.compute_node)
        sync.sync(self.client, self.desired(BEFORE))
        operator, operator_traits = self.operator([A, B])
        workers = [self.syncer(AFTER) for _ in range(WRITERS - 1)]
        errors = self.storm(workers + [operator])
        self.assertEqual([], errors)
        # Everyone wrote on the same stale generation: all but one lost.
        self.assertGreaterEqual(sum(r.conflicts for r in self.reports),
                                WRITERS - 2)
        self.assert_tree(AFTER, operator_traits)

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

Placement failing (5xx, unreachable, an answer lost after a write landed)
must cost retries within a bound, then a clear error, and never a
duplicate provider; the next sync converges. A generation-conflict storm
(twenty writers on one tree at once: syncs, an operator's client and
nova-compute's periodic report through the driver): Placement's
generations are the only lock; every writer must finish, and no trait or
inventory written by one may be lost to another.
"""

import os
import threading
import uuid

from keystoneauth1 import exceptions as ks_exceptions
from nova import context as nova_context
from nova import exception as nova_exception
from nova.scheduler.client import report

from gpuvirt_nova.hardware import discover
from gpuvirt_nova.hardware import model
from gpuvirt_nova.layout import apply as apply_mod
from gpuvirt_nova.layout import spec as layout_spec
from gpuvirt_nova.layout import target
from gpuvirt_nova.placement import client as placement_client
from gpuvirt_nova.placement import connect
from gpuvirt_nova.placement import drain as placement_drain
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import offers
from gpuvirt_nova.placement import sync
from gpuvirt_nova.placement import tree
from gpuvirt_nova import sim
from gpuvirt_nova.virt import provider
from tests.integration.placement import base

SPEC = '2xA100-PCIE-40GB:mig'
A = '0000:3b:00.0'
B = '0000:5e:00.0'
BEFORE = {A: {'A100-2-10C': 3}, B: {'A100-4C': 10}}
AFTER = {A: {'A100-3-20C': 2}, B: {'A100-4C': 8}}
WRITERS = 20
#: Operator traits each operator writer adds to every GPU provider.
OPERATOR_ROUNDS = 3
#: The drain tests' carves: the second re-carves both GPUs.
LAYOUT = """gpu_cluster:
  nodes:
    - host: {host}
      gpus:
        - type: A100-PCIE-40GB
          vgpus:
            - {{profile: %s, count: %d}}
"""
BEFORE_LAYOUT = LAYOUT % ('A100-2-10C', 3)
AFTER_LAYOUT = LAYOUT % ('A100-3-20C', 2)
RC_2_10C = 'CUSTOM_VGPU_A100_2_10C'


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
        self.driver_periods = []

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

    def driver(self, offers):
        """nova-compute's periodic report, repeated until it lands.

        What the resource tracker does each period: Nova's report client
        reads the tree, the driver's ``provider.apply_desired`` changes
        it, the report client writes it back under the generations read;
        a conflict clears the cache and the next period tries again.
        """
        reportclient = report.SchedulerReportClient(
            adapter=connect.sdk_for_url(self.service.url).placement)
        context = nova_context.get_admin_context()
        root_uuid = self.client.provider_by_name(self.compute_node)['uuid']
        barrier = self.all_read

        def usages(rp_uuid):
            return reportclient.get('/resource_providers/%s/usages'
                                    % rp_uuid, version='1.9').json()['usages']

        def work():
            for period in range(100):
                provider_tree = reportclient \
                    .get_provider_tree_and_ensure_root(
                        context, root_uuid, name=self.compute_node)
                provider.apply_desired(provider_tree, self.desired(offers),
                                       usages)
                if period == 0:
                    try:
                        barrier.wait(timeout=120)
                    except threading.BrokenBarrierError:
                        pass
                try:
                    reportclient.update_from_provider_tree(context,
                                                           provider_tree)
                    self.driver_periods.append(period + 1)
                    return
                except nova_exception.NovaException:
                    reportclient.clear_provider_cache()
            raise AssertionError('the driver never converged')
        return work

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

    def test_syncs_an_operator_and_the_driver_lose_nothing(self):
        self.client.create_provider(self.compute_node)
        sync.sync(self.client, self.desired(BEFORE))
        operator, operator_traits = self.operator([A, B])
        workers = [self.syncer(AFTER) for _ in range(WRITERS - 2)]
        errors = self.storm(workers + [operator, self.driver(AFTER)])
        self.assertEqual([], errors)
        self.assertGreaterEqual(sum(r.conflicts for r in self.reports),
                                WRITERS - 3)
        # The driver's first write met a newer generation.
        self.assertEqual(1, len(self.driver_periods))
        self.assertGreater(self.driver_periods[0], 1)
        self.assert_tree(AFTER, operator_traits)


class _Answer:
    """A Placement error answer made up by the faulty adapter."""

    def __init__(self, status):
        self.status_code = status
        self.text = 'injected %d' % status
        self.content = self.text.encode()

    def json(self):
        return {'errors': [{'detail': self.text}]}


class _FaultyAdapter:
    """Forwards to a real adapter unless ``fault(method, path)`` says not.

    A fault is ``None`` (forward), an HTTP status to answer instead, or
    ``'down'`` (no connection) or ``'lost'`` (forwarded, answer lost).
    """

    def __init__(self, real, fault):
        self.real = real
        self.fault = fault
        self.calls = 0

    def request(self, path, method, **kwargs):
        self.calls += 1
        if self.calls > 2000:
            raise AssertionError('the client never gave up')
        fault = self.fault(method, path)
        if fault is None:
            return self.real.request(path, method, **kwargs)
        if fault == 'down':
            raise ks_exceptions.ConnectFailure('injected: connection refused')
        if fault == 'lost':
            self.real.request(path, method, **kwargs)
            raise ks_exceptions.ConnectFailure('injected: connection reset')
        return _Answer(fault)


class TestPlacementFailing(base.PlacementTestCase):
    """The sync's client against Placement answering 5xx or not at all."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.host = base.simulated_host(SPEC)

    def setUp(self):
        super().setUp()
        self.now = 0.0
        self.sleeps = []
        self.client.create_provider(self.compute_node)

    def sleep(self, seconds):
        # No real waiting: the clock moves by what the client slept.
        self.sleeps.append(seconds)
        self.now += seconds

    def faulty_client(self, fault):
        return placement_client.PlacementClient(
            _FaultyAdapter(self.new_client().adapter, fault),
            sleep=self.sleep, clock=lambda: self.now)

    def desired(self):
        return tree.build_provider_tree(self.compute_node, self.host, BEFORE)

    def assert_converged(self):
        desired = self.desired()
        root = self.client.provider_by_name(self.compute_node)
        names = sorted(p['name'] for p in self.client.providers(
            in_tree=root['uuid']) if p['uuid'] != root['uuid'])
        self.assertEqual(sorted(s.name for s in desired.providers), names)
        self.assertEqual(0, sync.sync(self.client, desired).writes)

    def test_5xx_answers_are_retried_with_backoff(self):
        calls = []

        def fault(method, path):
            # Every call first fails three times: 500, 502, 503.
            calls.append((method, path))
            return (500, 502, 503, None)[(len(calls) - 1) % 4]

        client = self.faulty_client(fault)
        report = sync.sync(client, self.desired())
        self.assertGreater(len(report.changes), 0)
        self.assertEqual([0.5, 1.0, 2.0] * (len(calls) // 4), self.sleeps)
        self.assertEqual(3 * len(calls) // 4, client.retries)
        self.assert_converged()

    def test_an_answer_lost_after_a_create_makes_no_duplicate(self):
        posts = []
        lost = []

        def fault(method, path):
            # Each provider created, then its answer lost (the first
            # POST of each, not the retry).
            if method == 'POST' and path == '/resource_providers':
                posts.append(path)
                if len(posts) % 2:
                    lost.append(path)
                    return 'lost'
            return None

        client = self.faulty_client(fault)
        report = sync.sync(client, self.desired())
        self.assertEqual(2, len(lost))
        # The retried POST met the name taken; the sync re-read it.
        self.assertEqual(2, report.conflicts)
        self.assert_converged()

    def test_placement_down_fails_within_the_bound_then_converges(self):
        state = {'down': False, 'calls': 0}

        def fault(method, path):
            state['calls'] += 1
            # Placement goes away after the sync's first answer.
            return 'down' if state['down'] or state['calls'] > 1 else None

        client = self.faulty_client(fault)
        exc = self.assertRaises(placement_client.Unavailable, sync.sync,
                                client, self.desired())
        self.assertIn('still failing after', str(exc))
        self.assertIn('connection refused', str(exc))
        # Exponential backoff, capped, and never past the bound.
        self.assertEqual([0.5, 1.0, 2.0, 4.0, 8.0, 8.0],
                         self.sleeps[:6])
        self.assertLessEqual(sum(self.sleeps), client.retry_total)
        self.assertGreater(sum(self.sleeps), client.retry_total - 8.0)
        # Placement returns: the next sync converges.
        state['down'] = False
        state['calls'] = -10 ** 6
        sync.sync(client, self.desired())
        self.assert_converged()

    def test_placement_never_reached_fails_at_once(self):
        client = self.faulty_client(lambda method, path: 'down')
        self.assertRaises(ks_exceptions.ConnectFailure, sync.sync, client,
                          self.desired())
        self.assertEqual([], self.sleeps)


class TestPlacementFailingDuringDrain(base.PlacementTestCase):
    """``layout apply --drain`` with Placement answering 5xx or gone.

    Two GPUs carved and offered, a guest's allocation on each; the new
    layout re-carves both, so each must be drained first. The guests
    leave while the drain waits.
    """

    def setUp(self):
        super().setUp()
        self.now = 0.0
        self.sleeps = []
        self.sim = sim.SimulatedHost.create(
            os.path.join(base.scratch_tmp(self), 'host'), SPEC)
        self.apply(BEFORE_LAYOUT, apply_mod.Options())
        host = self.read()
        sync.sync(self.client, tree.build_provider_tree(
            self.compute_node, host, offers.offers_from_hardware(host)),
            create_root=True)
        self.gpus = sorted(g.address for g in host.gpus)
        self.consumers = {}
        for address in self.gpus:
            consumer = str(uuid.uuid4())
            self.client.put_allocations(consumer, {
                self.uuid(address): {'resources': {RC_2_10C: 1}}},
                project_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()))
            self.consumers[address] = consumer

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def read(self):
        return discover.discover_host(self.sim, self.compute_node)

    def uuid(self, address):
        return self.client.provider_by_name(naming.gpu_provider_name(
            self.compute_node, address))['uuid']

    def apply(self, text, options):
        layout = layout_spec.load_text(text.format(host=self.compute_node))
        return apply_mod.apply(
            target.resolve_node(layout.node(self.compute_node), self.read()),
            self.read, self.sim.writer(), self.compute_node, options,
            read_gpu=lambda a: discover.discover_host_gpu(self.sim, a))

    def drain_options(self, fault, polls_before_leaving=2):
        """Options draining through a faulty client.

        The guests leave after the drain polled ``polls_before_leaving``
        times (a drain asks ``stop()`` after each busy poll).
        """
        client = placement_client.PlacementClient(
            _FaultyAdapter(self.new_client().adapter, fault),
            sleep=self.sleep, clock=lambda: self.now)
        polls = []

        def stop():
            polls.append(1)
            if len(polls) == polls_before_leaving:
                while self.consumers:
                    self.client.delete_allocations(
                        self.consumers.popitem()[1])
            return False

        return apply_mod.Options(
            drainer=placement_drain.PlacementDrainer(client),
            drain_timeout=3600, drain_interval=0, stop=stop), client

    def assert_released(self):
        for address in self.gpus:
            uuid_ = self.uuid(address)
            self.assertNotIn(naming.DRAINING_TRAIT,
                             self.client.traits(uuid_)[1])
            self.assertEqual(
                {0}, {inv['reserved'] for inv in
                      self.client.inventories(uuid_)[1].values()})
        self.assertEqual([], placement_drain.PlacementDrainer(
            self.client).draining(self.compute_node))

    def carve(self):
        return model.to_dict(self.read().gpus)

    def test_5xx_answers_during_a_drain_are_retried(self):
        calls = []

        def fault(method, path):
            # Every call answers 503 once, then goes through.
            calls.append((method, path))
            return 503 if len(calls) % 2 else None

        options, client = self.drain_options(fault)
        results = self.apply(AFTER_LAYOUT, options)
        self.assertEqual([apply_mod.APPLIED] * 2,
                         [r.status for r in results],
                         [r.message for r in results])
        self.assertGreater(client.retries, 10)
        self.assertEqual({0.5}, set(self.sleeps))
        self.assert_released()

    def test_placement_gone_while_draining_fails_clearly_then_converges(self):
        state = {'down': False}
        carve = self.carve()

        def fault(method, path):
            # Placement goes away once the first GPU is reserved.
            if method == 'PUT' and path.endswith('/inventories'):
                state['down'] = True
                return None
            return 'down' if state['down'] else None

        options, _ = self.drain_options(fault)
        results = self.apply(AFTER_LAYOUT, options)
        self.assertEqual([apply_mod.FAILED] * 2,
                         [r.status for r in results])
        for result in results:
            self.assertIn('still failing after', result.message)
            self.assertIn('check that Placement is up', result.message)
        # Nothing was carved without its drain.
        self.assertEqual(carve, self.carve())
        # Placement back: the rerun drains, carves and releases.
        state['down'] = False
        fault_free, _ = self.drain_options(lambda method, path: None)
        results = self.apply(AFTER_LAYOUT, fault_free)
        self.assertEqual([apply_mod.APPLIED] * 2,
                         [r.status for r in results],
                         [r.message for r in results])
        self.assert_released()

    def test_placement_gone_at_release_names_the_undrain(self):
        state = {'down': False, 'releasing': 0}

        def fault(method, path):
            # The first GPU is drained and carved; Placement goes away
            # when its drain is released.
            if state['down']:
                return 'down'
            if method == 'PUT' and path.endswith('/traits'):
                state['releasing'] += 1
                if state['releasing'] == 2:
                    state['down'] = True
                    return 'down'
            return None

        options, _ = self.drain_options(fault)
        results = self.apply(AFTER_LAYOUT, options)
        # apply never raises: the first GPU is carved and says its drain
        # is left; the second could not be drained.
        self.assertEqual([apply_mod.APPLIED, apply_mod.FAILED],
                         [r.status for r in results])
        self.assertIn('gpuvirt-nova layout undrain --host %s --gpu %s'
                      % (self.compute_node, self.gpus[0]),
                      results[0].message)
        state['down'] = False
        self.assertEqual([self.gpus[0]], placement_drain.PlacementDrainer(
            self.client).draining(self.compute_node))

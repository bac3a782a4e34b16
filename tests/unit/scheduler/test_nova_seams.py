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

"""The Nova scheduler internals the plugins rely on, pinned.

- ``SchedulerReportClient.get_allocation_candidates(context, resources)``
  returns ``(allocation_requests, provider_summaries, version)`` and is
  what ``SchedulerManager.select_destinations`` calls once per request
  (reads.install_tap keeps its summaries so the plugins need no second
  read);
- Nova's filter handler passes a filter the **list** of hosts the
  earlier filters kept through ``filter_all`` (VGPUPlacementFilter scores
  them all at once there; the admission filters hand the list back) and
  the weigher then sees the same HostState objects;
- Nova's weight handler calls a weigher's ``weigh_objects`` once per
  request with every host wrapped in a ``WeighedObject`` (``.obj``):
  GpuPackingWeigher weighs them all in that one call.

A Nova release that changes either fails here, not in production.
"""

import inspect
from unittest import mock

import fixtures
from nova import conf as nova_conf
from nova import context as nova_context
from nova import objects
from nova.scheduler.client import report
from nova.scheduler import filters as nova_filters
from nova.scheduler import manager
from nova.scheduler import utils
from nova.scheduler import weights as nova_weights
from nova.tests.unit.scheduler import fakes
from oslo_config import fixture as config_fixture
from oslotest import base

from benchmarks import scheduler_fleet
from gpuvirt_nova.scheduler import filters
from gpuvirt_nova.scheduler import reads
from gpuvirt_nova.scheduler import recent
from gpuvirt_nova.scheduler import weighers

objects.register_all()


class SeamTest(base.BaseTestCase):

    def test_report_client_method_is_tapped_with_its_signature(self):
        method = report.SchedulerReportClient.get_allocation_candidates
        self.assertIn(filters.READS, method._gpuvirt_tap)
        self.assertEqual(['self', 'context', 'resources'],
                         list(inspect.signature(method).parameters))

    def test_scheduler_asks_placement_through_the_report_client(self):
        # (FleetSmokeTest checks it behaviourally: no second read.)
        source = inspect.getsource(manager)
        self.assertIn('self.placement_client.get_allocation_candidates(',
                      source)
        self.assertIn('return report.report_client_singleton()', source)

    def test_tapped_answer_serves_the_plugins_without_a_read(self):
        fleet = scheduler_fleet.Fleet(2, 2, 'mig')
        client = scheduler_fleet.FleetPlacement(fleet)
        own = reads.PlacementReads(client=client)
        reads.install_tap(own)
        # is_admin given: no policy check, so no configuration needed.
        context = nova_context.RequestContext('u1', 'p1', is_admin=False)
        spec = scheduler_fleet._spec(fleet, context)
        resources = utils.ResourceRequest.from_request_spec(spec)
        _, summaries, _ = client.get_allocation_candidates(context,
                                                           resources)
        self.assertEqual(1, client.requests)
        self.assertEqual(summaries, own.provider_summaries(spec))
        self.assertEqual(1, client.requests)
        self.assertEqual(0, own.calls)


class HandlerSeamTest(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(config_fixture.Config(nova_conf.CONF))
        nova_conf.CONF.set_override('file', '/nonexistent/layout.yaml',
                                    'gpuvirt_layout')
        self.useFixture(fixtures.MockPatchObject(
            filters, 'RECENT', recent.RecentRequests()))
        self.hosts = [fakes.FakeHostState('h%d' % i, 'n%d' % i, {
            'uuid': 'cn%d' % i, 'allocation_candidates': []})
            for i in range(3)]
        self.spec = objects.RequestSpec(
            user_id='u1', project_id='p1', num_instances=1,
            flavor=objects.Flavor(extra_specs={}), scheduler_hints={})

    def test_filter_handler_passes_the_kept_hosts_as_a_list(self):
        filt = filters.VGPUUserLimitFilter()
        with mock.patch.object(filt, 'filter_all',
                               wraps=filt.filter_all) as spy:
            kept = nova_filters.HostFilterHandler().get_filtered_objects(
                [filt], iter(self.hosts), self.spec)
        self.assertEqual(self.hosts, kept)
        self.assertIsInstance(spy.call_args[0][0], list)

    def test_weight_handler_weighs_every_host_in_one_call(self):
        weigher = weighers.GpuPackingWeigher()
        with mock.patch.object(weigher, 'weigh_objects',
                               wraps=weigher.weigh_objects) as spy:
            nova_weights.HostWeightHandler().get_weighed_objects(
                [weigher], self.hosts, self.spec)
        spy.assert_called_once()
        self.assertEqual(self.hosts, [w.obj for w in spy.call_args[0][0]])


class FleetSmokeTest(base.BaseTestCase):
    """Nova's real select_destinations with and without our plugins.

    Counts only: our plugins add a constant number of Placement requests
    (no second GET /allocation_candidates, nothing per host or GPU).
    """

    def setUp(self):
        super().setUp()
        # The benchmark configures the process's global CONF as a
        # scheduler; nothing of it may leak into the next test.
        self.useFixture(config_fixture.Config(nova_conf.CONF))
        self.useFixture(fixtures.MockPatchObject(
            filters, 'RECENT', recent.RecentRequests()))

    def _counts(self, hosts):
        results = scheduler_fleet.run([hosts], 2, 2, ['mig', 'timesliced'])
        return {(r['offer'], r['plugins']): (r['placement'],
                                             r['refresh_placement'])
                for r in results}

    def test_placement_requests_do_not_grow_with_the_hosts(self):
        small, large = self._counts(2), self._counts(6)
        self.assertEqual(small, large)
        for offer in ('mig', 'timesliced'):
            nova, nova_refresh = small[(offer, False)]
            ours, ours_refresh = small[(offer, True)]
            # GET /allocation_candidates and the claim.
            self.assertEqual(2, nova)
            # user usages, project usages, the instance's allocations;
            # the managed-GPU count once per cache period.
            self.assertEqual(nova + 3, ours)
            self.assertEqual(nova + 4, ours_refresh)

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

"""The scheduler plugins inside Nova's in-process services.

One compute with two A100-PCIE-40GB on vendor VFIO, each offering ten
time-sliced A100-4C. Load that is not ours to create (other tenants'
vGPUs) is written to Placement as allocations of other consumers, which
is all the scheduler looks at.
"""

import os

import fixtures
from nova.tests.functional.api import client
from oslo_utils import uuidutils

from gpuvirt_nova.demo import nova as inprocess
from gpuvirt_nova.placement import naming
# NOTE: imported here, before Nova's fixtures forbid os.uname(), which
# numpy calls once on import; Nova loads the filters later, in setUp.
from gpuvirt_nova.scheduler import filters
from gpuvirt_nova.scheduler import recent
from tests.functional import base

TYPE = 'A100-4C'
RC = naming.resource_class(TYPE)
FILTERS = ['VGPUUserLimitFilter', 'VGPUFairShareFilter',
           'VGPUPlacementFilter']


class _SchedulerBase(base.GpuvirtTestBase):

    SIM_SPEC = '2xA100-PCIE-40GB:vfio'
    LAYOUT = inprocess.layout_text(('type: A100-PCIE-40GB', TYPE, 10))

    def _setup_scheduler_service(self):
        self.flags(available_filters=[
            'nova.scheduler.filters.all_filters',
            'gpuvirt_nova.scheduler.filters.all_filters'],
            group='filter_scheduler')
        self.flags(weight_classes=[
            'nova.scheduler.weights.all_weighers',
            'gpuvirt_nova.scheduler.weighers.GpuPackingWeigher'],
            group='filter_scheduler')
        self.flags(cluster_usage_cache_seconds=0, group='gpuvirt_scheduler')
        self.ADDITIONAL_FILTERS = list(FILTERS)
        return super()._setup_scheduler_service()

    def setUp(self):
        super().setUp()
        # No layout file unless a test writes one (never the host's own).
        self.layout_path = os.path.join(
            self.useFixture(fixtures.TempDir()).path, 'layout.yaml')
        self.flags(file=self.layout_path, group='gpuvirt_layout')
        # no requests seen yet (the mix learned from them, recent.py)
        self.useFixture(fixtures.MockPatchObject(
            filters, 'RECENT', recent.RecentRequests()))
        self.start_gpu_compute('host1')
        self.flavor = self.vgpu_flavor(TYPE)
        self.gpus = [self.gpu_rp_uuid('host1', i) for i in (0, 1)]

    def occupy(self, gpu_uuid, count, project='other-project',
               user='other-user'):
        """Another consumer holds ``count`` vGPUs on that GPU."""
        consumer = uuidutils.generate_uuid()
        body = {'allocations': {gpu_uuid: {'resources': {RC: count}}},
                'project_id': project, 'user_id': user,
                'consumer_generation': None}
        resp = self.placement.put('/allocations/%s' % consumer, body,
                                  version='1.28')
        self.assertEqual(204, resp.status, resp.body)
        return consumer

    def api_as(self, user, project):
        api = client.TestOpenStackClient(user, self.api.base_url,
                                         project_id=project)
        api.microversion = self.api.microversion
        return api

    def boot(self, api, expected_state='ACTIVE'):
        server = api.post_server({'server': self._build_server(
            flavor_id=self.flavor, networks='none')})
        return self._wait_for_server_parameter(
            server, {'status': expected_state}, api=api)

    def gpu_of(self, server):
        allocations = self.vgpu_allocations(server)
        self.assertEqual(1, len(allocations), allocations)
        return next(iter(allocations))


class PlacementFilterTest(_SchedulerBase):

    def test_small_vgpu_goes_to_the_fuller_gpu(self):
        # Nova alone claims Placement's first candidate, whichever GPU
        # that is; the two steps make each GPU the fuller one in turn, so
        # one of them contradicts Placement's order whatever it is.
        self.occupy(self.gpus[1], 5)
        server = self.boot(self.api)
        self.assertEqual(self.gpus[1], self.gpu_of(server))

        self.occupy(self.gpus[0], 8)
        server = self.boot(self.api)
        self.assertEqual(self.gpus[0], self.gpu_of(server))


class UserLimitTest(_SchedulerBase):

    def setUp(self):
        super().setUp()
        self.flags(max_jobs_per_user=2, group='gpuvirt_scheduler')

    def test_user_at_limit_refused_other_user_served(self):
        alice = self.api_as('alice', 'project-a')
        for _ in range(2):
            self.boot(alice)
        refused = self.boot(alice, expected_state='ERROR')
        self.assertIn('max_jobs_per_user is 2', refused['fault']['message'])
        self.assertIn('alice', refused['fault']['message'])

        bob = self.api_as('bob', 'project-a')
        self.boot(bob)


class UserLimitMoveTest(_SchedulerBase):
    """Moves: Nova hands the allocation to the migration before scheduling.

    The user's usages still count the moving server (as the migration's
    consumer), so only what a move adds is checked.
    """

    def setUp(self):
        super().setUp()
        self.flags(max_jobs_per_user=2, group='gpuvirt_scheduler')
        self.start_gpu_compute('host2')
        self.alice = self.api_as('alice', 'project-a')
        self.servers = [self.boot(self.alice) for _ in range(2)]

    def test_user_at_limit_can_be_cold_migrated(self):
        server = self.servers[0]
        source = self.host_of(server)
        server = self._migrate_server(server)
        self.assertNotEqual(source, self.host_of(server))
        self._confirm_resize(server, host=source)
        self.assertNotIn('VGPUUserLimitFilter refused',
                         self.stdlog.logger.output)

    def test_resize_adding_vgpus_beyond_the_limit_is_refused(self):
        server = self.servers[0]
        bigger = self._create_flavor(
            memory_mb=512, vcpu=1, disk=1, ephemeral=0,
            extra_spec={'resources:%s' % RC: '2'})
        # NOTE: Nova's CastAsCallFixture brings the conductor's
        # NoValidHost back to the API as a 500 (a user gets 202 and a
        # failed instance action), as in Nova's own rebuild tests.
        self.api.api_post('/servers/%s/action' % server['id'],
                          {'resize': {'flavorRef': bigger}},
                          check_response_status=[500])
        self._wait_for_migration_status(server, ['error'])
        self._wait_for_action_fail_completion(server, 'resize',
                                              'conductor_migrate_server')
        self.assertIn('user alice in project project-a holds 2 vGPU(s) and '
                      'asks 1 more', self.stdlog.logger.output)
        self.assertEqual(1, sum(self.vgpu_allocations(server)[gpu][RC]
                                for gpu in self.vgpu_allocations(server)))


class LayoutUserLimitTest(_SchedulerBase):
    """The layout file's scheduler: block reaches the running scheduler."""

    def test_max_jobs_per_user_from_the_layout_file(self):
        with open(self.layout_path, 'w') as stream:
            stream.write('gpu_cluster:\n'
                         '  nodes:\n'
                         '    - host: host1\n'
                         '  scheduler:\n'
                         '    policy: pack\n'
                         '    max_jobs_per_user: 2\n')
        alice = self.api_as('alice', 'project-a')
        for _ in range(2):
            self.boot(alice)
        refused = self.boot(alice, expected_state='ERROR')
        message = refused['fault']['message']
        self.assertIn('user alice in project project-a holds 2 vGPU(s)',
                      message)
        self.assertIn('max_jobs_per_user is 2', message)
        self.assertIn('scheduler.max_jobs_per_user in the layout file',
                      message)


class FairShareTest(_SchedulerBase):

    def setUp(self):
        super().setUp()
        self.flags(project_weights={'project-a': '1', 'project-b': '1'},
                   fair_share_threshold=0.5, group='gpuvirt_scheduler')

    def test_project_over_share_refused_when_busy(self):
        # project-a holds 11 of 20 A100-4C (1.1 GPU of 2): the cluster is
        # 55% used and project-a is over its half.
        self.occupy(self.gpus[0], 10, project='project-a')
        self.occupy(self.gpus[1], 1, project='project-a')

        refused = self.boot(self.api_as('alice', 'project-a'),
                            expected_state='ERROR')
        self.assertIn('over its fair share', refused['fault']['message'])
        self.assertIn('project-a', refused['fault']['message'])

        self.boot(self.api_as('carol', 'project-b'))

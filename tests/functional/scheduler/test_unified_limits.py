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

"""Per-project vGPU limits where OpenStack keeps them: unified limits.

Keystone holds a registered (default) and per-project limit on our
resource class, ``class:CUSTOM_VGPU_<TYPE>``; Nova's
``UnifiedLimitsDriver`` counts the project's Placement usage of that
class at the API, so a project over its limit gets a 403 naming the
class, and no server is created (no ERROR server to clean up). Keystone
is faked as Nova's own unified-limits tests fake it (oslo.limit's
``LimitFixture``). Our scheduler filters stay enabled alongside.
"""

from nova.limit import local as local_limit
from nova.tests.functional.api import client
from oslo_limit import fixture as limit_fixture

from tests.functional.scheduler import test_scheduling as base

RC = base.RC
LIMIT = 'class:%s' % RC


class UnifiedLimitsTest(base._SchedulerBase):

    def setUp(self):
        super().setUp()
        self.flags(driver='nova.quota.UnifiedLimitsDriver', group='quota')
        registered = {local_limit.SERVER_METADATA_ITEMS: 128,
                      local_limit.INJECTED_FILES: 5,
                      local_limit.INJECTED_FILES_CONTENT: 10 * 1024,
                      local_limit.INJECTED_FILES_PATH: 255,
                      local_limit.KEY_PAIRS: 100,
                      local_limit.SERVER_GROUPS: 10,
                      local_limit.SERVER_GROUP_MEMBERS: 10,
                      'servers': 100, 'class:VCPU': 100,
                      'class:MEMORY_MB': 100000, 'class:DISK_GB': 1000,
                      LIMIT: 3}
        per_project = {'project-a': {LIMIT: 2}}
        self.useFixture(limit_fixture.LimitFixture(registered, per_project))

    def servers_of(self, api):
        return api.get_servers(detail=True)

    def test_project_over_its_vgpu_limit_gets_403_and_no_server(self):
        alice = self.api_as('alice', 'project-a')
        for _ in range(2):
            self.boot(alice)
        error = self.assertRaises(client.OpenStackApiException,
                                  self.boot, alice)
        self.assertEqual(403, error.response.status_code)
        self.assertIn(LIMIT, error.response.text)
        self.assertEqual(['ACTIVE', 'ACTIVE'],
                         [s['status'] for s in self.servers_of(alice)])

        # Another user of the project is over the same project limit.
        error = self.assertRaises(client.OpenStackApiException, self.boot,
                                  self.api_as('bob', 'project-a'))
        self.assertEqual(403, error.response.status_code)

    def test_registered_limit_applies_to_other_projects(self):
        carol = self.api_as('carol', 'project-b')
        for _ in range(3):
            self.boot(carol)
        error = self.assertRaises(client.OpenStackApiException,
                                  self.boot, carol)
        self.assertEqual(403, error.response.status_code)
        self.assertIn(LIMIT, error.response.text)

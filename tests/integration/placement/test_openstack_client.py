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

"""What ``placement sync`` wrote, as operators see it with osc-placement.

Runs the real ``openstack`` command (python-openstackclient with the
osc-placement plugin) against the real Placement served on a loopback
port by this test.
"""

import json
import os
import subprocess
import sys

from gpuvirt_nova.placement import sync
from gpuvirt_nova.placement import tree
from tests.integration.placement import base

OPENSTACK = os.path.join(os.path.dirname(sys.executable), 'openstack')
A = '0000:3b:00.0'
B = '0000:5e:00.0'


class TestOpenstackClient(base.PlacementTestCase):

    serve = 'socket'

    def setUp(self):
        super().setUp()
        if not os.access(OPENSTACK, os.X_OK):
            self.skipTest('the openstack command (python-openstackclient) '
                          'is not installed next to %s' % sys.executable)

    def openstack(self, *argv):
        result = subprocess.run(
            [OPENSTACK, '--os-auth-type', 'admin_token', '--os-endpoint',
             self.service.url, '--os-token', 'admin',
             '--os-placement-api-version', '1.39'] + list(argv)
            + ['-f', 'json'],
            capture_output=True, text=True, timeout=120,
            env=dict(os.environ, OS_CLOUD='', OS_AUTH_URL=''))
        self.assertEqual(0, result.returncode, result.stderr)
        return json.loads(result.stdout)

    def test_provider_inventory_and_trait_lists(self):
        host = base.simulated_host('2xA100-PCIE-40GB:mig')
        desired = tree.build_provider_tree(
            self.compute_node, host,
            {A: {'A100-2-10C': 3}, B: {'A100-3-20C': 2}})
        sync.sync(self.client, desired, create_root=True)

        root = self.client.provider_by_name(self.compute_node)
        listed = self.openstack('resource', 'provider', 'list', '--in-tree',
                                root['uuid'])
        by_name = {p['name']: p for p in listed}
        self.assertEqual({self.compute_node} | {p.name for p in
                                                desired.providers},
                         set(by_name))
        for spec in desired.providers:
            provider = by_name[spec.name]
            self.assertEqual(root['uuid'], provider['parent_provider_uuid'])
            inventory = {row['resource_class']: row for row in self.openstack(
                'resource', 'provider', 'inventory', 'list',
                provider['uuid'])}
            self.assertEqual(set(spec.inventories), set(inventory))
            for rc, wanted in spec.inventories.items():
                self.assertEqual(wanted.total, inventory[rc]['total'])
                self.assertEqual(wanted.max_unit, inventory[rc]['max_unit'])
                self.assertEqual(0, inventory[rc]['reserved'])
            traits = {row['name'] for row in self.openstack(
                'resource', 'provider', 'trait', 'list', provider['uuid'])}
            self.assertEqual(set(spec.traits), traits)

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

"""``flavor sync`` against Nova's real compute API, then boots with it."""

from keystoneauth1 import noauth
from keystoneauth1 import session as ka_session
import openstack

from gpuvirt_nova.cmd import flavor as flavor_cmd
from gpuvirt_nova.placement import flavors
from gpuvirt_nova.scheduler import typical
from tests.functional import base


class FlavorSyncTests(base.GpuvirtTestBase):

    def setUp(self):
        super().setUp()
        self.start_gpu_compute('host1')
        # openstacksdk's compute proxy over the in-process Nova API, as
        # the admin of the functional tests' auth stub.
        session = ka_session.Session(auth=noauth.NoAuth(
            endpoint=self.api_fixture.base_url), additional_headers={
            'X-Auth-User': 'admin', 'X-User-Id': 'admin',
            'X-Auth-Project-Id': self.api.project_id, 'X-Roles': 'admin'})
        self.compute = openstack.connection.Connection(
            session=session,
            compute_endpoint_override=self.api_fixture.base_url).compute

    def sync(self, *types):
        specs = flavors.plan(types)
        results = flavors.apply(self.compute, specs)
        offered = {rc for s in specs for rc in flavors.vgpu_classes(
            s.extra_specs)}
        return results + flavors.mark_not_offered(self.compute, offered)

    def test_create_then_idempotent_then_boot_with_it(self):
        results = self.sync('A100-2-10C', 'A100-3-20C')
        self.assertEqual(['created', 'created'], [r.action for r in results])
        self.assertEqual(['unchanged', 'unchanged'],
                         [r.action for r in self.sync('A100-2-10C',
                                                      'A100-3-20C')])
        flavor = self.compute.find_flavor('vgpu.a100-2-10c')
        extra = self.compute.fetch_flavor_extra_specs(flavor).extra_specs
        self.assertEqual({'resources:CUSTOM_VGPU_A100_2_10C': '1',
                          'trait:CUSTOM_GPUVIRT_MANAGED': 'required'},
                         {k: v for k, v in extra.items()
                          if k.startswith(('resources', 'trait'))})
        # Exactly what the scheduler needs: a server with it gets its vGPU.
        server = self._create_server(flavor_id=flavor.id, networks='none')
        self.assertEqual(1, len(self.domain_keys('host1', server)))

    def test_a_type_no_longer_offered_is_marked_never_deleted(self):
        self.sync('A100-2-10C', 'A100-3-20C')
        flavor = self.compute.find_flavor('vgpu.a100-3-20c')
        server = self._create_server(flavor_id=flavor.id, networks='none')
        results = self.sync('A100-2-10C')
        kept = [r for r in results if r.action == 'kept, not offered']
        self.assertEqual(['vgpu.a100-3-20c'], [r.name for r in kept])
        flavor = self.compute.get_flavor(flavor.id)
        self.assertIn('no GPU offers CUSTOM_VGPU_A100_3_20C',
                      flavor.description)
        # Still there for the server using it, and a second run is quiet.
        self.assertEqual('ACTIVE', self._show_server(server)['status'])
        self.assertEqual(flavor.id, self.compute.find_flavor(
            'vgpu.a100-3-20c').id)
        self.assertEqual(['unchanged', 'kept, not offered'],
                         [r.action for r in self.sync('A100-2-10C')])

    def test_typical_requests_from_the_servers_flavors(self):
        self.flags(ram=-1, cores=-1, instances=-1, group='quota')
        self.sync('A100-2-10C')
        flavors.apply(self.compute, flavors.plan(['A100-3-20C'], vcpus=6))
        small = self.compute.find_flavor('vgpu.a100-2-10c')
        big = self.compute.find_flavor('vgpu.a100-3-20c')
        for flavor in (small, small, big):
            self._create_server(flavor_id=flavor.id, networks='none')
        # what `flavor typical-requests` reads: the flavor embedded in
        # each server by Nova's API, through openstacksdk
        mix, counted, left = typical.mix_of(flavor_cmd.server_requests(
            self.compute.servers(details=True, all_projects=True)),
            cover=1.0)
        self.assertEqual({'CUSTOM_VGPU_A100_2_10C/%d' % small.vcpus: 2,
                          'CUSTOM_VGPU_A100_3_20C/6': 1}, mix)
        self.assertEqual((3, 0), (counted, left))

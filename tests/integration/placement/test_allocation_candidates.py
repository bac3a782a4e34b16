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

"""GET /allocation_candidates finds exactly the GPUs that should match."""

import uuid

from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import sync
from gpuvirt_nova.placement import tree
from tests.integration.placement import base

A100_A = '0000:3b:00.0'
A100_B = '0000:5e:00.0'
H100 = '0000:86:00.0'
SPEC = '2xA100-PCIE-40GB:mig+1xH100-SXM5-80GB:vfio'


class TestAllocationCandidates(base.PlacementTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.host = base.simulated_host(SPEC)

    def setUp(self):
        super().setUp()
        suffix = uuid.uuid4().hex[:6]
        self.trees = [
            tree.build_provider_tree('one-%s' % suffix, self.host, {
                A100_A: {'A100-2-10C': 3}, A100_B: {'A100-4C': 10},
                H100: {'H100XM-1-10C': 7}}),
            tree.build_provider_tree('two-%s' % suffix, self.host, {
                A100_A: {'A100-2-10C': 3}, A100_B: {'A100-2-10C': 2},
                H100: {'H100XM-2-20C': 3}}, draining=[A100_B]),
        ]
        for desired in self.trees:
            sync.sync(self.client, desired, create_root=True)
        self.uuids = {p['name']: p['uuid'] for d in self.trees
                      for p in self.client.providers(
                          in_tree=self.client.provider_by_name(
                              d.compute_node)['uuid'])}

    def candidates(self, resource_class, *required):
        query = [('resources', '%s:1' % resource_class)]
        if required:
            query.append(('required', ','.join(required)))
        answer = self.client.allocation_candidates(query)
        found = set()
        for request in answer['allocation_requests']:
            self.assertEqual(1, len(request['allocations']))
            found.update(request['allocations'])
        # Only this test's providers (the database is shared by the class).
        return found & set(self.uuids.values())

    def expected(self, resource_class, *required):
        """Providers of the desired trees that offer free capacity."""
        names = {p.name for d in self.trees for p in d.providers
                 if resource_class in p.inventories
                 and p.inventories[resource_class].reserved
                 < p.inventories[resource_class].total
                 and set(required) <= p.traits}
        return {self.uuids[n] for n in names}

    def name(self, index, address):
        return naming.gpu_provider_name(self.trees[index].compute_node,
                                        address)

    def test_mig_profile_trait(self):
        found = self.candidates('CUSTOM_VGPU_A100_2_10C',
                                'CUSTOM_MIG_2G_10GB')
        self.assertEqual({self.uuids[self.name(0, A100_A)],
                          self.uuids[self.name(1, A100_A)]}, found)
        self.assertEqual(self.expected('CUSTOM_VGPU_A100_2_10C',
                                       'CUSTOM_MIG_2G_10GB'), found)

    def test_draining_gpu_is_not_a_candidate(self):
        found = self.candidates('CUSTOM_VGPU_A100_2_10C')
        self.assertNotIn(self.uuids[self.name(1, A100_B)], found)
        self.assertEqual(2, len(found))

    def test_model_and_architecture_traits(self):
        self.assertEqual(
            {self.uuids[self.name(0, A100_B)]},
            self.candidates('CUSTOM_VGPU_A100_4C',
                            'CUSTOM_GPU_A100_PCIE_40GB'))
        found = self.candidates('CUSTOM_VGPU_H100XM_1_10C',
                                'CUSTOM_GPU_ARCH_HOPPER',
                                'CUSTOM_GPU_H100_SXM5_80GB')
        self.assertEqual({self.uuids[self.name(0, H100)]}, found)
        self.assertEqual(set(), self.candidates(
            'CUSTOM_VGPU_H100XM_1_10C', 'CUSTOM_GPU_ARCH_AMPERE'))

    def test_numa_and_type_traits(self):
        numa = naming.numa_trait(self.host.gpu(H100).numa_node)
        found = self.candidates('CUSTOM_VGPU_H100XM_2_20C', numa,
                                'CUSTOM_VGPU_TYPE_H100XM_2_20C',
                                'CUSTOM_MIG_2G_20GB')
        self.assertEqual({self.uuids[self.name(1, H100)]}, found)
        self.assertEqual(self.expected('CUSTOM_VGPU_H100XM_2_20C', numa),
                         found)

    def test_forbidden_trait(self):
        found = self.candidates('CUSTOM_VGPU_A100_2_10C',
                                '!CUSTOM_GPU_ARCH_AMPERE')
        self.assertEqual(set(), found)

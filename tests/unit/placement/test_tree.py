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

"""The desired provider tree: names, inventories, traits, validation."""

from oslotest import base

from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import model
from gpuvirt_nova.placement import tree

A = '0000:3b:00.0'
B = '0000:af:00.0'


def make_host(driver='550.54.14'):
    """Two A100 PCIe 40GB GPUs, described from the catalog."""
    gpu_model = catalog.load().get('A100-PCIE-40GB')
    gpus = [model.PhysicalGpu(address=address, model=gpu_model.name,
                              memory_mib=gpu_model.memory_mib,
                              architecture=gpu_model.architecture,
                              numa_node=numa, mig_capable=True)
            for address, numa in ((A, 0), (B, 1))]
    return model.Host(hostname='node01', driver_version=driver, gpus=gpus)


class TestBuildProviderTree(base.BaseTestCase):

    def test_one_child_provider_per_offering_gpu(self):
        desired = tree.build_provider_tree(
            'node01', make_host(), {A: {'A100-2-10C': 3}})
        self.assertEqual(['node01_pci_0000_3b_00_0'],
                         [p.name for p in desired.providers])
        provider = desired.providers[0]
        self.assertEqual('node01', provider.parent_name)
        self.assertEqual(A, provider.address)
        self.assertEqual('A100-PCIE-40GB', provider.model)

    def test_inventory_fields(self):
        desired = tree.build_provider_tree(
            'node01', make_host(), {A: {'A100-2-10C': 3}})
        inventory = desired.providers[0].inventories['CUSTOM_VGPU_A100_2_10C']
        self.assertEqual(dict(total=3, reserved=0, min_unit=1, max_unit=3,
                              step_size=1, allocation_ratio=1.0),
                         inventory.as_dict())

    def test_traits_of_a_mig_backed_offer(self):
        desired = tree.build_provider_tree(
            'node01', make_host(), {A: {'A100-2-10C': 3}})
        self.assertEqual({'CUSTOM_GPUVIRT_MANAGED', 'OWNER_NOVA',
                          'CUSTOM_GPU_A100_PCIE_40GB',
                          'CUSTOM_GPU_ARCH_AMPERE',
                          'CUSTOM_GPU_NUMA_0', 'CUSTOM_NVIDIA_DRIVER_550',
                          'CUSTOM_VGPU_TYPE_A100_2_10C', 'CUSTOM_MIG_2G_10GB'},
                         set(desired.providers[0].traits))

    def test_time_sliced_offer_has_no_mig_trait(self):
        desired = tree.build_provider_tree(
            'node01', make_host(), {B: {'A100-4C': 10}})
        traits = desired.providers[0].traits
        self.assertIn('CUSTOM_VGPU_TYPE_A100_4C', traits)
        self.assertIn('CUSTOM_GPU_NUMA_1', traits)
        self.assertFalse([t for t in traits if t.startswith('CUSTOM_MIG_')])

    def test_mixed_mig_offer_gives_one_inventory_per_type(self):
        desired = tree.build_provider_tree(
            'node01', make_host(), {A: {'A100-3-20C': 1, 'A100-2-10C': 2}})
        provider = desired.providers[0]
        self.assertEqual({'CUSTOM_VGPU_A100_3_20C': 1,
                          'CUSTOM_VGPU_A100_2_10C': 2},
                         {rc: inv.total
                          for rc, inv in provider.inventories.items()})
        self.assertIn('CUSTOM_MIG_3G_20GB', provider.traits)
        self.assertIn('CUSTOM_MIG_2G_10GB', provider.traits)
        self.assertEqual({'CUSTOM_VGPU_A100_3_20C', 'CUSTOM_VGPU_A100_2_10C'},
                         desired.resource_classes)

    def test_gpu_without_offer_gets_no_provider(self):
        desired = tree.build_provider_tree(
            'node01', make_host(), {A: {'A100-4C': 10}, B: {}})
        self.assertEqual([A], [p.address for p in desired.providers])

    def test_draining_and_unhealthy_reserve_everything(self):
        desired = tree.build_provider_tree(
            'node01', make_host(),
            {A: {'A100-4C': 10}, B: {'A100-2-10C': 3}},
            draining=['3b:00.0'], unhealthy=[B])
        reserved = {p.address: [i.reserved for i in p.inventories.values()]
                    for p in desired.providers}
        self.assertEqual({A: [10], B: [3]}, reserved)

    def test_short_addresses_in_offers_are_accepted(self):
        desired = tree.build_provider_tree(
            'node01', make_host(), {'3B:00.0': {'A100-4C': 1}})
        self.assertEqual(A, desired.providers[0].address)

    def test_missing_driver_version_gives_no_driver_trait(self):
        desired = tree.build_provider_tree(
            'node01', make_host(driver=None), {A: {'A100-4C': 1}})
        self.assertFalse([t for t in desired.providers[0].traits
                          if t.startswith('CUSTOM_NVIDIA_DRIVER_')])

    def test_custom_traits_exclude_standard_ones(self):
        desired = tree.build_provider_tree(
            'node01', make_host(), {A: {'A100-4C': 1}})
        self.assertNotIn('OWNER_NOVA', desired.custom_traits)
        self.assertIn('CUSTOM_GPUVIRT_MANAGED', desired.custom_traits)


class TestBadOffers(base.BaseTestCase):

    def test_unknown_gpu(self):
        exc = self.assertRaises(
            exception.UsageError, tree.build_provider_tree, 'node01',
            make_host(), {'0000:01:00.0': {'A100-4C': 1}})
        self.assertIn('0000:01:00.0', str(exc))
        self.assertIn(A, str(exc))

    def test_unknown_type(self):
        exc = self.assertRaises(
            exception.UsageError, tree.build_provider_tree, 'node01',
            make_host(), {A: {'H100-1-10C': 1}})
        self.assertIn('H100-1-10C', str(exc))
        self.assertIn('A100-2-10C', str(exc))

    def test_too_many_instances(self):
        exc = self.assertRaises(
            exception.UsageError, tree.build_provider_tree, 'node01',
            make_host(), {A: {'A100-2-10C': 4}})
        self.assertIn('at most 3', str(exc))

    def test_count_must_be_positive(self):
        exc = self.assertRaises(
            exception.UsageError, tree.build_provider_tree, 'node01',
            make_host(), {A: {'A100-4C': 0}})
        self.assertIn('positive integer', str(exc))

    def test_bad_draining_address(self):
        exc = self.assertRaises(
            exception.UsageError, tree.build_provider_tree, 'node01',
            make_host(), {A: {'A100-4C': 1}}, draining=['gpu0'])
        self.assertIn('draining', str(exc))

    def test_empty_compute_node(self):
        self.assertRaises(exception.UsageError, tree.build_provider_tree,
                          '', make_host(), {})


class TestIsolatedGpus(base.BaseTestCase):
    """One GPU's surprise never stops the other GPUs' providers."""

    def test_bad_gpu_is_left_out_with_its_reason(self):
        desired = tree.build_provider_tree(
            'node01', make_host(),
            {A: {'nvidia-1145': 1}, B: {'A100-4C': 2},
             '0000:01:00.0': {'A100-4C': 1}}, isolate=True)
        self.assertEqual([B], [p.address for p in desired.providers])
        reasons = dict(desired.problems)
        self.assertEqual({A, '0000:01:00.0'}, set(reasons))
        self.assertIn('nvidia-1145', reasons[A])

    def test_without_isolate_the_first_bad_gpu_raises(self):
        self.assertRaises(exception.UsageError, tree.build_provider_tree,
                          'node01', make_host(), {A: {'nvidia-1145': 1},
                                                  B: {'A100-4C': 2}})

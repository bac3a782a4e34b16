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

"""Placement names follow DESIGN.md section 3 and Placement's rules."""

import re

from oslotest import base

from gpuvirt_nova import exception
from gpuvirt_nova.hardware import model
from gpuvirt_nova.placement import naming


class TestResourceClasses(base.BaseTestCase):

    def test_mig_backed_type(self):
        self.assertEqual('CUSTOM_VGPU_A100_2_10C',
                         naming.resource_class('A100-2-10C'))

    def test_grid_prefix_is_dropped(self):
        self.assertEqual('CUSTOM_VGPU_T4_4Q',
                         naming.resource_class('GRID T4-4Q'))
        self.assertEqual(naming.resource_class('T4-4Q'),
                         naming.resource_class('NVIDIA T4-4Q'))

    def test_runs_of_separators_collapse(self):
        self.assertEqual('CUSTOM_VGPU_H100XM_1_10C',
                         naming.resource_class(' h100xm--1..10c '))

    def test_empty_type_is_rejected_with_the_input(self):
        exc = self.assertRaises(exception.UsageError,
                                naming.resource_class, '--')
        self.assertIn("'--'", str(exc))

    def test_too_long_name_is_rejected(self):
        exc = self.assertRaises(exception.UsageError,
                                naming.resource_class, 'A' * 260)
        self.assertIn('at most 255', str(exc))

    def test_validate_custom_name_names_the_rule(self):
        exc = self.assertRaises(exception.UsageError,
                                naming.validate_custom_name, 'VGPU', 'rc')
        self.assertIn('^CUSTOM_[A-Z0-9_]+$', str(exc))
        self.assertIn('rc', str(exc))


class TestTraits(base.BaseTestCase):

    def test_generated_traits_match_design(self):
        self.assertEqual('CUSTOM_GPU_A100_PCIE_40GB',
                         naming.gpu_model_trait('A100-PCIE-40GB'))
        self.assertEqual('CUSTOM_GPU_ARCH_AMPERE',
                         naming.architecture_trait(model.Architecture.AMPERE))
        self.assertEqual('CUSTOM_GPU_ARCH_HOPPER',
                         naming.architecture_trait('hopper'))
        self.assertEqual('CUSTOM_VGPU_TYPE_A100_2_10C',
                         naming.vgpu_type_trait('A100-2-10C'))
        self.assertEqual('CUSTOM_MIG_2G_10GB',
                         naming.mig_profile_trait('2g.10gb'))
        self.assertEqual('CUSTOM_MIG_1G_10GB_ME',
                         naming.mig_profile_trait('1g.10gb+me'))
        self.assertEqual('CUSTOM_GPU_NUMA_1', naming.numa_trait(1))
        self.assertEqual('CUSTOM_NVIDIA_DRIVER_550',
                         naming.driver_trait('550.54.14'))

    def test_every_generated_trait_is_a_valid_custom_name(self):
        for trait in (naming.gpu_model_trait('NVIDIA A100-PCIE-40GB'),
                      naming.mig_profile_trait('7g.40gb'),
                      naming.numa_trait(0), naming.driver_trait('535'),
                      naming.MANAGED_TRAIT):
            self.assertTrue(re.match(r'^CUSTOM_[A-Z0-9_]+$', trait), trait)

    def test_bad_driver_version_names_the_field(self):
        exc = self.assertRaises(exception.UsageError,
                                naming.driver_trait, 'unknown')
        self.assertIn('driver version', str(exc))

    def test_negative_numa_node_is_rejected(self):
        self.assertRaises(exception.UsageError, naming.numa_trait, -1)

    def test_owned_traits_are_ours_and_others_are_not(self):
        for trait in ('CUSTOM_GPUVIRT_MANAGED', 'CUSTOM_GPU_ARCH_AMPERE',
                      'CUSTOM_GPU_NUMA_3', 'CUSTOM_VGPU_TYPE_A100_4C',
                      'CUSTOM_MIG_3G_20GB', 'CUSTOM_NVIDIA_DRIVER_550',
                      'CUSTOM_GPU_A100_PCIE_40GB', 'CUSTOM_GPU_A100_40GB'):
            self.assertTrue(naming.is_package_trait(trait), trait)
        for trait in ('CUSTOM_RACK_A', 'OWNER_NOVA', 'COMPUTE_STATUS_DISABLED',
                      'CUSTOM_GPU_FAST', 'CUSTOM_MIGRATION_OK'):
            self.assertFalse(naming.is_package_trait(trait), trait)

    def test_owner_trait_is_nova_s(self):
        self.assertEqual('OWNER_NOVA', naming.OWNER_TRAIT)


class TestProviderNames(base.BaseTestCase):

    def test_upstream_style_name(self):
        self.assertEqual('node01_pci_0000_3b_00_0',
                         naming.gpu_provider_name('node01', '3B:00.0'))

    def test_round_trip(self):
        name = naming.gpu_provider_name('cn.example.org', '0000:af:00.1')
        self.assertEqual('0000:af:00.1', naming.address_from_provider_name(
            'cn.example.org', name))

    def test_foreign_names_are_not_parsed(self):
        self.assertIsNone(naming.address_from_provider_name('cn1', 'cn1'))
        self.assertIsNone(naming.address_from_provider_name(
            'cn1', 'cn2_pci_0000_3b_00_0'))
        self.assertIsNone(naming.address_from_provider_name(
            'cn1', 'cn1_pci_0000_3b_00_0_vf'))

    def test_bad_address_is_rejected(self):
        exc = self.assertRaises(exception.UsageError,
                                naming.gpu_provider_name, 'cn1', 'gpu0')
        self.assertIn('0000:3b:00.0', str(exc))

    def test_empty_compute_node_is_rejected(self):
        exc = self.assertRaises(exception.UsageError,
                                naming.gpu_provider_name, '', '3b:00.0')
        self.assertIn('--host', str(exc))

    def test_too_long_name_is_rejected(self):
        self.assertRaises(exception.UsageError, naming.gpu_provider_name,
                          'x' * 190, '0000:3b:00.0')

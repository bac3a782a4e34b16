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

from oslotest import base

from gpuvirt_nova.hardware import model


class TestPciAddress(base.BaseTestCase):

    def test_full_form_is_kept_lower_case(self):
        self.assertEqual('0000:3b:00.0',
                         model.normalize_pci_address('0000:3B:00.0'))

    def test_short_form_gets_domain_zero(self):
        self.assertEqual('0000:3b:00.4',
                         model.normalize_pci_address('3b:00.4'))

    def test_garbage_names_the_expected_form(self):
        exc = self.assertRaises(ValueError, model.normalize_pci_address,
                                '3b:00')
        self.assertIn('dddd:bb:ss.f', str(exc))

    def test_function_above_seven_is_rejected(self):
        self.assertRaises(ValueError, model.normalize_pci_address,
                          '0000:3b:00.8')


class TestPlacement(base.BaseTestCase):

    def test_overlap(self):
        self.assertTrue(model.Placement(0, 4).overlaps(model.Placement(2, 2)))
        self.assertFalse(model.Placement(0, 4).overlaps(
            model.Placement(4, 4)))

    def test_str_is_start_colon_size(self):
        self.assertEqual('4:2', str(model.Placement(4, 2)))


class TestArchitecture(base.BaseTestCase):

    def test_only_ampere_needs_reset_for_mig_mode(self):
        self.assertTrue(model.Architecture.AMPERE.mig_change_needs_reset)
        self.assertFalse(model.Architecture.HOPPER.mig_change_needs_reset)


class TestToDict(base.BaseTestCase):

    def test_enums_and_placements_become_plain_values(self):
        gpu = model.PhysicalGpu(
            '0000:3b:00.0', 'A100-PCIE-40GB',
            architecture=model.Architecture.AMPERE,
            vgpu_mode=model.HostVgpuMode.VENDOR_VFIO,
            gpu_instances=[model.GpuInstance(1, '3g.20gb',
                                             model.Placement(4, 4))])
        data = model.to_dict(model.Host(gpus=[gpu]))
        self.assertEqual('ampere', data['gpus'][0]['architecture'])
        self.assertEqual('vfio', data['gpus'][0]['vgpu_mode'])
        self.assertEqual({'start': 4, 'size': 4},
                         data['gpus'][0]['gpu_instances'][0]['placement'])

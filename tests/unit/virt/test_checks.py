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

from gpuvirt_nova.virt import checks


class TestConflicts(base.BaseTestCase):

    def test_clean_config(self):
        self.assertEqual([], checks.conflicts(
            [], ['{"vendor_id": "8086", "product_id": "1520"}']))

    def test_upstream_vgpu_refused(self):
        problems = checks.conflicts(['nvidia-692'], [])
        self.assertEqual(1, len(problems))
        self.assertIn('[devices] enabled_mdev_types', problems[0])
        self.assertIn('remove', problems[0])

    def test_nvidia_pci_passthrough_refused(self):
        problems = checks.conflicts(
            [], ['{"vendor_id": "10DE", "product_id": "20f1"}',
                 'not json'])
        self.assertEqual(1, len(problems))
        self.assertIn('[pci] device_spec', problems[0])

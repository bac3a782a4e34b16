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

"""Sizes and shares as operators write them."""

from oslotest import base

from gpuvirt_nova.layout import units


class TestMemory(base.BaseTestCase):

    def test_gb_and_gib_are_both_1024_mib(self):
        self.assertEqual(10240, units.parse_memory('10GB'))
        self.assertEqual(10240, units.parse_memory('10GiB'))
        self.assertEqual(10240, units.parse_memory('10 gb'))

    def test_mib_and_mb_are_mib(self):
        self.assertEqual(10240, units.parse_memory('10240MiB'))
        self.assertEqual(512, units.parse_memory('512MB'))

    def test_fractions_and_terabytes(self):
        self.assertEqual(1536, units.parse_memory('1.5GB'))
        self.assertEqual(1024 * 1024, units.parse_memory('1TB'))

    def test_a_bare_number_is_refused_with_the_form(self):
        exc = self.assertRaises(ValueError, units.parse_memory, 10)
        self.assertIn('no unit', str(exc))
        self.assertIn('10GB', str(exc))

    def test_garbage_and_kilobytes_are_refused(self):
        for text in ('lots', '10XB', '-1GB', '64KB', '', True):
            self.assertRaises(ValueError, units.parse_memory, text)

    def test_format_mib(self):
        self.assertEqual('10GB', units.format_mib(10240))
        self.assertEqual('1.6GB', units.format_mib(1664))
        self.assertEqual('512MiB', units.format_mib(512))


class TestCompute(base.BaseTestCase):

    def test_percentages(self):
        self.assertEqual(25.0, units.parse_compute('25%'))
        self.assertEqual(12.5, units.parse_compute(' 12.5 % '))
        self.assertEqual(100.0, units.parse_compute('100%'))

    def test_out_of_range_is_refused(self):
        for text in ('0%', '-5%', '100.1%', '150%'):
            exc = self.assertRaises(ValueError, units.parse_compute, text)
            self.assertIn('out of range', str(exc))

    def test_a_bare_number_is_ambiguous(self):
        for value in (25, 0.25, '25'):
            self.assertRaises(ValueError, units.parse_compute, value)

    def test_format_share(self):
        self.assertEqual('13.6%', units.format_share(28.5714 - 15))
        self.assertEqual('25%', units.format_share(25.0))

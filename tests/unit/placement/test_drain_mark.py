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

"""The draining mark: a drained GPU stays reserved whoever writes it."""

from oslotest import base

from gpuvirt_nova.placement import diff
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import tree
from tests.unit.placement import test_tree

A = test_tree.A
B = test_tree.B


class TestDrainingMark(base.BaseTestCase):

    def test_draining_gpu_keeps_the_mark_and_is_reserved(self):
        desired = tree.build_provider_tree(
            'node01', test_tree.make_host(),
            {A: {'A100-2-10C': 3}, B: {'A100-3-20C': 2}}, draining=[A])
        by_address = {p.address: p for p in desired.providers}
        self.assertIn(naming.DRAINING_TRAIT, by_address[A].traits)
        self.assertNotIn(naming.DRAINING_TRAIT, by_address[B].traits)
        self.assertEqual(
            [3], [i.reserved for i in by_address[A].inventories.values()])
        self.assertEqual(
            [0], [i.reserved for i in by_address[B].inventories.values()])

    def test_unhealthy_is_reserved_without_the_mark(self):
        desired = tree.build_provider_tree(
            'node01', test_tree.make_host(), {A: {'A100-2-10C': 3}},
            unhealthy=[A])
        self.assertNotIn(naming.DRAINING_TRAIT, desired.providers[0].traits)

    def test_draining_addresses_reads_the_mark(self):
        providers = [
            ('node01_pci_0000_3b_00_0', {naming.DRAINING_TRAIT}),
            ('node01_pci_0000_af_00_0', {naming.MANAGED_TRAIT}),
            ('node02_pci_0000_3b_00_1', {naming.DRAINING_TRAIT}),
            ('node01', {naming.DRAINING_TRAIT})]
        self.assertEqual({A}, tree.draining_addresses(providers, 'node01'))

    def test_mark_is_ours_so_only_the_tree_keeps_it(self):
        # merge_traits drops package traits the tree does not want: the
        # mark survives a write only because draining GPUs carry it.
        self.assertTrue(naming.is_package_trait(naming.DRAINING_TRAIT))
        current = {naming.DRAINING_TRAIT, 'CUSTOM_OPERATOR_TAG'}
        self.assertEqual({'CUSTOM_OPERATOR_TAG'},
                         diff.merge_traits(set(), current))
        spec = tree.draining_spec(tree.build_provider_tree(
            'node01', test_tree.make_host(),
            {A: {'A100-2-10C': 3}}).providers[0])
        self.assertIn(naming.DRAINING_TRAIT,
                      diff.merge_traits(spec.traits, current))
        self.assertEqual([(3, 3)], [(i.total, i.reserved)
                                    for i in spec.inventories.values()])

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

from nova.compute import provider_tree
from oslotest import base

from gpuvirt_nova.hardware import discover
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import tree
from gpuvirt_nova.virt import provider
from tests import sim_fixture

NODE = 'cn1'


class TestApplyDesired(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.sim = self.useFixture(sim_fixture.SimulatedHostFixture(
            '2xA100-PCIE-40GB:vfio')).host
        self.host = discover.discover_host(self.sim)
        self.ptree = provider_tree.ProviderTree()
        self.ptree.new_root(NODE, 'root-uuid')
        self.ptree.update_inventory(NODE, {'VCPU': {'total': 8}})
        self.ptree.update_traits(NODE, ['COMPUTE_STATUS_DISABLED_NOT'])

    def desired(self, offers):
        return tree.build_provider_tree(NODE, self.host, offers)

    def test_creates_one_provider_per_offering_gpu(self):
        gpu0, gpu1 = sorted(g.address for g in self.host.gpus)
        gpus, notes = provider.apply_desired(self.ptree, self.desired(
            {gpu0: {'A100-10C': 4}}))
        name = naming.gpu_provider_name(NODE, gpu0)
        self.assertEqual({self.ptree.data(name).uuid: gpu0}, gpus)
        self.assertEqual([], notes)
        self.assertEqual(4, self.ptree.data(name).inventory[
            'CUSTOM_VGPU_A100_10C']['total'])
        self.assertIn(naming.MANAGED_TRAIT, self.ptree.data(name).traits)
        self.assertFalse(self.ptree.exists(
            naming.gpu_provider_name(NODE, gpu1)))
        # Nova's own inventory and traits of the root are untouched.
        self.assertEqual({'VCPU': {'total': 8}},
                         self.ptree.data(NODE).inventory)

    def test_foreign_traits_kept_owned_traits_replaced(self):
        gpu0 = sorted(g.address for g in self.host.gpus)[0]
        provider.apply_desired(self.ptree, self.desired(
            {gpu0: {'A100-10C': 4}}))
        name = naming.gpu_provider_name(NODE, gpu0)
        self.ptree.add_traits(name, 'CUSTOM_OPERATOR_TAG')
        provider.apply_desired(self.ptree, self.desired(
            {gpu0: {'A100-20C': 2}}))
        traits = self.ptree.data(name).traits
        self.assertIn('CUSTOM_OPERATOR_TAG', traits)
        self.assertIn('CUSTOM_VGPU_TYPE_A100_20C', traits)
        self.assertNotIn('CUSTOM_VGPU_TYPE_A100_10C', traits)

    def test_stale_model_trait_removed_operator_trait_kept(self):
        # The GPU at this address was a V100 when the provider was made
        # (or the catalog renamed the model): its old model trait is ours
        # and must go, although the desired traits never mention it.
        gpu0 = sorted(g.address for g in self.host.gpus)[0]
        name = naming.gpu_provider_name(NODE, gpu0)
        old_model = naming.gpu_model_trait('V100-SXM2-32GB')
        self.ptree.new_child(name, NODE)
        self.ptree.update_traits(name, [old_model, 'CUSTOM_RACK_A'])
        provider.apply_desired(self.ptree, self.desired(
            {gpu0: {'A100-10C': 4}}))
        traits = self.ptree.data(name).traits
        self.assertNotIn(old_model, traits)
        self.assertIn('CUSTOM_RACK_A', traits)
        self.assertIn(naming.gpu_model_trait(self.host.gpus[0].model),
                      traits)

    def test_gpu_marked_draining_stays_reserved(self):
        # What update_provider_tree does after Nova's provider cache has
        # picked up the mark that layout apply --drain set.
        gpu0, gpu1 = sorted(g.address for g in self.host.gpus)
        offers = {gpu0: {'A100-10C': 4}, gpu1: {'A100-10C': 4}}
        provider.apply_desired(self.ptree, self.desired(offers))
        name = naming.gpu_provider_name(NODE, gpu0)
        self.ptree.add_traits(name, naming.DRAINING_TRAIT)
        self.assertEqual({gpu0}, provider.draining_gpus(self.ptree, NODE))
        provider.apply_desired(self.ptree, tree.build_provider_tree(
            NODE, self.host, offers,
            draining=provider.draining_gpus(self.ptree, NODE)),
            usages_of=lambda rp_uuid: {})
        self.assertIn(naming.DRAINING_TRAIT, self.ptree.data(name).traits)
        self.assertEqual(4, self.ptree.data(name).inventory[
            'CUSTOM_VGPU_A100_10C']['reserved'])
        other = naming.gpu_provider_name(NODE, gpu1)
        self.assertEqual(0, self.ptree.data(other).inventory[
            'CUSTOM_VGPU_A100_10C']['reserved'])

    def test_stale_provider_is_fully_reserved_not_deleted(self):
        gpu0 = sorted(g.address for g in self.host.gpus)[0]
        provider.apply_desired(self.ptree, self.desired(
            {gpu0: {'A100-10C': 4}}))
        gpus, _notes = provider.apply_desired(self.ptree, self.desired({}))
        name = naming.gpu_provider_name(NODE, gpu0)
        inventory = self.ptree.data(name).inventory['CUSTOM_VGPU_A100_10C']
        self.assertEqual(inventory['total'], inventory['reserved'])
        self.assertEqual(gpu0, gpus[self.ptree.data(name).uuid])


class TestReconcile(base.BaseTestCase):
    """The driver writes through the sync's reconcile rule."""

    RC_10C = 'CUSTOM_VGPU_A100_10C'
    RC_20C = 'CUSTOM_VGPU_A100_20C'

    def setUp(self):
        super().setUp()
        sim = self.useFixture(sim_fixture.SimulatedHostFixture(
            '1xA100-PCIE-40GB:vfio')).host
        self.host = discover.discover_host(sim)
        self.gpu = self.host.gpus[0].address
        self.name = naming.gpu_provider_name(NODE, self.gpu)
        self.ptree = provider_tree.ProviderTree()
        self.ptree.new_root(NODE, 'root-uuid')
        provider.apply_desired(self.ptree, tree.build_provider_tree(
            NODE, self.host, {self.gpu: {'A100-10C': 4}}))
        self.asked = []

    def usages(self, used):
        def usages_of(rp_uuid):
            self.asked.append(rp_uuid)
            return used
        return usages_of

    def apply(self, offer, used):
        return provider.apply_desired(
            self.ptree, tree.build_provider_tree(
                NODE, self.host, {self.gpu: offer}), self.usages(used))

    def inventory(self):
        return self.ptree.data(self.name).inventory

    def test_steady_state_reads_no_usages(self):
        self.apply({'A100-10C': 4}, {self.RC_10C: 4})
        self.assertEqual([], self.asked)

    def test_never_lowered_below_usage(self):
        _gpus, notes = self.apply({'A100-10C': 2}, {self.RC_10C: 3})
        record = self.inventory()[self.RC_10C]
        self.assertEqual((3, 3), (record['total'], record['reserved']))
        self.assertTrue(notes)

    def test_a_type_leaving_in_use_stays_and_blocks_the_new_one(self):
        _gpus, notes = self.apply({'A100-20C': 2}, {self.RC_10C: 2})
        inventory = self.inventory()
        self.assertEqual(4, inventory[self.RC_10C]['reserved'])
        # The new type's capacity is not there while old guests fill it.
        self.assertEqual(2, inventory[self.RC_20C]['reserved'])
        self.assertIn('its vGPU type changes', ' '.join(notes))

    def test_a_type_leaving_unused_goes(self):
        self.apply({'A100-20C': 2}, {})
        self.assertEqual({self.RC_20C}, set(self.inventory()))
        self.assertEqual(0, self.inventory()[self.RC_20C]['reserved'])

    def test_unreadable_usages_leave_the_inventory_as_it_is(self):
        def broken(rp_uuid):
            raise RuntimeError('placement down')
        before = dict(self.inventory())
        _gpus, notes = provider.apply_desired(
            self.ptree, tree.build_provider_tree(
                NODE, self.host, {self.gpu: {'A100-20C': 2}}), broken)
        self.assertEqual(before, self.inventory())
        self.assertIn('placement down', notes[0])

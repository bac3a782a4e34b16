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
from gpuvirt_nova.layout import spec as layout_spec
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import tree
from tests import sim_fixture
from gpuvirt_nova.virt import assign
from gpuvirt_nova.virt import mdev
from gpuvirt_nova.virt import provider

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
        gpus = provider.apply_desired(self.ptree, self.desired(
            {gpu0: {'A100-10C': 4}}))
        name = naming.gpu_provider_name(NODE, gpu0)
        self.assertEqual({self.ptree.data(name).uuid: gpu0}, gpus)
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
            draining=provider.draining_gpus(self.ptree, NODE)))
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
        gpus = provider.apply_desired(self.ptree, self.desired({}))
        name = naming.gpu_provider_name(NODE, gpu0)
        inventory = self.ptree.data(name).inventory['CUSTOM_VGPU_A100_10C']
        self.assertEqual(inventory['total'], inventory['reserved'])
        self.assertEqual(gpu0, gpus[self.ptree.data(name).uuid])


class TestDriverOffers(base.BaseTestCase):

    def test_guest_vf_types_do_not_shrink_the_offer(self):
        sim = self.useFixture(sim_fixture.SimulatedHostFixture(
            '1xA100-PCIE-40GB:vfio')).host
        host = discover.discover_host(sim)
        gpu = host.gpus[0]
        sim.writer().write_sysfs(
            '/sys/bus/pci/devices/%s/nvidia/current_vgpu_type'
            % gpu.vfs[0].address,
            str(mdev.vgpu_type_id(gpu.model, 'A100-10C')))
        offers = provider.driver_offers(discover.discover_host(sim),
                                        {'A100-PCIE-40GB': 'A100-10C'})
        self.assertEqual({gpu.address: {'A100-10C': 4}}, offers)

    def test_mig_gpu_offers_its_gpu_instances(self):
        sim = self.useFixture(sim_fixture.SimulatedHostFixture(
            '1xA100-PCIE-40GB:mig')).host
        address = discover.discover_host(sim).gpus[0].address
        for start in (0, 4):
            sim.writer().create_gpu_instance(address, '3g.20gb', start)
        offers = provider.driver_offers(discover.discover_host(sim), {})
        self.assertEqual({address: {'A100-3-20C': 2}}, offers)

    def test_guest_vf_on_a_mig_gpu_is_not_counted_twice(self):
        sim = self.useFixture(sim_fixture.SimulatedHostFixture(
            '1xA100-PCIE-40GB:mig')).host
        gpu = discover.discover_host(sim).gpus[0]
        for start in (0, 4):
            sim.writer().create_gpu_instance(gpu.address, '3g.20gb', start)
        sim.writer().write_sysfs(
            '/sys/bus/pci/devices/%s/nvidia/current_vgpu_type'
            % gpu.vfs[0].address,
            str(mdev.vgpu_type_id(gpu.model, 'A100-3-20C')))
        host = discover.discover_host(sim)
        self.assertEqual('A100-3-20C', host.gpus[0].vfs[0].current_vgpu_type)
        offers = provider.driver_offers(host, {'A100-PCIE-40GB': 'A100-10C'})
        self.assertEqual({gpu.address: {'A100-3-20C': 2}}, offers)

    def t4_with_mdev(self, type_name):
        """A simulated T4 (mdev) with one mdev of ``type_name``."""
        sim = self.useFixture(sim_fixture.SimulatedHostFixture(
            '1xT4:mdev')).host
        gpu = discover.discover_host(sim).gpus[0]
        sim.writer().write_sysfs(
            '/sys/class/mdev_bus/%s/mdev_supported_types/nvidia-%d/create'
            % (gpu.address, mdev.vgpu_type_id(gpu.model, type_name)),
            '8a5d3c5e-2c9f-4a6e-9d3c-3f1f1c2b9a01')
        host = discover.discover_host(sim)
        self.assertEqual(1, len(host.gpus[0].mdevs))
        return host

    def test_mdevs_the_layout_made_are_offered(self):
        # Without defaults for the model, the GPU offers what it is carved
        # into, as the standalone sync does, so its mdev is not stale.
        host = self.t4_with_mdev('T4-1Q')
        address = host.gpus[0].address
        offers = provider.driver_offers(host, {})
        self.assertEqual({address: {'T4-1Q': 1}}, offers)
        desired = tree.build_provider_tree(NODE, host, offers)
        offered = {p.address: set(p.inventories) for p in desired.providers}
        self.assertEqual([], assign.stale_mdevs(host, offered, used=set()))

    def test_hardware_wins_over_defaults_of_another_type(self):
        host = self.t4_with_mdev('T4-1Q')
        offers = provider.driver_offers(host, {'T4': 'T4-4Q'})
        self.assertEqual({host.gpus[0].address: {'T4-1Q': 1}}, offers)

    def test_layout_file_wins_over_hardware(self):
        host = self.t4_with_mdev('T4-1Q')
        layout = layout_spec.load_text(
            'gpu_cluster:\n'
            '  nodes:\n'
            '    - host: %s\n'
            '      gpus:\n'
            '        - type: T4\n'
            '          vgpus:\n'
            '            - profile: T4-4Q\n'
            '              count: 2\n' % NODE)
        offers = provider.driver_offers(host, {'T4': 'T4-1Q'},
                                        node_name=NODE, layout=layout)
        self.assertEqual({host.gpus[0].address: {'T4-4Q': 2}}, offers)
        # A layout without an entry for this node leaves it to the rest.
        offers = provider.driver_offers(host, {}, node_name='other',
                                        layout=layout)
        self.assertEqual({host.gpus[0].address: {'T4-1Q': 1}}, offers)

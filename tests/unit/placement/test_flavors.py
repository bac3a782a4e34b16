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

"""Flavors: names, extra specs, sizes, and create-or-update."""

import types

from oslotest import base

from gpuvirt_nova import exception
from gpuvirt_nova.placement import flavors


class TestPlan(base.BaseTestCase):

    def test_one_vgpu_flavor(self):
        spec, = flavors.plan(['A100-2-10C'])
        self.assertEqual('vgpu.a100-2-10c', spec.name)
        self.assertEqual({'resources:CUSTOM_VGPU_A100_2_10C': '1',
                          'trait:CUSTOM_GPUVIRT_MANAGED': 'required'},
                         spec.extra_specs)

    def test_several_vgpus_use_granular_groups(self):
        spec, = flavors.plan(['A100-2-10C'], vgpus=2)
        self.assertEqual('vgpu.a100-2-10c-x2', spec.name)
        self.assertEqual('1', spec.extra_specs[
            'resources1:CUSTOM_VGPU_A100_2_10C'])
        self.assertEqual('1', spec.extra_specs[
            'resources2:CUSTOM_VGPU_A100_2_10C'])
        self.assertEqual('none', spec.extra_specs['group_policy'])
        self.assertNotIn('resources:CUSTOM_VGPU_A100_2_10C',
                         spec.extra_specs)

    def test_without_managed_trait(self):
        spec, = flavors.plan(['A100-2-10C'], require_managed=False)
        self.assertEqual({'resources:CUSTOM_VGPU_A100_2_10C': '1'},
                         spec.extra_specs)

    def test_size_grows_with_the_vgpu(self):
        small, big = sorted(flavors.plan(['A100-1-5C', 'A100-7-40C']),
                            key=lambda s: s.ram_mib)
        self.assertEqual('A100-1-5C', small.vgpu_type)
        self.assertGreater(big.ram_mib, small.ram_mib)
        self.assertGreaterEqual(small.ram_mib, 8192)
        self.assertGreaterEqual(small.vcpus, 2)

    def test_explicit_size_wins(self):
        spec, = flavors.plan(['A100-4C'], vcpus=3, ram_mib=4096, disk_gib=0)
        self.assertEqual((3, 4096, 0), (spec.vcpus, spec.ram_mib,
                                        spec.disk_gib))

    def test_unknown_type_names_the_option(self):
        exc = self.assertRaises(exception.UsageError, flavors.plan,
                                ['A100-99C'])
        self.assertIn('--type A100-99C', str(exc))

    def test_zero_vgpus_is_rejected(self):
        self.assertRaises(exception.UsageError, flavors.plan, ['A100-4C'],
                          vgpus=0)


class ComputeStub:
    """The part of openstacksdk's compute proxy that apply() uses.

    Keeps flavors and extra specs in memory like Nova would.
    """

    def __init__(self):
        self.flavors = {}
        self.specs = {}

    def find_flavor(self, name, ignore_missing=True):
        return self.flavors.get(name)

    def create_flavor(self, name, vcpus, ram, disk, is_public):
        flavor = types.SimpleNamespace(id=name, name=name, vcpus=vcpus,
                                       ram=ram, disk=disk)
        self.flavors[name] = flavor
        self.specs[name] = {}
        return flavor

    def create_flavor_extra_specs(self, flavor, extra_specs):
        self.specs[flavor.name].update(extra_specs)

    def fetch_flavor_extra_specs(self, flavor):
        return types.SimpleNamespace(extra_specs=dict(self.specs[flavor.name]))

    def update_flavor_extra_specs_property(self, flavor, key, value):
        self.specs[flavor.name][key] = value


class TestApply(base.BaseTestCase):

    def test_create_then_unchanged(self):
        compute = ComputeStub()
        specs = flavors.plan(['A100-2-10C', 'A100-4C'])
        results = flavors.apply(compute, specs)
        self.assertEqual(['created', 'created'], [r.action for r in results])
        self.assertEqual(specs[0].extra_specs,
                         compute.specs['vgpu.a100-2-10c'])
        results = flavors.apply(compute, specs)
        self.assertEqual(['unchanged', 'unchanged'],
                         [r.action for r in results])

    def test_missing_extra_spec_is_set_and_size_drift_reported(self):
        compute = ComputeStub()
        spec, = flavors.plan(['A100-2-10C'])
        compute.create_flavor(spec.name, 1, 1024, 10, True)
        result, = flavors.apply(compute, [spec])
        self.assertEqual('updated', result.action)
        self.assertEqual(spec.extra_specs, compute.specs[spec.name])
        self.assertIn('size differs', result.detail)
        self.assertEqual(1, compute.flavors[spec.name].vcpus)

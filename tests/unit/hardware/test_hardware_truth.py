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

"""Issue 11's reproductions: the hardware's identity wins.

The type id read from the driver is the identity and its name the
driver's; MIG profile names come from NVML. Each test runs on a real
published output (tests/fixtures, each naming its source) or on the
simulator.
"""

import os
import types

import fixtures as fx
from oslotest import base

from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import discover
from gpuvirt_nova.hardware import listings
from gpuvirt_nova.hardware import model
from gpuvirt_nova.hardware import nvml as nvml_mod
from gpuvirt_nova.hardware import writers
from gpuvirt_nova.layout import apply as apply_mod
from gpuvirt_nova.layout import plan as plan_mod
from gpuvirt_nova.placement import offers
from tests import fixtures
from tests import sim_fixture


class TestH100NvlProfileNames(base.BaseTestCase):
    """H100 NVL: `1g.12gb` (11008 MiB) is never `1g.11gb`.

    Its `+me` sibling keeps its own name.
    """

    def test_names_come_from_nvml_not_from_slices_and_memory(self):
        sim = self.useFixture(sim_fixture.SimulatedHostFixture(
            'H100-NVL-94GB:mig')).host
        address = sim.nvml_addresses()[0]
        writer = sim.writer()
        writer.create_gpu_instance(address, '1g.12gb', 0)
        writer.create_gpu_instance(address, '1g.12gb+me', 1)
        # NOTE: discovery with a catalog that does not know the model:
        # nothing but NVML can name these profiles.
        host = discover.discover_host(
            sim, gpu_catalog=catalog.Catalog([
                m for n, m in catalog.load().models.items()
                if n != 'H100-NVL-94GB']))
        gpu = host.gpus[0]
        self.assertEqual(['1g.12gb', '1g.12gb+me'],
                         [gi.profile for gi in gpu.gpu_instances])
        by_name = {p.name: p for p in gpu.mig_profiles}
        self.assertEqual(11008, by_name['1g.12gb'].memory_mib)
        self.assertEqual(1, by_name['1g.12gb+me'].max_instances)
        self.assertEqual(7, len(by_name['1g.12gb'].placements))
        self.assertEqual(
            ['0:4', '4:4'], [str(p) for p in by_name['3g.47gb'].placements])
        self.assertNotIn('1g.11gb', by_name)

    def test_mig_prefix_is_dropped_once(self):
        self.assertEqual('1g.24gb+me.all',
                         model.mig_profile_name('MIG 1g.24gb+me.all'))
        self.assertEqual('1g.5gb', model.mig_profile_name('1g.5gb'))


class TestL40sTypeNamedOnce(base.BaseTestCase):
    """A VF whose current_vgpu_type is 1145 is `L40S-1B` everywhere.

    As the next VF's creatable list names 1145: discovery, offers, layout.
    """

    def setUp(self):
        super().setUp()
        self.root = self.useFixture(fx.TempDir()).path
        self.pf = fixtures.l40s_vfio_tree(self.root)

    def _gpu(self):
        host = discover.discover(self.root, nvml=None)
        self.assertEqual(1, len(host.gpus))
        return host, host.gpus[0]

    def test_current_and_creatable_agree(self):
        host, gpu = self._gpu()
        full, free = gpu.vfs
        self.assertEqual(1145, full.current_vgpu_type_id)
        self.assertEqual('L40S-1B', full.current_vgpu_type)
        self.assertEqual((), full.creatable_types)
        self.assertIn('L40S-1B', free.creatable_types)
        self.assertEqual(
            1145, free.creatable_type_ids[
                free.creatable_types.index('L40S-1B')])
        self.assertEqual({self.pf: {'L40S-1B': 1}},
                         offers.offers_from_hardware(host))
        self.assertEqual([('0000:3d:00.4', 'L40S-1B', None)],
                         plan_mod.existing_vgpus(
                             gpu, catalog.load().find(gpu.model)))

    def test_driver_order_and_prefix(self):
        _host, gpu = self._gpu()
        free = gpu.vfs[1]
        self.assertEqual(('L40S-1B', 'L40S-2B', 'L40S-1Q'),
                         free.creatable_types[:3])
        self.assertEqual('L40S-3B', free.creatable_types[-1])
        self.assertFalse(any(n.startswith(('NVIDIA', 'GRID'))
                             for n in free.creatable_types))

    def test_writes_use_the_drivers_id(self):
        _host, gpu = self._gpu()
        self.assertEqual(1147, apply_mod._type_id(gpu, 'L40S-1Q'))
        self.assertEqual(2164, apply_mod._type_id(gpu, 'L40S-3B'))

    def test_a_type_the_driver_did_not_list_is_never_written(self):
        _host, gpu = self._gpu()
        # The catalog knows L40S-4C (id 9501, a placeholder); this driver
        # lists no C-series type at all.
        self.assertEqual(9501, catalog.load().get('L40S').vgpu_type(
            'L40S-4C').type_id)
        exc = self.assertRaises(apply_mod.StepFailed, apply_mod._type_id,
                                gpu, 'L40S-4C')
        self.assertIn('does not list vGPU type L40S-4C', str(exc))
        self.assertIn(gpu.address, str(exc))

    def test_an_id_no_list_names_falls_back_and_warns(self):
        root = self.useFixture(fx.TempDir()).path
        fixtures.l40s_vfio_tree(root, current_type_id=4242)
        host = discover.discover(root, nvml=None)
        self.assertEqual('nvidia-4242', host.gpus[0].vfs[0].current_vgpu_type)
        self.assertTrue(any('vGPU type id 4242 is named neither' in w
                            for w in host.warnings))


class TestP100TypeNamedOnce(base.BaseTestCase):
    """P100 (not in the catalog): mdev type nvidia-294 is `P100-8C`.

    In discovery, in the offer and in the layout's existing vGPUs.
    """

    def test_named_once(self):
        root = self.useFixture(fx.TempDir()).path
        pf = fixtures.p100_mdev_tree(root)
        host = discover.discover(root, nvml=None)
        gpu = host.gpus[0]
        self.assertEqual('10de:15f8', gpu.model)
        names = {t.mdev_type: t.name for t in gpu.mdev_types}
        self.assertEqual('P100-8C', names['nvidia-294'])
        self.assertEqual(17, len(names))
        self.assertEqual(294, gpu.vgpu_type_ids['P100-8C'])
        self.assertTrue(gpu.vgpu_types_complete)
        self.assertEqual({pf: {'P100-8C': 2}},
                         offers.offers_from_hardware(host))
        self.assertEqual(
            ['P100-8C', 'P100-8C'],
            [name for _p, name, _u in plan_mod.existing_vgpus(gpu, None)])
        self.assertEqual('P100-8C', gpu.vgpu_type_name('nvidia-294'))
        self.assertEqual('nvidia-9', gpu.vgpu_type_name('nvidia-9'))

    def test_grid_prefix_dropped_everywhere(self):
        root = self.useFixture(fx.TempDir()).path
        fixtures.p100_mdev_tree(root)
        gpu = discover.discover(root, nvml=None).gpus[0]
        self.assertFalse(any(t.name.startswith('GRID')
                             for t in gpu.mdev_types))
        self.assertEqual('P100-8C', model.driver_type_name('GRID P100-8C'))
        self.assertEqual('L40S-1B',
                         model.driver_type_name('NVIDIA L40S-1B'))


class TestPublishedListings(base.BaseTestCase):
    """`nvidia-smi mig -lgip` of five models; the catalog against them.

    What `gpuvirt-nova catalog check` prints.
    """

    def test_every_listing_parses_and_names_its_source(self):
        found = listings.load_listings()
        self.assertGreaterEqual(len(found), 5)
        for listing in found:
            self.assertTrue(listing.sources, listing.name)
            self.assertTrue(all(u.startswith('https://github.com/')
                                for u in listing.sources))
        nvl = next(f for f in found if f.name == 'h100-nvl.lgip.txt')
        row = nvl.rows[0]
        self.assertEqual(('1g.12gb', 19, 7, 10.75, 16, 1),
                         (row.name, row.profile_id, row.total,
                          row.memory_gib, row.sm, row.copy_engines))
        pro = next(f for f in found
                   if f.name == 'rtx-pro-6000-blackwell.lgip.txt')
        self.assertEqual(['1g.24gb', '1g.24gb+me', '1g.24gb+gfx'],
                         [r.name for r in pro.rows])
        variants = next(f for f in found if 'variants' in f.name)
        self.assertEqual(
            [('1g.24gb-me', 67, 4), ('2g.48gb+me.all', 64, 1)],
            [(r.name, r.profile_id, r.total) for r in variants.rows
             if r.name in ('1g.24gb-me', '2g.48gb+me.all')])

    def test_check_reports_matches_differs_and_missing(self):
        by_model = {r['model']: r for r in listings.check()}
        h200 = by_model['H200-SXM5-141GB']
        self.assertEqual(listings.DIFFERS, h200['status'])
        self.assertIn('2g.35gb memory_gib: catalog 32.5, listing 32.25',
                      h200['details'])
        for name in ('H100-NVL-94GB', 'GB200', 'RTX-PRO-6000-BLACKWELL'):
            self.assertEqual(listings.MATCHES, by_model[name]['status'],
                             name)
        # Two driver builds of B200 print different 1-slice memory.
        self.assertEqual(
            ['1g.23gb memory_gib: catalog 22.0, listing 20.5',
             '1g.23gb+me memory_gib: catalog 22.0, listing 20.5'],
            by_model['B200']['details'])
        self.assertEqual(listings.NO_LISTING,
                         by_model['A100-PCIE-40GB']['status'])
        self.assertTrue(any(r['status'] == listings.NOT_IN_CATALOG and
                            'GH200' in r['model'] for r in by_model.values()))

    def test_model_specific_profile_ids_are_checked(self):
        # RTX PRO 6000's 1g.24gb is id 14 where a 7-slice GPU's is 19.
        pro = catalog.load().get('RTX-PRO-6000-BLACKWELL')
        listing = listings.parse_lgip(
            '# model: RTX PRO 6000\n# source: https://example.org/x\n'
            '|   0  MIG 1g.24gb         19     4/4        23.12      No     46'
            '     1     1   |\n', 'made-up')
        self.assertEqual([('1g.24gb', 'id', 14, 19)],
                         listings.compare(pro, listing))

    def test_a_wrong_catalog_id_or_count_is_named(self):
        nvl = catalog.load().get('H100-NVL-94GB')
        listing = listings.parse_lgip(
            '# model: H100 NVL\n# source: https://example.org/x\n'
            '|   0  MIG 1g.12gb       20     6/6        10.75      No     16'
            '     1     0   |\n', 'made-up')
        self.assertEqual([('1g.12gb', 'id', 19, 20),
                          ('1g.12gb', 'instances', 7, 6)],
                         listings.compare(nvl, listing))

    def test_a_listing_without_source_is_refused(self):
        self.assertRaises(ValueError, listings.parse_lgip,
                          '|   0  MIG 1g.5gb  19  7/7  4.75  No  14  0  0 |',
                          'x')


class TestBoardsSharingADeviceId(base.BaseTestCase):
    """A2 and A16 are both 10de:25b6: the subsystem id tells them apart."""

    def test_a2_and_a16_on_one_host(self):
        sim = self.useFixture(sim_fixture.SimulatedHostFixture(
            'A2:vfio+A16:vfio')).host
        for use_nvml in (False, True):
            host = discover.discover_host(sim, use_nvml=use_nvml)
            self.assertEqual(
                [('A2', '25b6', '157e'), ('A16', '25b6', '14a9')],
                [(g.model, g.pci_device_id, g.pci_subsystem_id)
                 for g in host.gpus], use_nvml)

    def test_an_unknown_subsystem_is_not_guessed(self):
        root = self.useFixture(fx.TempDir()).path
        fixtures.domain0001_vf_offset2_tree(root)
        device = os.path.join(root, 'sys/bus/pci/devices/0001:04:00.0')
        with open(os.path.join(device, 'device'), 'w') as f:
            f.write('0x25b6\n')
        with open(os.path.join(device, 'subsystem_device'), 'w') as f:
            f.write('0x1234\n')
        gpu = discover.discover(root, nvml=None).gpus[0]
        self.assertEqual('10de:25b6', gpu.model)


class TestRealPciTopology(base.BaseTestCase):
    """PCI domain 0001 and VFs from function 2, as a real R580 host has."""

    def test_domain_0001_with_vf_offset_2(self):
        root = self.useFixture(fx.TempDir()).path
        pf = fixtures.domain0001_vf_offset2_tree(root)
        host = discover.discover(root, nvml=None)
        self.assertEqual([pf], [g.address for g in host.gpus])
        gpu = host.gpus[0]
        self.assertEqual('RTX-PRO-6000-BLACKWELL', gpu.model)
        # virtfn order (0, 1, 2, 10, ... 20), not `ls` order.
        self.assertEqual(
            ['0001:04:00.2', '0001:04:00.3', '0001:04:00.4', '0001:04:01.4',
             '0001:04:01.5', '0001:04:01.6', '0001:04:01.7', '0001:04:02.0',
             '0001:04:02.1', '0001:04:02.2', '0001:04:02.3', '0001:04:02.4',
             '0001:04:02.5', '0001:04:02.6'],
            [vf.address for vf in gpu.vfs])
        self.assertEqual(host.gpu('0001:04:00.0'), gpu)
        self.assertIsNone(host.gpu('0000:04:00.0'))

    def test_nvml_bus_id_keeps_the_domain(self):
        self.assertEqual('0001:04:00.0',
                         nvml_mod.normalize_bus_id('00000001:04:00.0'))


class TestGpuInstancesFromNvml(base.BaseTestCase):
    """GPU instances by the names and placements NVML lists on the GPU.

    Never by the catalog's.
    """

    def _sim(self, spec):
        return self.useFixture(sim_fixture.SimulatedHostFixture(spec)).host

    def test_a_model_the_catalog_lacks_still_gets_its_instances(self):
        sim = self._sim('H100-NVL-94GB:mig')
        address = sim.nvml_addresses()[0]
        without_nvl = catalog.Catalog([
            m for n, m in catalog.load().models.items()
            if n != 'H100-NVL-94GB'])
        # NOTE: only the writer's view of the catalog loses the model.
        self.useFixture(fx.MockPatch(
            'gpuvirt_nova.hardware.writers.catalog',
            types.SimpleNamespace(load=lambda: without_nvl)))
        gi_id = sim.writer().create_gpu_instance(address, '1g.24gb', 2)
        gpu = discover.discover_host(sim).gpus[0]
        self.assertEqual([(gi_id, '1g.24gb', '2:2')],
                         [(gi.id, gi.profile, str(gi.placement))
                          for gi in gpu.gpu_instances])

    def test_a_start_nvml_does_not_allow_is_refused_with_the_starts(self):
        sim = self._sim('H100-NVL-94GB:mig')
        address = sim.nvml_addresses()[0]
        exc = self.assertRaises(writers.InvalidWrite,
                                sim.writer().create_gpu_instance,
                                address, '2g.24gb', 1)
        self.assertIn('cannot start at memory slice 1: NVML allows '
                      'starts 0, 2, 4', str(exc))

    def test_a_name_nvml_does_not_list_is_refused_with_its_names(self):
        sim = self._sim('H100-NVL-94GB:mig')
        address = sim.nvml_addresses()[0]
        exc = self.assertRaises(writers.InvalidWrite,
                                sim.writer().create_gpu_instance,
                                address, '1g.11gb', 0)
        self.assertIn("NVML lists no MIG profile '1g.11gb'", str(exc))
        self.assertIn('use one of 1g.12gb, 2g.24gb', str(exc))

    def test_rtx_pro_6000_graphics_profile(self):
        sim = self._sim('RTX-PRO-6000-BLACKWELL:mig')
        address = sim.nvml_addresses()[0]
        sim.writer().create_gpu_instance(address, '1g.24gb+gfx', 3)
        gpu = discover.discover_host(sim).gpus[0]
        self.assertEqual([('1g.24gb+gfx', '3:1')],
                         [(gi.profile, str(gi.placement))
                          for gi in gpu.gpu_instances])
        by_name = {p.name: p for p in gpu.mig_profiles}
        self.assertEqual({'1g.24gb', '1g.24gb+me', '1g.24gb+gfx',
                          '1g.24gb+me.all', '1g.24gb-me', '2g.48gb',
                          '2g.48gb+gfx', '2g.48gb+me.all', '2g.48gb-me',
                          '4g.96gb', '4g.96gb+gfx'}, set(by_name))


class TestPreAdaGridNames(base.BaseTestCase):
    """A published P40 host, a model the catalog lacks.

    The driver's ids, its names without ``GRID``, nothing invented.
    """

    def test_types_read_as_the_driver_lists_them(self):
        root = self.useFixture(fx.TempDir()).path
        pf = fixtures.p40_mdev_tree(root)
        host = discover.discover(root, nvml=None)
        gpu = host.gpu(pf)
        self.assertEqual('10de:1b38', gpu.model)
        self.assertEqual({'P40-2B': 156, 'P40-2B4': 215, 'P40-1B4': 241,
                          'P40-4C': 283, 'P40-6C': 284, 'P40-8C': 285},
                         gpu.vgpu_type_ids)
        self.assertEqual(
            [('nvidia-156', 'P40-2B', 12), ('nvidia-215', 'P40-2B4', 12),
             ('nvidia-241', 'P40-1B4', 24), ('nvidia-283', 'P40-4C', 6),
             ('nvidia-284', 'P40-6C', 4), ('nvidia-285', 'P40-8C', 3)],
            [(t.mdev_type, t.name, t.available_instances)
             for t in gpu.mdev_types])
        self.assertEqual([], [w for w in host.warnings
                              if 'NVML not used' not in w])

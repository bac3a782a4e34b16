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

"""sysfs parsers (pure, on strings) and the tree reader (on sim trees)."""

import os
import shutil

import fixtures
from oslotest import base

from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import model
from gpuvirt_nova.hardware import sysfs
from tests import sim_fixture

A = '0000:3b:00.0'
B = '0000:5e:00.0'
P = '/sys/bus/pci/devices/0000:3b:00.0/numa_node'


class TestParseInt(base.BaseTestCase):

    def test_good(self):
        self.assertEqual(3, sysfs.parse_int('3\n', P))

    def test_empty_names_path_and_expectation(self):
        exc = self.assertRaises(exception.DiscoveryError,
                                sysfs.parse_int, '', P)
        self.assertEqual("%s: expected an integer, got ''" % P, str(exc))

    def test_malformed_names_path_and_value(self):
        exc = self.assertRaises(exception.DiscoveryError,
                                sysfs.parse_int, 'abc\n', P)
        self.assertEqual("%s: expected an integer, got 'abc'" % P, str(exc))

    def test_below_minimum(self):
        exc = self.assertRaises(exception.DiscoveryError,
                                sysfs.parse_int, '-2', P, minimum=0)
        self.assertIn('expected an integer >= 0', str(exc))

    def test_long_garbage_is_shortened(self):
        exc = self.assertRaises(exception.DiscoveryError,
                                sysfs.parse_int, 'x' * 500, P)
        self.assertLess(len(str(exc)), 200)


class TestParseNumaNode(base.BaseTestCase):

    def test_node(self):
        self.assertEqual(1, sysfs.parse_numa_node('1\n', P))

    def test_minus_one_means_unknown(self):
        self.assertIsNone(sysfs.parse_numa_node('-1\n', P))

    def test_malformed(self):
        self.assertRaises(exception.DiscoveryError,
                          sysfs.parse_numa_node, 'node0', P)


class TestParseIds(base.BaseTestCase):

    def test_vendor(self):
        self.assertEqual('10de', sysfs.parse_hex_id('0x10de\n', 'vendor'))

    def test_upper_case_device(self):
        self.assertEqual('20f1', sysfs.parse_hex_id('0x20F1', 'device'))

    def test_hex_id_malformed(self):
        exc = self.assertRaises(exception.DiscoveryError,
                                sysfs.parse_hex_id, '10de', 'x/vendor')
        self.assertIn('x/vendor: expected a PCI id like 0x10de', str(exc))

    def test_hex_id_missing(self):
        self.assertRaises(exception.DiscoveryError,
                          sysfs.parse_hex_id, '', 'x/vendor')

    def test_class(self):
        self.assertEqual('030200', sysfs.parse_pci_class('0x030200\n', 'c'))

    def test_class_malformed(self):
        exc = self.assertRaises(exception.DiscoveryError,
                                sysfs.parse_pci_class, '0x0302', 'x/class')
        self.assertIn('expected a PCI class like 0x030200', str(exc))

    def test_gpu_classes(self):
        self.assertTrue(sysfs.is_gpu_class('030000'))
        self.assertTrue(sysfs.is_gpu_class('030200'))
        # The HDMI audio function of the same board is not a GPU.
        self.assertFalse(sysfs.is_gpu_class('040300'))


class TestVendorVfioFiles(base.BaseTestCase):

    CREATABLE = ('ID    : vGPU Name\n'
                 '1414 : NVIDIA H200X-1-18C\n'
                 '1428 : NVIDIA H200X-141C\n')

    def test_creatable_with_header(self):
        self.assertEqual(((1414, 'H200X-1-18C'), (1428, 'H200X-141C')),
                         sysfs.parse_creatable_vgpu_types(self.CREATABLE,
                                                          'c'))

    def test_creatable_without_header_and_grid_prefix(self):
        self.assertEqual(((230, 'T4-4Q'),),
                         sysfs.parse_creatable_vgpu_types(
                             '230 : GRID T4-4Q\n', 'c'))

    def test_creatable_empty_means_none_creatable(self):
        self.assertEqual((), sysfs.parse_creatable_vgpu_types('', 'c'))
        self.assertEqual((), sysfs.parse_creatable_vgpu_types(
            'ID    : vGPU Name\n', 'c'))

    def test_creatable_malformed_names_line(self):
        exc = self.assertRaises(
            exception.DiscoveryError, sysfs.parse_creatable_vgpu_types,
            'ID : vGPU Name\n1414 NVIDIA H200X-1-18C\n', 'x/creatable')
        self.assertIn('x/creatable line 2: expected "<type id> : <type '
                      'name>"', str(exc))

    def test_creatable_non_numeric_id(self):
        self.assertRaises(exception.DiscoveryError,
                          sysfs.parse_creatable_vgpu_types,
                          'abc : NVIDIA H200X-1-18C\n', 'c')

    def test_current_type(self):
        self.assertEqual(692, sysfs.parse_current_vgpu_type('692\n', 'c'))

    def test_current_zero_means_none(self):
        self.assertIsNone(sysfs.parse_current_vgpu_type('0\n', 'c'))

    def test_current_malformed(self):
        exc = self.assertRaises(exception.DiscoveryError,
                                sysfs.parse_current_vgpu_type, 'A100-4C',
                                'x/current_vgpu_type')
        self.assertIn('x/current_vgpu_type: expected an integer', str(exc))

    def test_current_negative(self):
        self.assertRaises(exception.DiscoveryError,
                          sysfs.parse_current_vgpu_type, '-1', 'c')


class TestMdevParsers(base.BaseTestCase):

    def test_type_id(self):
        self.assertEqual(692, sysfs.parse_mdev_type_id('nvidia-692'))

    def test_foreign_type_has_no_id(self):
        self.assertIsNone(sysfs.parse_mdev_type_id('i915-GVTg_V5_4'))

    def test_short_type_name(self):
        self.assertEqual('A100-2-10C',
                         sysfs.short_type_name('NVIDIA A100-2-10C'))
        self.assertEqual('T4-4Q', sysfs.short_type_name('GRID T4-4Q'))
        self.assertEqual('A100-4C', sysfs.short_type_name('A100-4C'))

    def test_device_api(self):
        self.assertEqual('vfio-pci', sysfs.parse_device_api('vfio-pci\n',
                                                            'd'))

    def test_device_api_malformed(self):
        self.assertRaises(exception.DiscoveryError,
                          sysfs.parse_device_api, 'vfio pci', 'd')

    def test_uuid(self):
        uuid = '4b20d080-1b54-4048-85b3-a6a62d165c01'
        self.assertEqual(uuid, sysfs.parse_mdev_uuid(uuid.upper(), 'd'))

    def test_uuid_malformed(self):
        exc = self.assertRaises(exception.DiscoveryError,
                                sysfs.parse_mdev_uuid, 'not-a-uuid', 'd')
        self.assertIn('expected an mdev UUID', str(exc))

    def test_pci_address(self):
        self.assertEqual('0000:3b:00.4',
                         sysfs.parse_pci_address('0000:3B:00.4', 'd'))

    def test_pci_address_malformed(self):
        exc = self.assertRaises(exception.DiscoveryError,
                                sysfs.parse_pci_address, 'gpu0', 'd')
        self.assertIn('expected a PCI address like 0000:3b:00.0', str(exc))


class TestInferVgpuMode(base.BaseTestCase):

    def test_vendor_vfio_wins(self):
        self.assertEqual(model.HostVgpuMode.VENDOR_VFIO,
                         sysfs.infer_vgpu_mode([], ['vf'], ['vf']))

    def test_vfs_with_mdev_types(self):
        self.assertEqual(model.HostVgpuMode.SRIOV_MDEV,
                         sysfs.infer_vgpu_mode([], ['vf'], []))

    def test_pf_mdev_types(self):
        self.assertEqual(model.HostVgpuMode.MDEV,
                         sysfs.infer_vgpu_mode(['t'], [], []))

    def test_nothing(self):
        self.assertEqual(model.HostVgpuMode.NONE,
                         sysfs.infer_vgpu_mode([], [], []))


class SimulatedTreeBase(base.BaseTestCase):
    """A simulated host's sysfs tree, read as a real one would be."""

    SPEC = '1xA100-PCIE-40GB:mig'

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(
            sim_fixture.SimulatedHostFixture(self.SPEC)).host
        self.root = self.host.root
        self.catalog = catalog.load()

    def read(self):
        return sysfs.read(self.host.sysfs_root, self.catalog)

    def pci(self, address, *parts):
        return os.path.join(self.root, 'sys', 'bus', 'pci', 'devices',
                            address, *parts)

    def rewrite(self, path, text):
        with open(path, 'w') as f:
            f.write(text)

    def type_id(self, model_name, type_name):
        return self.catalog.get(model_name).vgpu_type(type_name).type_id


class TestReadMigHost(SimulatedTreeBase):

    SPEC = '2xA100-PCIE-40GB:mig'

    def test_gpus_and_vfs(self):
        view = self.read()
        self.assertEqual([], view.warnings)
        self.assertEqual([A, B], [g.address for g in view.gpus])
        gpu = view.gpus[0]
        self.assertEqual('A100-PCIE-40GB', gpu.model)
        self.assertEqual('20f1', gpu.pci_device_id)
        self.assertEqual(0, gpu.numa_node)
        self.assertIsNotNone(gpu.iommu_group)
        self.assertEqual(20, gpu.sriov_totalvfs)
        self.assertEqual(20, len(gpu.vfs))
        self.assertEqual('0000:3b:00.4', gpu.vfs[0].address)
        self.assertEqual(model.HostVgpuMode.VENDOR_VFIO, gpu.vgpu_mode)
        self.assertEqual('550.127.06', view.driver_version)

    def test_vfs_are_in_virtfn_order(self):
        gpu = self.read().gpus[0]
        expected = [os.path.basename(os.readlink(
            self.pci(A, 'virtfn%d' % i))) for i in range(len(gpu.vfs))]
        self.assertEqual(expected, [vf.address for vf in gpu.vfs])

    def test_creatable_and_current_types_use_catalog_names(self):
        writer = self.host.writer()
        writer.create_gpu_instance(A, '3g.20gb', 0)
        type_id = self.type_id('A100-PCIE-40GB', 'A100-3-20C')
        creatable = self.read().gpus[0].vfs[0].creatable_types
        self.assertIn('A100-3-20C', creatable)
        writer.write_sysfs('/sys/bus/pci/devices/0000:3b:00.4/nvidia/'
                           'current_vgpu_type', str(type_id))
        gpu = self.read().gpus[0]
        self.assertEqual('A100-3-20C', gpu.vfs[0].current_vgpu_type)
        self.assertIsNone(gpu.vfs[1].current_vgpu_type)

    def test_no_mdev_bus_at_all(self):
        shutil.rmtree(os.path.join(self.root, 'sys', 'class', 'mdev_bus'))
        shutil.rmtree(os.path.join(self.root, 'sys', 'bus', 'mdev'))
        view = self.read()
        self.assertEqual([], view.warnings)
        self.assertEqual(2, len(view.gpus))
        self.assertEqual([], view.gpus[0].mdevs)


class TestBrokenFiles(SimulatedTreeBase):
    """Good, missing and malformed files: a warning, and the walk goes on."""

    def test_missing_numa_node_is_not_a_problem(self):
        os.unlink(self.pci(A, 'numa_node'))
        view = self.read()
        self.assertEqual([], view.warnings)
        self.assertIsNone(view.gpus[0].numa_node)

    def test_unreadable_file_names_the_path(self):
        path = self.pci(A, 'numa_node')
        os.unlink(path)
        os.mkdir(path)  # reading a directory fails as an unreadable file
        view = self.read()
        self.assertEqual(1, len(view.warnings))
        self.assertTrue(view.warnings[0].startswith(
            '%s: expected a readable file' % path), view.warnings[0])

    def test_malformed_current_vgpu_type(self):
        path = self.pci('0000:3b:00.4', 'nvidia', 'current_vgpu_type')
        self.rewrite(path, 'A100-4C\n')
        view = self.read()
        self.assertEqual(["%s: expected an integer, got 'A100-4C'" % path],
                         view.warnings)
        self.assertIsNone(view.gpus[0].vfs[0].current_vgpu_type)
        self.assertEqual(20, len(view.gpus[0].vfs))

    def test_missing_current_vgpu_type(self):
        path = self.pci('0000:3b:00.4', 'nvidia', 'current_vgpu_type')
        os.unlink(path)
        view = self.read()
        self.assertEqual(1, len(view.warnings))
        self.assertIn('%s: expected a readable file' % path,
                      view.warnings[0])

    def test_malformed_creatable_vgpu_types(self):
        path = self.pci('0000:3b:00.5', 'nvidia', 'creatable_vgpu_types')
        self.rewrite(path, 'ID : vGPU Name\ngarbage\n')
        view = self.read()
        self.assertEqual(1, len(view.warnings))
        self.assertIn('%s line 2: expected "<type id> : <type name>"'
                      % path, view.warnings[0])
        self.assertEqual((), view.gpus[0].vfs[1].creatable_types)

    def test_unknown_type_id_keeps_the_raw_name(self):
        path = self.pci('0000:3b:00.5', 'nvidia', 'creatable_vgpu_types')
        self.rewrite(path, 'ID : vGPU Name\n9999 : NVIDIA A100-FUTURE-7C\n')
        view = self.read()
        self.assertEqual(('A100-FUTURE-7C',),
                         view.gpus[0].vfs[1].creatable_types)

    def test_numvfs_disagreeing_with_virtfn_links(self):
        path = self.pci(A, 'sriov_numvfs')
        self.rewrite(path, '4\n')
        view = self.read()
        self.assertEqual(['%s: says 4 VFs are enabled but 20 virtfn links '
                          'were found' % path], view.warnings)

    def test_malformed_totalvfs(self):
        path = self.pci(A, 'sriov_totalvfs')
        self.rewrite(path, '-3\n')
        view = self.read()
        self.assertIn('expected an integer >= 0', view.warnings[0])
        self.assertEqual(0, view.gpus[0].sriov_totalvfs)


class TestBrokenFilesTwoGpus(SimulatedTreeBase):
    """One GPU's broken files do not hide the other GPU."""

    SPEC = '2xA100-PCIE-40GB:mig'

    def test_malformed_numa_node(self):
        path = self.pci(A, 'numa_node')
        self.rewrite(path, 'abc\n')
        view = self.read()
        self.assertEqual(["%s: expected an integer, got 'abc'" % path],
                         view.warnings)
        self.assertIsNone(view.gpus[0].numa_node)
        self.assertEqual(0, view.gpus[1].numa_node)

    def test_malformed_vendor_skips_only_that_function(self):
        path = self.pci(B, 'vendor')
        self.rewrite(path, 'nvidia\n')
        view = self.read()
        self.assertIn("%s: expected a PCI id like 0x10de, got 'nvidia'"
                      % path, view.warnings)
        self.assertEqual([A], [g.address for g in view.gpus])

    def test_other_vendor_is_ignored_silently(self):
        for name in os.listdir(os.path.join(self.root, 'sys', 'bus', 'pci',
                                            'devices')):
            if name.startswith('0000:5e:'):
                self.rewrite(self.pci(name, 'vendor'), '0x8086\n')
        view = self.read()
        self.assertEqual([], view.warnings)
        self.assertEqual([A], [g.address for g in view.gpus])

    def test_audio_function_is_not_a_gpu(self):
        self.rewrite(self.pci(B, 'class'), '0x040300\n')
        view = self.read()
        self.assertEqual([A], [g.address for g in view.gpus])
        # Its VFs are reported, not silently dropped.
        self.assertTrue(any('0000:5e:00.4: virtual function' in w
                            for w in view.warnings), view.warnings)


class TestReadVendorVfioHost(SimulatedTreeBase):

    SPEC = '1xH100-SXM5-80GB:vfio'

    def test_vfs_offer_time_sliced_types(self):
        view = self.read()
        self.assertEqual([], view.warnings)
        gpu = view.gpus[0]
        self.assertEqual(model.HostVgpuMode.VENDOR_VFIO, gpu.vgpu_mode)
        known = {t.name for t in
                 self.catalog.get('H100-SXM5-80GB').time_sliced_types()}
        creatable = set(gpu.vfs[0].creatable_types)
        self.assertTrue(creatable)
        self.assertLessEqual(creatable, known)
        self.assertEqual([], gpu.mdev_types)


class TestReadSriovMdevHost(SimulatedTreeBase):

    SPEC = '1xA100-PCIE-40GB:sriov-mdev'

    def test_vfs_are_mdev_parents(self):
        view = self.read()
        self.assertEqual([], view.warnings)
        gpu = view.gpus[0]
        self.assertEqual(model.HostVgpuMode.SRIOV_MDEV, gpu.vgpu_mode)
        names = {t.name for t in gpu.vfs[0].mdev_types}
        self.assertIn('A100-4C', names)
        by_name = {t.name: t for t in gpu.vfs[0].mdev_types}
        type_id = self.type_id('A100-PCIE-40GB', 'A100-4C')
        self.assertEqual('nvidia-%d' % type_id,
                         by_name['A100-4C'].mdev_type)
        self.assertEqual('vfio-pci', by_name['A100-4C'].device_api)
        self.assertEqual((), gpu.vfs[0].creatable_types)

    def _create_mdev(self, vf='0000:3b:00.4', type_name='A100-4C'):
        mdev_uuid = '4b20d080-1b54-4048-85b3-a6a62d165c01'
        type_id = self.type_id('A100-PCIE-40GB', type_name)
        self.host.writer().write_sysfs(
            '/sys/class/mdev_bus/%s/mdev_supported_types/nvidia-%d/create'
            % (vf, type_id), mdev_uuid)
        return mdev_uuid, type_id

    def test_mdev_parent_is_its_vf(self):
        mdev_uuid, type_id = self._create_mdev()
        view = self.read()
        self.assertEqual([], view.warnings)
        self.assertEqual([model.MediatedDevice(
            uuid=mdev_uuid, mdev_type='nvidia-%d' % type_id,
            parent='0000:3b:00.4')], view.gpus[0].mdevs)

    def test_mdev_without_type_link_is_reported(self):
        mdev_uuid, _type_id = self._create_mdev()
        link = os.path.join(self.root, 'sys', 'bus', 'mdev', 'devices',
                            mdev_uuid, 'mdev_type')
        os.unlink(link)
        view = self.read()
        self.assertEqual(['%s: expected a link to the mdev type directory, '
                          'got nothing' % link], view.warnings)
        self.assertEqual([], view.gpus[0].mdevs)

    def test_malformed_available_instances(self):
        type_id = self.type_id('A100-PCIE-40GB', 'A100-4C')
        path = os.path.join(self.root, 'sys', 'class', 'mdev_bus',
                            '0000:3b:00.4', 'mdev_supported_types',
                            'nvidia-%d' % type_id, 'available_instances')
        self.rewrite(path, 'many\n')
        view = self.read()
        self.assertEqual(["%s: expected an integer, got 'many'" % path],
                         view.warnings)
        by_name = {t.name: t for t in view.gpus[0].vfs[0].mdev_types}
        self.assertEqual(0, by_name['A100-4C'].available_instances)


class TestReadPfMdevHost(SimulatedTreeBase):

    SPEC = '2xT4:mdev'

    def test_pf_is_the_mdev_parent(self):
        view = self.read()
        self.assertEqual([], view.warnings)
        gpu = view.gpus[0]
        self.assertEqual('T4', gpu.model)
        self.assertEqual(model.HostVgpuMode.MDEV, gpu.vgpu_mode)
        self.assertEqual([], gpu.vfs)
        names = {t.name for t in gpu.mdev_types}
        self.assertEqual({t.name for t in self.catalog.get('T4').vgpu_types},
                         names)


class TestNoNvidiaGpu(base.BaseTestCase):

    def test_empty_tree_is_an_empty_view(self):
        root = self.useFixture(fixtures.TempDir()).path
        os.makedirs(os.path.join(root, sysfs.PCI_DEVICES))
        view = sysfs.read(root)
        self.assertEqual([], view.gpus)
        self.assertEqual([], view.warnings)
        self.assertIsNone(view.driver_version)

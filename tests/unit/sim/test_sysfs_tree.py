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

"""The tree looks like a real host's: paths, links and file formats."""

import dataclasses
import os

import fixtures as fixtures_lib
from oslotest import base

from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import discover
from gpuvirt_nova.hardware import model
from gpuvirt_nova.sim import spec
from gpuvirt_nova.sim import sysfs_tree
from tests import fixtures
from tests import sim_fixture


def read(path):
    with open(path) as f:
        return f.read()


class TreeTestCase(base.BaseTestCase):

    def _host(self, spec):
        host = self.useFixture(sim_fixture.SimulatedHostFixture(spec)).host
        self.root = host.sysfs_root
        return host

    def dev(self, address, *parts):
        return os.path.join(self.root, 'sys', 'bus', 'pci', 'devices',
                            address, *parts)

    def test_physical_function_files(self):
        self._host('2xA100-PCIE-40GB:vfio')
        gpu = catalog.load().get('A100-PCIE-40GB')
        pf = '0000:3b:00.0'
        self.assertTrue(os.path.islink(os.path.join(
            self.root, 'sys', 'bus', 'pci', 'devices', pf)))
        self.assertEqual('0x10de\n', read(self.dev(pf, 'vendor')))
        self.assertEqual('0x%s\n' % gpu.pci_device_ids[0],
                         read(self.dev(pf, 'device')))
        self.assertEqual('0x030200\n', read(self.dev(pf, 'class')))
        self.assertEqual('0\n', read(self.dev(pf, 'numa_node')))
        self.assertEqual('%d\n' % gpu.sriov_totalvfs,
                         read(self.dev(pf, 'sriov_totalvfs')))
        self.assertEqual('%d\n' % gpu.sriov_totalvfs,
                         read(self.dev(pf, 'sriov_numvfs')))
        self.assertEqual('nvidia', os.path.basename(
            os.readlink(self.dev(pf, 'driver'))))
        group = os.readlink(self.dev(pf, 'iommu_group'))
        self.assertTrue(group.startswith('../'))
        self.assertTrue(os.path.basename(group).isdigit())
        self.assertTrue(os.path.isdir(self.dev(pf, 'iommu_group')))
        self.assertIn('550.', read(os.path.join(
            self.root, 'sys', 'module', 'nvidia', 'version')))

    def test_virtual_functions_and_links(self):
        self._host('A100-PCIE-40GB:vfio')
        pf = '0000:3b:00.0'
        self.assertEqual('../0000:3b:00.4',
                         os.readlink(self.dev(pf, 'virtfn0')))
        self.assertEqual('../0000:3b:01.0',
                         os.readlink(self.dev(pf, 'virtfn4')))
        self.assertEqual(os.path.realpath(self.dev(pf)),
                         os.path.realpath(self.dev('0000:3b:00.4',
                                                   'physfn')))
        groups = {os.path.basename(os.readlink(self.dev(a, 'iommu_group')))
                  for a in (pf, '0000:3b:00.4', '0000:3b:00.5')}
        self.assertEqual(3, len(groups))

    def test_vendor_vfio_files(self):
        self._host('A100-PCIE-40GB:vfio')
        gpu = catalog.load().get('A100-PCIE-40GB')
        vf = '0000:3b:00.4'
        self.assertEqual('0\n', read(self.dev(vf, 'nvidia',
                                              'current_vgpu_type')))
        lines = read(self.dev(vf, 'nvidia',
                              'creatable_vgpu_types')).splitlines()
        self.assertEqual('ID    : vGPU Name', lines[0])
        listed = {}
        for line in lines[1:]:
            type_id, sep, name = line.partition(' : ')
            self.assertEqual(' : ', sep)
            listed[int(type_id)] = name
        expected = {t.type_id: 'NVIDIA %s' % t.name
                    for t in gpu.time_sliced_types()}
        self.assertEqual(expected, listed)
        self.assertFalse(os.path.exists(os.path.join(
            self.root, 'sys', 'class', 'mdev_bus', vf)))

    def test_sriov_mdev_types_on_each_vf(self):
        self._host('A100-PCIE-40GB:sriov-mdev')
        gpu = catalog.load().get('A100-PCIE-40GB')
        vgpu_type = gpu.time_sliced_types()[0]
        parent = os.path.join(self.root, 'sys', 'class', 'mdev_bus',
                              '0000:3b:00.4')
        type_dir = os.path.join(parent, 'mdev_supported_types',
                                vgpu_type.mdev_type)
        self.assertEqual('NVIDIA %s\n' % vgpu_type.name,
                         read(os.path.join(type_dir, 'name')))
        self.assertEqual('1\n', read(os.path.join(type_dir,
                                                  'available_instances')))
        self.assertEqual('vfio-pci\n', read(os.path.join(type_dir,
                                                         'device_api')))
        self.assertIn('framebuffer=%dM' % vgpu_type.framebuffer_mib,
                      read(os.path.join(type_dir, 'description')))
        self.assertTrue(os.path.exists(os.path.join(type_dir, 'create')))
        self.assertFalse(os.path.exists(os.path.join(
            self.root, 'sys', 'class', 'mdev_bus', '0000:3b:00.0')))

    def test_mdev_types_on_the_pf_before_ampere(self):
        self._host('T4:mdev')
        gpu = catalog.load().get('T4')
        types = os.path.join(self.root, 'sys', 'class', 'mdev_bus',
                             '0000:3b:00.0', 'mdev_supported_types')
        for vgpu_type in gpu.vgpu_types:
            self.assertEqual('%d\n' % vgpu_type.max_instances, read(
                os.path.join(types, vgpu_type.mdev_type,
                             'available_instances')))
        self.assertFalse(os.path.exists(self.dev('0000:3b:00.0',
                                                 'sriov_numvfs')))

    def test_passthrough_gpu_is_bound_to_vfio_pci(self):
        host = self._host('A100-PCIE-40GB:none')
        self.assertEqual('vfio-pci', os.path.basename(
            os.readlink(self.dev('0000:3b:00.0', 'driver'))))
        self.assertEqual('0\n', read(self.dev('0000:3b:00.0',
                                              'sriov_numvfs')))
        self.assertEqual([], host.nvml_addresses())

    def test_old_driver_prints_grid_names(self):
        host_spec = dataclasses.replace(spec.parse_spec('T4:mdev'),
                                        driver_version='470.223.02')
        self._host(host_spec)
        name = os.path.join(self.root, 'sys', 'class', 'mdev_bus',
                            '0000:3b:00.0', 'mdev_supported_types')
        first = sorted(os.listdir(name))[0]
        self.assertTrue(read(os.path.join(name, first, 'name')).startswith(
            'GRID T4-'))


class TestRealFormats(base.BaseTestCase):
    """What a real host driver prints, board by board."""

    def _host(self, spec):
        return self.useFixture(sim_fixture.SimulatedHostFixture(spec)).host

    def test_vf_offset_2_on_rtx_pro_6000(self):
        sim = self._host('RTX-PRO-6000-BLACKWELL:vfio')
        pf = sim.nvml_addresses()[0]
        pf_dir = os.path.join(sim.sysfs_root, 'sys/bus/pci/devices', pf)
        with open(os.path.join(pf_dir, 'sriov_offset')) as f:
            self.assertEqual('2\n', f.read())
        first = os.path.basename(os.readlink(
            os.path.join(pf_dir, 'virtfn0')))
        self.assertEqual(pf[:-1] + '2', first)
        self.assertEqual(first, sim.vf_address(pf, 0))
        gpu = discover.discover_host(sim).gpus[0]
        self.assertEqual(first, gpu.vfs[0].address)
        self.assertEqual(24, len(gpu.vfs))

    def test_vf_offset_4_elsewhere(self):
        sim = self._host('L40S:vfio')
        pf = sim.nvml_addresses()[0]
        self.assertEqual(pf[:-1] + '4', sim.vf_address(pf, 0))

    def test_subsystem_ids_of_a2_and_a16(self):
        sim = self._host('A2:vfio+A16:vfio')
        found = []
        for pf in sim.nvml_addresses():
            with open(os.path.join(sim.sysfs_root, 'sys/bus/pci/devices',
                                   pf, 'subsystem_device')) as f:
                found.append(f.read().strip())
        self.assertEqual(['0x157e', '0x14a9'], found)

    def test_descriptions_follow_the_real_driver_per_series(self):
        # Every series and size a real P100 host printed: our text for a
        # type of the same series and frame buffer must be the same.
        real = {}
        for _parent, _type, info in fixtures.mdevctl_types(
                fixtures.text('sysfs', 'p100-mdevctl-types.txt')):
            name = info['Name'].split()[-1]
            if name[-1] in 'ABCQ':
                real[name.split('-')[-1]] = info['Description']
        l40s = catalog.load().get('L40S')
        checked = 0
        for suffix, description in real.items():
            try:
                vgpu_type = l40s.vgpu_type('L40S-' + suffix)
            except KeyError:
                continue
            ours = sysfs_tree.type_description(vgpu_type)
            self.assertEqual(_display(description), _display(ours), suffix)
            checked += 1
        self.assertGreaterEqual(checked, 8)
        self.assertEqual({'A', 'B', 'C', 'Q'},
                         {suffix[-1] for suffix in real})


def _display(description):
    """The description without its framebuffer and max_instance."""
    return [field for field in description.split(', ')
            if not field.startswith(('framebuffer=', 'max_instance='))]


class TestRealMigIds(base.BaseTestCase):

    def test_board_specific_profile_ids(self):
        # `nvidia-smi mig -lgip` on RTX PRO 6000 prints 14 for 1g.24gb
        # and 47 for 1g.24gb+gfx; on H100 1g.10gb is 19.
        ids = {}
        for spec_text in ('RTX-PRO-6000-BLACKWELL:mig', 'H100-SXM5-80GB:mig'):
            sim = self.useFixture(
                sim_fixture.SimulatedHostFixture(spec_text)).host
            nvml = sim.nvml()
            nvml.nvmlInit()
            handle = nvml.nvmlDeviceGetHandleByPciBusId(
                sim.nvml_addresses()[0])
            for index in (0, 10):
                try:
                    info = nvml.nvmlDeviceGetGpuInstanceProfileInfo(
                        handle, index)
                except nvml.NVMLError:
                    continue
                ids[model.mig_profile_name(info.name)] = info.id
        self.assertEqual({'1g.24gb': 14, '1g.24gb+gfx': 47,
                          '1g.10gb': 19}, ids)


class TestR580VfDirectory(base.BaseTestCase):
    """A VF's nvidia/ directory as the host driver branch lays it out."""

    def _host(self, driver_version):
        root = self.useFixture(fixtures_lib.TempDir()).path
        path = os.path.join(root, 'host.yaml')
        with open(path, 'w') as f:
            f.write('driver_version: "%s"\ngpus:\n'
                    '  - model: A100-PCIE-40GB\n    mode: mig\n'
                    % driver_version)
        return self.useFixture(sim_fixture.SimulatedHostFixture(path)).host

    def _vf_dir(self, sim):
        pf = sim.nvml_addresses()[0]
        vf = sim.vf_address(pf, 0)
        return pf, vf, os.path.join(sim.sysfs_root, 'sys/bus/pci/devices',
                                    vf, 'nvidia')

    def test_r550_has_two_attributes(self):
        _pf, _vf, nvidia = self._vf_dir(self._host('550.127.06'))
        self.assertEqual(['creatable_vgpu_types', 'current_vgpu_type'],
                         sorted(os.listdir(nvidia)))

    def test_r580_has_six_and_names_the_gpu_instance(self):
        sim = self._host('580.65.05')
        pf, vf, nvidia = self._vf_dir(sim)
        self.assertEqual(['creatable_vgpu_types', 'current_vgpu_type',
                          'gpu_instance_id', 'placement_id', 'vgpu_params',
                          'warm_update'], sorted(os.listdir(nvidia)))
        writer = sim.writer()
        gi_id = writer.create_gpu_instance(pf, '1g.5gb', 0)
        writer.write_sysfs('/sys/bus/pci/devices/%s/nvidia/'
                           'current_vgpu_type' % vf, '474')
        read = {}
        for name in ('current_vgpu_type', 'gpu_instance_id', 'placement_id',
                     'vgpu_params', 'warm_update'):
            with open(os.path.join(nvidia, name)) as f:
                read[name] = f.read()
        self.assertEqual({'current_vgpu_type': '474\n',
                          'gpu_instance_id': '%d\n' % gi_id,
                          'placement_id': '0\n', 'vgpu_params': '',
                          'warm_update': '0\n'}, read)


class TestCreatableOrder(base.BaseTestCase):

    def test_types_in_the_drivers_order(self):
        # The published L40S list is in id order, B, Q and A series
        # interleaved as their ids fall, 2164 (3B) last.
        real = [int(line.split(':')[0]) for line in fixtures.text(
            'sysfs', 'l40s-vf-creatable_vgpu_types.txt').splitlines()[1:]]
        sim = self.useFixture(
            sim_fixture.SimulatedHostFixture('L40S:vfio')).host
        vf = sim.vf_address(sim.nvml_addresses()[0], 0)
        with open(os.path.join(sim.sysfs_root, 'sys/bus/pci/devices', vf,
                               'nvidia', 'creatable_vgpu_types')) as f:
            listed = [int(line.split(':')[0])
                      for line in f.read().splitlines()[1:]]
        self.assertEqual(real, [i for i in listed if i in real])


class TestRealMigEngines(base.BaseTestCase):

    def test_engine_counts_as_a_real_host_printed_them(self):
        # h100-nvl.lgip.txt: 1g.12gb SM 16, DEC 1, ENC 0, CE 1, JPEG 1,
        # OFA 0; its +me sibling has the OFA.
        sim = self.useFixture(
            sim_fixture.SimulatedHostFixture('H100-NVL-94GB:mig')).host
        nvml = sim.nvml()
        nvml.nvmlInit()
        handle = nvml.nvmlDeviceGetHandleByPciBusId(sim.nvml_addresses()[0])
        found = {}
        for index in (0, 7):
            info = nvml.nvmlDeviceGetGpuInstanceProfileInfo(handle, index)
            found[model.mig_profile_name(info.name)] = (
                info.multiprocessorCount, info.decoderCount,
                info.encoderCount, info.copyEngineCount, info.jpegCount,
                info.ofaCount)
        self.assertEqual({'1g.12gb': (16, 1, 0, 1, 1, 0),
                          '1g.12gb+me': (16, 1, 0, 1, 1, 1)}, found)

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

"""Discovery: the pure merge, and whole hosts read through the simulator."""

import os

import fixtures
from oslotest import base

from gpuvirt_nova.conf import backends
from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import discover
from gpuvirt_nova.hardware import model
from gpuvirt_nova.hardware import nvml
from gpuvirt_nova.hardware import sysfs
from gpuvirt_nova import sim
from tests import sim_fixture

A = '0000:3b:00.0'
B = '0000:5e:00.0'


def _sysfs_gpu(address=A, **kw):
    kw.setdefault('model', 'A100-PCIE-40GB')
    return model.PhysicalGpu(address=address, pci_device_id='20f1',
                             numa_node=0, sriov_totalvfs=20, **kw)


def _nvml_gpu(address=A, **kw):
    kw.setdefault('model', 'NVIDIA A100-PCIE-40GB')
    return model.PhysicalGpu(address=address, uuid='GPU-%s' % address,
                             memory_mib=40960, mig_capable=True, **kw)


class TestMerge(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.catalog = catalog.load()

    def _merge(self, sysfs_gpus, nvml_gpus, available=True, **kw):
        return discover.merge(
            sysfs.SysfsView(gpus=sysfs_gpus, driver_version='550.1'),
            nvml.NvmlView(available=available, gpus=nvml_gpus,
                          driver_version='550.127.06' if available else None),
            gpu_catalog=self.catalog, **kw)

    def test_both_sides_are_combined(self):
        gi = model.GpuInstance(id=1, profile='3g.20gb',
                               placement=model.Placement(0, 4))
        host = self._merge(
            [_sysfs_gpu(vgpu_mode=model.HostVgpuMode.VENDOR_VFIO)],
            [_nvml_gpu(mig_current=True, gpu_instances=[gi])],
            hostname='node01')
        self.assertEqual('node01', host.hostname)
        self.assertEqual([], host.warnings)
        gpu = host.gpus[0]
        self.assertEqual('A100-PCIE-40GB', gpu.model)
        self.assertEqual('GPU-%s' % A, gpu.uuid)
        self.assertEqual(0, gpu.numa_node)
        self.assertEqual(20, gpu.sriov_totalvfs)
        self.assertEqual(model.HostVgpuMode.VENDOR_VFIO, gpu.vgpu_mode)
        self.assertTrue(gpu.mig_current)
        self.assertEqual([gi], gpu.gpu_instances)
        self.assertEqual(model.Architecture.AMPERE, gpu.architecture)

    def test_nvml_driver_version_wins_and_is_set_on_every_gpu(self):
        host = self._merge([_sysfs_gpu()], [_nvml_gpu()])
        self.assertEqual('550.127.06', host.driver_version)
        self.assertEqual('550.127.06', host.gpus[0].driver_version)

    def test_without_nvml_the_catalog_fills_in(self):
        bare = _sysfs_gpu()
        host = self._merge([bare], [], available=False)
        gpu = host.gpus[0]
        self.assertEqual(40960, gpu.memory_mib)
        self.assertEqual(model.Architecture.AMPERE, gpu.architecture)
        self.assertTrue(gpu.mig_capable)
        self.assertIsNone(gpu.uuid)
        self.assertEqual('550.1', host.driver_version)
        self.assertEqual([], host.warnings)
        # The input is not changed: merge is pure.
        self.assertIsNone(bare.memory_mib)

    def test_gpu_missing_from_nvml_is_kept_with_a_warning(self):
        host = self._merge([_sysfs_gpu(A), _sysfs_gpu(B)], [_nvml_gpu(A)])
        self.assertEqual([A, B], [g.address for g in host.gpus])
        self.assertEqual(1, len(host.warnings))
        self.assertIn('GPU %s is in sysfs but NVML does not report it' % B,
                      host.warnings[0])

    def test_passthrough_gpu_missing_from_nvml_is_expected(self):
        view = sysfs.SysfsView(gpus=[_sysfs_gpu(A)],
                               drivers={A: discover.VFIO_PCI})
        host = discover.merge(view, nvml.NvmlView(available=True),
                              gpu_catalog=self.catalog)
        self.assertEqual([A], [g.address for g in host.gpus])
        self.assertEqual([], host.warnings)

    def test_gpu_missing_from_sysfs_is_kept_with_a_warning(self):
        host = self._merge([], [_nvml_gpu(B)])
        self.assertEqual([B], [g.address for g in host.gpus])
        self.assertEqual('A100-PCIE-40GB', host.gpus[0].model)
        self.assertIn('reported by NVML but not found in sysfs',
                      host.warnings[0])

    def test_unknown_model_keeps_the_nvml_name(self):
        host = self._merge([_sysfs_gpu(model='10de:9999')],
                           [_nvml_gpu(model='NVIDIA Future GPU')])
        self.assertEqual('NVIDIA Future GPU', host.gpus[0].model)
        self.assertIsNone(host.gpus[0].architecture)

    def test_warnings_of_both_sides_are_kept_in_order(self):
        host = discover.merge(
            sysfs.SysfsView(warnings=['sysfs problem']),
            nvml.NvmlView(available=False, warnings=['nvml problem']),
            gpu_catalog=self.catalog)
        self.assertEqual(['sysfs problem', 'nvml problem'], host.warnings)

    def test_gpus_are_sorted_by_address(self):
        host = self._merge([_sysfs_gpu(B), _sysfs_gpu(A)],
                           [_nvml_gpu(A), _nvml_gpu(B)])
        self.assertEqual([A, B], [g.address for g in host.gpus])


class TestCatalogDict(base.BaseTestCase):

    def test_mig_profiles_with_placements_and_mig_backed_types(self):
        data = discover.catalog_dict(catalog.load().get('A100-PCIE-40GB'))
        profiles = {p['name']: p for p in data['mig_profiles']}
        self.assertEqual([{'start': 0, 'size': 4}, {'start': 4, 'size': 4}],
                         profiles['3g.20gb']['placements'])
        self.assertEqual(7, profiles['1g.5gb']['max_instances'])
        backed = {t['name']: t for t in data['mig_backed_vgpu_types']}
        self.assertEqual('2g.10gb', backed['A100-2-10C']['mig_profile'])
        self.assertTrue(all(t['mig_profile'] is None
                            for t in data['time_sliced_vgpu_types']))

    def test_host_to_dict_adds_catalog_per_gpu(self):
        host = model.Host(gpus=[_sysfs_gpu(), _sysfs_gpu(B, model='X')])
        data = discover.host_to_dict(host)
        self.assertEqual('A100-PCIE-40GB', data['gpus'][0]['catalog']['model'])
        self.assertIsNone(data['gpus'][1]['catalog'])


class TestDiscoverSimulated(base.BaseTestCase):
    """Whole hosts, read through sysfs and the simulator's NVML."""

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir(
            rootdir=sim_fixture.scratch_dir())).path

    def test_mig_host(self):
        host = backends.discover_simulated('2xA100-PCIE-40GB:mig@node07')
        self.assertEqual('node07', host.hostname)
        self.assertEqual([], host.warnings)
        self.assertEqual([A, B], [g.address for g in host.gpus])
        for gpu in host.gpus:
            self.assertEqual('A100-PCIE-40GB', gpu.model)
            self.assertTrue(gpu.mig_current)
            self.assertTrue(gpu.uuid)
            self.assertEqual(20, len(gpu.vfs))
            self.assertEqual(model.HostVgpuMode.VENDOR_VFIO, gpu.vgpu_mode)
            self.assertEqual('550.127.06', gpu.driver_version)

    def test_existing_root_is_reopened_and_sees_changes(self):
        sim_host = sim.SimulatedHost.create(self.tmp, '1xA100-PCIE-40GB:mig')
        sim_host.writer().create_gpu_instance(A, '7g.40gb', 0)
        host = backends.discover_simulated(self.tmp)
        [gi] = host.gpus[0].gpu_instances
        self.assertEqual(('7g.40gb', model.Placement(0, 8)),
                         (gi.profile, gi.placement))

    def test_without_nvml_sysfs_and_catalog_answer(self):
        sim_host = sim.SimulatedHost.create(self.tmp, '1xA100-PCIE-40GB:mig')
        host = discover.discover(sim_host.sysfs_root, nvml=None)
        self.assertEqual(1, len(host.warnings))
        self.assertIn('NVML not used', host.warnings[0])
        gpu = host.gpus[0]
        self.assertEqual('A100-PCIE-40GB', gpu.model)
        self.assertEqual(40960, gpu.memory_mib)
        self.assertEqual(model.Architecture.AMPERE, gpu.architecture)
        self.assertIsNone(gpu.uuid)
        self.assertEqual(20, len(gpu.vfs))
        # The driver version still comes from /sys/module/nvidia/version.
        self.assertEqual('550.127.06', host.driver_version)

    def test_auto_nvml_on_another_root_is_not_this_hosts_nvml(self):
        sim_host = sim.SimulatedHost.create(self.tmp, '1xT4:mdev')
        host = discover.discover(sim_host.sysfs_root)
        self.assertEqual(['T4'], [g.model for g in host.gpus])
        self.assertIn('is not /', host.warnings[0])

    def test_passthrough_gpu_is_listed_without_warning(self):
        host = backends.discover_simulated(
            '1xA100-PCIE-40GB:mig+1xA100-PCIE-40GB:none')
        self.assertEqual([], host.warnings)
        self.assertEqual([model.HostVgpuMode.VENDOR_VFIO,
                          model.HostVgpuMode.NONE],
                         [g.vgpu_mode for g in host.gpus])
        self.assertIsNone(host.gpus[1].uuid)

    def test_no_nvidia_gpu(self):
        os.makedirs(os.path.join(self.tmp, sysfs.PCI_DEVICES))
        host = discover.discover(self.tmp, nvml=None)
        self.assertEqual([], host.gpus)

    def test_missing_root_is_a_usage_error(self):
        missing = os.path.join(self.tmp, 'nowhere')
        exc = self.assertRaises(exception.UsageError, discover.discover,
                                missing)
        self.assertIn('sysfs_root %s: no such directory' % missing, str(exc))

    def test_root_without_pci_devices_is_a_usage_error(self):
        exc = self.assertRaises(exception.UsageError, discover.discover,
                                self.tmp)
        self.assertIn('there is no sys/bus/pci/devices under it', str(exc))

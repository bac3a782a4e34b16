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

"""Writes through the simulator's writer obey the real rules."""

import errno
import os
import threading
import uuid

import fixtures
from oslotest import base
import pynvml

from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import writers
from gpuvirt_nova import sim
from tests import sim_fixture

PF = '0000:3b:00.0'
VF0 = '0000:3b:00.4'
VF1 = '0000:3b:00.5'


def read(path):
    with open(path) as f:
        return f.read()


class HostTestCase(base.BaseTestCase):

    spec = 'A100-PCIE-40GB:vfio'
    model = 'A100-PCIE-40GB'

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(
            sim_fixture.SimulatedHostFixture(self.spec)).host
        self.writer = self.host.writer()
        self.gpu = catalog.load().get(self.model)

    def path(self, *parts):
        return os.path.join(self.host.sysfs_root, 'sys', *parts)

    def type_id(self, name):
        return self.gpu.vgpu_type(name).type_id

    def creatable(self, vf):
        text = read(self.path('bus', 'pci', 'devices', vf, 'nvidia',
                              'creatable_vgpu_types'))
        return [int(line.split(':')[0]) for line in text.splitlines()[1:]]

    def set_type(self, vf, type_id):
        self.writer.write_sysfs('/sys/bus/pci/devices/%s/nvidia/'
                                'current_vgpu_type' % vf, type_id)

    def assertErrno(self, code, func, *args):
        exc = self.assertRaises(sim.SimulatedWriteError, func, *args)
        self.assertEqual(code, exc.errno)
        self.assertIsInstance(exc, writers.HardwareRefused)
        return exc


class LifecycleTestCase(HostTestCase):

    def test_create_refuses_an_existing_root(self):
        exc = self.assertRaises(exception.UsageError,
                                sim.SimulatedHost.create,
                                self.host.root, 'T4:mdev')
        self.assertIn('already holds a simulated host', str(exc))
        replaced = sim.SimulatedHost.create(self.host.root, 'T4:mdev',
                                            replace=True)
        self.assertEqual(['T4'], [g.model for g in replaced.spec.gpus])
        self.assertFalse(os.path.exists(self.path('bus', 'pci', 'devices',
                                                  VF0)))

    def test_fixture_honours_the_scratch_dir_override(self):
        scratch = self.useFixture(fixtures.TempDir()).path
        self.useFixture(fixtures.EnvironmentVariable(
            sim_fixture.TMPDIR_ENV, scratch))
        host = self.useFixture(
            sim_fixture.SimulatedHostFixture('T4:mdev')).host
        self.assertEqual(scratch, os.path.dirname(host.root))

    def test_concurrent_writers_lose_nothing(self):
        # Two writers race on one state file; the flock serialises them.
        host = self.useFixture(sim_fixture.SimulatedHostFixture(
            'A100-PCIE-40GB:mig')).host
        errors = []

        def create(starts):
            writer = sim.SimulatedHost.open(host.root).writer()
            try:
                for start in starts:
                    writer.create_gpu_instance(PF, '1g.5gb', start)
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=create, args=(starts,))
                   for starts in ((0, 2, 4), (1, 3, 5))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual([], errors)
        gis = host.store.load()['gpus'][PF]['gpu_instances'].values()
        self.assertEqual(list(range(6)), sorted(gi['start'] for gi in gis))

    def test_open_needs_a_host(self):
        empty = self.useFixture(fixtures.TempDir()).path
        exc = self.assertRaises(exception.UsageError,
                                sim.SimulatedHost.open, empty)
        self.assertIn('holds no simulated host', str(exc))

    def test_state_survives_reopen(self):
        self.set_type(VF0, self.type_id('A100-10C'))
        again = sim.SimulatedHost.open(self.host.root)
        self.assertEqual(self.host.spec, again.spec)
        self.assertEqual(self.type_id('A100-10C'), again.store.load()[
            'gpus'][PF]['vfs'][0]['current_vgpu_type'])
        journal = again.journal_entries()
        self.assertEqual('sysfs', journal[-1][0])


class VendorVfioTestCase(HostTestCase):

    def test_type_narrows_siblings_in_equal_size_mode(self):
        all_types = self.creatable(VF1)
        self.assertIn(self.type_id('A100-4C'), all_types)
        self.set_type(VF0, self.type_id('A100-10C'))
        self.assertEqual('%d\n' % self.type_id('A100-10C'), read(self.path(
            'bus', 'pci', 'devices', VF0, 'nvidia', 'current_vgpu_type')))
        self.assertEqual([self.type_id('A100-10C')], self.creatable(VF1))
        self.assertEqual([], self.creatable(VF0))

    def test_capacity_runs_out_at_max_instances(self):
        ten_c = self.gpu.vgpu_type('A100-10C')
        vfs = [sim.state.vf_address(PF, i)
               for i in range(ten_c.max_instances + 1)]
        for vf in vfs[:-1]:
            self.set_type(vf, ten_c.type_id)
        self.assertEqual([], self.creatable(vfs[-1]))
        self.assertErrno(errno.EINVAL, self.set_type, vfs[-1],
                         ten_c.type_id)

    def test_zero_releases(self):
        self.set_type(VF0, self.type_id('A100-10C'))
        self.set_type(VF0, 0)
        self.assertIn(self.type_id('A100-4C'), self.creatable(VF1))

    def test_second_type_on_a_vf_is_busy(self):
        self.set_type(VF0, self.type_id('A100-10C'))
        self.assertErrno(errno.EBUSY, self.set_type, VF0,
                         self.type_id('A100-10C'))

    def test_uncreatable_type_is_invalid(self):
        self.set_type(VF0, self.type_id('A100-10C'))
        self.assertErrno(errno.EINVAL, self.set_type, VF1,
                         self.type_id('A100-4C'))
        mig_backed = self.gpu.mig_backed_types()[0].type_id
        self.assertNotIn(mig_backed, self.creatable(VF1))

    def test_injected_failure_changes_nothing(self):
        self.host.inject_failure('*/current_vgpu_type')
        self.assertErrno(errno.EIO, self.set_type, VF0,
                         self.type_id('A100-10C'))
        self.assertEqual(0, self.host.store.load()['gpus'][PF]['vfs'][0][
            'current_vgpu_type'])
        self.set_type(VF0, self.type_id('A100-10C'))


class MixedSizeTestCase(HostTestCase):

    def setUp(self):
        path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                            'host.yaml')
        with open(path, 'w') as f:
            f.write('gpus: [{model: A100-PCIE-40GB, mode: vfio, '
                    'scheduling: mixed-size}]\n')
        self.spec = path
        super().setUp()

    def test_different_sizes_coexist_within_memory(self):
        twenty = self.gpu.vgpu_type('A100-20C')
        ten = self.gpu.vgpu_type('A100-10C')
        self.set_type(VF0, twenty.type_id)
        self.assertIn(ten.type_id, self.creatable(VF1))
        self.set_type(VF1, ten.type_id)
        vf2, vf3 = sim.state.vf_address(PF, 2), sim.state.vf_address(PF, 3)
        self.set_type(vf2, ten.type_id)
        self.assertEqual([], self.creatable(vf3))


class SriovTestCase(HostTestCase):

    def numvfs(self, value):
        self.writer.write_sysfs('/sys/bus/pci/devices/%s/sriov_numvfs' % PF,
                                value)

    def test_disable_removes_vfs_and_enable_brings_them_back(self):
        self.numvfs(0)
        self.assertEqual('0\n', read(self.path('bus', 'pci', 'devices', PF,
                                               'sriov_numvfs')))
        self.assertFalse(os.path.lexists(self.path('bus', 'pci', 'devices',
                                                   VF0)))
        self.assertFalse(os.path.lexists(self.path('bus', 'pci', 'devices',
                                                   PF, 'virtfn0')))
        self.numvfs(4)
        self.assertTrue(os.path.isdir(self.path('bus', 'pci', 'devices',
                                                '0000:3b:00.7', 'nvidia')))
        self.assertFalse(os.path.lexists(self.path('bus', 'pci', 'devices',
                                                   '0000:3b:01.0')))

    def test_kernel_rules(self):
        self.assertErrno(errno.EBUSY, self.numvfs, 4)
        self.numvfs(0)
        self.assertErrno(errno.ERANGE, self.numvfs,
                         self.gpu.sriov_totalvfs + 1)

    def test_cannot_disable_while_a_vf_has_a_vgpu(self):
        self.set_type(VF0, self.type_id('A100-10C'))
        self.assertErrno(errno.EBUSY, self.numvfs, 0)


class SriovMdevTestCase(HostTestCase):

    spec = 'A100-PCIE-40GB:sriov-mdev'

    def available(self, parent, name):
        return int(read(self.path(
            'class', 'mdev_bus', parent, 'mdev_supported_types',
            self.gpu.vgpu_type(name).mdev_type, 'available_instances')))

    def create(self, parent, name, mdev_uuid=None):
        mdev_uuid = mdev_uuid or str(uuid.uuid4())
        self.writer.write_sysfs(
            '/sys/class/mdev_bus/%s/mdev_supported_types/%s/create'
            % (parent, self.gpu.vgpu_type(name).mdev_type), mdev_uuid)
        return mdev_uuid

    def remove(self, mdev_uuid):
        self.writer.write_sysfs('/sys/bus/mdev/devices/%s/remove'
                                % mdev_uuid, '1')

    def test_create_lowers_available_instances(self):
        self.assertEqual(1, self.available(VF0, 'A100-10C'))
        mdev_uuid = self.create(VF0, 'A100-10C')
        self.assertEqual(0, self.available(VF0, 'A100-10C'))
        self.assertEqual(1, self.available(VF1, 'A100-10C'))
        self.assertEqual(0, self.available(VF1, 'A100-4C'))
        link = self.path('bus', 'mdev', 'devices', mdev_uuid)
        self.assertEqual(VF0, os.path.basename(os.path.dirname(
            os.path.realpath(link))))
        self.assertEqual(self.gpu.vgpu_type('A100-10C').mdev_type,
                         os.path.basename(os.readlink(
                             os.path.join(link, 'mdev_type'))))

    def test_remove_restores(self):
        mdev_uuid = self.create(VF0, 'A100-10C')
        self.remove(mdev_uuid)
        self.assertEqual(1, self.available(VF0, 'A100-4C'))
        self.assertFalse(os.path.lexists(self.path('bus', 'mdev', 'devices',
                                                   mdev_uuid)))
        self.assertErrno(errno.ENOENT, self.remove, mdev_uuid)

    def test_duplicate_uuid_and_exhausted_type(self):
        mdev_uuid = self.create(VF0, 'A100-10C')
        self.assertErrno(errno.EEXIST, self.create, VF1, 'A100-10C',
                         mdev_uuid)
        self.assertErrno(errno.EINVAL, self.create, VF0, 'A100-10C')

    def test_mdev_in_use_cannot_be_removed(self):
        mdev_uuid = self.create(VF0, 'A100-10C')
        self.host.set_mdev_in_use(mdev_uuid, 'instance-00000001')
        self.assertErrno(errno.EBUSY, self.remove, mdev_uuid)


class MdevOnPfTestCase(HostTestCase):

    spec = 'T4:mdev'
    model = 'T4'

    def test_pf_holds_many_mdevs_of_one_type(self):
        four_q = self.gpu.vgpu_type('T4-4Q')
        create = ('/sys/class/mdev_bus/%s/mdev_supported_types/%s/create'
                  % (PF, four_q.mdev_type))
        for _ in range(four_q.max_instances):
            self.writer.write_sysfs(create, str(uuid.uuid4()))
        self.assertErrno(errno.EINVAL, self.writer.write_sysfs, create,
                         str(uuid.uuid4()))
        two_q = self.gpu.vgpu_type('T4-2Q')
        self.assertEqual('0\n', read(self.path(
            'class', 'mdev_bus', PF, 'mdev_supported_types',
            two_q.mdev_type, 'available_instances')))


class MigBackedTestCase(HostTestCase):

    spec = 'A100-PCIE-40GB:mig'

    def test_vf_types_follow_free_gpu_instances(self):
        self.assertEqual([], self.creatable(VF0))
        gi_id = self.writer.create_gpu_instance(PF, '2g.10gb', 0)
        two_g = self.type_id('A100-2-10C')
        self.assertEqual([two_g], self.creatable(VF0))
        self.set_type(VF0, two_g)
        self.assertEqual([], self.creatable(VF1))
        exc = self.assertRaises(writers.HardwareRefused,
                                self.writer.destroy_gpu_instance, PF, gi_id)
        self.assertEqual(pynvml.NVML_ERROR_IN_USE, exc.nvml_error)
        self.set_type(VF0, 0)
        self.writer.destroy_gpu_instance(PF, gi_id)

    def test_writer_geometry(self):
        self.writer.create_gpu_instance(PF, '1g.5gb', 0)
        exc = self.assertRaises(writers.HardwareRefused,
                                self.writer.create_gpu_instance, PF,
                                '4g.20gb', 0)
        self.assertEqual(pynvml.NVML_ERROR_INSUFFICIENT_RESOURCES,
                         exc.nvml_error)
        self.assertIn('NVML_ERROR_INSUFFICIENT_RESOURCES', str(exc))
        gi_id = self.writer.create_gpu_instance(PF, '3g.20gb', 4)
        self.assertEqual(0, self.writer.create_compute_instance(
            PF, gi_id, '3g.20gb'))
        self.assertRaises(writers.InvalidWrite,
                          self.writer.create_compute_instance, PF, gi_id,
                          '2g.10gb')

    def test_reboot_drops_vfs_types_and_instances(self):
        self.writer.create_gpu_instance(PF, '7g.40gb', 0)
        self.set_type(VF0, self.type_id('A100-7-40C'))
        self.host.reboot()
        gpu = self.host.store.load()['gpus'][PF]
        self.assertEqual(([], {}), (gpu['vfs'], gpu['gpu_instances']))
        self.assertTrue(gpu['mig_current'], 'MIG mode survives on Ampere')
        self.assertEqual('0\n', read(self.path('bus', 'pci', 'devices', PF,
                                               'sriov_numvfs')))
        self.assertFalse(os.path.lexists(self.path('bus', 'pci', 'devices',
                                                   VF0)))


class MigBackedMdevTestCase(HostTestCase):

    spec = 'A100-PCIE-40GB:mig-mdev'

    def test_mdev_needs_and_holds_a_gpu_instance(self):
        one_g = self.gpu.vgpu_type('A100-1-5C')
        create = ('/sys/class/mdev_bus/%s/mdev_supported_types/%s/create'
                  % (VF0, one_g.mdev_type))
        self.assertErrno(errno.EINVAL, self.writer.write_sysfs, create,
                         str(uuid.uuid4()))
        gi_id = self.writer.create_gpu_instance(PF, '1g.5gb', 6)
        self.writer.write_sysfs(create, str(uuid.uuid4()))
        self.assertEqual('0\n', read(self.path(
            'class', 'mdev_bus', VF1, 'mdev_supported_types',
            one_g.mdev_type, 'available_instances')))
        exc = self.assertRaises(writers.HardwareRefused,
                                self.writer.destroy_gpu_instance, PF, gi_id)
        self.assertEqual(pynvml.NVML_ERROR_IN_USE, exc.nvml_error)


class HopperRebootTestCase(HostTestCase):

    spec = 'H100-SXM5-80GB:mig'
    model = 'H100-SXM5-80GB'

    def test_mig_mode_is_lost_on_hopper(self):
        self.assertFalse(self.writer.set_mig_mode(PF, True))
        self.host.reboot()
        gpu = self.host.store.load()['gpus'][PF]
        self.assertFalse(gpu['mig_current'])
        self.assertFalse(gpu['mig_pending'])


class PersistentMdevTestCase(HostTestCase):

    spec = 'T4:mdev+A100-PCIE-40GB:sriov-mdev'
    model = 'T4'

    def test_only_persistent_mdevs_on_the_pf_come_back(self):
        t4_pf, a100_pf = '0000:3b:00.0', '0000:5e:00.0'
        a100 = catalog.load().get('A100-PCIE-40GB')
        kept, lost, on_vf = (str(uuid.uuid4()) for _ in range(3))
        t4_type = self.gpu.vgpu_type('T4-4Q').mdev_type
        for mdev_uuid in (kept, lost):
            self.writer.write_sysfs(
                '/sys/class/mdev_bus/%s/mdev_supported_types/%s/create'
                % (t4_pf, t4_type), mdev_uuid)
        self.writer.write_sysfs(
            '/sys/class/mdev_bus/%s/mdev_supported_types/%s/create'
            % (sim.state.vf_address(a100_pf, 0),
               a100.vgpu_type('A100-10C').mdev_type), on_vf)
        self.host.set_mdev_persistent(kept)
        self.host.set_mdev_persistent(on_vf)
        self.host.reboot()
        self.assertEqual([kept], sorted(os.listdir(
            self.path('bus', 'mdev', 'devices'))))


class InjectFailureTestCase(HostTestCase):

    def test_unknown_target_is_refused(self):
        exc = self.assertRaises(exception.UsageError,
                                self.host.inject_failure, 'frobnicate')
        self.assertIn('frobnicate', str(exc))

    def test_count_none_fails_forever(self):
        self.host.inject_failure('/sys/bus/pci/devices/*/sriov_numvfs',
                                 errno_code=errno.EPERM, count=None)
        for _ in range(2):
            self.assertErrno(errno.EPERM, self.writer.write_sysfs,
                             '/sys/bus/pci/devices/%s/sriov_numvfs' % PF, 0)
        self.host.clear_failures()
        self.writer.write_sysfs('/sys/bus/pci/devices/%s/sriov_numvfs' % PF,
                                0)

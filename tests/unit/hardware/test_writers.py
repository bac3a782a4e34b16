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

"""Writer argument checks: pure functions shared by every writer."""

import json
import os
import subprocess
import sys
from unittest import mock

import fixtures
from oslo_privsep import capabilities
from oslotest import base

from gpuvirt_nova.conf import privsep as privsep_conf
from gpuvirt_nova import exception
from gpuvirt_nova.hardware import writers
from gpuvirt_nova import privsep
from tests import sim_fixture

UUID = '4b20d080-1b54-4048-85b3-a6a62d165c01'


class ValidateSysfsWriteTestCase(base.BaseTestCase):

    def test_allowed_writes(self):
        cases = [
            ('/sys/bus/pci/devices/0000:3b:00.0/sriov_numvfs', 16,
             'sriov_numvfs', '16'),
            ('/sys/bus/pci/devices/0000:3b:00.4/nvidia/current_vgpu_type',
             '692', 'current_vgpu_type', '692'),
            ('/sys/class/mdev_bus/0000:3b:00.4/mdev_supported_types/'
             'nvidia-692/create', UUID.upper(), 'mdev_create', UUID),
            ('/sys/bus/pci/devices/0000:3b:00.0/mdev_supported_types/'
             'nvidia-230/create', UUID, 'mdev_create', UUID),
            ('/sys/bus/mdev/devices/%s/remove' % UUID, 1, 'mdev_remove',
             '1'),
        ]
        for path, value, kind, text in cases:
            request = writers.validate_sysfs_write(path, value)
            self.assertEqual((kind, text), (request.kind, request.value))
            self.assertEqual(path, request.path)

    def test_parsed_parts(self):
        request = writers.validate_sysfs_write(
            '/sys/class/mdev_bus/0000:3b:00.4/mdev_supported_types/'
            'nvidia-692/create', UUID)
        self.assertEqual(('0000:3b:00.4', 692, UUID),
                         (request.address, request.type_id,
                          request.mdev_uuid))

    def test_paths_outside_the_allow_list(self):
        for path in ('/etc/passwd',
                     '/sys/bus/pci/devices/0000:3b:00.0/remove',
                     '/sys/bus/pci/devices/0000:3b:00.0/../../../../etc/x',
                     '/sys/bus/pci/devices/0000:3b:00.0/sriov_numvfs/',
                     '/sys/bus/pci/devices/0000:3B:00.0/sriov_numvfs',
                     '/sys/class/mdev_bus/0000:3b:00.4/mdev_supported_types/'
                     'i915-GVTg_V5_4/create',
                     'sys/bus/pci/devices/0000:3b:00.0/sriov_numvfs',
                     None):
            exc = self.assertRaises(writers.InvalidWrite,
                                    writers.validate_sysfs_write, path, '1')
            self.assertIsInstance(exc, exception.UsageError)
            self.assertNotIn('\n', str(exc))

    def test_bad_values(self):
        numvfs = '/sys/bus/pci/devices/0000:3b:00.0/sriov_numvfs'
        vgpu = '/sys/bus/pci/devices/0000:3b:00.4/nvidia/current_vgpu_type'
        create = ('/sys/class/mdev_bus/0000:3b:00.4/mdev_supported_types/'
                  'nvidia-692/create')
        remove = '/sys/bus/mdev/devices/%s/remove' % UUID
        for path, value in ((numvfs, -1), (numvfs, 257), (numvfs, '4; rm'),
                            (numvfs, True), (numvfs, 2.0), (vgpu, 65536),
                            (vgpu, '0x2b4'), (create, 'not-a-uuid'),
                            (create, UUID + '\n' + UUID), (remove, '0'),
                            (remove, 'yes')):
            exc = self.assertRaises(writers.InvalidWrite,
                                    writers.validate_sysfs_write, path,
                                    value)
            self.assertIn(path, str(exc))

    def test_other_arguments(self):
        self.assertEqual('0000:3b:00.0',
                         writers.validate_pci_address('3B:00.0'))
        self.assertRaises(writers.InvalidWrite,
                          writers.validate_pci_address, '3b:00')
        self.assertEqual('2g.10gb', writers.validate_mig_profile('2g.10gb'))
        self.assertRaises(writers.InvalidWrite,
                          writers.validate_mig_profile, '2g.10gb;')
        self.assertRaises(writers.InvalidWrite,
                          writers.validate_small_int, 8, 'start', 7)
        self.assertRaises(writers.InvalidWrite,
                          writers.validate_small_int, '1', 'start')


class TrailingNewlineTestCase(base.BaseTestCase):
    """Every validated field is matched whole: a trailing newline fails.

    ``re.match`` with ``$`` accepts ``'0000:3b:00.0\\n'`` (``$`` matches
    before a final newline), and stripping a value first writes something
    other than what was checked; both were the case once.
    """

    PATHS = {
        '/sys/bus/pci/devices/0000:3b:00.0/sriov_numvfs': 4,
        '/sys/bus/pci/devices/0000:3b:00.4/nvidia/current_vgpu_type': 692,
        '/sys/class/mdev_bus/0000:3b:00.4/mdev_supported_types/nvidia-692/'
        'create': UUID,
        '/sys/bus/pci/devices/0000:3b:00.0/mdev_supported_types/nvidia-230/'
        'create': UUID,
        '/sys/bus/mdev/devices/%s/remove' % UUID: 1,
    }

    def test_the_good_forms_pass(self):
        for path, value in self.PATHS.items():
            writers.validate_sysfs_write(path, value)
            writers.validate_sysfs_write(path, str(value))

    def test_paths(self):
        for path, value in self.PATHS.items():
            self.assertRaises(writers.InvalidWrite,
                              writers.validate_sysfs_write, path + '\n',
                              value)

    def test_values_written(self):
        # sriov_numvfs, a vGPU type id, an mdev UUID, the remove flag.
        for path, value in self.PATHS.items():
            exc = self.assertRaises(writers.InvalidWrite,
                                    writers.validate_sysfs_write, path,
                                    '%s\n' % value)
            self.assertIn(path, str(exc))

    def test_pci_addresses(self):
        for address in ('0000:3b:00.0\n', '3b:00.0\n'):
            self.assertRaises(writers.InvalidWrite,
                              writers.validate_pci_address, address)
        self.assertEqual('0000:3b:00.0',
                         writers.validate_pci_address('0000:3B:00.0'))

    def test_pci_address_never_reaches_nvml_or_the_daemon(self):
        nvml = mock.Mock(NVMLError=RuntimeError)
        nvml.nvmlDeviceGetMigMode.return_value = (0, 1)
        self.assertRaises(writers.InvalidWrite, writers.nvml_set_mig_mode,
                          nvml, '0000:3b:00.0\n', True)
        nvml.nvmlInit.assert_not_called()
        with mock.patch.object(privsep, 'reset_gpu') as reset:
            self.assertRaises(writers.InvalidWrite,
                              privsep.PrivsepWriter().reset_gpu,
                              '0000:3b:00.0\n')
            reset.assert_not_called()

    def test_mig_profile(self):
        self.assertRaises(writers.InvalidWrite,
                          writers.validate_mig_profile, '2g.10gb\n')

    def test_mdev_type_of_a_removed_mdev(self):
        # The type id a removed mdev's mdev_type link names.
        root = self.useFixture(fixtures.TempDir()).path
        mdev = os.path.join(root, 'sys/bus/mdev/devices', UUID)
        mdev_type = os.path.join(root, 'types', 'nvidia-692\n')
        os.makedirs(mdev)
        os.makedirs(mdev_type)
        os.symlink(mdev_type, os.path.join(mdev, 'mdev_type'))
        exc = self.assertRaises(
            writers.InvalidWrite, writers.validate_device_write,
            '/sys/bus/mdev/devices/%s/remove' % UUID, 1, root)
        self.assertIn('not an NVIDIA vGPU', str(exc))


class HardwareRefusedTestCase(base.BaseTestCase):

    def test_rebuilds_from_its_args(self):
        # oslo.privsep re-raises a daemon exception as type(*args).
        exc = writers.HardwareRefused('write failed', 16, None)
        again = type(exc)(*exc.args)
        self.assertEqual(('write failed', 16), (str(again), again.errno))


class PrivsepWriterTestCase(base.BaseTestCase):
    """Bad arguments fail on the caller's side, before the daemon."""

    def test_bad_arguments_never_reach_the_daemon(self):
        writer = privsep.PrivsepWriter()
        with mock.patch.object(privsep, 'write_sysfs') as write, \
                mock.patch.object(privsep, 'create_gpu_instance') as create:
            self.assertRaises(writers.InvalidWrite, writer.write_sysfs,
                              '/etc/shadow', 'x')
            self.assertRaises(writers.InvalidWrite,
                              writer.create_gpu_instance, '0000:3b:00.0',
                              '9g.99gb;', 0)
            self.assertRaises(writers.InvalidWrite,
                              writer.create_gpu_instance, 'gpu0',
                              '2g.10gb', 0)
            write.assert_not_called()
            create.assert_not_called()
            writer.write_sysfs(
                '/sys/bus/pci/devices/0000:3b:00.0/sriov_numvfs', 4)
            write.assert_called_once_with(
                '/sys/bus/pci/devices/0000:3b:00.0/sriov_numvfs', '4')

    def test_os_error_becomes_hardware_refused(self):
        directory = self.useFixture(fixtures.TempDir()).path
        exc = self.assertRaises(writers.HardwareRefused, privsep._write_file,
                                os.path.join(directory, 'missing', 'x'), '1')
        self.assertIsNotNone(exc.errno)


class SimulatedWriterSharesChecksTestCase(base.BaseTestCase):

    def test_same_rejections_as_production(self):
        host = self.useFixture(
            sim_fixture.SimulatedHostFixture('T4:mdev')).host
        writer = host.writer()
        self.assertIsInstance(writer, writers.HardwareWriter)
        self.assertRaises(writers.InvalidWrite, writer.write_sysfs,
                          '/sys/bus/pci/devices/0000:3b:00.0/remove', '1')
        self.assertRaises(writers.InvalidWrite, writer.write_sysfs,
                          '/sys/class/mdev_bus/0000:3b:00.0/'
                          'mdev_supported_types/nvidia-230/create', 'x')
        self.assertRaises(writers.InvalidWrite, writer.reset_gpu, 'gpu0')
        self.assertEqual([], host.journal_entries())


class NvidiaTargetTestCase(base.BaseTestCase):
    """Only NVIDIA devices and NVIDIA mdevs may be written to.

    The non-NVIDIA PCI device and mdev are test data for that rule, added
    next to the simulated GPU in its tree (the simulator models NVIDIA
    GPUs only).
    """

    PF = '0000:3b:00.0'
    VF = '0000:3b:00.4'
    NIC = '0000:05:00.0'
    NIC_VF = '0000:05:00.1'
    OTHER_MDEV = '9f0c1b2e-5d4a-4c1e-9a7b-2b6f0e3d8c11'

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(sim_fixture.SimulatedHostFixture(
            '1xA100-PCIE-40GB:sriov-mdev')).host
        self.root = self.host.sysfs_root
        nic = self.sys('/sys/bus/pci/devices/%s' % self.NIC)
        os.makedirs(nic)
        self.put(nic, 'vendor', '0x8086\n')
        self.put(nic, 'sriov_numvfs', '8\n')
        nic_vf = self.sys('/sys/bus/pci/devices/%s' % self.NIC_VF)
        os.makedirs(nic_vf)
        self.put(nic_vf, 'vendor', '0x10de\n')  # only physfn counts
        os.symlink(nic, os.path.join(nic_vf, 'physfn'))
        gvt = self.sys('/sys/class/mdev_bus/0000:00:02.0/'
                       'mdev_supported_types/i915-GVTg_V5_4')
        os.makedirs(gvt)
        mdev = self.sys('/sys/bus/mdev/devices/%s' % self.OTHER_MDEV)
        os.makedirs(mdev)
        os.symlink(gvt, os.path.join(mdev, 'mdev_type'))
        self.put(mdev, 'remove', '')

    def sys(self, path):
        return os.path.join(self.root, path.lstrip('/'))

    @staticmethod
    def put(directory, name, text):
        with open(os.path.join(directory, name), 'w') as f:
            f.write(text)

    def check(self, path, value):
        return writers.validate_device_write(path, value, self.root)

    def test_nvidia_gpu_vf_and_mdev_pass(self):
        self.check('/sys/bus/pci/devices/%s/sriov_numvfs' % self.PF, 20)
        self.check('/sys/bus/pci/devices/%s/nvidia/current_vgpu_type'
                   % self.VF, 0)
        create = ('/sys/class/mdev_bus/%s/mdev_supported_types/nvidia-468/'
                  'create' % self.VF)
        self.check(create, UUID)
        self.host.writer().write_sysfs(create, UUID)
        remove = '/sys/bus/mdev/devices/%s/remove' % UUID
        self.assertTrue(os.path.exists(self.sys(remove)))
        self.assertEqual('mdev_remove', self.check(remove, 1).kind)

    def test_sriov_numvfs_of_another_vendor_refused(self):
        path = '/sys/bus/pci/devices/%s/sriov_numvfs' % self.NIC
        exc = self.assertRaises(writers.InvalidWrite, self.check, path, 0)
        self.assertIn('PCI device %s has vendor 0x8086, not NVIDIA (0x10de)'
                      % self.NIC, str(exc))
        # The daemon's write path refuses it too and leaves the file be.
        self.assertRaises(writers.InvalidWrite, privsep.checked_write,
                          path, 0, self.root)
        with open(self.sys(path)) as f:
            self.assertEqual('8\n', f.read())

    def test_vf_counts_its_physical_function_vendor(self):
        exc = self.assertRaises(
            writers.InvalidWrite, self.check,
            '/sys/bus/pci/devices/%s/nvidia/current_vgpu_type'
            % self.NIC_VF, 0)
        self.assertIn('(its physical function) has vendor 0x8086', str(exc))

    def test_removing_another_vendors_mdev_refused(self):
        path = '/sys/bus/mdev/devices/%s/remove' % self.OTHER_MDEV
        exc = self.assertRaises(writers.InvalidWrite, privsep.checked_write,
                                path, 1, self.root)
        self.assertIn('mdev %s is of type i915-GVTg_V5_4, not an NVIDIA '
                      'vGPU' % self.OTHER_MDEV, str(exc))
        self.assertTrue(os.path.isdir(self.sys(
            '/sys/bus/mdev/devices/%s' % self.OTHER_MDEV)))

    def test_missing_device_is_left_to_the_write(self):
        # Nothing there to protect; the write itself fails (ENOENT).
        self.check('/sys/bus/mdev/devices/%s/remove' % UUID, 1)
        self.assertRaises(writers.HardwareRefused, privsep.checked_write,
                          '/sys/bus/pci/devices/0000:99:00.0/sriov_numvfs',
                          0, self.root)


class PrivsepContextTestCase(base.BaseTestCase):
    """Two daemons, each with one capability and its own section."""

    #: Entrypoint -> the context it must run in.
    ENTRYPOINTS = {
        'write_sysfs': 'sysfs_pctxt',
        'set_mig_mode': 'nvml_pctxt',
        'reset_gpu': 'nvml_pctxt',
        'create_gpu_instance': 'nvml_pctxt',
        'destroy_gpu_instance': 'nvml_pctxt',
        'create_compute_instance': 'nvml_pctxt',
        'destroy_compute_instance': 'nvml_pctxt',
    }

    def kept(self):
        """Each context's capabilities, read in a fresh interpreter.

        They are the defaults of the sections' ``capabilities`` option,
        and this process's config fixtures reset defaults.
        """
        code = ('import json; from gpuvirt_nova import privsep as p; '
                'print(json.dumps({c.pypath: [c.cfg_section, '
                'c.conf.capabilities] for c in (p.sysfs_pctxt, '
                'p.nvml_pctxt)}))')
        out = subprocess.run([sys.executable, '-W', 'ignore', '-c', code],
                             check=True, capture_output=True, text=True)
        return json.loads(out.stdout.splitlines()[-1])

    def test_each_daemon_keeps_one_capability(self):
        self.assertEqual({
            'gpuvirt_nova.privsep.sysfs_pctxt': [
                'privsep_gpuvirt_sysfs', [capabilities.CAP_DAC_OVERRIDE]],
            'gpuvirt_nova.privsep.nvml_pctxt': [
                'privsep_gpuvirt_nvml', [capabilities.CAP_SYS_ADMIN]],
        }, self.kept())
        self.assertEqual((capabilities.CAP_DAC_OVERRIDE,),
                         privsep.SYSFS_CAPABILITIES)
        self.assertEqual((capabilities.CAP_SYS_ADMIN,),
                         privsep.NVML_CAPABILITIES)

    def test_each_entrypoint_in_its_context(self):
        found = {name for name, value in vars(privsep).items()
                 if getattr(value, 'privsep_entrypoint', None) is not None}
        self.assertEqual(set(self.ENTRYPOINTS), found)
        for name, context in self.ENTRYPOINTS.items():
            self.assertIs(getattr(privsep, context),
                          getattr(privsep, name).privsep_entrypoint, name)

    def test_each_section_is_documented(self):
        listed = privsep_conf.list_opts()
        self.assertEqual(
            {privsep.sysfs_pctxt.cfg_section, privsep.nvml_pctxt.cfg_section},
            {group.name for group in listed})
        for group, opts in listed.items():
            self.assertTrue(group.name.startswith('privsep_'))
            self.assertIn('helper_command', [opt.name for opt in opts])

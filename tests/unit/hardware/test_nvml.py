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

"""The NVML adapter: pure helpers, NVML missing, and the simulator's NVML."""

from unittest import mock

from oslotest import base
import pynvml

from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import model
from gpuvirt_nova.hardware import nvml
from tests import sim_fixture

A = '0000:3b:00.0'
B = '0000:5e:00.0'


class TestBusId(base.BaseTestCase):

    def test_eight_digit_domain_upper_case(self):
        self.assertEqual('0000:3b:00.0',
                         nvml.normalize_bus_id('00000000:3B:00.0'))

    def test_bytes_from_older_bindings(self):
        self.assertEqual('0000:af:00.0',
                         nvml.normalize_bus_id(b'00000000:AF:00.0\x00'))

    def test_four_digit_domain(self):
        self.assertEqual('0001:3b:00.0', nvml.normalize_bus_id('0001:3b:00.0'))

    def test_malformed(self):
        self.assertRaises(ValueError, nvml.normalize_bus_id, 'GPU-0')

    def test_missing(self):
        self.assertRaises(ValueError, nvml.normalize_bus_id, '')


class TestText(base.BaseTestCase):

    def test_bytes(self):
        self.assertEqual('NVIDIA A100-PCIE-40GB',
                         nvml.text(b'NVIDIA A100-PCIE-40GB'))

    def test_str(self):
        self.assertEqual('550.127.06', nvml.text('550.127.06'))


class TestNvmlMissing(base.BaseTestCase):
    """NVML missing is a warning and an unavailable view, never an error."""

    def test_no_module(self):
        view = nvml.read(None)
        self.assertFalse(view.available)
        self.assertEqual([], view.gpus)
        self.assertEqual(1, len(view.warnings))
        self.assertIn('nvidia-ml-py package (pynvml) is not installed',
                      view.warnings[0])

    def test_pynvml_not_importable(self):
        with mock.patch('importlib.import_module',
                        side_effect=ImportError('No module named pynvml')):
            self.assertIsNone(nvml.load_pynvml())

    def _init_fails(self, code):
        with mock.patch.object(pynvml, 'nvmlInit',
                               side_effect=pynvml.NVMLError(code)):
            return nvml.read(pynvml)

    def test_library_not_found(self):
        view = self._init_fails(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
        self.assertFalse(view.available)
        self.assertIn('libnvidia-ml.so was not found', view.warnings[0])
        self.assertIn('reading sysfs only', view.warnings[0])

    def test_driver_not_loaded(self):
        view = self._init_fails(pynvml.NVML_ERROR_DRIVER_NOT_LOADED)
        self.assertFalse(view.available)
        self.assertIn('the NVIDIA driver is not loaded', view.warnings[0])

    def test_other_init_failure_is_named(self):
        view = self._init_fails(pynvml.NVML_ERROR_NO_PERMISSION)
        self.assertFalse(view.available)
        self.assertIn('nvmlInit failed', view.warnings[0])


class TestReadSimulatedNvml(base.BaseTestCase):
    """The adapter against the simulator's pynvml-compatible module."""

    SPEC = '2xA100-PCIE-40GB:mig'

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(
            sim_fixture.SimulatedHostFixture(self.SPEC)).host

    def read(self):
        return nvml.read(self.host.nvml())

    def test_devices(self):
        view = self.read()
        self.assertTrue(view.available)
        self.assertEqual([], view.warnings)
        self.assertEqual('550.127.06', view.driver_version)
        self.assertEqual([A, B], [g.address for g in view.gpus])
        gpu = view.gpus[0]
        self.assertEqual('A100-PCIE-40GB', gpu.model)
        self.assertTrue(gpu.uuid.startswith('GPU-'))
        self.assertNotEqual(gpu.uuid, view.gpus[1].uuid)
        self.assertEqual(
            catalog.load().get('A100-PCIE-40GB').memory_mib, gpu.memory_mib)
        self.assertTrue(gpu.mig_capable)
        self.assertTrue(gpu.mig_current)
        self.assertEqual([], gpu.gpu_instances)

    def test_gpu_and_compute_instances_with_placements(self):
        writer = self.host.writer()
        gi3 = writer.create_gpu_instance(A, '3g.20gb', 4)
        writer.create_compute_instance(A, gi3, '3g.20gb')
        gi1 = writer.create_gpu_instance(A, '1g.5gb', 0)
        gpu = self.read().gpus[0]
        self.assertEqual(
            [(gi1, '1g.5gb', model.Placement(0, 1)),
             (gi3, '3g.20gb', model.Placement(4, 4))],
            [(gi.id, gi.profile, gi.placement) for gi in gpu.gpu_instances])
        self.assertEqual([], gpu.gpu_instances[0].compute_instances)
        [ci] = gpu.gpu_instances[1].compute_instances
        self.assertEqual(('3g.20gb', 3), (ci.profile, ci.compute_slices))

    def test_failing_call_is_a_warning_naming_gpu_and_call(self):
        self.host.inject_failure('nvmlDeviceGetUUID')
        view = self.read()
        self.assertEqual(1, len(view.warnings))
        self.assertIn('NVML nvmlDeviceGetUUID on GPU %s failed' % A,
                      view.warnings[0])
        self.assertIsNone(view.gpus[0].uuid)
        self.assertIsNotNone(view.gpus[1].uuid)

    def test_failing_device_handle_skips_only_that_device(self):
        self.host.inject_failure('nvmlDeviceGetHandleByIndex')
        view = self.read()
        self.assertIn('NVML nvmlDeviceGetHandleByIndex on GPU index 0 '
                      'failed', view.warnings[0])
        self.assertEqual([B], [g.address for g in view.gpus])

    def test_library_missing_at_init(self):
        self.host.inject_failure(
            'nvmlInit', nvml_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
        view = self.read()
        self.assertFalse(view.available)
        self.assertEqual([], view.gpus)
        self.assertIn('libnvidia-ml.so was not found', view.warnings[0])


class TestReadSimulatedNvmlNoMig(base.BaseTestCase):

    def test_mig_capable_gpu_with_mig_off(self):
        host = self.useFixture(sim_fixture.SimulatedHostFixture(
            '1xH100-SXM5-80GB:vfio')).host
        view = nvml.read(host.nvml())
        self.assertEqual([], view.warnings)
        gpu = view.gpus[0]
        self.assertEqual('H100-SXM5-80GB', gpu.model)
        self.assertTrue(gpu.mig_capable)
        self.assertFalse(gpu.mig_current)
        self.assertEqual([], gpu.gpu_instances)

    def test_gpu_without_mig_is_not_a_warning(self):
        host = self.useFixture(
            sim_fixture.SimulatedHostFixture('1xT4:mdev')).host
        view = nvml.read(host.nvml())
        self.assertEqual([], view.warnings)
        self.assertFalse(view.gpus[0].mig_capable)

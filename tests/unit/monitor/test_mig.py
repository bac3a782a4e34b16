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

"""Per-MIG-instance metrics: sampled, attributed, exported."""

import types

from oslotest import base
from prometheus_client import parser
import pynvml

from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import discover
from gpuvirt_nova.monitor import attribution
from gpuvirt_nova.monitor import daemon
from gpuvirt_nova.monitor import notify
from gpuvirt_nova.monitor import prometheus
from gpuvirt_nova.monitor import rules
from gpuvirt_nova.monitor import sampler as sampler_mod
from gpuvirt_nova import sim
from tests import sim_fixture
from tests.unit.monitor import helpers

MIB = 1024 * 1024


class MigSamplingTests(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(sim_fixture.SimulatedHostFixture(
            '2xA100-PCIE-40GB:mig')).host
        self.pf = self.host.nvml_addresses()[0]
        writer = self.host.writer()
        # Two 2g.10gb GPU instances; a MIG-backed vGPU on the first.
        writer.create_gpu_instance(self.pf, '2g.10gb', 0)
        writer.create_gpu_instance(self.pf, '2g.10gb', 2)
        self.vf = sim.vf_address(self.pf, 0)
        type_id = catalog.load().get('A100-PCIE-40GB').vgpu_type(
            'A100-2-10C').type_id
        writer.write_sysfs('/sys/bus/pci/devices/%s/nvidia/'
                           'current_vgpu_type' % self.vf, type_id)
        self.host.attach_guest(self.vf, helpers.INSTANCE, load=1.0,
                               fb_fraction=0.5)

    def monitor(self, nvml=None):
        sampler = sampler_mod.Sampler(nvml or self.host.nvml(), 'node1')
        self.assertTrue(sampler.start())
        self.addCleanup(sampler.close)
        domains = [attribution.parse_domain(helpers.domain_xml(self.vf))]
        return daemon.Monitor(
            discover=lambda: discover.discover_host(self.host),
            sampler=sampler, rules=rules.default_rules(helpers.Group),
            domains=lambda warnings: domains, clock=lambda: 1.0)

    def migs(self, result):
        return {(m.gpu_address, m.gpu_instance_id): m for m in result.migs}

    def test_each_gpu_instance_is_sampled_and_attributed(self):
        result, _events = self.monitor().run_once()
        migs = self.migs(result)
        self.assertEqual({(self.pf, 1), (self.pf, 2)}, set(migs))
        busy, idle = migs[(self.pf, 1)], migs[(self.pf, 2)]
        self.assertEqual('2g.10gb', busy.profile)
        self.assertEqual('0:2', busy.placement)
        self.assertEqual('2:2', idle.placement)
        self.assertEqual(('vf', self.vf), (busy.device_kind, busy.device))
        self.assertEqual('A100-2-10C', busy.vgpu_type)
        # The GPU instance's size is the profile's, its use the guest's.
        total = busy.metrics['fb_total_mib']
        self.assertEqual(9856, total)
        self.assertEqual(total // 2, busy.metrics['fb_used_mib'])
        self.assertGreater(busy.metrics['sm_util'], 0)
        self.assertEqual(helpers.INSTANCE, busy.owner.instance_uuid)
        self.assertEqual(helpers.PROJECT, busy.owner.project_id)
        self.assertEqual(0, idle.metrics['fb_used_mib'])
        self.assertIsNone(idle.owner.instance_uuid)
        (vgpu,) = result.vgpus
        self.assertEqual(1, vgpu.gpu_instance_id)

    def test_exported_with_dcgm_mig_labels(self):
        monitor = self.monitor()
        monitor.run_once()
        text = prometheus.render(prometheus.make_registry(monitor.state))
        families = {f.name: f for f in
                    parser.text_string_to_metric_families(text)}
        used = {s.labels['GPU_I_ID']: s for s in
                families['gpuvirt_mig_fb_used_mib'].samples}
        self.assertEqual({'1', '2'}, set(used))
        self.assertEqual('2g.10gb', used['1'].labels['GPU_I_PROFILE'])
        self.assertEqual(helpers.PROJECT, used['1'].labels['project_id'])
        self.assertEqual(helpers.INSTANCE, used['1'].labels['instance_uuid'])
        self.assertEqual(self.vf, used['1'].labels['vgpu_device'])
        self.assertEqual(4928, used['1'].value)
        self.assertEqual('', used['2'].labels['project_id'])
        # Never under dcgm-exporter's per-GPU names: no double count.
        for s in families['DCGM_FI_DEV_FB_USED'].samples:
            self.assertNotIn('GPU_I_ID', s.labels)

    def test_in_the_metrics_notification(self):
        result, _events = self.monitor().run_once()
        payload = notify.metrics_payload(result)
        self.assertEqual('1.1', payload['gpuvirt_object.version'])
        data = payload['gpuvirt_object.data']
        self.assertEqual(
            helpers.PROJECT, data['migs'][0]['owner']['project_id'])
        self.assertEqual(1, data['vgpus'][0]['gpu_instance_id'])

    def with_mig_devices(self, memory_supported=True):
        """The simulator's NVML plus MIG device handles (bare-metal MIG).

        MIG device 0 is GPU instance 2 with 3000 MiB in use.
        """
        nvml = self.host.nvml()
        module = types.SimpleNamespace(**vars(nvml))
        mig_handle = object()
        real_memory = nvml.nvmlDeviceGetMemoryInfo

        def by_index(handle, index):
            if index == 0:
                return mig_handle
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)

        def gi_id(handle):
            self.assertIs(mig_handle, handle)
            return 2

        def memory(handle, *args):
            if handle is not mig_handle:
                return real_memory(handle, *args)
            if not memory_supported:
                raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
            info = pynvml.c_nvmlMemory_t()
            info.total, info.used = 9856 * MIB, 3000 * MIB
            info.free = info.total - info.used
            return info

        module.nvmlDeviceGetMigDeviceHandleByIndex = by_index
        module.nvmlDeviceGetGpuInstanceId = gi_id
        module.nvmlDeviceGetMemoryInfo = memory
        return module

    def test_mig_device_handles_give_their_own_memory(self):
        result, _events = self.monitor(self.with_mig_devices()).run_once()
        migs = self.migs(result)
        self.assertEqual(3000, migs[(self.pf, 2)].metrics['fb_used_mib'])
        self.assertEqual(4928, migs[(self.pf, 1)].metrics['fb_used_mib'])

    def test_a_mig_device_lacking_a_call_never_hides_the_gpus(self):
        monitor = self.monitor(self.with_mig_devices(memory_supported=False))
        for _ in range(2):
            result, _events = monitor.run_once()
            self.assertIn('fb_used_mib', result.gpu(self.pf).metrics)
        self.assertEqual(0, self.migs(result)[(self.pf, 2)].metrics[
            'fb_used_mib'])


class TimeSlicedTests(base.BaseTestCase):

    def test_no_mig_instances_on_a_time_sliced_gpu(self):
        host = self.useFixture(sim_fixture.SimulatedHostFixture(
            '2xA100-PCIE-40GB:vfio')).host
        monitor, _pf, _vf = helpers.busy_monitor(host)
        result, _events = monitor.run_once()
        self.assertEqual([], result.migs)
        (vgpu,) = result.vgpus
        self.assertIsNone(vgpu.gpu_instance_id)

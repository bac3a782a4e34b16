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

"""The sampler on the simulator: metrics, vGPUs, lost GPUs, missing NVML."""

from oslotest import base
import pynvml

from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import discover
from gpuvirt_nova.monitor import fence
from gpuvirt_nova.monitor import sampler as sampler_mod
from gpuvirt_nova import sim
from tests import sim_fixture

VM1 = '11111111-2222-3333-4444-555555555555'
VM2 = '21111111-2222-3333-4444-555555555555'


class SamplerTests(base.BaseTestCase):

    spec = '2xA100-PCIE-40GB:vfio'

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(
            sim_fixture.SimulatedHostFixture(self.spec)).host
        self.pf = self.host.nvml_addresses()[0]
        self.vfs = [sim.vf_address(self.pf, i) for i in range(2)]
        type_id = catalog.load().get('A100-PCIE-40GB').vgpu_type(
            'A100-10C').type_id
        for vf in self.vfs:
            self.host.writer().write_sysfs(
                '/sys/bus/pci/devices/%s/nvidia/current_vgpu_type' % vf,
                type_id)
        self.hw = discover.discover_host(self.host)

    def sample(self, nvml=None):
        sampler = sampler_mod.Sampler(nvml or self.host.nvml(), 'node1')
        self.assertTrue(sampler.start())
        self.addCleanup(sampler.close)
        return sampler, sampler.sample(self.hw, 1.0)

    def test_idle_host_has_every_gpu_metric(self):
        _s, result = self.sample()
        self.assertEqual(2, len(result.gpus))
        gpu = result.gpus[0]
        self.assertEqual(self.pf, gpu.address)
        self.assertEqual(0, gpu.metrics['gpu_util'])
        self.assertEqual(40960, gpu.metrics['fb_total_mib'])
        for key in ('temperature_c', 'power_w', 'power_limit_w',
                    'pcie_tx_bytes', 'sm_clock_mhz', 'ecc_dbe_total',
                    'enc_util'):
            self.assertIn(key, gpu.metrics)
        self.assertEqual([], result.vgpus)

    def test_load_follows_the_guests(self):
        _s, idle = self.sample()
        self.host.attach_guest(self.vfs[0], VM1, load=1.0, fb_fraction=0.5)
        self.host.attach_guest(self.vfs[1], VM2, load=0.5, fb_fraction=0.9)
        _s, busy = self.sample()
        gpu = busy.gpus[0]
        self.assertGreater(gpu.metrics['gpu_util'],
                           idle.gpus[0].metrics['gpu_util'])
        self.assertGreater(gpu.metrics['power_w'],
                           idle.gpus[0].metrics['power_w'])
        self.assertEqual(5120 + 9216, gpu.metrics['fb_used_mib'])
        # The other GPU has no guest and stays idle.
        self.assertEqual(idle.gpus[1].metrics, busy.gpus[1].metrics)
        vgpus = {v.device: v for v in busy.vgpus}
        self.assertEqual(set(self.vfs), set(vgpus))
        self.assertEqual(VM1, vgpus[self.vfs[0]].vm_id)
        self.assertEqual('vf', vgpus[self.vfs[0]].device_kind)
        self.assertEqual('A100-10C', vgpus[self.vfs[0]].vgpu_type)
        self.assertEqual(9216, vgpus[self.vfs[1]].metrics['fb_used_mib'])
        self.assertGreater(vgpus[self.vfs[0]].metrics['sm_util'],
                           vgpus[self.vfs[1]].metrics['sm_util'])
        self.host.detach_guest(self.vfs[0])
        self.host.detach_guest(self.vfs[1])
        _s, after = self.sample()
        self.assertEqual(idle.gpus[0].metrics, after.gpus[0].metrics)

    def test_an_unsupported_call_gives_fewer_metrics_not_a_crash(self):
        self.host.inject_failure('nvmlDeviceGetTemperature', count=None,
                                 nvml_error=pynvml.NVML_ERROR_NOT_SUPPORTED)
        nvml = self.host.nvml()
        # A binding too old to have the vGPU and ECC calls.
        del nvml.nvmlDeviceGetActiveVgpus
        del nvml.nvmlDeviceGetTotalEccErrors
        self.host.attach_guest(self.vfs[0], VM1)
        sampler, result = self.sample(nvml)
        gpu = result.gpus[0]
        self.assertNotIn('temperature_c', gpu.metrics)
        self.assertNotIn('ecc_dbe_total', gpu.metrics)
        self.assertIn('gpu_util', gpu.metrics)
        self.assertEqual([], result.vgpus)
        self.assertIn('nvmlDeviceGetTemperature', gpu.unsupported)
        # Not asked again: the next round makes no temperature call.
        self.host.clear_failures()
        self.assertNotIn('temperature_c',
                         sampler.sample(self.hw, 2.0).gpus[0].metrics)

    def test_a_lost_gpu_is_absent_and_the_others_are_sampled(self):
        self.host.set_gpu_lost(self.pf)
        _s, result = self.sample()
        self.assertFalse(result.gpus[0].present)
        self.assertEqual({}, result.gpus[0].metrics)
        self.assertTrue(result.gpus[1].present)
        self.assertIn('gpu_util', result.gpus[1].metrics)
        self.assertEqual({self.pf: fence.GPU_LOST},
                         fence.probe(self.host.nvml(),
                                     [g.address for g in self.hw.gpus]))
        self.host.set_gpu_lost(self.pf, False)
        _s, result = self.sample()
        self.assertTrue(result.gpus[0].present)
        self.assertEqual({}, fence.probe(self.host.nvml(), [self.pf]))

    def test_xid_errors_arrive_once(self):
        sampler, first = self.sample()
        self.assertEqual([], first.gpus[0].xids)
        self.host.inject_xid(self.pf, 79)
        second = sampler.sample(self.hw, 2.0)
        self.assertEqual([79], second.gpus[0].xids)
        self.assertEqual(79, second.gpus[0].last_xid)
        third = sampler.sample(self.hw, 3.0)
        self.assertEqual([], third.gpus[0].xids)
        self.assertEqual(79, third.gpus[0].last_xid)

    def test_without_nvml_every_gpu_is_listed_without_metrics(self):
        sampler = sampler_mod.Sampler(None, 'node1')
        self.assertFalse(sampler.start())
        result = sampler.sample(self.hw, 1.0)
        self.assertEqual([g.address for g in self.hw.gpus],
                         [g.address for g in result.gpus])
        self.assertTrue(all(not g.metrics for g in result.gpus))
        self.assertIn('no metrics', result.warnings[0])
        self.assertEqual({}, fence.probe(None, [self.pf]))

    def test_ecc_errors_make_a_gpu_unhealthy(self):
        self.host.set_telemetry(self.pf, ecc_dbe_total=1)
        self.assertEqual({self.pf: fence.ECC_DBE},
                         fence.probe(self.host.nvml(), [self.pf]))

    def test_nvml_failing_to_start_is_retried_each_round(self):
        self.host.inject_failure(
            'nvmlInit', nvml_error=pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH)
        sampler = sampler_mod.Sampler(self.host.nvml(), 'node1')
        self.addCleanup(sampler.close)
        self.assertFalse(sampler.start())
        self.assertFalse(sampler.absent)
        first = sampler.sample(self.hw, 1.0)
        self.assertIn('gpu_util', first.gpus[0].metrics)
        self.assertEqual([], first.warnings)

    def test_a_timeout_on_one_gpu_leaves_the_others_sampled(self):
        self.host.set_gpu_nvml_error(self.pf, pynvml.NVML_ERROR_TIMEOUT)
        _s, result = self.sample()
        sick, well = result.gpus
        self.assertEqual({}, {k: v for k, v in sick.metrics.items()
                              if v is not None})
        self.assertIn('gpu_util', well.metrics)
        self.assertTrue(any('Timeout' in w or 'timeout' in w.lower()
                            for w in result.warnings), result.warnings)

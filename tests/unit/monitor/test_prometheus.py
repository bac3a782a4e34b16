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

"""The Prometheus endpoint, scraped over HTTP and parsed."""

import urllib.request

from oslotest import base
from prometheus_client import parser

from gpuvirt_nova.monitor import prometheus
from tests import sim_fixture
from tests.unit.monitor import helpers

#: Field names and labels dcgm-exporter (3.x, default-counters.csv and
#: dcp-metrics-included.csv) exports, as NVIDIA's Grafana dashboard
#: (grafana.com/grafana/dashboards/12239) queries them.
DCGM_NAMES = {
    'DCGM_FI_DEV_GPU_UTIL', 'DCGM_FI_DEV_MEM_COPY_UTIL',
    'DCGM_FI_DEV_ENC_UTIL', 'DCGM_FI_DEV_DEC_UTIL', 'DCGM_FI_DEV_FB_USED',
    'DCGM_FI_DEV_FB_FREE', 'DCGM_FI_DEV_GPU_TEMP',
    'DCGM_FI_DEV_POWER_USAGE', 'DCGM_FI_DEV_SM_CLOCK',
    'DCGM_FI_DEV_MEM_CLOCK', 'DCGM_FI_DEV_XID_ERRORS',
    'DCGM_FI_PROF_PCIE_TX_BYTES', 'DCGM_FI_PROF_PCIE_RX_BYTES',
}
DCGM_LABELS = {'gpu', 'UUID', 'device', 'modelName', 'Hostname',
               'pci_bus_id', 'DCGM_FI_DRIVER_VERSION'}


class EndpointTests(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        sim_host = self.useFixture(sim_fixture.SimulatedHostFixture(
            '2xA100-PCIE-40GB:vfio')).host
        self.monitor, self.pf, self.vf = helpers.busy_monitor(sim_host)
        self.sim_host = sim_host

    def scrape(self):
        registry = prometheus.make_registry(self.monitor.state)
        server, port = prometheus.serve(registry, '127.0.0.1', 0)
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        self.assertEqual('127.0.0.1', server.server_address[0])
        with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port,
                                    timeout=60) as resp:
            text = resp.read().decode()
        return {f.name: f for f in parser.text_string_to_metric_families(
            text)}

    def samples(self, families, name):
        return families[name].samples

    def test_dcgm_names_and_labels(self):
        self.monitor.run_once()
        families = self.scrape()
        self.assertEqual(set(), DCGM_NAMES - set(families))
        for name in DCGM_NAMES:
            for s in families[name].samples:
                self.assertEqual(set(), DCGM_LABELS - set(s.labels), name)
        util = {s.labels['pci_bus_id']: s for s in
                self.samples(families, 'DCGM_FI_DEV_GPU_UTIL')}
        busy, idle = util[self.pf], util['0000:5e:00.0']
        self.assertGreater(busy.value, idle.value)
        self.assertEqual('0', busy.labels['gpu'])
        self.assertEqual('nvidia0', busy.labels['device'])
        self.assertEqual('A100-PCIE-40GB', busy.labels['modelName'])
        self.assertEqual('node1', busy.labels['Hostname'])
        # Ours: who is on the GPU.
        self.assertEqual(helpers.INSTANCE, busy.labels['instance_uuid'])
        self.assertEqual(helpers.PROJECT, busy.labels['project_id'])
        self.assertEqual('', idle.labels['instance_uuid'])
        fb = self.samples(families, 'DCGM_FI_DEV_FB_USED')
        self.assertEqual(5120, {s.labels['pci_bus_id']: s.value
                                for s in fb}[self.pf])

    def test_vgpu_metrics_name_the_instance_and_project(self):
        self.monitor.run_once()
        families = self.scrape()
        (vgpu,) = self.samples(families, 'gpuvirt_vgpu_fb_used_mib')
        self.assertEqual(5120, vgpu.value)
        self.assertEqual(self.vf, vgpu.labels['vgpu_device'])
        self.assertEqual('A100-10C', vgpu.labels['vgpu_type'])
        self.assertEqual(helpers.INSTANCE, vgpu.labels['instance_uuid'])
        self.assertEqual('train-1', vgpu.labels['instance_name'])
        self.assertEqual(helpers.PROJECT, vgpu.labels['project_id'])
        self.assertEqual('research', vgpu.labels['project_name'])

    def test_a_lost_gpu_and_its_alert(self):
        self.monitor.run_once()
        self.sim_host.set_gpu_lost(self.pf)
        self.monitor.run_once()
        families = self.scrape()
        present = {s.labels['pci_bus_id']: s.value for s in
                   self.samples(families, 'gpuvirt_gpu_present')}
        self.assertEqual({self.pf: 0, '0000:5e:00.0': 1}, present)
        unhealthy = [s for s in self.samples(families,
                                             'gpuvirt_gpu_unhealthy')
                     if s.value]
        self.assertEqual([('0000:3b:00.0', 'gpu-lost')],
                         [(s.labels['pci_bus_id'], s.labels['reason'])
                          for s in unhealthy])
        alerts = self.samples(families, 'gpuvirt_alert_active')
        self.assertIn(('gpu_lost', self.pf),
                      [(s.labels['alert'], s.labels['subject'])
                       for s in alerts])
        # No metric of the lost GPU is made up.
        self.assertNotIn(self.pf, [
            s.labels['pci_bus_id'] for s in
            self.samples(families, 'DCGM_FI_DEV_GPU_UTIL')])
        self.assertEqual(2, self.samples(
            families, 'gpuvirt_monitor_samples')[0].value)

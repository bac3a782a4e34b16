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

"""Export: the current state as a layout that plans nothing."""

from gpuvirt_nova.layout import apply
from gpuvirt_nova.layout import export
from gpuvirt_nova.layout import plan
from gpuvirt_nova.layout import schema
from gpuvirt_nova.layout import spec
from gpuvirt_nova.layout import target
from tests.unit.layout import base

LAYOUT = '''
gpu_cluster:
  nodes:
    - host: node01
      gpus:
        - pci: "0000:3b:00.0"
          vgpus:
            - {name: a, mig: 3g.20gb}
            - {name: b, mig: 1g.5gb, start: 6}
        - type: A100-40GB
          mode: time-sliced
          vgpus:
            - {name: t, count: 2, memory: 10GB}
'''


class TestExport(base.LayoutTestCase):

    def plan_for(self, layout, sim_host):
        host = self.read(sim_host)
        return plan.make_plan(
            target.resolve_node(layout.node('node01'), host), host)

    def test_export_of_an_applied_host_plans_nothing(self):
        sim_host = self.sim_host('2xA100-PCIE-40GB:mig@node01')
        self.apply_layout(LAYOUT, sim_host,
                          options=apply.Options(force=True))
        document = export.export_host(self.read(sim_host))
        schema.validate(document)
        gpus = document['gpu_cluster']['nodes'][0]['gpus']
        self.assertEqual(['mig', 'time-sliced'], [g['mode'] for g in gpus])
        self.assertEqual(
            [{'name': 'vgpu-01', 'profile': 'A100-3-20C', 'start': 0},
             {'name': 'vgpu-02', 'profile': 'A100-1-5C', 'start': 6}],
            gpus[0]['vgpus'])
        self.assertTrue(self.plan_for(spec.parse(document), sim_host).empty)

    def test_export_then_reboot_then_apply_restores(self):
        sim_host = self.sim_host('2xA100-PCIE-40GB:mig@node01')
        self.apply_layout(LAYOUT, sim_host,
                          options=apply.Options(force=True))
        before = self.state(sim_host)
        exported = spec.parse(export.export_host(self.read(sim_host)))
        sim_host.reboot()
        results = self.apply_layout(exported, sim_host,
                                    options=apply.Options(force=True))
        self.assertEqual({apply.APPLIED}, {r.status for r in results})
        self.assertEqual(before, self.state(sim_host))

    def test_untouched_gpu_exports_as_mode_none(self):
        sim_host = self.sim_host('1xA100-PCIE-40GB:vfio@node01')
        document = export.export_host(self.read(sim_host))
        self.assertEqual([{'pci': self.read(sim_host).gpus[0].address,
                           'mode': 'none'}],
                         document['gpu_cluster']['nodes'][0]['gpus'])
        self.assertTrue(self.plan_for(spec.parse(document), sim_host).empty)

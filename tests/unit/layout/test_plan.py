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

"""The pure planner: desired layout + discovered host -> ordered steps."""

import dataclasses

from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import model
from gpuvirt_nova.layout import apply
from gpuvirt_nova.layout import plan
from gpuvirt_nova.layout import target
from tests.unit.layout import base

MIG_2G = '''
gpu_cluster:
  nodes:
    - host: node01
      gpus:
        - type: A100-40GB
          vgpus:
            - {name: a, mig: 2g.10gb}
            - {name: b, mig: 2g.10gb}
'''

MIG_3G = MIG_2G.replace('2g.10gb', '3g.20gb')


def actions(the_plan):
    return [s.action for s in the_plan.steps]


class TestPlan(base.LayoutTestCase):

    def make(self, text, host, **kwargs):
        node = self.layout(text).node('node01')
        return plan.make_plan(target.resolve_node(node, host), host,
                              **kwargs)

    def test_fresh_mig_host_creates_instances_then_vgpus(self):
        sim_host = self.sim_host('1xA100-PCIE-40GB:mig@node01')
        the_plan = self.make(MIG_2G, self.read(sim_host))
        self.assertEqual([plan.CREATE_GI, plan.CREATE_CI] * 2 +
                         [plan.CREATE_VGPU] * 2, actions(the_plan))
        starts = [s.args['start'] for s in the_plan.steps
                  if s.action == plan.CREATE_GI]
        self.assertEqual([0, 2], starts)
        self.assertFalse(the_plan.gpus[0].destroys)
        self.assertEqual(plan.VIA_VFIO, the_plan.steps[-1].args['via'])

    def test_without_compute_instances(self):
        sim_host = self.sim_host('1xA100-PCIE-40GB:mig@node01')
        the_plan = self.make(MIG_2G, self.read(sim_host),
                             compute_instances=False)
        self.assertNotIn(plan.CREATE_CI, actions(the_plan))

    def test_applied_host_plans_nothing(self):
        sim_host = self.sim_host('1xA100-PCIE-40GB:mig@node01')
        self.apply_layout(MIG_2G, sim_host)
        self.assertTrue(self.make(MIG_2G, self.read(sim_host)).empty)

    def test_changing_profiles_destroys_in_reverse_order(self):
        sim_host = self.sim_host('1xA100-PCIE-40GB:mig@node01')
        self.apply_layout(MIG_2G, sim_host)
        the_plan = self.make(MIG_3G, self.read(sim_host))
        self.assertEqual([plan.REMOVE_VGPU] * 2 +
                         [plan.DESTROY_CI, plan.DESTROY_GI] * 2 +
                         [plan.CREATE_GI, plan.CREATE_CI] * 2 +
                         [plan.CREATE_VGPU] * 2, actions(the_plan))
        self.assertTrue(the_plan.gpus[0].destroys)

    def test_kept_instances_stay_when_one_is_added(self):
        sim_host = self.sim_host('1xA100-PCIE-40GB:mig@node01')
        self.apply_layout(MIG_2G, sim_host)
        more = MIG_2G + '            - {name: c, mig: 3g.20gb}\n'
        the_plan = self.make(more, self.read(sim_host))
        self.assertEqual([plan.CREATE_GI, plan.CREATE_CI,
                          plan.CREATE_VGPU], actions(the_plan))
        self.assertEqual(4, the_plan.steps[0].args['start'])

    def test_ampere_mig_change_needs_a_reset_hopper_does_not(self):
        for spec, reset in (('1xA100-PCIE-40GB:vfio@node01', True),
                            ('1xH100-PCIE-80GB:vfio@node01', False)):
            sim_host = self.sim_host(spec, name=spec.split(':')[0])
            text = MIG_2G.replace('A100-40GB', spec[2:].split(':')[0])
            the_plan = self.make(text.replace('2g.10gb', '2g.20gb')
                                 if 'H100' in spec else text,
                                 self.read(sim_host))
            mig_steps = [s for s in the_plan.steps
                         if s.action == plan.SET_MIG_MODE]
            self.assertEqual(1, len(mig_steps), spec)
            self.assertEqual(reset, mig_steps[0].reset, spec)
            self.assertIn('needs a GPU reset' if reset else 'no reset',
                          mig_steps[0].describe())

    def test_disabled_vfs_are_enabled_first(self):
        sim_host = self.sim_host('1xA100-PCIE-40GB:mig@node01')
        sim_host.reboot()
        the_plan = self.make(MIG_2G, self.read(sim_host))
        self.assertEqual(plan.SET_NUMVFS, the_plan.steps[0].action)
        self.assertEqual(20, the_plan.steps[0].args['count'])
        self.assertIsNone(the_plan.steps[-1].args['via'])

    def enable_four_idle_vfs(self, sim_host):
        """4 of the GPU's 20 VFs enabled, none typed."""
        gpu = self.read(sim_host).gpus[0]
        writer = sim_host.writer()
        for vf in gpu.vfs:
            if vf.current_vgpu_type:
                writer.write_sysfs('/sys/bus/pci/devices/%s/nvidia/'
                                   'current_vgpu_type' % vf.address, '0')
        numvfs = '/sys/bus/pci/devices/%s/sriov_numvfs' % gpu.address
        writer.write_sysfs(numvfs, '0')
        writer.write_sysfs(numvfs, '4')
        return writer

    def test_partly_enabled_vfs_in_use_are_destroyed_and_remade(self):
        # Going from 4 VFs to 20 passes through 0, which drops the typed
        # VF a guest may hold: a drain is needed and the vGPU is remade.
        sim_host = self.sim_host('1xA100-PCIE-40GB:mig@node01')
        self.apply_layout(MIG_2G, sim_host)
        writer = self.enable_four_idle_vfs(sim_host)
        vf = self.read(sim_host).gpus[0].vfs[0].address
        type_id = catalog.load().get('A100-PCIE-40GB').vgpu_type(
            'A100-2-10C').type_id
        writer.write_sysfs('/sys/bus/pci/devices/%s/nvidia/current_vgpu_type'
                           % vf, str(type_id))

        the_plan = self.make(MIG_2G, self.read(sim_host))
        self.assertEqual([plan.REMOVE_VGPU, plan.SET_NUMVFS] +
                         [plan.CREATE_VGPU] * 2, actions(the_plan))
        self.assertEqual(vf, the_plan.steps[0].args['parent'])
        self.assertEqual({'count': 20, 'current': 4},
                         the_plan.steps[1].args)
        self.assertTrue(the_plan.steps[1].destroys)
        self.assertTrue(the_plan.gpus[0].destroys)

        # apply asks for a drain first; with --force it ends as planned.
        refused = self.apply_layout(MIG_2G, sim_host)
        self.assertEqual(apply.SKIPPED, refused[0].status)
        self.assertIn('--drain', refused[0].message)
        self.assertEqual(4, len(self.read(sim_host).gpus[0].vfs))
        done = self.apply_layout(MIG_2G, sim_host,
                                 options=apply.Options(force=True))
        self.assertEqual(apply.APPLIED, done[0].status, done[0].message)
        gpu = self.read(sim_host).gpus[0]
        self.assertEqual(20, len(gpu.vfs))
        self.assertEqual(2, len([v for v in gpu.vfs if v.current_vgpu_type]))

    def test_partly_enabled_idle_vfs_are_no_destroy(self):
        sim_host = self.sim_host('1xA100-PCIE-40GB:mig@node01')
        self.apply_layout(MIG_2G, sim_host)
        self.enable_four_idle_vfs(sim_host)

        the_plan = self.make(MIG_2G, self.read(sim_host))
        self.assertEqual([plan.SET_NUMVFS] + [plan.CREATE_VGPU] * 2,
                         actions(the_plan))
        self.assertFalse(the_plan.gpus[0].destroys)

    def test_missing_driver_blocks_the_gpu(self):
        sim_host = self.sim_host('1xA100-PCIE-40GB:mig@node01')
        host = self.read(sim_host)
        host.gpus = [dataclasses.replace(g, driver_version=None)
                     for g in host.gpus]
        the_plan = self.make(MIG_2G, host)
        self.assertIn('driver is not loaded', the_plan.gpus[0].blocked)
        self.assertFalse(the_plan.empty)

    def test_mdev_uuids_are_stable(self):
        self.assertEqual(plan.mdev_uuid('n', '0000:3b:00.0', 'a'),
                         plan.mdev_uuid('n', '0000:3b:00.0', 'a'))
        self.assertNotEqual(plan.mdev_uuid('n', '0000:3b:00.0', 'a'),
                            plan.mdev_uuid('n', '0000:3b:00.0', 'b'))

    def test_type_name_from_mdev_type(self):
        a100 = catalog.load().get('A100-PCIE-40GB')
        mdev_type = a100.vgpu_type('A100-2-10C').mdev_type
        self.assertEqual('A100-2-10C', plan.type_name(a100, mdev_type))
        self.assertEqual('A100-2-10C', plan.type_name(a100, 'A100-2-10C'))

    def test_step_dicts_are_json_ready(self):
        step = plan.Step('0000:3b:00.0', plan.CREATE_GI,
                         {'profile': '2g.10gb', 'start': 0})
        self.assertEqual('0000:3b:00.0: create GPU instance 2g.10gb at 0',
                         step.to_dict()['description'])
        self.assertIsInstance(model.to_dict(step.to_dict()), dict)

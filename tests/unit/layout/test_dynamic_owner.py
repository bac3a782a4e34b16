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

"""owner: dynamic in the layout: validated, planned, recorded."""

import json
import os

from gpuvirt_nova import exception
from gpuvirt_nova.hardware import model
from gpuvirt_nova.layout import apply
from gpuvirt_nova.layout import owners
from gpuvirt_nova.layout import plan
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import tree
from tests.unit.layout import base

DYNAMIC = '''
gpu_cluster:
  nodes:
    - host: node01
      gpus:
        - index: [0]
          owner: dynamic
'''
STATIC = '''
gpu_cluster:
  nodes:
    - host: node01
      gpus:
        - index: [0]
          vgpus:
            - {profile: A100-3-20C, count: 2}
'''


class TestOwnerField(base.LayoutTestCase):

    def assert_refused(self, text, field, words):
        exc = self.assertRaises(exception.UsageError, self.layout, text)
        self.assertIn(field, str(exc))
        self.assertIn(words, str(exc))

    def test_dynamic_with_vgpus_is_refused(self):
        self.assert_refused(DYNAMIC + '''          vgpus:
            - {profile: A100-3-20C}
''', 'gpus[0].vgpus', 'remove vgpus:')

    def test_dynamic_without_vgpus_is_refused(self):
        self.assert_refused(DYNAMIC + '          mode: none\n',
                            'gpus[0].mode', 'mode: time-sliced')

    def test_unknown_owner_is_refused(self):
        self.assertRaises(exception.UsageError, self.layout,
                          DYNAMIC.replace('dynamic', 'driver'))

    def test_gpu_without_mig_is_dynamic_time_sliced(self):
        host = self.sim_host('1xT4:mdev')
        target, = self.targets(DYNAMIC, host)
        self.assertTrue(target.dynamic)
        self.assertEqual('time-sliced', target.mode)

    def test_mixed_size_needs_a_model_that_has_it(self):
        host = self.sim_host('1xT4:mdev')
        exc = self.assertRaises(
            exception.UsageError, self.targets,
            DYNAMIC + '          scheduling: mixed-size\n', host)
        self.assertIn('gpus[0].scheduling', str(exc))
        self.assertIn('use scheduling: equal-size', str(exc))


class TestDynamicPlan(base.LayoutTestCase):

    def setUp(self):
        super().setUp()
        self.host = self.sim_host('1xA100-PCIE-40GB:vfio')
        self.record = owners.path_in(self.tmp)
        self.options = apply.Options(force=True, owners_path=self.record)

    def test_sets_mig_mode_and_vfs_only(self):
        targets = self.targets(DYNAMIC, self.host)
        self.assertTrue(targets[0].dynamic)
        steps = plan.make_plan(targets, self.read(self.host)).steps
        # Ampere: the MIG change needs a reset, which the VFs do not
        # survive; they come back after it. No instance is carved.
        self.assertEqual([(plan.SET_NUMVFS, 0), (plan.SET_MIG_MODE, True),
                          (plan.SET_NUMVFS, 20)],
                         [(s.action, s.args.get('count',
                                                s.args.get('enabled')))
                          for s in steps])

    def test_apply_hands_the_gpu_to_the_driver_once_set(self):
        results = self.apply_layout(DYNAMIC, self.host, options=self.options)
        self.assertEqual(apply.APPLIED, results[0].status)
        gpu = self.read(self.host).gpus[0]
        self.assertTrue(gpu.mig_current)
        self.assertEqual([], gpu.gpu_instances)
        self.assertEqual({gpu.address}, owners.dynamic_addresses(
            self.record))
        # Its provider offers slices, with no busy slice yet.
        spec = tree.build_provider_tree(
            'node01', self.read(self.host), {},
            dynamic={gpu.address: 'C'}).providers[0]
        self.assertEqual({naming.MIG_COMPUTE_SLICE_RC: 7,
                          naming.MIG_MEMORY_SLICE_RC: 8,
                          naming.DYNAMIC_VGPU_RC: 8},
                         {rc: i.total for rc, i in spec.inventories.items()})
        self.assertIn(naming.DYNAMIC_TRAIT, spec.traits)
        self.assertEqual([], naming.used_slices(spec.traits))

    def test_a_failed_apply_hands_nothing_over(self):
        self.host.inject_failure('*', count=None)
        results = self.apply_layout(DYNAMIC, self.host, options=self.options)
        self.assertNotEqual(apply.APPLIED, results[0].status)
        self.assertFalse(os.path.exists(self.record))

    def test_guests_instances_stay_once_dynamic(self):
        self.apply_layout(DYNAMIC, self.host, options=self.options)
        address = self.read(self.host).gpus[0].address
        # The driver carved a guest's 3g.20gb at 4:4.
        writer = self.host.writer()
        gi = writer.create_gpu_instance(address, '3g.20gb', 4)
        writer.create_compute_instance(address, gi, '3g.20gb')
        targets = self.targets(DYNAMIC, self.host)
        gpu = self.read(self.host).gpus[0]
        self.assertEqual([], plan.plan_gpu(targets[0], gpu,
                                           dynamic_now=True).steps)
        # Not yet dynamic, the same instance is a static carve's: it goes
        # (after a drain).
        before = plan.plan_gpu(targets[0], gpu, dynamic_now=False)
        self.assertTrue(before.destroys)
        self.assertIn(plan.DESTROY_GI, [s.action for s in before.steps])
        # And the provider marks its slices busy.
        spec = tree.build_provider_tree(
            'node01', self.read(self.host), {},
            dynamic={address: 'C'}).providers[0]
        self.assertEqual([4, 5, 6, 7], naming.used_slices(spec.traits))

    def test_static_again_takes_the_gpu_back(self):
        self.apply_layout(DYNAMIC, self.host, options=self.options)
        results = self.apply_layout(STATIC, self.host, options=self.options)
        self.assertEqual(apply.APPLIED, results[0].status)
        self.assertEqual(frozenset(), owners.dynamic_addresses(self.record))
        gpu = self.read(self.host).gpus[0]
        self.assertEqual([model.Placement(0, 4), model.Placement(4, 4)],
                         sorted(gi.placement for gi in gpu.gpu_instances))


DYNAMIC_TS = DYNAMIC + '''          mode: time-sliced
          scheduling: mixed-size
'''


class TestDynamicTimeSliced(base.LayoutTestCase):

    def setUp(self):
        super().setUp()
        self.host = self.sim_host('1xA100-PCIE-40GB:vfio')
        self.record = owners.path_in(self.tmp)
        self.options = apply.Options(force=True, owners_path=self.record)

    def provider(self):
        return tree.build_provider_tree(
            'node01', self.read(self.host), {},
            dynamic=owners.dynamic_series(self.record),
            time_sliced=owners.dynamic_time_sliced(
                self.record)).providers[0]

    def test_apply_records_the_mode_and_the_provider_offers_slices(self):
        results = self.apply_layout(DYNAMIC_TS, self.host,
                                    options=self.options)
        self.assertIn(results[0].status, (apply.APPLIED, apply.UNCHANGED))
        gpu = self.read(self.host).gpus[0]
        self.assertFalse(gpu.mig_current)
        self.assertEqual({gpu.address: 'mixed-size'},
                         owners.dynamic_time_sliced(self.record))
        spec = self.provider()
        self.assertEqual({naming.FB_SLICE_RC: 40, naming.DYNAMIC_VGPU_RC: 8},
                         {rc: i.total for rc, i in spec.inventories.items()})
        self.assertIn(naming.DYNAMIC_TRAIT, spec.traits)
        self.assertIn(naming.MIXED_SIZE_TRAIT, spec.traits)
        self.assertIn(naming.vgpu_type_trait('A100-40C'), spec.traits)
        self.assertEqual([], naming.used_slices(spec.traits))

    def test_a_mig_gpu_becomes_time_sliced_mig_off_and_vfs(self):
        host = self.sim_host('1xA100-PCIE-40GB:mig', name='mig')
        targets = self.targets(DYNAMIC_TS, host)
        self.assertEqual('time-sliced', targets[0].mode)
        steps = plan.make_plan(targets, self.read(host)).steps
        # Ampere: MIG off needs a reset, which the VFs do not survive.
        self.assertEqual([(plan.SET_NUMVFS, 0), (plan.SET_MIG_MODE, False),
                          (plan.SET_NUMVFS, 20)],
                         [(s.action, s.args.get('count',
                                                s.args.get('enabled')))
                          for s in steps])

    def test_a_guests_vgpu_marks_its_placement_slots_busy(self):
        self.apply_layout(DYNAMIC_TS, self.host, options=self.options)
        gpu = self.read(self.host).gpus[0]
        writer = self.host.writer()
        vf = gpu.vfs[0].address
        writer.write_sysfs('/sys/bus/pci/devices/%s/nvidia/'
                           'current_vgpu_type' % vf,
                           str(gpu.vgpu_type_ids['A100-20C']))
        # 20C: slots 0-3 (no placement_id before R580: the lowest free).
        self.assertEqual([0, 1, 2, 3], naming.used_slices(
            self.provider().traits))
        # Once dynamic, the guest's vGPU stays through a re-apply.
        targets = self.targets(DYNAMIC_TS, self.host)
        self.assertEqual([], plan.plan_gpu(
            targets[0], self.read(self.host).gpus[0],
            dynamic_now=True).steps)

    def test_equal_size_marks_the_hosted_type(self):
        self.apply_layout(DYNAMIC_TS.replace('mixed-size', 'equal-size'),
                          self.host, options=self.options)
        gpu = self.read(self.host).gpus[0]
        self.host.writer().write_sysfs(
            '/sys/bus/pci/devices/%s/nvidia/current_vgpu_type'
            % gpu.vfs[0].address, str(gpu.vgpu_type_ids['A100-10C']))
        traits = self.provider().traits
        self.assertIn(naming.hosts_type_trait('A100-10C'), traits)
        self.assertNotIn(naming.MIXED_SIZE_TRAIT, traits)


class TestOwnerRecord(base.LayoutTestCase):

    def test_unreadable_record_names_the_file_and_the_fix(self):
        path = owners.path_in(self.tmp)
        with open(path, 'w') as handle:
            handle.write('{not json')
        exc = self.assertRaises(exception.GpuvirtError, owners.read, path)
        self.assertIn(path, str(exc))
        self.assertIn('layout apply', str(exc))

    def test_update_keeps_other_gpus(self):
        path = owners.path_in(self.tmp)
        owners.update(path, dynamic={'0000:3b:00.0': 'C',
                                     '0000:5e:00.0': 'Q'})
        owners.update(path, static=['0000:3b:00.0'])
        with open(path) as handle:
            self.assertEqual({'0000:5e:00.0': {'owner': 'dynamic',
                                               'series': 'Q'}},
                             json.load(handle)['gpus'])

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

    def test_dynamic_time_sliced_is_refused(self):
        self.assert_refused(DYNAMIC + '          mode: time-sliced\n',
                            'gpus[0].mode', 'use mode: mig')

    def test_unknown_owner_is_refused(self):
        self.assertRaises(exception.UsageError, self.layout,
                          DYNAMIC.replace('dynamic', 'driver'))

    def test_gpu_without_mig_cannot_be_dynamic(self):
        host = self.sim_host('1xT4:mdev')
        exc = self.assertRaises(exception.UsageError, self.targets,
                                DYNAMIC, host)
        self.assertIn('gpus[0].owner', str(exc))


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
                          naming.MIG_MEMORY_SLICE_RC: 8},
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

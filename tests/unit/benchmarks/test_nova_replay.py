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

"""How the Nova replay turns trace pods into flavors and a mix."""

import numpy as np
from oslotest import base

from benchmarks.packing import nova_replay
from benchmarks.packing import synthetic
from benchmarks.packing import trace
from gpuvirt_nova.scheduler import candidates

SLICE = frozenset(['G2', 'G3', 'T4'])


def _pods(rows):
    """rows: (cpu milli, gpus, milli, gpu_spec)."""
    return trace.Pods(cpu=np.array([r[0] for r in rows], float),
                      memory=np.full(len(rows), 4096.),
                      gpus=np.array([r[1] for r in rows]),
                      milli=np.array([r[2] for r in rows]),
                      spec=tuple(r[3] for r in rows))


class ToRequestTest(base.BaseTestCase):

    def _one(self, row, max_gpus=2):
        return nova_replay.to_request(_pods([row]), 0, SLICE, max_gpus)

    def test_pods_pinned_to_a_family_and_a_model_trait(self):
        free = self._one((2500, 1, 470, ''))
        self.assertEqual(('A100-4-20C', None, 3, SLICE - {'T4'}),
                         (free.type_name, free.trait, free.vcpus,
                          free.models))
        g2 = self._one((1000, 1, 1000, 'G2|P100'))
        self.assertEqual(('A100-7-40C', 'CUSTOM_GPU_A100_SXM4_40GB'),
                         (g2.type_name, g2.trait))
        self.assertEqual('trait:CUSTOM_GPU_A100_SXM4_40GB',
                         [k for k in g2.extra_specs() if 'trait' in k][0])
        t4 = self._one((1000, 1, 250, 'T4|P100'))
        self.assertEqual(('T4-4C', None), (t4.type_name, t4.trait))
        two = self._one((1000, 2, 1000, ''))
        self.assertEqual({'resources1:CUSTOM_VGPU_A100_7_40C': '1',
                          'resources2:CUSTOM_VGPU_A100_7_40C': '1',
                          'group_policy': 'isolate'}, two.extra_specs())
        # the trait of each granular group, not of the compute node
        two_g3 = self._one((1000, 2, 1000, 'G3'))
        self.assertEqual({'resources1:CUSTOM_VGPU_A100_7_40C': '1',
                          'resources2:CUSTOM_VGPU_A100_7_40C': '1',
                          'trait1:CUSTOM_GPU_A100_PCIE_40GB': 'required',
                          'trait2:CUSTOM_GPU_A100_PCIE_40GB': 'required',
                          'group_policy': 'isolate'}, two_g3.extra_specs())

    def test_cpu_only_pods_ask_cpu_and_memory_alone(self):
        cpu = self._one((2500, 0, 0, ''))
        self.assertEqual((0, 3, 4096, {}, None),
                         (cpu.gpus, cpu.vcpus, cpu.memory_mb,
                          cpu.extra_specs(), cpu.mix_key))

    def test_pods_the_slice_cannot_serve_are_left_out(self):
        self.assertIsNone(self._one((1000, 1, 500, 'P100|V100M16')))
        self.assertIsNone(nova_replay.to_request(
            _pods([(1000, 0, 0, '')]), 0, SLICE, 2, cpu_only=False))
        self.assertIsNone(self._one((1000, 4, 1000, '')))


class MixTest(base.BaseTestCase):

    def test_twentieths_sum_to_one_and_survive_the_weigher_rounding(self):
        mix = nova_replay.twentieths({'a': 13, 'b': 5, 'c': 1, 'd': 81})
        self.assertEqual(1.0, sum(mix.values()))
        self.assertEqual(tuple(mix.values()),
                         candidates._shares(list(mix.values())))
        self.assertNotIn('c', mix)


class CpuOnlyTest(base.BaseTestCase):

    def test_cpu_only_pods_take_cpu_from_later_gpu_pods(self):
        pods = _pods([(20000, 1, 1000, ''), (80000, 0, 0, ''),
                      (80000, 0, 0, '')])
        requests = tuple(nova_replay.to_request(pods, i, SLICE, 2)
                         for i in range(3))
        scenario = nova_replay.Scenario(
            nodes=synthetic.nodes((('G2', 1), ('T4', 1))),
            requests=requests, mix={requests[0].mix_key: 1.0})
        sim = nova_replay.SimReplay(scenario, [0, 1])
        # placed as a GPU pod is, on a host with room; Nova's host taken
        # instead where it differs
        self.assertIsNotNone(sim.place(1))
        sim.force(1, 0, [])                     # 96 cores, 80 asked
        sim.place(2)
        sim.force(2, 1, [])
        # 16 cores left on the only A100 host: the GPU pod (20) fails
        self.assertIsNone(sim.place(0))


class LayOutTest(base.BaseTestCase):

    def _placed(self, millis):
        pods = _pods([(1000, 1, m, '') for m in millis])
        requests = tuple(nova_replay.to_request(pods, i, SLICE, 2)
                         for i in range(len(millis)))
        scenario = nova_replay.Scenario(
            nodes=synthetic.nodes((('G2', 1),)), requests=requests,
            mix={requests[0].mix_key: 1.0})
        return nova_replay.SimReplay(scenario, [0])

    def test_a_gpu_is_laid_out_largest_first_as_the_scheduler_does(self):
        sim = self._placed([100, 150])          # a 1g, then a 2g
        self.assertEqual((0, [0]), sim.place(0))
        self.assertEqual((0, [0]), sim.place(1))
        kept = sim.cluster.states[0, 0]
        self.assertEqual([0], sim.lay_out())
        # the 2g first, then the 1g, each at the least-fragmenting
        # placement (what candidates._layout rebuilds from the counts)
        table, empty = sim.tables['ours'], sim.cluster.states[0, 1]
        one, two = (int(np.searchsorted(sim.values, m)) for m in (100, 150))
        self.assertEqual(table[table[empty, two], one],
                         sim.cluster.states[0, 0])
        self.assertNotEqual(kept, sim.cluster.states[0, 0])
        self.assertEqual([], sim.lay_out())
        # the terms follow the state
        fresh = nova_replay.SimReplay(sim.scenario, [0])
        fresh.cluster.states[:] = sim.cluster.states
        fresh._refresh(0)
        for got, want in zip(sim.terms, fresh.terms):
            np.testing.assert_array_equal(want, got)

    def test_relayout_comes_before_each_decision_and_force_undoes(self):
        sim = self._placed([100, 150, 150])
        sim.relayout = True
        sim.place(0)
        sim.place(1)
        laid = self._placed([100, 150, 150])
        laid.place(0)
        laid.place(1)
        laid.lay_out()
        got = sim.place(2)
        # request 2 was scored on the GPU as the scheduler lays it out
        np.testing.assert_array_equal(laid.cluster.states, sim._saved[0])
        self.assertEqual(laid.place(2), got)
        self.assertEqual(3, len(sim.placed[0, got[1][0]]))
        # Nova put it on another GPU: the simulator's own is taken back
        other = 7 if got[1][0] != 7 else 6
        sim.force(2, 0, [other])
        self.assertEqual(2, len(sim.placed[0, got[1][0]]))
        self.assertEqual(1, len(sim.placed[0, other]))


class InterchangeableTest(base.BaseTestCase):

    def test_other_gpus_of_the_same_states_are_the_same_placement(self):
        pods = _pods([(1000, 1, 150, ''), (8000, 4, 1000, '')])
        requests = tuple(nova_replay.to_request(pods, i, SLICE, 8)
                         for i in range(2))
        scenario = nova_replay.Scenario(
            nodes=synthetic.nodes((('G2', 1),)), requests=requests,
            mix={requests[0].mix_key: 0.5, requests[1].mix_key: 0.5})
        sim = nova_replay.SimReplay(scenario, [0])
        self.assertEqual((0, [0]), sim.place(0))   # a 2g on GPU 0 of host 0
        got = sim.place(1)
        self.assertEqual((0, [1, 2, 3, 4]), got)   # the first empty GPUs
        # empty GPUs of the same host are interchangeable
        self.assertTrue(sim.interchangeable(got, (0, [4, 5, 6, 7])))
        # not with the used one, not on another host
        self.assertFalse(sim.interchangeable(got, (0, [0, 1, 2, 3])))
        self.assertFalse(sim.interchangeable(got, (1, [1, 2, 3, 4])))
        self.assertFalse(sim.interchangeable(got, None))

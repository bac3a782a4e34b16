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

"""The weigher counts vCPUs: a host's CPU can strand its GPUs.

A typical request takes vCPUs as well as a vGPU (``RC/8`` in
``typical_requests``). On a host whose vCPUs left (its compute node
provider's VCPU capacity minus used) are fewer than a class needs, that
class cannot be hosted, so its share of the idle GPUs counts as
fragment (FGD's CPU case). The packing term is the larger of the GPU
and vCPU share left, as the benchmark's ``ours`` packs; with a mix
that names no vCPUs, the GPU share alone.
"""

import fixtures
import numpy as np
from oslotest import base

from gpuvirt_nova.scheduler import candidates
from gpuvirt_nova.scheduler import filters
from gpuvirt_nova.scheduler import fleet
from gpuvirt_nova.scheduler import gpu_level
from gpuvirt_nova.scheduler import scoring
from tests.unit.scheduler import fixtures as fx

OFFER = {'A100-1-5C': 7}
SMALL = fx.rc('A100-1-5C')


def _candidate(root, gpu_uuid, vcpus):
    found = fx.candidate(root, gpu_uuid, 'A100-1-5C')
    found['allocations'][root]['resources']['VCPU'] = vcpus
    return found


def _two_hosts(vcpus_used_a, vcpus_used_b, take, slices_used=1):
    """Hosts cnA and cnB: one A100 each, ``slices_used`` of 7 in use."""
    summaries, listed = {}, []
    for root, used in (('cnA', vcpus_used_a), ('cnB', vcpus_used_b)):
        summaries[root] = fx.compute(root, used)
        uuid = root + '-g0'
        summaries[uuid] = fx.gpu(root, OFFER,
                                 used={'A100-1-5C': slices_used})
        listed.append((root, [_candidate(root, uuid, take)]))
    return summaries, listed


def _packs(summaries, listed, mix):
    scored = fleet.score_hosts(fleet.RequestGpus(summaries), listed, mix)
    return {root: scored[root][1] for root, _ in listed}


class MixKeyTest(base.BaseTestCase):

    def test_vcpus_follow_the_class_and_its_traits(self):
        key = candidates.mix_key(SMALL, ['CUSTOM_GPU_X'], 8)
        self.assertEqual(SMALL + '@CUSTOM_GPU_X/8', key)
        self.assertEqual((SMALL, frozenset(['CUSTOM_GPU_X'])),
                         candidates.split_mix_key(key))
        self.assertEqual(8.0, candidates.mix_vcpus(key))
        self.assertEqual(0.0, candidates.mix_vcpus(SMALL))
        self.assertFalse(candidates.is_plain(SMALL + '/8'))
        self.assertTrue(candidates.is_plain(SMALL))

    def test_gpus_follow_the_vcpus(self):
        key = candidates.mix_key(SMALL, (), 16, 2)
        self.assertEqual(SMALL + '/16*2', key)
        self.assertEqual((SMALL, frozenset(), 16.0, 2),
                         candidates.parse_mix_key(key))
        self.assertEqual((SMALL, frozenset(), 0.0, 2),
                         candidates.parse_mix_key(SMALL + '*2'))
        self.assertFalse(candidates.is_plain(SMALL + '*2'))

    def test_bad_vcpus_or_gpus_name_the_option_and_the_fix(self):
        for bad in ('/eight', '/-2', '/inf', '/', '*0', '*two', '*',
                    '/8*1.5'):
            exc = self.assertRaises(ValueError, candidates.parse_mix_key,
                                    SMALL + bad)
            self.assertIn('typical_requests', str(exc))
            self.assertIn('RESOURCE_CLASS[@TRAIT][/VCPUS][*GPUS]', str(exc))


class MultiGpuClassTest(base.BaseTestCase):

    def test_a_two_gpu_class_needs_two_gpus_that_can_host_it(self):
        # a host of two A100s: one with 6 of 7 slices in use, one empty.
        # A one-GPU class of 7g fits the empty GPU; a two-GPU class of
        # 1g fits on both, a two-GPU class of 7g on one only: all of the
        # host's idle share is stranded for it.
        seven = fx.rc('A100-7-40C')
        offer = {'A100-1-5C': 7, 'A100-7-40C': 1}
        summaries = {'cn': fx.compute('cn'),
                     'cn-g0': fx.gpu('cn', offer, used={'A100-1-5C': 6}),
                     'cn-g1': fx.gpu('cn', offer)}
        frag = {}
        for key in (seven, seven + '*2', SMALL + '*2'):
            gpus = candidates.host_gpus(summaries, 'cn', {key: 1})
            frag[key] = float(scoring.fragmentation(
                gpus.space, gpus.states, np.inf, gpus.mix))
        idle = float(gpus.space.free[gpus.states].sum())
        self.assertAlmostEqual(idle, frag[seven + '*2'])
        self.assertLess(frag[seven], idle)
        self.assertAlmostEqual(0.0, frag[SMALL + '*2'])


class CpuStrandsGpusTest(base.BaseTestCase):

    def test_host_left_short_of_vcpus_strands_its_gpus(self):
        # cnA has 10 vCPUs left: after a 4-vCPU request 6 remain, fewer
        # than a typical request's 8, so cnA's 5 idle slices are
        # stranded; cnB keeps 64.
        summaries, listed = _two_hosts(54, 0, take=4)
        packs = _packs(summaries, listed, {SMALL + '/8': 1})
        self.assertGreater(packs['cnB'], packs['cnA'])

    def test_vcpu_share_packs_the_host_whose_vcpus_run_out_first(self):
        # typical requests of 2 vCPUs: nothing is stranded; the GPUs
        # are nearly full, so cnB's vCPU share left (6 of 64 after the
        # move) is smaller than cnA's (60 of 64) by more than a point
        # (cnA would win a tie on uuid order)
        summaries, listed = _two_hosts(0, 54, take=4, slices_used=6)
        packs = _packs(summaries, listed, {SMALL + '/2': 1})
        self.assertGreater(packs['cnB'], packs['cnA'])

    def test_a_mix_without_vcpus_packs_on_the_gpu_share_alone(self):
        # vCPUs are not counted at all: the hosts' GPUs are alike, so
        # they tie (only candidates.stable_ties' uuid offset, under half
        # a step, parts them)
        summaries, listed = _two_hosts(54, 0, take=4)
        packs = _packs(summaries, listed, {SMALL: 1})
        self.assertLess(abs(packs['cnA'] - packs['cnB']),
                        scoring.resolution() / 2.0)
        for root, found in listed:
            gpus = candidates.host_gpus(summaries, root, {SMALL: 1})
            keys = candidates.score_candidates(gpus, found)[1]
            self.assertEqual(keys[0][0], keys[1][0])

    def test_fragmentation_counts_classes_the_vcpus_cannot_host(self):
        summaries, _ = _two_hosts(58, 0, take=0)
        mix = {SMALL + '/8': 1, SMALL + '/2': 1}
        gpus = candidates.host_gpus(summaries, 'cnA', mix)
        self.assertEqual((6.0, 64.0), gpus.cpu)
        frag = float(scoring.fragmentation(gpus.space, gpus.states,
                                           gpus.cpu[0], gpus.mix))
        idle = float(gpus.space.free[gpus.states].sum())
        # the 8-vCPU half of the mix fits nowhere on cnA: half of its
        # idle GPU share; the 2-vCPU half fits
        self.assertGreater(idle, 0)
        self.assertAlmostEqual(0.5 * idle, frag)
        frag = float(scoring.fragmentation(gpus.space, gpus.states, 8.0,
                                           gpus.mix))
        self.assertAlmostEqual(0.0, frag)

    def test_dominant_share_is_the_larger_of_gpu_and_vcpu_left(self):
        # 60 of 64 vCPUs free after the move on cnB against 6 on cnA;
        # the GPUs alike: the fit key is the vCPU share
        summaries, listed = _two_hosts(54, 0, take=4)
        keys = {}
        for root, found in listed:
            gpus = candidates.host_gpus(summaries, root, {SMALL + '/2': 1})
            keys[root] = candidates.score_candidates(gpus, found)[1]
        gpu_left = keys['cnA'][0][0]
        self.assertLess(6 / 64.0, gpu_left)
        self.assertLess(gpu_left, 60 / 64.0)
        self.assertAlmostEqual(gpu_left, keys['cnA'][1][0])
        self.assertAlmostEqual(60 / 64.0, keys['cnB'][1][0])
        self.assertAlmostEqual(gpu_left, keys['cnB'][0][0])

    def test_a_mix_without_vcpus_ignores_overcommitted_vcpus(self):
        # cnA uses more VCPU than its capacity (a lowered allocation
        # ratio): a mix that names no vCPUs still scores its GPUs alone
        summaries, listed = _two_hosts(70, 0, take=4)
        gpus = candidates.host_gpus(summaries, 'cnA', {SMALL: 1})
        self.assertEqual((-6.0, 64.0), gpus.cpu)
        deltas = {}
        for root, found in listed:
            gpus = candidates.host_gpus(summaries, root, {SMALL: 1})
            deltas[root] = candidates.score_candidates(gpus, found)[0][0]
        self.assertEqual(deltas['cnB'], deltas['cnA'])
        packs = _packs(summaries, listed, {SMALL: 1})
        self.assertLess(abs(packs['cnA'] - packs['cnB']),
                        scoring.resolution() / 2.0)

    def test_vcpus_are_read_from_the_root_provider_only(self):
        # a child provider with VCPU of its own (listed before the root)
        # is not the host's room
        summaries, listed = _two_hosts(0, 0, take=4)
        child = {'resources': {'VCPU': {'capacity': 8, 'used': 8}},
                 'traits': [], 'parent_provider_uuid': 'cnA',
                 'root_provider_uuid': 'cnA'}
        summaries = dict([('cnA-numa0', child)] + list(summaries.items()))
        self.assertEqual((64.0, 64.0), candidates.host_gpus(
            summaries, 'cnA', {SMALL + '/8': 1}).cpu)
        gpus = fleet.RequestGpus(summaries)
        self.assertEqual({'cnA': (64.0, 64.0), 'cnB': (64.0, 64.0)},
                         gpus.cpu)

    def test_host_without_vcpu_inventory_counts_gpus_alone(self):
        summaries, listed = _two_hosts(0, 0, take=4)
        del summaries['cnA']['resources']['VCPU']
        gpus = candidates.host_gpus(summaries, 'cnA', {SMALL + '/8': 1})
        self.assertIsNone(gpus.cpu)
        packs = _packs(summaries, listed, {SMALL + '/8': 1})
        self.assertTrue(np.isfinite(packs['cnA']))
        # cnA: GPU share left (5/7) is its dominant share; cnB's vCPU
        # share (60/64) is larger, so cnA packs first
        self.assertGreater(packs['cnA'], packs['cnB'])

    def test_one_host_at_a_time_agrees(self):
        summaries, listed = _two_hosts(54, 0, take=4)
        mix = {SMALL + '/8': 1}
        best = {root: gpu_level.host_weight(summaries, root, found[0],
                                            'pack', mix)
                for root, found in listed}
        self.assertGreater(best['cnB'], best['cnA'])


class BadClassTest(base.BaseTestCase):

    def test_a_bad_class_is_left_out_and_logged_once(self):
        logged = self.useFixture(fixtures.FakeLogger(level='ERROR'))
        configured = {SMALL + '/8': '3', SMALL + '/eight': '1',
                      SMALL + '*2': 'lots'}
        for _ in range(3):
            self.assertEqual({SMALL + '/8': 3.0},
                             filters.configured_mix(configured))
        self.assertEqual(2, logged.output.count('typical_requests'))
        self.assertIn("'%s/eight' names 'eight' vCPUs" % SMALL,
                      logged.output)
        self.assertIn("weighs 'lots'; write a number", logged.output)
        self.assertEqual({SMALL: 1.0}, filters.configured_mix({SMALL: '1'}))

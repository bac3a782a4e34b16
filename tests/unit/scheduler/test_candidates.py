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

"""Ordering Nova's allocation candidates by GPU."""

from oslotest import base

from gpuvirt_nova.scheduler import candidates
from tests.unit.scheduler import fixtures as fx

ROOT = 'cn1'


class TimeSlicedOrderTest(base.BaseTestCase):
    """Two GPUs, one half full: a small vGPU goes to the half-full one."""

    def setUp(self):
        super().setUp()
        self.summaries = {
            ROOT: fx.compute(ROOT),
            'gpu-empty': fx.gpu(ROOT, {'A100-4C': 10}),
            'gpu-half': fx.gpu(ROOT, {'A100-4C': 10}, used={'A100-4C': 5}),
        }
        self.found = [fx.candidate(ROOT, 'gpu-empty', 'A100-4C'),
                      fx.candidate(ROOT, 'gpu-half', 'A100-4C')]

    def test_half_full_gpu_first(self):
        ordered = candidates.order_candidates(self.summaries, ROOT,
                                              self.found)
        self.assertIs(self.found[1], ordered[0])
        self.assertIs(self.found[0], ordered[1])

    def test_nothing_dropped_and_single_candidate_untouched(self):
        ordered = candidates.order_candidates(self.summaries, ROOT,
                                              self.found[:1])
        self.assertEqual(self.found[:1], ordered)

    def test_other_roots_are_ignored(self):
        self.summaries['gpu-other'] = fx.gpu('cn2', {'A100-4C': 10},
                                             used={'A100-4C': 9})
        gpus = candidates.host_gpus(self.summaries, ROOT)
        self.assertEqual({'gpu-empty', 'gpu-half'}, set(gpus.slots))


class MigOrderTest(base.BaseTestCase):

    def test_geometry_infeasible_candidate_goes_last(self):
        # Placement still counts 1g units on gpu-full, but its 4g and 3g
        # already cover all 8 memory slices.
        offers = {'A100-1-5C': 7, 'A100-4-20C': 1, 'A100-3-20C': 2}
        summaries = {
            ROOT: fx.compute(ROOT),
            'gpu-full': fx.gpu(ROOT, offers, used={'A100-4-20C': 1,
                                                   'A100-3-20C': 1}),
            'gpu-free': fx.gpu(ROOT, offers),
        }
        found = [fx.candidate(ROOT, 'gpu-full', 'A100-1-5C'),
                 fx.candidate(ROOT, 'gpu-free', 'A100-1-5C')]
        ordered = candidates.order_candidates(summaries, ROOT, found)
        self.assertEqual([found[1], found[0]], ordered)

    def test_small_mig_request_packs_onto_the_used_gpu(self):
        offers = {'A100-1-5C': 7, 'A100-7-40C': 1}
        summaries = {
            ROOT: fx.compute(ROOT),
            'gpu-a': fx.gpu(ROOT, offers),
            'gpu-b': fx.gpu(ROOT, offers, used={'A100-1-5C': 2}),
        }
        found = [fx.candidate(ROOT, 'gpu-a', 'A100-1-5C'),
                 fx.candidate(ROOT, 'gpu-b', 'A100-1-5C')]
        ordered = candidates.order_candidates(summaries, ROOT, found)
        # gpu-a must stay whole for a 7g; gpu-b cannot take one anyway.
        self.assertIs(found[1], ordered[0])


class UnknownGpuTest(base.BaseTestCase):

    def test_unknown_model_scored_as_fractional(self):
        summaries = {
            ROOT: fx.compute(ROOT),
            'g1': fx.gpu(ROOT, {'A100-4C': 4}, model='MYSTERY-GPU'),
            'g2': fx.gpu(ROOT, {'A100-4C': 4}, used={'A100-4C': 2},
                         model='MYSTERY-GPU'),
        }
        gpus = candidates.host_gpus(summaries, ROOT)
        free = sorted(gpus.space.free[gpus.states].tolist())
        self.assertEqual([500.0, 1000.0], free)

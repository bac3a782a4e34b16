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

"""The all-hosts scorer decides exactly as the per-host one.

``candidates.score_hosts`` (VGPUPlacementFilter.filter_all) must give
every host the candidate order of ``order_candidates`` and the weights of
``gpu_level.host_weight``: MIG and time-sliced hosts in one request,
2-vGPU candidates, candidates that do not fit, foreign providers.
"""

import numpy as np
from oslotest import base

from gpuvirt_nova.scheduler import candidates
from gpuvirt_nova.scheduler import gpu_level
from tests.unit.scheduler import fixtures as fx


def _fleet(rng, hosts=12):
    summaries, listed = {}, []
    for h in range(hosts):
        root = 'cn%d' % h
        summaries[root] = fx.compute(root)
        mig = h % 3 != 2
        offers = {'A100-1-5C': 7, 'A100-3-20C': 2} if mig else \
            {'A100-4C': 10, 'A100-10C': 4}
        small = 'A100-1-5C' if mig else 'A100-4C'
        found = []
        for g in range(4):
            uuid = '%s-g%d' % (root, g)
            used = int(rng.integers(0, offers[small] + 1))
            summaries[uuid] = fx.gpu(root, offers, used={small: used})
            found.append(fx.candidate(root, uuid, small,
                                      amount=int(rng.integers(1, 3))))
        found.append(fx.candidate(root, 'elsewhere', small))
        listed.append((root, found))
    return summaries, listed


class ScoreHostsTest(base.BaseTestCase):

    def test_same_order_and_weights_as_one_host_at_a_time(self):
        rng = np.random.default_rng(7)
        for _ in range(5):
            summaries, listed = _fleet(rng)
            mix = gpu_level.typical_mix(summaries, {})
            by_root = {}
            for uuid, s in summaries.items():
                by_root.setdefault(s['root_provider_uuid'], {})[uuid] = s
            scored = candidates.score_hosts(by_root, listed, mix)
            self.assertEqual(len(listed), len(scored))
            for root, found in listed:
                order, pack, spread = scored[root]
                expected = candidates.order_candidates(summaries, root,
                                                       found, mix)
                self.assertEqual([id(c) for c in expected],
                                 [id(found[i]) for i in order])
                self.assertAlmostEqual(gpu_level.host_weight(
                    summaries, root, expected[0], 'pack', mix), pack)
                self.assertAlmostEqual(gpu_level.host_weight(
                    summaries, root, expected[0], 'spread', mix), spread)

    def test_host_without_gpus_is_left_out(self):
        by_root = {'cn1': {'cn1': fx.compute('cn1')}}
        self.assertEqual({}, candidates.score_hosts(
            by_root, [('cn1', [fx.candidate('cn1', 'x', 'A100-4C')])]))

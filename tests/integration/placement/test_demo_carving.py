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

"""The demo's static vs dynamic carve, against the real Placement code."""

import os

from gpuvirt_nova.demo import carving
from gpuvirt_nova.demo import placement as demo
from gpuvirt_nova.demo import requests as demo_requests
from tests.integration.placement import base

LAYOUT = """
# simulate: 2xA100-PCIE-40GB:mig@small
gpu_cluster:
  nodes:
    - host: small
      gpus:
        - index: [0]
          vgpus:
            - {mig: 3g.20gb, count: 2}
        - index: [1]
          vgpus:
            - {mig: 1g.5gb, count: 7}
"""


def stream(*types):
    return [(demo_requests.VgpuRequest((t,)), False, 0.0) for t in types]


class TestCarving(base.PlacementTestCase):

    def setUp(self):
        super().setUp()
        self.tmp = base.scratch_tmp(self)
        path = base.write_file(self.tmp, 'layout.yaml', LAYOUT)
        layout, hints = demo.load_layout(path)
        self.hosts = demo.build_hosts(layout, 1, os.path.join(self.tmp, 's'),
                                      hints, prefix=self.compute_node + '-')

    def test_static_carve_rejects_while_a_gpu_sits_idle(self):
        # Eight 1g.5gb requests: the static carve has seven 1g slots and
        # a GPU carved for 3g.20gb nobody asks for.
        requests = stream(*['A100-1-5C'] * 8)
        static = carving.play(self.client, self.hosts, requests,
                              carving.STATIC)
        self.assertEqual((7, 1, 1, 1), (static.placed, static.rejected,
                                        static.rejected_idle,
                                        static.idle_gpus))
        dynamic = carving.play(self.client, self.hosts, requests,
                               carving.DYNAMIC)
        self.assertEqual((8, 0, 0), (dynamic.placed, dynamic.rejected,
                                     dynamic.idle_gpus))
        self.assertGreater(dynamic.utilization, static.utilization)
        # Each run removed what it made.
        self.assertIsNone(self.client.provider_by_name(self.hosts[0][0]))

    def test_dynamic_gpu_refuses_a_profile_with_no_free_placement(self):
        # 3g + 1g pack one GPU (3g at 4:4, 1g at 0); the second GPU takes
        # the next 3g; a 7g then fits nowhere, though the two GPUs have
        # compute slices free in Placement's counts.
        dynamic = carving.play(self.client, self.hosts, stream(
            'A100-3-20C', 'A100-1-5C', 'A100-4-20C', 'A100-7-40C'),
            carving.DYNAMIC)
        self.assertEqual((3, 1), (dynamic.placed, dynamic.rejected))
        self.assertEqual(0, dynamic.idle_gpus)

    def test_compare_plays_the_same_stream_on_both_carves(self):
        results = carving.compare(self.client, self.hosts, 12, seed=2,
                                  multi_share=0.0)
        self.assertEqual(['static', 'dynamic'], [r.carve for r in results])
        for result in results:
            self.assertEqual(12, result.placed + result.rejected)
            self.assertEqual(2, result.gpus)
            self.assertTrue(0.0 <= result.fragmentation <= 1.0)

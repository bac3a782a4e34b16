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
from gpuvirt_nova.placement import naming
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

# One L40S with a mixed-size mode for its C-series types, one with only
# B-series types (no mixed-size mode): it stays static in both runs.
TS_LAYOUT = """
# simulate: 2xL40S:vfio@small
gpu_cluster:
  nodes:
    - host: small
      gpus:
        - index: [0]
          mode: time-sliced
          vgpus:
            - {memory: 12GB, count: 4}
        - index: [1]
          mode: time-sliced
          series: B
          vgpus:
            - {memory: 2GB, count: 4}
"""


def stream(*types):
    return [(demo_requests.VgpuRequest((t,)), False, 0.0) for t in types]


class TestCarving(base.PlacementTestCase):

    def setUp(self):
        super().setUp()
        self.tmp = base.scratch_tmp(self)
        self.hosts = self._hosts(LAYOUT)

    def _hosts(self, text, name='layout.yaml'):
        path = base.write_file(self.tmp, name, text)
        layout, hints = demo.load_layout(path)
        return demo.build_hosts(layout, 1,
                                os.path.join(self.tmp, name + '.sim'),
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

    def test_time_sliced_gpu_with_mixed_size_mode_is_dynamic(self):
        hosts = self._hosts(TS_LAYOUT, 'ts.yaml')
        # The static carve gives 4 x L40S-12C and 4 x L40S-2B. Dynamic,
        # the first L40S takes a 24C, a 12C and an 8C in mixed-size
        # placements (slots 0-15, 16-23, 24-31 of 32); a 4C then has no
        # free placement though Placement counts 4 of its 48 framebuffer
        # slices free (the busy-slot traits refuse it); the B-series
        # L40S has no mixed-size mode and stays static: 2B is placed,
        # 4C never goes there.
        requests = stream('L40S-24C', 'L40S-12C', 'L40S-8C', 'L40S-4C',
                          'L40S-2B')
        static = carving.play(self.client, hosts, requests, carving.STATIC)
        self.assertEqual((2, 3), (static.placed, static.rejected))
        self.assertEqual(0, static.dynamic_gpus)
        dynamic = carving.play(self.client, hosts, requests,
                               carving.DYNAMIC)
        self.assertEqual((4, 1, 0), (dynamic.placed, dynamic.rejected,
                                     dynamic.idle_gpus))
        self.assertEqual((2, 1), (dynamic.gpus, dynamic.dynamic_gpus))
        # The dynamic L40S is full (32 of 32 slots), the static one at
        # 1 of its 4 slots.
        self.assertAlmostEqual((1.0 + 0.25) / 2, dynamic.utilization)
        self.assertIsNone(self.client.provider_by_name(hosts[0][0]))

    def test_time_sliced_gpu_offers_framebuffer_slices_when_dynamic(self):
        hosts = self._hosts(TS_LAYOUT, 'ts.yaml')
        dynamic = carving._dynamic_gpus(hosts)
        hostname, host, _offers = hosts[0]
        mixed, equal = sorted(g.address for g in host.gpus)
        self.assertEqual({(hostname, mixed): 'C'}, dynamic)
        carving._setup(self.client, hosts, dynamic)
        self.addCleanup(demo.teardown, self.client, hosts)
        provider = self.client.provider_by_name(
            naming.gpu_provider_name(hostname, mixed))
        inventories = self.client.inventories(provider['uuid'])[1]
        self.assertEqual(48, inventories[naming.FB_SLICE_RC]['total'])
        static = self.client.provider_by_name(
            naming.gpu_provider_name(hostname, equal))
        self.assertNotIn(naming.FB_SLICE_RC,
                         self.client.inventories(static['uuid'])[1])

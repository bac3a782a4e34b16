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

"""The standalone sync and flavor sync of dynamic GPUs, as the CLI runs."""

import json

from tests.integration.placement import base as placement_base
from tests.integration.placement import test_cli

LAYOUT = """
gpu_cluster:
  nodes:
    - host: node01
      gpus:
        - index: [0]
          owner: dynamic
        - index: [1]
          vgpus:
            - {profile: A100-2-10C, count: 3}
"""


class TestDynamicSync(test_cli.CliTestCase):

    def setUp(self):
        super().setUp()
        self.layout = placement_base.write_file(self.tmp, 'dynamic.yaml',
                                                LAYOUT)

    def sync(self):
        code, out, err = self.placement('sync')
        self.assertEqual(0, code, err)

    def test_dynamic_gpu_offers_slices_the_static_one_vgpus(self):
        self.sync()
        code, out, err = self.gpuvirt('placement', 'show', '--host',
                                      'node01', '--state-dir', self.state,
                                      '-f', 'json')
        self.assertEqual(0, code, err)
        text = out
        self.assertIn('CUSTOM_MIG_COMPUTE_SLICE', text)
        self.assertIn('CUSTOM_VGPU_A100_2_10C', text)
        self.assertIn('CUSTOM_GPUVIRT_DYNAMIC', text)

    def test_flavor_sync_makes_dynamic_flavors(self):
        self.sync()
        code, out, err = self.gpuvirt('flavor', 'sync', '--dry-run',
                                      '--state-dir', self.state, '-f', 'json')
        self.assertEqual(0, code, err)
        rows = {r['flavor']: r['detail'] for r in json.loads(out)}
        self.assertIn('vgpu.a100-2-10c', rows)
        self.assertIn('vgpu.a100-3-20c.dynamic', rows)
        self.assertIn('resources1:CUSTOM_MIG_MEMORY_SLICE=4',
                      rows['vgpu.a100-3-20c.dynamic'])
        self.assertIn('trait1:CUSTOM_MIG_3G_20GB=required',
                      rows['vgpu.a100-3-20c.dynamic'])


class TestDynamicTimeSlicedSync(test_cli.CliTestCase):

    def setUp(self):
        super().setUp()
        self.layout = placement_base.write_file(
            self.tmp, 'dynamic.yaml', LAYOUT.replace(
                '          owner: dynamic\n', '          owner: dynamic\n'
                '          mode: time-sliced\n'
                '          scheduling: mixed-size\n'))

    def test_provider_offers_framebuffer_slices_and_flavors_ask_them(self):
        code, out, err = self.placement('sync')
        self.assertEqual(0, code, err)
        code, out, err = self.gpuvirt('placement', 'show', '--host',
                                      'node01', '--state-dir', self.state,
                                      '-f', 'json')
        self.assertEqual(0, code, err)
        self.assertIn('CUSTOM_FRAMEBUFFER_SLICE', out)
        self.assertIn('CUSTOM_GPUVIRT_MIXED_SIZE', out)
        code, out, err = self.gpuvirt('flavor', 'sync', '--dry-run',
                                      '--state-dir', self.state, '-f', 'json')
        self.assertEqual(0, code, err)
        rows = {r['flavor']: r['detail'] for r in json.loads(out)}
        self.assertIn('resources1:CUSTOM_FRAMEBUFFER_SLICE=10',
                      rows['vgpu.a100-10c.dynamic'])
        self.assertIn('trait1:CUSTOM_VGPU_TYPE_A100_10C=required',
                      rows['vgpu.a100-10c.dynamic'])
        self.assertIn('vgpu.a100-2-10c', rows)

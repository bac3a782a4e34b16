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

"""``gpuvirt-nova report`` against the embedded Placement.

A simulated host is synced, guests of two projects are allocated, one GPU
is fenced and one drained as the fence and ``layout apply --drain`` leave
them; the report's numbers are then checked against what was placed.
"""

import json
import os
from unittest import mock

from oslotest import base

from gpuvirt_nova.placement import connect
from gpuvirt_nova.placement import drain as placement_drain
from gpuvirt_nova.placement import naming
from gpuvirt_nova.scheduler import gpu_level
from tests.integration.placement import base as placement_base
from tests.integration.placement import test_demo
from tests.unit.cmd import cli as cli_fixture

SPEC = '4xA100-PCIE-40GB:mig'
LAYOUT = """
gpu_cluster:
  nodes:
    - host: node01
      gpus:
        - type: A100-40GB
          vgpus:
            - {name: a, mig: 1g.5gb, count: 7}
"""
RC = 'CUSTOM_VGPU_A100_1_5C'
GPUS = ['node01_pci_0000_%s_00_0' % bus for bus in ('3b', '5e', '86', 'af')]
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


class TestReport(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.tmp, self.gpuvirt, self.state = \
            placement_base.isolated_cli(self)
        layout = placement_base.write_file(self.tmp, 'layout.yaml', LAYOUT)
        code, _, err = self.gpuvirt(
            'placement', 'sync', '--simulate', SPEC, '--host', 'node01',
            '--state-dir', self.state, '--layout', layout)
        self.assertEqual(0, code, err)
        with connect.connect(state_directory=self.state,
                             embedded_for='this test') as conn:
            client = conn.client
            uuids = [client.provider_by_name(n)['uuid'] for n in GPUS]
            # GPU 0: full (project alpha 5 slices, beta 2); GPU 1: one
            # slice of beta; GPU 2 fenced (GPU lost); GPU 3 draining.
            for consumer, project, gpu, amount in (
                    ('c1', 'alpha', 0, 5), ('c2', 'beta', 0, 2),
                    ('c3', 'beta', 1, 1)):
                client.put_allocations(
                    '00000000-0000-0000-0000-00000000000%s' % consumer[1],
                    {uuids[gpu]: {'resources': {RC: amount}}}, project,
                    'user')
            reason = naming.UNHEALTHY_TRAIT_PREFIX + 'GPU_LOST'
            for trait in (naming.UNHEALTHY_TRAIT, reason):
                client.create_trait(trait)
            generation, traits = client.traits(uuids[2])
            client.set_traits(uuids[2], generation, traits | {
                naming.UNHEALTHY_TRAIT, reason})
            generation, inventories = client.inventories(uuids[2])
            client.set_inventories(uuids[2], generation, {
                rc: dict(inv, reserved=inv['total'])
                for rc, inv in inventories.items()})
            placement_drain.PlacementDrainer(client).set_reserved(
                'node01', '0000:af:00.0', True)

    def report(self, *extra):
        code, out, err = self.gpuvirt('report', '--state-dir', self.state,
                                      *extra)
        self.assertEqual(0, code, err)
        return out, err

    def test_numbers_match_what_was_placed(self):
        out, _ = self.report('-f', 'json')
        data = json.loads(out)
        self.assertEqual(4, data['gpus'])
        self.assertEqual({'A100-1-5C': {'total': 28, 'reserved': 14,
                                        'used': 8,
                                        'utilization': 8 / 28.0}},
                         data['by_vgpu_type'])
        self.assertEqual({'vgpus': 5, 'types': {'A100-1-5C': 5},
                          'gpu_share': round(5 / 7.0, 6)},
                         data['by_project']['alpha'])
        self.assertEqual({'vgpus': 3, 'types': {'A100-1-5C': 3},
                          'gpu_share': round(3 / 7.0, 6)},
                         data['by_project']['beta'])
        self.assertEqual([], data['idle'])
        self.assertEqual([GPUS[2]], data['fenced'])
        self.assertEqual([GPUS[3]], data['draining'])
        per_gpu = {g['provider']: g for g in data['per_gpu']}
        self.assertEqual(['GPU_LOST'], per_gpu[GPUS[2]]['fenced_reasons'])
        # GPU 0 holds seven 1g.5gb slices, GPU 1 one: seven times less
        # (the scheduler's milli-GPU: a MIG slice is 1/8 of the memory).
        self.assertEqual(125, per_gpu[GPUS[1]]['used_milli'])
        self.assertEqual(7 * 125, per_gpu[GPUS[0]]['used_milli'])
        used = sum(g['used_milli'] for g in data['per_gpu'])
        self.assertEqual(used / 4000.0, data['utilization'])
        self.assertEqual({'A100-PCIE-40GB': {
            'gpus': 4, 'used_milli': used, 'utilization': used / 4000.0}},
            data['by_model'])
        # The scheduler's rate: its own per-GPU view, over every GPU.
        self.assertAlmostEqual(
            sum(g['fragmented_milli'] for g in data['per_gpu']) / 4000.0,
            data['fragmentation_rate'])
        self.assertIsInstance(data['fragmentation_rate'], float)

    def test_fragmentation_is_the_scheduler_view(self):
        calls = []
        real = gpu_level.cluster_view

        def spy(summaries, mix):
            views = real(summaries, mix)
            calls.append(views)
            return views
        with mock.patch.object(gpu_level, 'cluster_view', spy):
            out, _ = self.report('-f', 'json')
        data = json.loads(out)
        self.assertEqual(1, len(calls))
        self.assertAlmostEqual(
            sum(v.fragmented for v in calls[0]) / 4000.0,
            data['fragmentation_rate'])
        self.assertEqual(sum(v.used for v in calls[0]) / 4000.0,
                         data['utilization'])

    def test_an_idle_gpu_is_listed(self):
        with connect.connect(state_directory=self.state,
                             embedded_for='this test') as conn:
            conn.client.delete_allocations(
                '00000000-0000-0000-0000-000000000003')
        out, _ = self.report('-f', 'json')
        self.assertEqual([GPUS[1]], json.loads(out)['idle'])

    def test_table_and_plot(self):
        path = os.path.join(self.tmp, 'gpus.png')
        out, err = self.report('--plot', path)
        self.assertIn('fragmentation rate', out)
        self.assertIn('Fenced GPUs: %s' % GPUS[2], out)
        self.assertIn('wrote %s' % path, err)
        with open(path, 'rb') as f:
            self.assertEqual(PNG_MAGIC, f.read(8))

    def test_plot_without_matplotlib_is_a_usage_error(self):
        path = os.path.join(self.tmp, 'gpus.png')
        with mock.patch.dict('sys.modules', {'matplotlib': None}):
            code, _, err = self.gpuvirt('report', '--state-dir', self.state,
                                        '--plot', path)
        self.assertEqual(2, code)
        self.assertIn('--plot needs matplotlib', err)
        self.assertFalse(os.path.exists(path))

    def write_history(self):
        """Three monitor rounds on two GPUs, as the monitor writes them."""
        path = os.path.join(self.tmp, 'history.jsonl')
        with open(path, 'w') as stream:
            for t, (a, b) in ((1000.0, (10, 30)), (1060.0, (50, 70)),
                              (1120.0, (90, 10))):
                stream.write(json.dumps({'t': t, 'host': 'node01', 'gpus': {
                    '0000:3b:00.0': {'gpu_util': a},
                    '0000:5e:00.0': {'gpu_util': b}}}) + '\n')
        return path

    @staticmethod
    def png_height(path):
        with open(path, 'rb') as f:
            header = f.read(24)
        return int.from_bytes(header[20:24], 'big')

    def test_utilization_over_time_from_the_monitor_history(self):
        path = self.write_history()
        out, _ = self.report('-f', 'json', '--history', path)
        over_time = json.loads(out)['utilization_over_time']
        self.assertEqual(3, over_time['rounds'])
        self.assertEqual(1000.0, over_time['start'])
        self.assertEqual(1120.0, over_time['end'])
        self.assertEqual([[1000.0, 20.0], [1060.0, 60.0], [1120.0, 50.0]],
                         over_time['series'])
        self.assertEqual(60.0, over_time['peak'])
        out, _ = self.report('--history', path)
        self.assertIn('GPU utilization over time (monitor history): 3 '
                      'rounds', out)
        # The picture gains the chart below the slots.
        plain = os.path.join(self.tmp, 'plain.png')
        empty = placement_base.write_file(self.tmp, 'empty.jsonl', '')
        self.report('--plot', plain, '--history', empty)
        charted = os.path.join(self.tmp, 'charted.png')
        self.report('--plot', charted, '--history', path)
        self.assertGreater(self.png_height(charted),
                           self.png_height(plain) + 200)

    def test_a_missing_history_file_is_a_usage_error(self):
        code, _, err = self.gpuvirt('report', '--state-dir', self.state,
                                    '--history',
                                    os.path.join(self.tmp, 'nope.jsonl'))
        self.assertEqual(2, code)
        self.assertIn('--history', err)
        self.assertIn('history_file', err)


class TestDemoEndsWithTheReport(base.BaseTestCase):

    def test_report_and_picture_after_the_demo(self):
        tmp = placement_base.scratch_tmp(self)
        path = placement_base.write_file(tmp, 'layout.yaml',
                                         test_demo.LAYOUT)
        picture = os.path.join(tmp, 'demo.png')
        code, out, err = self.useFixture(cli_fixture.CliFixture()).cli(
            'demo', '--hosts', '1', '--requests', '5', '--layout', path,
            '--state-dir', tmp, '-f', 'json', '--plot', picture)
        self.assertEqual(0, code, err)
        # stdout stays the demo's one JSON document.
        total = json.loads(out)[-1]
        self.assertEqual('TOTAL', total['host'])
        report_text = err.split('Cluster report (gpuvirt-nova report):')[1]
        # The report reads Placement after the run: the demo's numbers.
        self.assertIn('GPUs: 2  utilization: %.1f%%'
                      % (100.0 * total['util']), report_text)
        used = sum(int(line.split()[1].split('/')[0])
                   for line in report_text.splitlines()
                   if ' reserved ' in line)
        self.assertEqual(total['used']['used'], used)
        self.assertIn('wrote %s' % picture, err)
        with open(picture, 'rb') as f:
            self.assertEqual(PNG_MAGIC, f.read(8))

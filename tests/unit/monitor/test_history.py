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

"""The utilization history the monitor writes and the report draws."""

import os

import fixtures
from oslotest import base

from gpuvirt_nova.monitor import history
from gpuvirt_nova.monitor import sample
from tests import sim_fixture
from tests.unit.monitor import helpers


def host_sample(t, utils):
    return sample.HostSample(hostname='node1', timestamp=t, gpus=[
        sample.GpuSample(address=a, metrics={'gpu_util': u,
                                             'fb_used_mib': 10,
                                             'fb_total_mib': 40})
        for a, u in utils.items()])


class HistoryTests(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                                 'monitor', 'history.jsonl')

    def test_record_skips_gpus_without_data(self):
        s = host_sample(5.0, {'0000:3b:00.0': 40})
        s.gpus.append(sample.GpuSample(address='0000:5e:00.0',
                                       present=False))
        self.assertEqual({'t': 5.0, 'host': 'node1', 'gpus': {
            '0000:3b:00.0': {'gpu_util': 40, 'fb_used_percent': 25.0}}},
            history.record(s))

    def test_written_read_back_and_drawn(self):
        writer = history.Writer(self.path, keep=100)
        for t, (a, b) in enumerate(((10, 30), (50, 70), (90, 10))):
            writer.append(host_sample(float(t), {'0000:3b:00.0': a,
                                                 '0000:5e:00.0': b}))
        records = history.load(self.path)
        self.assertEqual(3, len(records))
        self.assertEqual([(0.0, 10.0), (1.0, 50.0), (2.0, 90.0)],
                         history.series(records)['node1 0000:3b:00.0'])
        self.assertEqual([(0.0, 20.0), (1.0, 60.0), (2.0, 50.0)],
                         history.mean_series(records))

    def test_kept_to_the_last_rounds(self):
        writer = history.Writer(self.path, keep=3)
        for t in range(10):
            writer.append(host_sample(float(t), {'0000:3b:00.0': t}))
        times = [r['t'] for r in history.load(self.path)]
        self.assertLessEqual(len(times), 2 * 3)
        self.assertEqual(9.0, times[-1])
        self.assertEqual(sorted(times), times)

    def test_a_torn_line_is_skipped_and_a_missing_file_is_empty(self):
        self.assertEqual([], history.load(self.path))
        writer = history.Writer(self.path)
        writer.append(host_sample(1.0, {'0000:3b:00.0': 5}))
        with open(self.path, 'a') as stream:
            stream.write('{"t": 2.0, "gpus": {"0000:3b')
        self.assertEqual(1, len(history.load(self.path)))

    def test_an_unwritable_file_warns_once_and_never_raises(self):
        logger = self.useFixture(fixtures.FakeLogger())
        blocker = os.path.dirname(self.path)
        with open(blocker, 'w'):
            pass  # a file where the directory should be
        writer = history.Writer(self.path)
        for t in range(3):
            writer.append(host_sample(float(t), {'0000:3b:00.0': 5}))
        self.assertEqual(1, logger.output.count('history not written'))


class DaemonHistoryTests(base.BaseTestCase):

    def test_each_round_is_recorded_with_the_load_the_guests_make(self):
        sim_host = self.useFixture(sim_fixture.SimulatedHostFixture(
            '2xA100-PCIE-40GB:vfio')).host
        monitor, pf, vf = helpers.busy_monitor(sim_host)
        path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                            'h.jsonl')
        monitor.history = history.Writer(path)
        monitor.run_once()
        sim_host.detach_guest(vf)
        monitor.run_once()
        busy, idle = [r['gpus'][pf]['gpu_util']
                      for r in history.load(path)]
        self.assertGreater(busy, 0)
        self.assertEqual(0, idle)

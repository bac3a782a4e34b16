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

"""The demo's placement loop against the real Placement code."""

import json
import os
import uuid


from gpuvirt_nova.placement import demo
from gpuvirt_nova.placement import naming
from gpuvirt_nova.scheduler import gpu_level
from tests.integration.placement import base
from tests.unit.cmd import cli as cli_fixture

LAYOUT = """
# simulate: 2xA100-PCIE-40GB:mig@small
gpu_cluster:
  nodes:
    - host: small
      gpus:
        - type: A100-40GB
          vgpus:
            - {name: big, mig: 3g.20gb}
            - {name: mid, mig: 2g.10gb}
            - {name: tiny, mig: 1g.5gb}
"""


class TestDemoRun(base.PlacementTestCase):

    def setUp(self):
        super().setUp()
        self.tmp = base.scratch_tmp(self)
        path = base.write_file(self.tmp, 'layout.yaml', LAYOUT)
        layout, hints = demo.load_layout(path)
        self.prefix = self.compute_node + '-'
        self.hosts = demo.build_hosts(layout, 2, os.path.join(self.tmp, 's'),
                                      hints, prefix=self.prefix)

    def test_hosts_follow_the_simulate_hint(self):
        self.assertEqual([self.prefix + '01', self.prefix + '02'],
                         [h for h, _, _ in self.hosts])
        for _, host, offers in self.hosts:
            self.assertEqual(2, len(host.gpus))
            for offer in offers.values():
                self.assertEqual({'A100-3-20C': 1, 'A100-2-10C': 1,
                                  'A100-1-5C': 1}, offer)

    def test_usage_matches_what_was_placed(self):
        steps = []
        result = demo.run(self.client, self.hosts, 30, seed=3,
                          progress=lambda *args: steps.append(args))
        used = sum(g.used for g in result.gpus)
        self.assertEqual(result.placed - result.finished, used)
        self.assertEqual(30, result.placed + result.rejected)
        self.assertEqual(4, len(result.gpus))
        self.assertEqual((32, 32), steps[-1][:2])
        self.assertTrue(0.0 <= result.fragmentation <= 1.0)
        self.assertTrue(0.0 < result.utilization <= 1.0)

    def test_oversubscribed_stream_is_rejected_not_overbooked(self):
        result = demo.run(self.client, self.hosts, 40, seed=1,
                          finish_ratio=0.0)
        self.assertEqual(12, result.placed)
        self.assertEqual(28, result.rejected)
        for gpu in result.gpus:
            self.assertEqual(gpu.total, gpu.used)

    def test_best_fit_fills_partly_used_gpus_first(self):
        result = demo.run(self.client, self.hosts, 3, seed=0,
                          policy='best-fit', finish_ratio=0.0)
        # Three requests of at most three types: best fit never opens a
        # second GPU while the first still has a free slot of that type.
        self.assertEqual(3, result.placed)
        per_type = {}
        for gpu in result.gpus:
            for type_name, (used, _) in gpu.slots.items():
                if used:
                    per_type.setdefault(type_name, []).append(used)
        for counts in per_type.values():
            self.assertLessEqual(len(counts), 2)

    def test_ours_packs_onto_the_host_already_in_use(self):
        # A 3g then a 2g: the packing weigher keeps the second on the
        # host the first opened, leaving the other host whole.
        demo.run(self.client, self.hosts, 0)
        cluster = demo.Cluster(self.hosts, str(uuid.uuid4()), {})
        for hostname, _, _ in self.hosts:
            self.client.add_to_aggregate(
                self.client.provider_by_name(hostname)['uuid'],
                cluster.aggregate)
        stream = [('A100-3-20C', False, 0.0), ('A100-2-10C', False, 0.0)]
        result = demo.play(self.client, cluster, stream, 'ours')
        self.assertEqual(2, result.placed)
        busy = {g.host for g in result.gpus if g.used}
        self.assertEqual(1, len(busy))

    def test_ours_claims_the_scheduler_plugins_choice(self):
        demo.run(self.client, self.hosts, 5, seed=2, finish_ratio=0.0)
        rc = naming.resource_class('A100-1-5C')
        found = self.client.allocation_candidates(
            [('resources', '%s:1' % rc)])
        self.assertGreater(len(found['allocation_requests']), 1)
        self.assertIs(
            gpu_level.pick(found['provider_summaries'],
                           found['allocation_requests'], {rc: 1}),
            demo.choose(found, rc, 'ours'))
        self.assertIs(found['allocation_requests'][0],
                      demo.choose(found, rc, 'first-fit'))

    def test_compare_plays_one_stream_per_policy_on_a_fresh_cluster(self):
        results = demo.compare(self.client, self.hosts, 20, seed=4)
        self.assertEqual(list(demo.COMPARE_ORDER),
                         [r.policy for r in results])
        for result in results:
            self.assertEqual(20, result.placed + result.rejected)
            self.assertEqual(result.placed - result.finished,
                             sum(g.used for g in result.gpus))
            self.assertTrue(0.0 <= result.fragmentation <= 1.0)
        # Per-type inventories do not depend on the GPU chosen, so the
        # same stream admits the same requests under every policy.
        self.assertEqual(1, len({(r.placed, r.finished) for r in results}))
        # Each policy released what it held: the cluster is empty again.
        self.assertEqual(0, sum(g.used for g in demo.usage(self.client,
                                                           self.hosts)))

    def test_fragmentation_is_the_scheduler_rate(self):
        result = demo.run(self.client, self.hosts, 6, seed=5,
                          finish_ratio=0.0)
        # An idle GPU offering all three types can host any of them: no
        # fragmentation; the report counts only used GPUs as fragmented.
        for gpu in result.gpus:
            if not gpu.used:
                self.assertEqual(0.0, gpu.fragmented_milli)
                self.assertEqual(0, gpu.used_milli)
        self.assertAlmostEqual(
            sum(g.fragmented_milli for g in result.gpus) / 4000.0,
            result.fragmentation)


class TestDemoCommand(base.base.BaseTestCase):

    def test_demo_ends_with_a_table(self):
        tmp = base.scratch_tmp(self)
        path = base.write_file(tmp, 'layout.yaml', LAYOUT)
        code, out, err = self.useFixture(cli_fixture.CliFixture()).cli(
            'demo', '--hosts', '1', '--requests', '5', '--layout', path,
            '--state-dir', tmp, '-f', 'json')
        self.assertEqual(0, code, err)
        rows = json.loads(out)
        self.assertEqual(['node01', 'node01', 'TOTAL'],
                         [r['Host'] for r in rows])
        self.assertIn('fragmentation rate', err)
        self.assertIn('[#', err)
        self.assertEqual('ours', rows[-1]['Model'])

    def test_compare_prints_one_row_per_policy(self):
        tmp = base.scratch_tmp(self)
        path = base.write_file(tmp, 'layout.yaml', LAYOUT)
        code, out, err = self.useFixture(cli_fixture.CliFixture()).cli(
            'demo', '--hosts', '1', '--requests', '4', '--layout', path,
            '--state-dir', tmp, '--compare', '-f', 'json')
        self.assertEqual(0, code, err)
        rows = json.loads(out)
        self.assertEqual(['first-fit', 'best-fit', 'ours'],
                         [r['Policy'] for r in rows])
        for row in rows:
            self.assertEqual(4, row['Placed'] + row['Rejected'])

    def test_bad_arguments_are_rejected_before_anything_is_touched(self):
        tmp = base.scratch_tmp(self)
        for argv, expected in ((('--requests', '-1'), '--requests -1'),
                               (('--hosts', '0'), '--hosts 0')):
            code, _, err = self.useFixture(cli_fixture.CliFixture()).cli(
                'demo', '--state-dir', tmp, *argv)
            self.assertEqual(2, code, err)
            self.assertIn(expected, err)
            self.assertEqual([], os.listdir(tmp))

    def test_with_nova_runs_the_nova_demo(self):
        # The Nova demo's own argument check answers: the alias reached it
        # (booting Nova in process is covered by the functional tests).
        code, _, err = self.useFixture(cli_fixture.CliFixture()).cli(
            'demo', '--with-nova', '--hosts', '0')
        self.assertEqual(2, code, err)
        self.assertIn('--hosts must be at least 1', err)

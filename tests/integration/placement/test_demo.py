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

from gpuvirt_nova.demo import placement as demo
from gpuvirt_nova.demo import requests as demo_requests
from gpuvirt_nova import exception
from gpuvirt_nova.placement import flavors
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
        self.assertEqual(result.placed_vgpus - result.finished_vgpus, used)
        self.assertEqual(30, result.placed + result.rejected)
        self.assertEqual(4, len(result.gpus))
        self.assertEqual((32, 32), steps[-1][:2])
        self.assertTrue(0.0 <= result.fragmentation <= 1.0)
        self.assertTrue(0.0 < result.utilization <= 1.0)

    def test_oversubscribed_stream_is_rejected_not_overbooked(self):
        result = demo.run(self.client, self.hosts, 40, seed=1,
                          finish_ratio=0.0, multi_share=0.0)
        self.assertEqual(12, result.placed)
        self.assertEqual(28, result.rejected)
        for gpu in result.gpus:
            self.assertEqual(gpu.total, gpu.used)

    def test_best_fit_fills_partly_used_gpus_first(self):
        result = demo.run(self.client, self.hosts, 3, seed=0,
                          policy='best-fit', finish_ratio=0.0,
                          multi_share=0.0)
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
        results = demo.compare(self.client, self.hosts, 20, seed=4,
                               multi_share=0.0)
        self.assertEqual(list(demo.COMPARE_ORDER),
                         [r.policy for r in results])
        for result in results:
            self.assertEqual(20, result.placed + result.rejected)
            self.assertEqual(result.placed_vgpus - result.finished_vgpus,
                             sum(g.used for g in result.gpus))
            self.assertTrue(0.0 <= result.fragmentation <= 1.0)
        # Per-type inventories do not depend on the GPU chosen, so the
        # same one-vGPU stream admits the same requests under every
        # policy (a two-vGPU request may fit or not depending on where
        # the earlier ones went).
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


PAIR_LAYOUT = """
# simulate: 2xA100-PCIE-40GB:mig@pair
gpu_cluster:
  nodes:
    - host: pair
      gpus:
        - type: A100-40GB
          vgpus:
            - {name: notebook, mig: 1g.5gb, count: 7}
"""

USER = ('demo-project', 'demo-user')


class TestMultiVgpuRequests(base.PlacementTestCase):
    """Two-vGPU requests: granular groups, one claim over one or two GPUs."""

    def cluster(self, text, hosts):
        tmp = base.scratch_tmp(self)
        layout, hints = demo.load_layout(
            base.write_file(tmp, 'layout.yaml', text))
        self.hosts = demo.build_hosts(layout, hosts, os.path.join(tmp, 's'),
                                      hints, prefix=self.compute_node + '-')
        return demo.setup(self.client, self.hosts)

    def providers(self, hostname):
        """{GPU provider uuid: its name} of one host."""
        host = dict((h, model) for h, model, _ in self.hosts)[hostname]
        found = {}
        for gpu in host.gpus:
            name = naming.gpu_provider_name(hostname, gpu.address)
            found[self.client.provider_by_name(name)['uuid']] = name
        return found

    def allocations(self, consumer):
        return {uuid: alloc['resources'] for uuid, alloc in
                self.client.request('GET', '/allocations/%s' % consumer)[
                    'allocations'].items()}

    def test_two_vgpus_land_as_two_allocations_on_the_free_host(self):
        cluster = self.cluster(LAYOUT, 2)
        rc = naming.resource_class('A100-3-20C')
        first = demo.place(self.client, 'A100-3-20C', 'first-fit', USER,
                           cluster.aggregate)
        busy_gpu = list(self.allocations(first))[0]
        busy_host = next(h for h, _, _ in self.hosts
                         if busy_gpu in self.providers(h))
        free_host = next(h for h, _, _ in self.hosts if h != busy_host)
        request = demo.VgpuRequest(('A100-3-20C', 'A100-3-20C'), 'none')
        for policy in demo.POLICIES:
            consumer = demo.place(self.client, request, policy, USER,
                                  cluster.aggregate)
            self.assertIsNotNone(consumer, policy)
            # One 3g slot per GPU: the busy host has one left, so both
            # groups land on the two GPUs of the other host.
            self.assertEqual({uuid: {rc: 1}
                              for uuid in self.providers(free_host)},
                             self.allocations(consumer), policy)
            self.client.delete_allocations(consumer)

    def test_isolate_puts_the_vgpus_on_two_gpus_none_packs_one(self):
        cluster = self.cluster(PAIR_LAYOUT, 1)
        rc = naming.resource_class('A100-1-5C')
        hostname = self.hosts[0][0]
        gpus = self.providers(hostname)
        isolate = demo.VgpuRequest(('A100-1-5C', 'A100-1-5C'), 'isolate')
        consumer = demo.place(self.client, isolate, 'ours', USER,
                              cluster.aggregate)
        self.assertEqual({uuid: {rc: 1} for uuid in gpus},
                         self.allocations(consumer))
        self.client.delete_allocations(consumer)
        # With none, the scheduler's scoring keeps one GPU whole: both
        # vGPUs go to the GPU already in use.
        single = demo.place(self.client, 'A100-1-5C', 'first-fit', USER,
                            cluster.aggregate)
        used_gpu = list(self.allocations(single))[0]
        none = demo.VgpuRequest(('A100-1-5C', 'A100-1-5C'), 'none')
        consumer = demo.place(self.client, none, 'ours', USER,
                              cluster.aggregate)
        self.assertEqual({used_gpu: {rc: 2}}, self.allocations(consumer))

    def test_ours_scores_two_gpu_candidates_as_the_filter_does(self):
        cluster = self.cluster(PAIR_LAYOUT, 1)
        demo.place(self.client, 'A100-1-5C', 'first-fit', USER,
                   cluster.aggregate)
        request = demo.VgpuRequest(('A100-1-5C', 'A100-1-5C'), 'none')
        found = self.client.allocation_candidates(
            demo_requests.placement_query(request.extra_specs(),
                                          cluster.aggregate))
        spans = {len(c['allocations']) for c in found['allocation_requests']}
        self.assertEqual({1, 2}, spans)
        asked = {naming.resource_class('A100-1-5C'): 2}
        self.assertEqual(asked, request.asked())
        self.assertIs(gpu_level.pick(found['provider_summaries'],
                                     found['allocation_requests'], asked),
                      demo.choose(found, asked, 'ours'))
        best = demo.choose(found, asked, 'best-fit')
        self.assertEqual(1, len(best['allocations']))

    def test_stream_counts_requests_and_vgpus_apart(self):
        cluster = self.cluster(LAYOUT, 2)
        stream = demo.events(cluster.capacity, 30, seed=6,
                             multi_share=0.5)
        result = demo.play(self.client, cluster, stream, 'ours')
        asked = sum(demo_requests.as_request(r).vgpus for r, _, _ in stream)
        self.assertEqual(30, result.placed + result.rejected)
        self.assertEqual(asked, result.placed_vgpus + result.rejected_vgpus)
        self.assertGreater(result.placed_multi, 0)
        self.assertEqual(result.placed + result.placed_multi,
                         result.placed_vgpus)
        self.assertEqual(result.placed_vgpus - result.finished_vgpus,
                         sum(g.used for g in result.gpus))


class TestDemoRequests(base.base.BaseTestCase):
    """The request stream and the queries it makes (pure)."""

    CAPACITY = {'A100-1-5C': 14, 'A100-3-20C': 4}

    def test_share_turns_some_requests_into_two_vgpus_only(self):
        single = demo.events(self.CAPACITY, 200, seed=2, multi_share=0.0)
        mixed = demo.events(self.CAPACITY, 200, seed=2, multi_share=0.25,
                            group_policy='isolate')
        every = demo.events(self.CAPACITY, 200, seed=2, multi_share=1.0)
        self.assertEqual({1}, {r.vgpus for r, _, _ in single})
        self.assertEqual({2}, {r.vgpus for r, _, _ in every})
        doubles = [r for r, _, _ in mixed if r.vgpus == 2]
        self.assertTrue(20 < len(doubles) < 80, len(doubles))
        self.assertEqual({'isolate'}, {r.group_policy for r in doubles})
        # Same types, same finishes: only the vGPU count differs.
        self.assertEqual([(r.types[0], f, w) for r, f, w in single],
                         [(r.types[0], f, w) for r, f, w in mixed])

    def test_two_vgpus_ask_what_a_two_vgpu_flavor_asks(self):
        request = demo.VgpuRequest(('A100-2-10C', 'A100-2-10C'))
        self.assertEqual(flavors.extra_specs('A100-2-10C', 2),
                         request.extra_specs())
        rc = naming.resource_class('A100-2-10C')
        self.assertEqual(
            [('resources1', '%s:1' % rc),
             ('required1', naming.MANAGED_TRAIT), ('member_of1', 'agg'),
             ('resources2', '%s:1' % rc),
             ('required2', naming.MANAGED_TRAIT), ('member_of2', 'agg'),
             ('group_policy', 'none')],
            demo_requests.placement_query(request.extra_specs(), 'agg'))

    def test_one_vgpu_asks_the_unnumbered_group(self):
        request = demo_requests.as_request('A100-2-10C')
        self.assertEqual(
            [('resources', '%s:1' % naming.resource_class('A100-2-10C')),
             ('required', naming.MANAGED_TRAIT), ('member_of', 'agg')],
            demo_requests.placement_query(request.extra_specs(), 'agg'))

    def test_bad_share_and_group_policy_are_usage_errors(self):
        for kwargs, text in (({'multi_share': 1.5}, '--multi-vgpu-share 1.5'),
                             ({'multi_share': -0.1},
                              '--multi-vgpu-share -0.1'),
                             ({'group_policy': 'spread'},
                              '--group-policy spread')):
            error = self.assertRaises(exception.UsageError,
                                      demo.check_arguments, **kwargs)
            self.assertIn(text, str(error))


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
                         [r['host'] for r in rows])
        self.assertIn('fragmentation rate', err)
        self.assertIn('[#', err)
        self.assertEqual('ours', rows[-1]['model'])

    def test_compare_prints_one_row_per_policy(self):
        tmp = base.scratch_tmp(self)
        path = base.write_file(tmp, 'layout.yaml', LAYOUT)
        code, out, err = self.useFixture(cli_fixture.CliFixture()).cli(
            'demo', '--hosts', '1', '--requests', '4', '--layout', path,
            '--state-dir', tmp, '--compare', '-f', 'json')
        self.assertEqual(0, code, err)
        rows = json.loads(out)
        self.assertEqual(['first-fit', 'best-fit', 'ours'],
                         [r['policy'] for r in rows])
        for row in rows:
            self.assertEqual(4, row['requests_placed']
                             + row['requests_rejected'])
            self.assertGreaterEqual(row['vgpus_placed'],
                                    row['requests_placed'])

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

    def test_bad_multi_vgpu_share_exits_2_before_anything_is_touched(self):
        tmp = base.scratch_tmp(self)
        code, _, err = self.useFixture(cli_fixture.CliFixture()).cli(
            'demo', '--state-dir', tmp, '--multi-vgpu-share', '2')
        self.assertEqual(2, code, err)
        self.assertIn('--multi-vgpu-share 2.0: use a fraction', err)
        self.assertEqual([], os.listdir(tmp))

    def test_table_counts_requests_and_vgpus(self):
        tmp = base.scratch_tmp(self)
        path = base.write_file(tmp, 'layout.yaml', LAYOUT)
        code, out, err = self.useFixture(cli_fixture.CliFixture()).cli(
            'demo', '--hosts', '1', '--requests', '6', '--layout', path,
            '--state-dir', tmp, '--multi-vgpu-share', '1', '--group-policy',
            'isolate', '-f', 'json')
        self.assertEqual(0, code, err)
        total = json.loads(out)[-1]['vgpus_used_total']
        self.assertRegex(total, r'^requests: [0-9]+ placed \(([0-9]+) with '
                                r'2\+ vGPUs\)')
        placed = int(total.split()[1])
        self.assertIn('(%d with 2+ vGPUs)' % placed, total)
        self.assertIn('vGPUs: %d placed' % (2 * placed), total)


class TestDemoAgainstAnotherPlacement(base.PlacementTestCase):
    """The demo cannot harm a cloud: a Placement already holding node01."""

    def test_demo_leaves_others_alone_and_takes_everything_it_made(self):
        node = self.client.create_provider('node01')
        generation, _ = self.client.inventories(node['uuid'])
        self.client.set_inventories(node['uuid'], generation, {'VCPU': {
            'total': 8, 'reserved': 0, 'min_unit': 1, 'max_unit': 8,
            'step_size': 1, 'allocation_ratio': 1.0}})
        before = self.client.providers()
        tmp = base.scratch_tmp(self)
        path = base.write_file(tmp, 'layout.yaml', LAYOUT)
        code, out, err = self.useFixture(cli_fixture.CliFixture()).cli(
            'demo', '--hosts', '2', '--requests', '12', '--layout', path,
            '--state-dir', tmp, '--placement-url', self.service.url,
            '-f', 'json')
        self.assertEqual(0, code, err)
        hosts = {r['host'] for r in json.loads(out)} - {'TOTAL'}
        self.assertEqual(2, len(hosts))
        self.assertNotIn('node01', hosts)
        self.assertTrue(all(h.startswith('demo-') for h in hosts), hosts)
        # node01 is as it was, and nothing the demo made is left.
        self.assertEqual(before, self.client.providers())
        self.assertEqual({}, self.client.provider_allocations(node['uuid']))

    def test_a_provider_with_a_demo_host_name_stops_it_untouched(self):
        tmp = base.scratch_tmp(self)
        layout, hints = demo.load_layout(base.write_file(
            tmp, 'layout.yaml', LAYOUT))
        hosts = demo.build_hosts(layout, 1, os.path.join(tmp, 'sim'), hints,
                                 prefix='taken-%s-' % uuid.uuid4().hex[:4])
        name = hosts[0][0]
        self.client.create_provider(name)
        self.assertRaises(exception.UsageError, demo.setup, self.client,
                          hosts)
        self.assertEqual([name], [p['name'] for p in self.client.providers(
            name=name)])

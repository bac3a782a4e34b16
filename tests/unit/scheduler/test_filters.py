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

"""Nova filters and weigher, on Nova's own HostState test objects."""

import gc
import os
from unittest import mock

import fixtures
from nova import context
from nova import exception as nova_exception
from nova import objects
from nova.tests.unit.scheduler import fakes
from nova import weights
from oslo_config import fixture as config_fixture
from oslo_utils.fixture import uuidsentinel as uuids
from oslotest import base

from gpuvirt_nova import conf
from gpuvirt_nova.placement import naming
from gpuvirt_nova.scheduler import admitted as admitted_mod
from gpuvirt_nova.scheduler import filters
from gpuvirt_nova.scheduler import layout_options
from gpuvirt_nova.scheduler import reads
from gpuvirt_nova.scheduler import recent
from gpuvirt_nova.scheduler import weighers
from tests.unit.scheduler import fixtures as fx

objects.register_all()


class _Response:
    def __init__(self, body):
        self.body = body
        self.status_code = 200 if body is not None else 404

    def __bool__(self):
        return self.body is not None

    def json(self):
        return self.body


class PlacementAnswers:
    """Answers Placement GETs from a dict of URL -> JSON, counting calls."""

    def __init__(self, summaries, answers):
        self.summaries = summaries
        self.answers = answers
        self.calls = []

    def get_allocation_candidates(self, context, resources):
        self.calls.append('allocation_candidates')
        return [], self.summaries, '1.39'

    def get(self, url, version=None, global_request_id=None):
        self.calls.append(url)
        return _Response(self.answers.get(url))


def _spec(user='alice', project='p1', vgpus=1, type_name='A100-4C',
          instance=None):
    spec = objects.RequestSpec(
        user_id=user, project_id=project, num_instances=1,
        flavor=objects.Flavor(
            vcpus=2, memory_mb=1024, root_gb=10, ephemeral_gb=0, swap=0,
            extra_specs={'resources:%s' % fx.rc(type_name): str(vgpus)}),
        image=objects.ImageMeta(properties=objects.ImageMetaProps()),
        is_bfv=False, scheduler_hints={})
    if instance:
        spec.instance_uuid = instance
    return spec


def _two_hosts():
    summaries = {'cn1': fx.compute('cn1'), 'cn2': fx.compute('cn2'),
                 'g-empty': fx.gpu('cn1', {'A100-4C': 10}),
                 'g-half': fx.gpu('cn1', {'A100-4C': 10},
                                  used={'A100-4C': 5}),
                 'g-other': fx.gpu('cn2', {'A100-4C': 10})}
    host1 = fakes.FakeHostState('host1', 'node1', {
        'uuid': 'cn1', 'allocation_candidates': [
            fx.candidate('cn1', 'g-empty', 'A100-4C'),
            fx.candidate('cn1', 'g-half', 'A100-4C')]})
    host2 = fakes.FakeHostState('host2', 'node2', {
        'uuid': 'cn2', 'allocation_candidates': [
            fx.candidate('cn2', 'g-other', 'A100-4C')]})
    return summaries, host1, host2


class _Base(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.conf = self.useFixture(config_fixture.Config(conf.CONF))
        # No layout unless a test writes one (never the host's own).
        self.layout_path = os.path.join(
            self.useFixture(fixtures.TempDir()).path, 'layout.yaml')
        self.conf.config(group='gpuvirt_layout', file=self.layout_path)
        # every test starts without requests seen (see recent.py)
        self.useFixture(fixtures.MockPatchObject(
            filters, 'RECENT', recent.RecentRequests(refresh=1)))

    def write_layout(self, scheduler_block):
        with open(self.layout_path, 'w') as stream:
            stream.write('gpu_cluster:\n  nodes:\n    - host: node01\n'
                         '  scheduler:\n%s' % scheduler_block)

    def reads_for(self, summaries, answers=None, migrations=None):
        self.placement = PlacementAnswers(summaries, answers or {})
        moving = migrations or {}
        return reads.PlacementReads(
            client=self.placement,
            migrations=lambda context, uuid: moving.get(uuid, []))


class PlacementFilterTest(_Base):

    def test_small_vgpu_goes_to_the_half_full_gpu(self):
        summaries, host1, host2 = _two_hosts()
        filt = filters.VGPUPlacementFilter()
        filt.reads = self.reads_for(summaries)
        spec = _spec()
        self.assertTrue(filt.host_passes(host1, spec))
        self.assertTrue(filt.host_passes(host2, spec))
        first = host1.allocation_candidates[0]['allocations']
        self.assertIn('g-half', first)
        self.assertEqual(2, len(host1.allocation_candidates))

    def test_filter_all_orders_every_kept_host_and_weighs_them(self):
        summaries, host1, host2 = _two_hosts()
        filt = filters.VGPUPlacementFilter()
        weigher = weighers.GpuPackingWeigher()
        filt.reads = weigher.reads = self.reads_for(summaries)
        spec = _spec()
        self.assertEqual([host1, host2],
                         list(filt.filter_all([host1, host2], spec)))
        self.assertIn('g-half', host1.allocation_candidates[0]['allocations'])
        with mock.patch.object(weighers, 'host_weight') as per_host:
            half, empty = weigher.weigh_objects(
                [weights.WeighedObject(h, 0.0) for h in (host1, host2)],
                spec)
        per_host.assert_not_called()
        self.assertGreater(half, empty)
        # A host whose first candidate changed since is weighed alone.
        host1.allocation_candidates.reverse()
        with mock.patch.object(weighers, 'host_weight',
                               return_value=7.0) as per_host:
            self.assertEqual([7.0, empty], weigher.weigh_objects(
                [weights.WeighedObject(h, 0.0) for h in (host1, host2)],
                spec))
        self.assertEqual('cn1', per_host.call_args[0][1])
        self.assertEqual(['allocation_candidates'], self.placement.calls)

    def test_request_mix_keeps_the_flavor_s_required_gpu_model(self):
        summaries, _, _ = _two_hosts()
        spec = _spec()
        model = naming.gpu_model_trait('A100-PCIE-40GB')
        spec.flavor.extra_specs['trait:%s' % model] = 'required'
        mix = filters.request_mix(self.reads_for(summaries), spec)
        # usage (5 on g-half) is unconstrained; the request is not (5
        # to 1, in twentieths of a learned mix)
        self.assertEqual({fx.rc('A100-4C'): 0.85,
                          '%s@%s' % (fx.rc('A100-4C'), model): 0.15}, mix)

    def test_mix_learned_from_the_latest_requests_names_vcpus(self):
        summaries, _, _ = _two_hosts()
        self.conf.config(group='gpuvirt_scheduler', recent_requests_window=3,
                         recent_requests_minimum=2)
        mix = filters.request_mix(self.reads_for(summaries), _spec())
        # one request seen: below the minimum, the usage mix (no vCPUs)
        self.assertEqual({fx.rc('A100-4C'): 1.0}, mix)
        mix = filters.request_mix(self.reads_for(summaries), _spec())
        # two: each request's class whole, with its flavor's 2 vCPUs
        self.assertEqual({fx.rc('A100-4C') + '/2': 2.0}, mix)
        self.assertEqual(2, len(filters.RECENT))
        # the same request asked again counts once (per-request cache)
        spec = _spec(type_name='A100-8C')
        reads_ = self.reads_for(summaries)
        filters.request_mix(reads_, spec)
        filters.request_mix(reads_, spec)
        self.assertEqual(3, len(filters.RECENT))
        # a window of 3: the oldest request leaves
        mix = filters.request_mix(self.reads_for(summaries),
                                  _spec(type_name='A100-8C'))
        self.assertEqual({fx.rc('A100-4C') + '/2': 1.0,
                          fx.rc('A100-8C') + '/2': 2.0}, mix)

    def test_learned_classes_take_the_vcpus_nova_asks(self):
        summaries, _, _ = _two_hosts()
        self.conf.config(group='gpuvirt_scheduler', recent_requests_window=9,
                         recent_requests_minimum=1)
        rc = fx.rc('A100-4C')
        # the flavor's resources:VCPU overrides its 2 vCPUs
        spec = _spec()
        spec.flavor.extra_specs['resources:VCPU'] = '6'
        filters.request_mix(self.reads_for(summaries), spec)
        # the image asks pinned CPUs (PCPU): no vCPUs to count
        spec = _spec()
        spec.image.properties.hw_cpu_policy = 'dedicated'
        filters.request_mix(self.reads_for(summaries), spec)
        self.assertEqual({rc + '/6': 1, rc: 1},
                         filters.RECENT.mix(1, cover=1.0))

    def test_a_request_asked_again_counts_once(self):
        summaries, _, _ = _two_hosts()
        self.conf.config(group='gpuvirt_scheduler', recent_requests_window=9,
                         recent_requests_minimum=1)
        spec = _spec(instance=uuids.vm1)
        spec._context = context.RequestContext(request_id='req-1',
                                               is_admin=True)
        # two per-request caches (one dropped it): one count
        filters.request_mix(self.reads_for(summaries), spec)
        filters.request_mix(self.reads_for(summaries), spec)
        self.assertEqual(1, len(filters.RECENT))
        # the next server of the same boot is another request
        spec.instance_uuid = uuids.vm2
        filters.request_mix(self.reads_for(summaries), spec)
        self.assertEqual(2, len(filters.RECENT))

    def test_a_window_below_the_minimum_still_learns(self):
        summaries, _, _ = _two_hosts()
        self.conf.config(group='gpuvirt_scheduler', recent_requests_window=2,
                         recent_requests_minimum=100)
        for _ in range(2):
            mix = filters.request_mix(self.reads_for(summaries), _spec())
        self.assertEqual({fx.rc('A100-4C') + '/2': 2.0}, mix)

    def test_configured_mix_wins_and_window_zero_learns_from_usage(self):
        summaries, _, _ = _two_hosts()
        self.conf.config(group='gpuvirt_scheduler', recent_requests_minimum=1)
        self.conf.config(group='gpuvirt_scheduler',
                         typical_requests={fx.rc('A100-8C'): '1'})
        self.assertEqual({fx.rc('A100-8C'): 1.0}, filters.request_mix(
            self.reads_for(summaries), _spec()))
        self.assertEqual(0, len(filters.RECENT))
        self.conf.config(group='gpuvirt_scheduler', typical_requests={},
                         recent_requests_window=0)
        for _ in range(3):
            mix = filters.request_mix(self.reads_for(summaries), _spec())
        self.assertEqual({fx.rc('A100-4C'): 1.0}, mix)
        self.assertEqual(0, len(filters.RECENT))

    def test_a_request_of_no_vgpu_weighs_the_gpus_it_would_strand(self):
        # cn1 has 4 vCPUs left: a 2-vCPU server leaves too few for the
        # typical 4-vCPU vGPU request, stranding its idle GPU; cn2 has
        # room; cn3 and cn4 have no GPU to strand; cn5's GPU is a
        # dynamic one, which the scorer does not model.
        summaries = {'cn1': fx.compute('cn1', vcpus_used=60),
                     'cn2': fx.compute('cn2'), 'cn3': fx.compute('cn3'),
                     'cn4': fx.compute('cn4', vcpus_used=50),
                     'cn5': fx.compute('cn5'),
                     'g1': fx.gpu('cn1', {'A100-4C': 10}),
                     'g2': fx.gpu('cn2', {'A100-4C': 10}),
                     'g5': {'resources': {naming.DYNAMIC_VGPU_RC: {
                         'capacity': 7, 'used': 0}},
                         'traits': [naming.DYNAMIC_TRAIT],
                         'parent_provider_uuid': 'cn5',
                         'root_provider_uuid': 'cn5'}}
        hosts = [fakes.FakeHostState('host%d' % i, 'node%d' % i, {
            'uuid': 'cn%d' % i, 'allocation_candidates': [
                {'allocations': {'cn%d' % i: {'resources': {'VCPU': 2}}},
                 'mappings': {}}]}) for i in (1, 2, 3, 4, 5)]
        self.conf.config(group='gpuvirt_scheduler',
                         typical_requests={fx.rc('A100-4C') + '/4': '1'})
        spec = _spec()
        spec.flavor.extra_specs = {}

        def weigh(among=hosts):
            filt = filters.VGPUPlacementFilter()
            weigher = weighers.GpuPackingWeigher()
            filt.reads = weigher.reads = self.reads_for(summaries)
            filt.filter_all(among, spec)
            got = weigher.weigh_objects(
                [weights.WeighedObject(h, 0.0) for h in among], spec)
            return got, filt.reads.peek(spec, 'weights')

        got, scored = weigh()
        stranding, roomy, gpuless, busy_gpuless, dynamic = got
        self.assertEqual({'cn1', 'cn2', 'cn3', 'cn4'}, set(scored))
        self.assertLess(stranding, roomy)
        self.assertLess(roomy, gpuless)
        # hosts without GPUs weigh the same, however busy (Nova's other
        # weighers choose among them); a dynamic GPU's host weighs least
        self.assertEqual(gpuless, busy_gpuless)
        self.assertEqual(0.0, dynamic)
        # no host with GPUs among them: nothing is scored
        got, scored = weigh(hosts[2:4])
        self.assertEqual(([0.0, 0.0], {}), (got, scored))
        # a dynamic GPU's request is not one of no GPU (the geometry
        # filter's): not scored
        spec.flavor.extra_specs = {
            'resources:%s' % naming.DYNAMIC_VGPU_RC: '1'}
        self.assertEqual(([0.0] * 5, None), weigh())
        spec.flavor.extra_specs = {}
        # off, or the spread policy: every host weighs 0 (Nova decides)
        self.conf.config(group='gpuvirt_scheduler',
                         weigh_cpu_only_requests=False)
        self.assertEqual(([0.0] * 5, None), weigh())
        self.conf.config(group='gpuvirt_scheduler',
                         weigh_cpu_only_requests=True,
                         weigher_policy='spread')
        self.assertEqual(([0.0] * 5, None), weigh())

    def test_placement_read_once_per_request(self):
        summaries, host1, host2 = _two_hosts()
        host2.allocation_candidates.append(
            fx.candidate('cn2', 'g-other', 'A100-4C'))
        filt = filters.VGPUPlacementFilter()
        filt.reads = self.reads_for(summaries)
        spec = _spec()
        filt.host_passes(host1, spec)
        filt.host_passes(host2, spec)
        self.assertEqual(['allocation_candidates'], self.placement.calls)

    def test_non_vgpu_request_reads_nothing(self):
        host = fakes.FakeHostState('h', 'n', {
            'uuid': 'cn1', 'allocation_candidates': [
                {'allocations': {'cn1': {'resources': {'VCPU': 1}}}}] * 2})
        filt = filters.VGPUPlacementFilter()
        filt.reads = self.reads_for({})
        self.assertTrue(filt.host_passes(host, _spec()))
        self.assertEqual([], self.placement.calls)


class _AdmissionBase(_Base):
    """An admission filter answering from ``self.answers``."""

    FILTER = None
    #: {instance uuid: [uuids of its migrations in flight]}.
    migrations = {}
    #: The request's provider summaries (Nova's allocation candidates).
    summaries = {}

    def _filter(self, admitted=None):
        filt = self.FILTER()
        filt.reads = self.reads_for(self.summaries, self.answers,
                                    self.migrations)
        # Each check alone, unless a test shares one ledger on purpose.
        filt.admitted = admitted if admitted is not None \
            else admitted_mod.Admitted()
        return filt

    def moving(self, vgpus=1):
        """inst-1 is being moved: mig-1 holds its ``vgpus`` A100-4C."""
        self.migrations = {'inst-1': ['mig-1']}
        self.answers['/allocations/inst-1'] = {'allocations': {}}
        self.answers['/allocations/mig-1'] = {'allocations': {
            'g': {'resources': {fx.rc('A100-4C'): vgpus}}}}

    def refusal(self, spec):
        """The reason the filter refuses ``spec`` with (it must)."""
        err = self.assertRaises(nova_exception.NoValidHost,
                                self._filter().filter_all, ['h1'], spec)
        return str(err)

    def assert_passes(self, spec):
        self.assertEqual(['h1'], list(self._filter().filter_all(['h1'],
                                                                spec)))


class UserLimitFilterTest(_AdmissionBase):

    FILTER = filters.VGPUUserLimitFilter

    def setUp(self):
        super().setUp()
        self.conf.config(group='gpuvirt_scheduler', max_jobs_per_user=3)
        four = fx.rc('A100-4C')
        self.answers = {
            '/usages?project_id=p1&user_id=alice': {'usages': {four: 3}},
            '/usages?project_id=p1&user_id=bob': {'usages': {four: 1}},
        }

    def test_user_at_limit_gets_a_clear_refusal(self):
        err = self.refusal(_spec('alice'))
        self.assertIn('max_jobs_per_user is 3', err)
        self.assertIn('alice', err)

    def test_other_user_passes(self):
        self.assert_passes(_spec('bob'))

    def test_limit_from_the_layout_file_refuses_with_its_source(self):
        conf.CONF.clear_override('max_jobs_per_user',
                                 group='gpuvirt_scheduler')
        self.write_layout('    max_jobs_per_user: 3\n')
        err = self.refusal(_spec('alice'))
        self.assertIn('max_jobs_per_user is 3', err)
        self.assertIn('scheduler.max_jobs_per_user in the layout file', err)

    def test_nova_conf_limit_wins_over_the_layout_file(self):
        self.conf.config(group='gpuvirt_scheduler', max_jobs_per_user=4)
        self.write_layout('    max_jobs_per_user: 1\n')
        self.assert_passes(_spec('alice'))

    def test_broken_layout_file_falls_back_to_nova_conf(self):
        log = self.useFixture(fixtures.FakeLogger(
            name=layout_options.__name__))
        self.write_layout('    max_jobs_per_user: lots\n')
        for _ in range(2):
            err = self.refusal(_spec('alice'))
            self.assertIn('[gpuvirt_scheduler] max_jobs_per_user', err)
        self.assertEqual(1, log.output.count('is not usable'), log.output)
        self.assertIn('gpu_cluster.scheduler.max_jobs_per_user',
                      log.output)

    def test_move_of_a_held_vgpu_is_not_counted_twice(self):
        self.answers['/allocations/inst-1'] = {'allocations': {
            'g': {'resources': {fx.rc('A100-4C'): 1}}}}
        self.assert_passes(_spec('alice', instance='inst-1'))

    def test_cold_or_live_migration_at_the_limit_passes(self):
        # Nova moved the instance's allocation to the migration consumer
        # before scheduling; alice's usages still count it.
        self.moving()
        self.assert_passes(_spec('alice', instance='inst-1'))
        self.assertIn('/allocations/mig-1', self.placement.calls)

    def test_resize_adding_vgpus_is_checked_for_the_difference(self):
        self.moving()
        err = self.refusal(_spec('alice', vgpus=2, instance='inst-1'))
        self.assertIn('holds 3 vGPU(s) and asks 1 more', err)

    def test_resize_within_the_limit_passes(self):
        self.moving()
        self.answers['/usages?project_id=p1&user_id=alice'] = {
            'usages': {fx.rc('A100-4C'): 2}}
        self.assert_passes(_spec('alice', vgpus=2, instance='inst-1'))

    def test_rebuild_is_not_checked(self):
        spec = _spec('alice')
        spec.scheduler_hints = {'_nova_check_type': ['rebuild']}
        self.assert_passes(spec)

    def test_concurrent_boots_of_one_user_pass_one_at_a_time(self):
        # bob holds 1 of 3: two boots in flight together (Placement shows
        # neither claim yet) pass, the third is refused.
        ledger = admitted_mod.Admitted()
        first, second, third = (_spec('bob', instance='i%d' % i)
                                for i in (1, 2, 3))
        for spec in (first, second, third):
            self.answers['/allocations/%s' % spec.instance_uuid] = {
                'allocations': {}}
        for spec in (first, second):
            self._filter(ledger).filter_all(['h1'], spec)
        err = self.assertRaises(nova_exception.NoValidHost,
                                self._filter(ledger).filter_all, ['h1'],
                                third)
        self.assertIn('user bob in project p1 holds 3 vGPU(s)', str(err))
        # Placement shows the first claim: counted there, not twice.
        self.answers['/usages?project_id=p1&user_id=bob'] = {
            'usages': {fx.rc('A100-4C'): 2}}
        self.answers['/allocations/i1'] = {'allocations': {
            'g': {'resources': {fx.rc('A100-4C'): 1}}}}
        err = self.assertRaises(nova_exception.NoValidHost,
                                self._filter(ledger).filter_all, ['h1'],
                                third)
        self.assertIn('holds 3 vGPU(s)', str(err))
        # The second request ended without a claim: bob may boot again.
        del second, spec
        gc.collect()
        self.assertEqual(['h1'], self._filter(ledger).filter_all(['h1'],
                                                                 third))


class FairShareFilterTest(_AdmissionBase):

    FILTER = filters.VGPUFairShareFilter

    def setUp(self):
        super().setUp()
        self.conf.config(group='gpuvirt_scheduler',
                         project_weights={'p1': '1', 'p2': '1'},
                         fair_share_threshold=0.8)
        four = fx.rc('A100-4C')
        self.summaries = {
            'cn1': fx.compute('cn1'),
            'g1': fx.gpu('cn1', {'A100-4C': 10}, used={'A100-4C': 9}),
            'g2': fx.gpu('cn1', {'A100-4C': 10}, used={'A100-4C': 9})}
        self.answers = {
            '/resource_providers?required=CUSTOM_GPUVIRT_MANAGED': {
                'resource_providers': [{'uuid': 'g1'}, {'uuid': 'g2'}]},
            '/usages?project_id=p1': {'usages': {four: 17}},
            '/usages?project_id=p2': {'usages': {four: 1}},
        }

    def test_project_over_share_refused_when_busy(self):
        err = self.refusal(_spec('alice', 'p1'))
        self.assertIn('project p1', err)
        self.assertIn('fair share', err)

    def test_project_under_share_served(self):
        self.assert_passes(_spec('carol', 'p2'))

    def test_layout_pack_policy_turns_fair_share_off(self):
        self.write_layout('    policy: pack\n')
        self.assert_passes(_spec('alice', 'p1'))

    def test_layout_fair_share_policy_keeps_it_on(self):
        self.write_layout('    policy: fair-share\n')
        self.refusal(_spec('alice', 'p1'))

    def test_move_of_an_over_share_project_passes(self):
        self.moving()
        self.assert_passes(_spec('alice', 'p1', instance='inst-1'))

    def test_resize_of_an_over_share_project_adding_vgpus_refused(self):
        self.moving()
        err = self.refusal(_spec('alice', 'p1', vgpus=2, instance='inst-1'))
        self.assertIn('project p1', err)

    def test_idle_cluster_serves_everyone(self):
        for gpu in ('g1', 'g2'):
            self.summaries[gpu] = fx.gpu('cn1', {'A100-4C': 10},
                                         used={'A100-4C': 2})
        self.assert_passes(_spec('alice', 'p1'))

    def test_gpus_absent_from_the_answer_count_as_used(self):
        # Two idle GPUs answer; 18 more managed GPUs are full (Placement
        # left them out), so the cluster is 90% used, not 0%.
        for gpu in ('g1', 'g2'):
            self.summaries[gpu] = fx.gpu('cn1', {'A100-4C': 10})
        self.answers['/resource_providers?required=CUSTOM_GPUVIRT_MANAGED'] \
            = {'resource_providers': [{'uuid': 'g%d' % i}
                                      for i in range(20)]}
        self.answers['/usages?project_id=p1'] = {
            'usages': {fx.rc('A100-4C'): 120}}
        err = self.refusal(_spec('alice', 'p1'))
        self.assertIn('90% used', err)

    def _reads_per_request(self, gpus):
        self.summaries = {'cn1': fx.compute('cn1')}
        for g in range(gpus):
            self.summaries['g%d' % g] = fx.gpu('cn1', {'A100-4C': 10},
                                               used={'A100-4C': 9})
        self.answers['/resource_providers?required=CUSTOM_GPUVIRT_MANAGED'] \
            = {'resource_providers': [{'uuid': 'g%d' % g}
                                      for g in range(gpus)]}
        filt = self._filter()
        calls = []
        for _ in range(2):
            self.placement.calls[:] = []
            try:
                list(filt.filter_all(['h1'], _spec('alice', 'p1')))
            except nova_exception.NoValidHost:
                pass
            calls.append(list(self.placement.calls))
        return calls

    def test_placement_reads_do_not_grow_with_the_gpus(self):
        small = self._reads_per_request(2)
        large = self._reads_per_request(200)
        self.assertEqual(small, large)
        first, then = large
        # the request's own candidates, the project's usage, and the
        # managed GPU count (kept across requests): nothing per GPU.
        self.assertEqual(3, len(first), first)
        self.assertEqual(2, len(then), then)
        self.assertFalse([u for u in first + then
                          if u.startswith('/resource_providers/')])


class PackingWeigherTest(_Base):

    def _weights(self, policy=None):
        if policy:
            self.conf.config(group='gpuvirt_scheduler',
                             weigher_policy=policy)
        # NOTE: most vCPUs in use, so that the GPU share left is each
        # host's dominant share (the packing term).
        summaries = {'cn1': fx.compute('cn1', 60),
                     'cn2': fx.compute('cn2', 60),
                     'g1': fx.gpu('cn1', {'A100-4C': 10},
                                  used={'A100-4C': 5}),
                     'g2': fx.gpu('cn2', {'A100-4C': 10})}
        hosts = [fakes.FakeHostState('h%d' % i, 'n%d' % i, {
            'uuid': 'cn%d' % i, 'allocation_candidates': [
                fx.candidate('cn%d' % i, 'g%d' % i, 'A100-4C')]})
            for i in (1, 2)]
        weigher = weighers.GpuPackingWeigher()
        weigher.reads = self.reads_for(summaries)
        spec = _spec()
        return [weigher._weigh_object(h, spec) for h in hosts]

    def test_pack_prefers_the_partly_used_host(self):
        used, empty = self._weights('pack')
        self.assertGreater(used, empty)

    def test_spread_prefers_the_empty_host(self):
        used, empty = self._weights('spread')
        self.assertLess(used, empty)

    def test_layout_spread_policy_reaches_the_weigher(self):
        # The filter (run before the weigher) brings the layout in.
        self.write_layout('    policy: spread\n')
        filt = filters.VGPUPlacementFilter()
        filt.reads = self.reads_for({})
        filt.filter_all([], _spec())
        used, empty = self._weights()
        self.assertLess(used, empty)

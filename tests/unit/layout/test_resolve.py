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

"""Requests -> smallest profile, the waste report, and feasibility."""

from oslotest import base

from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import model
from gpuvirt_nova.layout import feasibility
from gpuvirt_nova.layout import resolve
from gpuvirt_nova.layout import spec
from tests.unit.layout import base as layout_base

A100 = 'A100-PCIE-40GB'


def resolve_one(text, model_name=None):
    layout = spec.load_text(text)
    gpu_spec = layout.nodes[0].gpus[0]
    gpu_model = catalog.load().get(model_name or gpu_spec.model_name)
    return resolve.resolve_gpu(gpu_model, gpu_spec)


def one_gpu(vgpus, gpu_type='A100-40GB', extra=''):
    return ('gpu_cluster:\n  nodes:\n    - host: n\n      gpus:\n'
            '        - type: %s\n%s          vgpus:\n%s'
            % (gpu_type, extra, ''.join('            - %s\n' % v
                                        for v in vgpus)))


class TestResolve(base.BaseTestCase):

    def test_design_example_maps_to_2g_10gb_and_reports_waste(self):
        res = resolve_one(layout_base.DESIGN_EXAMPLE)
        self.assertEqual('mig', res.mode)
        self.assertEqual(
            ['vgpu-01: 10GB, 25% -> A100-2-10C (2g.10gb), 3.6% compute '
             'unused',
             'vgpu-02: 8GB, 15% -> A100-2-10C (2g.10gb), 2GB and 13.6% '
             'compute unused'],
            [r.describe() for r in res.vgpus])

    def test_smallest_profile_meeting_both_memory_and_compute(self):
        res = resolve_one(one_gpu(['{memory: 5GB}', '{memory: 8GB}',
                                   '{memory: 8GB, compute: 14%}',
                                   '{memory: 15GB}',
                                   '{memory: 20GB, compute: 50%}',
                                   '{compute: 55%}', '{compute: 60%}']))
        self.assertEqual(['1g.5gb', '1g.10gb', '1g.10gb', '3g.20gb',
                          '4g.20gb', '4g.20gb', '7g.40gb'],
                         [r.mig_profile.name for r in res.vgpus])

    def test_time_sliced_picks_smallest_framebuffer_of_the_series(self):
        res = resolve_one(one_gpu(['{memory: 6GB}'] * 2,
                                  extra='          mode: time-sliced\n'))
        self.assertEqual(['A100-8C', 'A100-8C'],
                         [r.type_name for r in res.vgpus])
        self.assertEqual('6GB -> A100-8C (time-sliced), 2GB unused',
                         res.vgpus[0].describe().split(': ', 1)[1])

    def test_q_series_on_a_non_mig_gpu(self):
        res = resolve_one(one_gpu(['{memory: 2GB}'], 'RTX-A6000',
                                  '          series: Q\n'))
        self.assertEqual('time-sliced', res.mode)
        self.assertEqual('RTXA6000-2Q', res.vgpus[0].type_name)

    def test_explicit_profile_and_mig_entries(self):
        res = resolve_one(one_gpu(['{profile: A100-3-20C}',
                                   '{mig: 1g.5gb, start: 6}']))
        self.assertEqual(['A100-3-20C', 'A100-1-5C'],
                         [r.type_name for r in res.vgpus])
        self.assertEqual(6, res.vgpus[1].start)

    def test_explicit_time_sliced_profile_sets_the_mode(self):
        res = resolve_one(one_gpu(['{profile: A100-10C}']))
        self.assertEqual('time-sliced', res.mode)

    def test_count_expands_names(self):
        res = resolve_one(one_gpu(['{name: job, count: 3, mig: 2g.10gb}']))
        self.assertEqual(['job-1', 'job-2', 'job-3'],
                         [r.name for r in res.vgpus])

    def test_memory_too_large_names_the_field_and_the_limit(self):
        exc = self.assertRaises(exception.UsageError, resolve_one,
                                one_gpu(['{memory: 48GB}']))
        self.assertIn('gpu_cluster.nodes[0].gpus[0].vgpus[0].memory',
                      str(exc))
        self.assertIn('7g.40gb', str(exc))

    def test_mig_mode_on_a_gpu_without_mig(self):
        exc = self.assertRaises(exception.UsageError, resolve_one,
                                one_gpu(['{memory: 2GB}'], 'RTX-A6000',
                                        '          mode: mig\n'))
        self.assertIn('gpus[0].mode', str(exc))


class TestFitMig(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.a100 = catalog.load().get(A100)

    def fit(self, *names, occupied=()):
        wanted = []
        for name in names:
            profile, _, start = name.partition('@')
            wanted.append((self.a100.mig_profile(profile),
                           int(start) if start else None))
        return feasibility.fit_mig(self.a100, wanted, occupied)

    def test_seven_1g_fit_and_an_eighth_does_not(self):
        self.assertEqual([0, 1, 2, 3, 4, 5, 6],
                         sorted(p.start for p in self.fit(*['1g.5gb'] * 7)))
        self.assertIsNone(self.fit(*['1g.5gb'] * 8))

    def test_4g_plus_1g_at_slice_0_does_not_fit(self):
        self.assertIsNone(self.fit('4g.20gb', '1g.5gb@0'))
        self.assertIsNotNone(self.fit('4g.20gb', '1g.5gb'))

    def test_4g_2g_1g_is_a_valid_a100_layout(self):
        placed = self.fit('4g.20gb', '2g.10gb', '1g.5gb')
        self.assertEqual(['0:4', '4:2', '6:1'], [str(p) for p in placed])

    def test_occupied_slices_are_avoided(self):
        placed = self.fit('3g.20gb', occupied=[model.Placement(0, 4)])
        self.assertEqual('4:4', str(placed[0]))

    def test_compute_slices_are_limited_to_seven(self):
        self.assertIsNone(self.fit('4g.20gb', '3g.20gb', '1g.5gb'))


class TestFeasibility(base.BaseTestCase):

    def check(self, vgpus, gpu_type='A100-40GB', extra=''):
        feasibility.check(resolve_one(one_gpu(vgpus, gpu_type, extra)))

    def test_eight_1g_suggests_keeping_seven(self):
        exc = self.assertRaises(exception.UsageError, self.check,
                                ['{mig: 1g.5gb, count: 8}'])
        self.assertIn('8 x 1g.5gb do not fit', str(exc))
        self.assertIn('nearest feasible: keep the first 7 vGPUs', str(exc))

    def test_fixed_start_conflict_suggests_removing_start(self):
        exc = self.assertRaises(exception.UsageError, self.check,
                                ['{mig: 4g.20gb}', '{mig: 1g.5gb, start: 0}'])
        self.assertIn('remove start:', str(exc))

    def test_mixed_types_in_equal_size_mode(self):
        exc = self.assertRaises(
            exception.UsageError, self.check,
            ['{memory: 8GB}', '{memory: 10GB}'],
            extra='          mode: time-sliced\n')
        self.assertIn('equal-size mode allows one vGPU type', str(exc))
        self.assertIn('give every vGPU A100-10C', str(exc))

    def test_mixed_size_mode_accepts_different_sizes(self):
        self.check(['{memory: 8GB}', '{memory: 10GB}'],
                   extra='          mode: time-sliced\n'
                         '          scheduling: mixed-size\n')

    def test_mixed_size_total_memory(self):
        exc = self.assertRaises(
            exception.UsageError, self.check,
            ['{memory: 20GB}', '{memory: 20GB}', '{memory: 4GB}'],
            extra='          mode: time-sliced\n'
                  '          scheduling: mixed-size\n')
        self.assertIn('need 44GB of memory', str(exc))

    def test_time_sliced_maximum(self):
        exc = self.assertRaises(
            exception.UsageError, self.check, ['{memory: 10GB, count: 5}'],
            extra='          mode: time-sliced\n')
        self.assertIn('5 x A100-10C do not fit', str(exc))
        self.assertIn('keep the first 4', str(exc))

    def test_oversubscribed_compute_is_a_note_not_an_error(self):
        res = resolve_one(one_gpu(['{memory: 20GB, compute: 100%, '
                                   'count: 2}'],
                                  extra='          mode: time-sliced\n'))
        feasibility.check(res)
        self.assertIn('200%', res.notes()[0])

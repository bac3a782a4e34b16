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

"""Alert rules on sample sequences: raise, hold, clear, flapping."""

from oslotest import base

from gpuvirt_nova.monitor import rules
from gpuvirt_nova.monitor import sample

A = '0000:3b:00.0'


def host(gpus=(), vgpus=(), drift=None):
    return sample.HostSample(hostname='node1', timestamp=0.0,
                             gpus=list(gpus), vgpus=list(vgpus), drift=drift)


def gpu(util=None, present=True, dbe=None, xids=(), fb_used=None):
    metrics = {}
    if util is not None:
        metrics['gpu_util'] = util
    if dbe is not None:
        metrics['ecc_dbe_total'] = dbe
    if fb_used is not None:
        metrics.update(fb_used_mib=fb_used, fb_total_mib=100)
    return sample.GpuSample(address=A, model='A100-PCIE-40GB',
                            present=present, metrics=metrics,
                            xids=list(xids))


UTIL = rules.Rule(name='util', scope=rules.GPU, value=rules.metric('gpu_util'),
                  raise_above=98, clear_below=90, raise_after=3,
                  clear_after=2)


def run(rule_list, samples):
    """[(sample index, rule, state)] of every event over the sequence."""
    state = None
    seen = []
    for i, s in enumerate(samples):
        state, events = rules.evaluate(rule_list, state, s)
        seen.extend((i, e.rule, e.state) for e in events)
    return seen, state


class ThresholdRuleTests(base.BaseTestCase):

    def utils(self, *values):
        return run([UTIL], [host([gpu(util=v)]) for v in values])

    def test_raises_after_n_samples_over(self):
        events, state = self.utils(99, 99, 99)
        self.assertEqual([(2, 'util', rules.RAISED)], events)
        self.assertEqual([('util', rules.GPU, A)], rules.active(state))

    def test_a_dip_restarts_the_count(self):
        events, _ = self.utils(99, 99, 50, 99, 99)
        self.assertEqual([], events)

    def test_holds_once_raised(self):
        # Raised once; staying over, or between clear and raise levels,
        # raises nothing more and clears nothing.
        events, state = self.utils(99, 99, 99, 100, 95, 93, 99, 91)
        self.assertEqual([(2, 'util', rules.RAISED)], events)
        self.assertTrue(rules.active(state))

    def test_clears_after_n_samples_under(self):
        events, state = self.utils(99, 99, 99, 80, 85)
        self.assertEqual([(2, 'util', rules.RAISED),
                          (4, 'util', rules.CLEARED)], events)
        self.assertEqual([], rules.active(state))

    def test_flapping_around_the_threshold_raises_and_clears_once(self):
        # Hovering around 98 (the raise level) never falls to 90 (the
        # clear level): one alert, no storm.
        values = [99, 99, 99] + [97, 99] * 10 + [85, 85]
        events, _ = self.utils(*values)
        self.assertEqual([(2, 'util', rules.RAISED),
                          (len(values) - 1, 'util', rules.CLEARED)], events)

    def test_a_missing_metric_changes_nothing(self):
        events, _ = self.utils(99, 99, None, 99)
        self.assertEqual([(3, 'util', rules.RAISED)], events)

    def test_a_subject_that_leaves_clears_its_alert(self):
        vgpu = sample.VgpuSample(gpu_address=A, vgpu_id=1000, device='vf1',
                                 metrics={'fb_used_mib': 99,
                                          'fb_total_mib': 100})
        rule = rules.Rule(name='fb', scope=rules.VGPU,
                          value=rules.fb_used_percent, raise_above=95,
                          clear_below=90)
        events, state = run([rule], [host(vgpus=[vgpu]), host(vgpus=[]),
                                     host(vgpus=[])])
        self.assertEqual([(0, 'fb', rules.RAISED), (1, 'fb', rules.CLEARED)],
                         events)

    def test_clear_level_above_raise_level_is_refused(self):
        self.assertRaises(ValueError, rules.Rule, name='x', scope=rules.GPU,
                          value=rules.lost, raise_above=1, clear_below=2)


class Group:
    fb_used_percent = 95.0
    gpu_util_percent = 98.0
    temperature_c = 85.0
    power_percent = 98.0
    hysteresis_percent = 5.0
    raise_after_samples = 3
    clear_after_samples = 2


class ShippedRuleTests(base.BaseTestCase):

    RULES = rules.default_rules(Group)

    def events(self, samples, name):
        events, _ = run(self.RULES, samples)
        return [(i, s) for i, r, s in events if r == name]

    def test_gpu_lost_raises_at_once_and_clears_after_recovery(self):
        samples = [host([gpu()]), host([gpu(present=False)]),
                   host([gpu(present=False)]), host([gpu()]),
                   host([gpu()])]
        self.assertEqual([(1, rules.RAISED), (4, rules.CLEARED)],
                         self.events(samples, 'gpu_lost'))

    def test_new_ecc_errors_raise_not_old_ones(self):
        # The count NVML has at start is history; an increase is news.
        samples = [host([gpu(dbe=2)]), host([gpu(dbe=2)]),
                   host([gpu(dbe=3)]), host([gpu(dbe=3)]),
                   host([gpu(dbe=3)])]
        self.assertEqual([(2, rules.RAISED), (4, rules.CLEARED)],
                         self.events(samples, 'gpu_ecc_dbe'))

    def test_xid_errors_raise_once_while_they_keep_coming(self):
        samples = [host([gpu(xids=[79])]), host([gpu(xids=[79, 79])]),
                   host([gpu()]), host([gpu()])]
        self.assertEqual([(0, rules.RAISED), (3, rules.CLEARED)],
                         self.events(samples, 'gpu_xid'))

    def test_memory_overflow_with_hysteresis(self):
        values = [96, 97, 96, 92, 96, 90, 89]
        samples = [host([gpu(fb_used=v)]) for v in values]
        # Raised on the third sample over 95; 92 and 96 hold it (clear
        # level 90); 90 and 89 clear it.
        self.assertEqual([(2, rules.RAISED), (6, rules.CLEARED)],
                         self.events(samples, 'gpu_memory_overflow'))

    def test_drift_is_only_judged_when_checked(self):
        samples = [host(drift=None)] * 4 + [host(drift=['0000:3b:00.0'])] * 3
        self.assertEqual([(6, rules.RAISED)],
                         self.events(samples, 'layout_drift'))

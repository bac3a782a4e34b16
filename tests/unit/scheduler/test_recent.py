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

"""The mix learned from the latest requests."""

from oslotest import base

from gpuvirt_nova.scheduler import recent


class RecentRequestsTest(base.BaseTestCase):

    def test_nothing_below_the_minimum(self):
        seen = recent.RecentRequests(refresh=1)
        seen.record(['A/4'], window=10)
        self.assertIsNone(seen.mix(minimum=2))
        seen.record(['A/4'], window=10)
        self.assertEqual({'A/4': 2}, seen.mix(minimum=2))

    def test_the_window_keeps_the_latest(self):
        seen = recent.RecentRequests(refresh=1)
        for key in ('A', 'A', 'B', 'B', 'C'):
            seen.record([key], window=3)
        self.assertEqual(3, len(seen))
        self.assertEqual({'B': 2, 'C': 1}, seen.mix(minimum=1))

    def test_the_most_common_covering_the_share(self):
        seen = recent.RecentRequests(refresh=1)
        for key in ['A'] * 18 + ['B'] * 1 + ['C'] * 1:
            seen.record([key], window=100)
        # A alone covers 0.9; B crosses 0.95 (equal counts: by name)
        self.assertEqual({'A': 18, 'B': 1}, seen.mix(minimum=1, cover=0.95))
        self.assertEqual({'A': 18, 'B': 1, 'C': 1},
                         seen.mix(minimum=1, cover=1.0))

    def test_a_request_of_two_classes_counts_both(self):
        seen = recent.RecentRequests(refresh=1)
        seen.record(['A', 'B'], window=1)
        self.assertEqual({'A': 1, 'B': 1}, seen.mix(minimum=1))
        seen.record(['C'], window=1)
        self.assertEqual({'C': 1}, seen.mix(minimum=1))

    def test_the_mix_is_rebuilt_every_refresh_requests(self):
        seen = recent.RecentRequests(refresh=3)
        for key in ('A', 'A'):
            seen.record([key], window=100)
        self.assertEqual({'A': 2}, seen.mix(minimum=2))
        for n in range(1, 4):
            seen.record(['B'], window=100)
            got = seen.mix(minimum=2)
            if n < 3:
                # the tables cached for this mix stay valid
                self.assertEqual({'A': 2}, got, n)
        self.assertEqual({'A': 2, 'B': 3}, got)

    def test_requests_without_vgpus_and_a_zero_window_count_nothing(self):
        seen = recent.RecentRequests(refresh=1)
        seen.record([], window=10)
        seen.record(['A'], window=0)
        self.assertEqual(0, len(seen))

    def test_a_request_counts_once_while_it_is_in_the_window(self):
        seen = recent.RecentRequests(refresh=1)
        self.assertTrue(seen.record(['A'], window=2, key=('req-1', 'vm1')))
        # the filter and the weigher, or a cache that dropped it
        self.assertFalse(seen.record(['A'], window=2, key=('req-1', 'vm1')))
        # another server of the same multi-create request counts
        self.assertTrue(seen.record(['A'], window=2, key=('req-1', 'vm2')))
        self.assertEqual({'A': 2}, seen.mix(minimum=1))
        # once it has left the window it is a new request again
        self.assertTrue(seen.record(['B'], window=2, key=('req-2', 'vm3')))
        self.assertTrue(seen.record(['A'], window=2, key=('req-1', 'vm1')))
        self.assertEqual({'A': 1, 'B': 1}, seen.mix(minimum=1))
        # requests without a key count each time
        self.assertTrue(seen.record(['C'], window=2))
        self.assertTrue(seen.record(['C'], window=2))
        self.assertEqual({'C': 2}, seen.mix(minimum=1))

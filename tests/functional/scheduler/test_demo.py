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

"""``gpuvirt-nova nova demo --scheduler`` shows what it says it shows.

A user refused at the cap while another is served, fair share refusing
the over-share project while the other is served, and pack vs spread
placing the same three requests differently (one host vs both).
"""

from gpuvirt_nova.demo import nova as inprocess


class SchedulerDemoTest(inprocess.SchedulerDemo):

    def test_demo(self):
        super().test_demo()
        rows = {row[2]: row for row in self.rows}
        for name in ('alice-1', 'alice-2', 'bob-1', 'carol-1'):
            self.assertTrue(rows[name][4].startswith('ACTIVE'), rows[name])
        self.assertIn('max_jobs_per_user is 2', rows['alice-3'][4])
        self.assertIn('alice', rows['alice-3'][4])
        self.assertIn('over its fair share', rows['alice-4'][4])
        self.assertIn('research', rows['alice-4'][4])
        pack = {rows['pack-%d' % i][3] for i in (1, 2, 3)}
        spread = {rows['spread-%d' % i][3] for i in (1, 2, 3)}
        self.assertEqual(1, len(pack), self.rows)
        self.assertEqual({'compute1', 'compute2'}, spread, self.rows)

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

"""``placement sync|show|audit -f json`` carry numbers, lists, UUIDs."""

import json
import re
import uuid

from tests.integration.placement import test_cli

IDENTIFIER = re.compile(r'^[a-z][a-z0-9_]*$')


class TestPlacementJson(test_cli.CliTestCase):

    def rows(self, *argv):
        code, out, err = self.gpuvirt(*argv)
        self.assertEqual(0, code, err)
        rows = json.loads(out)
        for row in rows:
            self.assertEqual([], [k for k in row if not IDENTIFIER.match(k)])
        return rows

    def show(self, *extra):
        return self.gpuvirt('placement', 'show', '--state-dir', self.state,
                            *extra)

    def test_sync_rows_have_identifier_keys(self):
        code, out, err = self.placement('sync', '--dry-run')
        self.assertIn('create provider', out)
        self.assertNotIn('UUID', out)
        code, out, err = self.placement('sync', '-f', 'json')
        self.assertEqual(0, code, err)
        rows = json.loads(out)
        self.assertTrue(rows)
        self.assertEqual({'provider', 'provider_uuid', 'action', 'detail'},
                         set(rows[0]))
        created = [r for r in rows if r['action'] == 'create provider']
        self.assertEqual(2, len(created))
        for row in created:
            self.assertEqual(row['provider_uuid'],
                             str(uuid.UUID(row['provider_uuid'])))

    def test_show_numbers_traits_list_and_uuid(self):
        self.placement('sync')
        code, out, err = self.show('-f', 'json')
        self.assertEqual(0, code, err)
        rows = json.loads(out)
        self.assertEqual(2, len(rows))
        for row in rows:
            self.assertEqual([], [k for k in row if not IDENTIFIER.match(k)])
            self.assertEqual((2, 0, 0),
                             (row['total'], row['reserved'], row['used']))
            self.assertIsInstance(row['traits'], list)
            self.assertIn('CUSTOM_MIG_2G_10GB', row['traits'])
            self.assertTrue(all(t.startswith('CUSTOM_')
                                for t in row['traits']))
            self.assertEqual(row['provider_uuid'],
                             str(uuid.UUID(row['provider_uuid'])))

    def test_show_table_keeps_uuid_out_and_traits_one_per_line(self):
        self.placement('sync')
        code, out, err = self.show()
        self.assertEqual(0, code, err)
        self.assertNotIn('UUID', out)
        self.assertIn('| Resource class ', out)
        self.assertNotIn("['", out)
        self.assertTrue(any(line.count('CUSTOM_') == 1 and
                            'CUSTOM_MIG_2G_10GB' in line
                            for line in out.splitlines()))

    def test_audit_drift_rows_have_identifier_keys(self):
        self.placement('sync')
        code, out, err = self.placement('audit', '-f', 'json', layout=False)
        self.assertEqual(1, code, err)
        rows = json.loads(out)
        self.assertTrue(rows)
        self.assertEqual({'provider', 'drift', 'detail'}, set(rows[0]))

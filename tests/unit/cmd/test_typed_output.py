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

"""``-f json|yaml`` carries types; the table stays readable.

Each command's JSON is parsed and its numbers, lists and booleans checked
by type, and every key is an identifier: a command (or the shared helper)
that turns a value back into text fails here.
"""

import json
import os
import re

from oslotest import base
import yaml

from gpuvirt_nova.cmd import common
from tests.unit.layout import base as layout_base

IDENTIFIER = re.compile(r'^[a-z][a-z0-9_]*$')
SPEC = '2xA100-PCIE-40GB:mig'


class TestHelper(base.BaseTestCase):

    def test_column_keys_are_identifiers(self):
        self.assertEqual('resource_class', common.column_key('Resource class'))
        self.assertEqual('vfs_used_total', common.column_key('VFs used/total'))
        self.assertEqual('gpu_util', common.column_key('GPU util %'))
        self.assertEqual('drift_step_needed',
                         common.column_key('Drift (step needed)'))

    def test_a_label_without_identifier_is_refused(self):
        self.assertRaises(ValueError, common.column_key, '%')
        self.assertRaises(ValueError, common.column_key, '2nd')

    def test_machine_values_keep_their_types(self):
        value = common.machine_value(
            (3, 1.5, True, None, ('a', 'b'), {'k': (1,)}, {'y', 'x'},
             common.Cell(2048, '2GB')))
        self.assertEqual([3, 1.5, True, None, ['a', 'b'], {'k': [1]},
                          ['x', 'y'], 2048], value)

    def test_human_values_read_as_text(self):
        self.assertEqual(['yes', 'no', '-', 'a\nb', '-', 'k=1,2', '2GB', 7],
                         [common.human_value(v) for v in (
                             True, False, None, ['a', 'b'], [],
                             {'k': [1, 2]}, common.Cell(2048, '2GB'), 7)])


class CommandTestCase(layout_base.LayoutTestCase):

    def setUp(self):
        super().setUp()
        self.root = os.path.join(self.tmp, 'sim')
        self.layout = self.write_layout(layout_base.DESIGN_EXAMPLE)

    def json_of(self, *argv, expect=0, changes=False):
        """Parsed ``-f json``; also ``-f yaml`` unless the command writes."""
        rc, out, err = self.cli(*argv, '-f', 'json')
        self.assertEqual(expect, rc, err)
        data = json.loads(out)
        if not changes:
            self.assertEqual(
                yaml.safe_load(self.cli(*argv, '-f', 'yaml')[1]), data,
                'yaml and json carry the same data')
        for row in data if isinstance(data, list) else [data]:
            self.assertEqual([], [k for k in row if not IDENTIFIER.match(k)])
        return data

    def host(self, *argv):
        return argv + ('--simulate', SPEC, '--sim-root', self.root,
                       '--host', 'node01')


class TestLayoutCommands(CommandTestCase):

    def test_plan_steps_are_numbers_and_flags_booleans(self):
        rows = self.json_of(*self.host('layout', 'plan', self.layout))
        self.assertTrue(rows)
        self.assertEqual(list(range(1, len(rows) // 2 + 1)),
                         [r['step'] for r in rows
                          if r['gpu'] == rows[0]['gpu']])
        for row in rows:
            self.assertIsInstance(row['destroys'], bool)
            self.assertIsInstance(row['resets_gpu'], bool)

    def test_apply_counts_are_numbers_and_assert_lists_nothing(self):
        rows = self.json_of(*self.host('layout', 'apply', self.layout),
                            changes=True)
        self.assertEqual({'applied'}, {r['status'] for r in rows})
        for row in rows:
            self.assertIsInstance(row['steps_done'], int)
            self.assertGreater(row['steps_done'], 0)
            self.assertEqual(0, row['rolled_back'])
            self.assertIsNone(row['message'])
        self.assertEqual([], self.json_of(
            *self.host('layout', 'assert', self.layout)))

    def test_assert_drift_rows_name_gpu_and_step(self):
        rows = self.json_of(*self.host('layout', 'assert', self.layout),
                            expect=1)
        self.assertEqual({'gpu', 'drift_step_needed'}, set(rows[0]))

    def test_validate_counts_lists_and_mapping(self):
        data = self.json_of('layout', 'validate', self.layout)
        self.assertEqual(1, data['nodes'])
        self.assertEqual(1, data['gpu_entries'])
        self.assertEqual(2, data['vgpus'])
        self.assertEqual([], data['resolved_per_host'])
        self.assertEqual([], data['named_layouts'])
        self.assertEqual({'policy': 'fair-share', 'max_jobs_per_user': 3},
                         data['scheduler'])

    def test_resolve_unused_is_numbers(self):
        rows = self.json_of('layout', 'resolve', self.layout)
        self.assertEqual({'memory_mib': 2048, 'compute_percent': 13.57},
                         rows[1]['unused'])


class TestOtherCommands(CommandTestCase):

    def test_discover_document_is_typed(self):
        data = self.json_of('discover', '--simulate', SPEC)
        gpu = data['gpus'][0]
        self.assertIsInstance(gpu['memory_mib'], int)
        self.assertIsInstance(gpu['numa_node'], int)
        self.assertIs(True, gpu['mig_capable'])
        self.assertIsInstance(gpu['vfs'], list)

    def test_catalog_lists_and_numbers(self):
        rows = self.json_of('catalog', 'list')
        t4 = [r for r in rows if r['model'] == 'T4'][0]
        self.assertEqual(16384, t4['memory_mib'])
        self.assertEqual(0, t4['mig_profiles'])
        self.assertEqual(['mdev'], t4['host_vgpu_modes'])
        shown = self.json_of('catalog', 'show', 'A100-PCIE-40GB')
        self.assertEqual(40960, shown['memory_mib'])
        self.assertIsInstance(shown['mig_profiles'], list)
        self.assertIn('3g.20gb (0:4,4:4)', shown['mig_profiles'])

    def test_sim_counts_are_numbers(self):
        created = self.json_of('sim', 'create', self.root, SPEC,
                               changes=True)
        self.assertEqual(1, created['boot'])
        self.assertEqual(2, len(created['gpus']))
        rows = self.json_of('sim', 'show', self.root)
        self.assertEqual([20, 20], [r['vfs_total'] for r in rows])


class TestTableStaysReadable(CommandTestCase):

    def test_plan_table_has_labels_yes_and_dash(self):
        rc, out, err = self.cli(*self.host('layout', 'plan', self.layout))
        self.assertEqual(0, rc, err)
        self.assertIn('| GPU ', out)
        self.assertIn('Resets GPU', out)
        self.assertNotIn('True', out)
        self.assertNotIn('False', out)

    def test_table_shows_one_list_item_per_line(self):
        rc, out, err = self.cli('catalog', 'show', 'A100-PCIE-40GB')
        self.assertEqual(0, rc, err)
        self.assertNotIn("['", out)
        self.assertIn('| 3g.20gb (0:4,4:4) ', out)

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

"""The layout file's scheduler: block as [gpuvirt_scheduler] defaults."""

import os
from unittest import mock

import fixtures
from oslo_config import fixture as config_fixture
from oslotest import base

from gpuvirt_nova import conf
from gpuvirt_nova.scheduler import layout_options

LAYOUT = '''gpu_cluster:
  nodes:
    - host: node01
  scheduler:
%s
'''


def layout_text(**block):
    lines = ['    %s: %s' % item for item in block.items()]
    return LAYOUT % '\n'.join(lines)


class LayoutFileTest(base.BaseTestCase):
    """Writes layout files and watches what the options become."""

    def setUp(self):
        super().setUp()
        self.conf = self.useFixture(config_fixture.Config(conf.CONF))
        self.path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                                 'layout.yaml')
        self.conf.config(group='gpuvirt_layout', file=self.path)
        self.layout = layout_options.LayoutOptions(conf.CONF)
        self.opts = conf.CONF.gpuvirt_scheduler
        self.mtime_ns = 10 ** 18

    def write(self, text):
        """Write the layout; each write gets a later modification time."""
        with open(self.path, 'w') as stream:
            stream.write(text)
        self.mtime_ns += 10 ** 9
        os.utime(self.path, ns=(self.mtime_ns, self.mtime_ns))


class RefreshTest(LayoutFileTest):

    def test_layout_block_becomes_the_options(self):
        self.write(layout_text(policy='spread', max_jobs_per_user=3))
        self.assertEqual({'weigher_policy': 'spread', 'fair_share': False,
                          'max_jobs_per_user': 3}, self.layout.refresh())
        self.assertEqual('spread', self.opts.weigher_policy)
        self.assertFalse(self.opts.fair_share)
        self.assertEqual(3, self.opts.max_jobs_per_user)
        self.assertEqual('layout', self.layout.source_of('max_jobs_per_user'))

    def test_nova_conf_value_wins_over_the_layout(self):
        self.conf.config(group='gpuvirt_scheduler', max_jobs_per_user=5,
                         weigher_policy='pack')
        self.write(layout_text(policy='spread', max_jobs_per_user=3))
        self.layout.refresh()
        self.assertEqual(5, self.opts.max_jobs_per_user)
        self.assertEqual('pack', self.opts.weigher_policy)
        # What nova.conf does not set still comes from the layout.
        self.assertFalse(self.opts.fair_share)
        self.assertEqual('config', self.layout.source_of('max_jobs_per_user'))

    def test_without_a_file_the_defaults_stay(self):
        self.assertEqual({}, self.layout.refresh())
        self.assertEqual(0, self.opts.max_jobs_per_user)
        self.assertTrue(self.opts.fair_share)
        self.assertEqual('pack', self.opts.weigher_policy)

    def test_layout_without_scheduler_block_changes_nothing(self):
        self.write('gpu_cluster:\n  nodes:\n    - host: node01\n')
        self.assertEqual({}, self.layout.refresh())
        self.assertTrue(self.opts.fair_share)

    def test_file_read_once_while_unchanged(self):
        self.write(layout_text(max_jobs_per_user=3))
        with mock.patch.object(layout_options, 'read_options',
                               wraps=layout_options.read_options) as read:
            for _ in range(3):
                self.layout.refresh()
        self.assertEqual(1, read.call_count)

    def test_changed_file_is_read_again(self):
        self.write(layout_text(max_jobs_per_user=3))
        self.layout.refresh()
        self.write(layout_text(max_jobs_per_user=4))
        self.layout.refresh()
        self.assertEqual(4, self.opts.max_jobs_per_user)

    def test_removed_key_or_file_restores_the_option_default(self):
        self.write(layout_text(policy='spread', max_jobs_per_user=3))
        self.layout.refresh()
        self.write(layout_text(policy='spread'))
        self.layout.refresh()
        self.assertEqual(0, self.opts.max_jobs_per_user)
        os.unlink(self.path)
        self.layout.refresh()
        self.assertEqual('pack', self.opts.weigher_policy)

    def test_defaults_survive_a_configuration_reset(self):
        self.write(layout_text(max_jobs_per_user=3))
        self.layout.refresh()
        conf.CONF.clear_default('max_jobs_per_user',
                                group='gpuvirt_scheduler')
        self.layout.refresh()
        self.assertEqual(3, self.opts.max_jobs_per_user)


class BrokenLayoutTest(LayoutFileTest):

    def setUp(self):
        super().setUp()
        self.log = self.useFixture(fixtures.FakeLogger(
            name=layout_options.__name__))

    def test_broken_file_logs_one_error_and_keeps_config(self):
        self.conf.config(group='gpuvirt_scheduler', max_jobs_per_user=7)
        self.write('gpu_cluster:\n  nodes: [\n')
        for _ in range(3):
            self.assertEqual({}, self.layout.refresh())
        self.assertEqual(7, self.opts.max_jobs_per_user)
        errors = [line for line in self.log.output.splitlines()
                  if 'is not usable' in line]
        self.assertEqual(1, len(errors), self.log.output)
        self.assertIn(self.path, errors[0])
        self.assertIn('YAML syntax error', errors[0])

    def test_invalid_value_names_the_field(self):
        self.write(layout_text(policy='tetris'))
        self.layout.refresh()
        self.assertIn('gpu_cluster.scheduler.policy', self.log.output)
        self.assertEqual('pack', self.opts.weigher_policy)

    def test_layout_broken_later_falls_back_to_config(self):
        self.write(layout_text(max_jobs_per_user=3))
        self.layout.refresh()
        self.write(layout_text(max_jobs_per_user=0))
        self.layout.refresh()
        self.assertEqual(0, self.opts.max_jobs_per_user)
        self.assertIn('max_jobs_per_user', self.log.output)

    def test_unexpected_failure_never_reaches_the_scheduler(self):
        self.write(layout_text(max_jobs_per_user=3))
        with mock.patch.object(layout_options, 'apply_defaults',
                               side_effect=RuntimeError('boom')):
            self.assertEqual({}, self.layout.refresh())
        self.assertIn('boom', self.log.output)

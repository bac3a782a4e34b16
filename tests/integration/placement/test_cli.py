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

"""The placement commands end to end: simulator, layout, embedded Placement.

Each test runs the ``gpuvirt-nova`` cliff app in this process against the
embedded Placement in a fresh state directory.
"""

import io
import json
import os
from unittest import mock

import fixtures
from nova.compute import provider_config as nova_provider_config
from oslo_config import cfg
from oslotest import base
import testtools
import yaml

from gpuvirt_nova import exception
from gpuvirt_nova.placement import connect
from gpuvirt_nova.placement import drain as placement_drain
from tests.integration.placement import base as placement_base

SPEC = '2xA100-PCIE-40GB:mig'
LAYOUT = """
gpu_cluster:
  nodes:
    - host: node01
      gpus:
        - type: A100-40GB
          vgpus:
            - {name: a, memory: 10GB, compute: 25%}
            - {name: b, memory: 8GB, compute: 15%}
"""


class CliTestCase(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.tmp, self.gpuvirt, self.state = \
            placement_base.isolated_cli(self)
        self.layout = placement_base.write_file(self.tmp, 'layout.yaml',
                                                LAYOUT)

    def placement(self, command, *extra, layout=True):
        argv = ['placement', command, '--simulate', SPEC, '--host', 'node01',
                '--state-dir', self.state]
        if layout:
            argv += ['--layout', self.layout]
        return self.gpuvirt(*(argv + list(extra)))


class TestSyncShowAudit(CliTestCase):

    def test_sync_then_nothing_to_write(self):
        code, out, err = self.placement('sync', '-f', 'json')
        self.assertEqual(0, code, err)
        created = [r['provider'] for r in json.loads(out)
                   if r['action'] == 'create provider']
        self.assertEqual(['node01_pci_0000_3b_00_0',
                          'node01_pci_0000_5e_00_0'], sorted(created))
        self.assertIn('Placement API call(s)', err)
        code, out, err = self.placement('sync', '-f', 'json')
        self.assertEqual(0, code, err)
        self.assertEqual([], json.loads(out))
        self.assertIn(', 0 write)', err)

    def test_layout_change_updates_totals(self):
        self.placement('sync')
        with open(self.layout, 'w') as stream:
            stream.write(LAYOUT.replace(
                "{name: b, memory: 8GB, compute: 15%}",
                "{name: b, memory: 8GB, compute: 15%}\n"
                "            - {name: c, memory: 8GB, compute: 15%}"))
        code, out, err = self.placement('sync', '-f', 'json')
        self.assertEqual(0, code, err)
        self.assertEqual({'update inventory'},
                         {r['action'] for r in json.loads(out)})
        code, out, _ = self.gpuvirt('placement', 'show', '--host', 'node01',
                                    '--state-dir', self.state, '-f', 'json')
        self.assertEqual([3, 3], [r['total'] for r in json.loads(out)])

    def test_dry_run_changes_nothing(self):
        code, out, err = self.placement('sync', '--dry-run', '-f', 'json')
        self.assertEqual(0, code, err)
        self.assertTrue(json.loads(out))
        self.assertIn('dry run', err)
        code, out, _ = self.gpuvirt('placement', 'show', '--state-dir',
                                    self.state, '-f', 'json')
        self.assertEqual(0, code)
        self.assertEqual([], json.loads(out))

    def test_show_lists_inventory_and_usage(self):
        self.placement('sync')
        code, out, err = self.gpuvirt('placement', 'show', '--state-dir',
                                      self.state, '-f', 'json')
        self.assertEqual(0, code, err)
        rows = json.loads(out)
        self.assertEqual(2, len(rows))
        for row in rows:
            self.assertEqual('CUSTOM_VGPU_A100_2_10C', row['resource_class'])
            self.assertEqual(2, row['total'])
            self.assertEqual(0, row['used'])
            self.assertIn('CUSTOM_MIG_2G_10GB', row['traits'])

    def test_audit_exit_codes(self):
        self.placement('sync')
        code, out, err = self.placement('audit', '-f', 'json')
        self.assertEqual(0, code, err)
        self.assertEqual([], json.loads(out))
        self.assertIn('no drift', err)
        # Without the layout the GPUs offer nothing: both providers drift.
        code, out, err = self.placement('audit', '-f', 'json', layout=False)
        self.assertEqual(1, code)
        self.assertEqual({'stale provider'},
                         {r['drift'] for r in json.loads(out)})

    def test_sim_root_reads_the_host_a_layout_was_applied_to(self):
        sim_root = os.path.join(self.tmp, 'kept')
        code, _, err = self.gpuvirt('layout', 'apply', self.layout,
                                    '--simulate', SPEC + '@node01',
                                    '--sim-root', sim_root)
        self.assertEqual(0, code, err)
        # No --layout: the offers come from what the hardware now carries.
        code, out, err = self.gpuvirt('placement', 'sync', '--sim-root',
                                      sim_root, '--state-dir', self.state,
                                      '-f', 'json')
        self.assertEqual(0, code, err)
        created = [r['detail'] for r in json.loads(out)
                   if r['action'] == 'create provider']
        self.assertEqual(['A100-PCIE-40GB CUSTOM_VGPU_A100_2_10C=2'] * 2,
                         created)

    def test_sim_root_without_a_host_is_a_usage_error(self):
        missing = os.path.join(self.tmp, 'nothing')
        code, _, err = self.gpuvirt('placement', 'sync', '--sim-root',
                                    missing, '--state-dir', self.state)
        self.assertEqual(2, code)
        self.assertIn('--sim-root %s: no simulated host there' % missing,
                      err)

    def test_bad_layout_path_is_a_usage_error(self):
        code, _, err = self.gpuvirt(
            'placement', 'sync', '--simulate', SPEC, '--state-dir',
            self.state, '--layout', os.path.join(self.tmp, 'missing.yaml'))
        self.assertEqual(2, code)

    def test_bad_placement_url_is_a_usage_error(self):
        code, _, err = self.gpuvirt('placement', 'show',
                                    '--os-placement-url', 'nowhere')
        self.assertEqual(2, code)
        self.assertIn('--os-placement-url', err)

    def test_unreachable_placement_names_the_option(self):
        # Port 1 on the loopback: nothing listens, the connection is refused.
        code, _, err = self.gpuvirt('placement', 'show',
                                    '--os-placement-url',
                                    'http://127.0.0.1:1')
        self.assertEqual(1, code)
        self.assertEqual(1, len(err.strip().splitlines()), err)
        self.assertIn('--os-placement-url http://127.0.0.1:1: cannot reach '
                      'Placement', err)


class TestProviderConfig(CliTestCase):

    def test_nova_accepts_the_file(self):
        config_dir = os.path.join(self.tmp, 'provider_config')
        os.makedirs(config_dir)
        output = os.path.join(config_dir, 'gpuvirt-nova.yaml')
        code, _, err = self.gpuvirt(
            'placement', 'provider-config', '--simulate',
            '2xA100-PCIE-40GB:mig-mdev', '--host', 'node01', '--layout',
            self.layout, '--output', output)
        self.assertEqual(0, code, err)
        configs = nova_provider_config.get_provider_configs(config_dir)
        with open(output) as stream:
            document = yaml.safe_load(stream)
        names = [p['identification']['name'] for p in document['providers']]
        self.assertEqual(set(names), set(configs))
        # One provider per SR-IOV VF, as upstream Nova names them.
        self.assertTrue(names)
        self.assertTrue(all(n.startswith('node01_pci_0000_') for n in names))
        self.assertNotIn('node01_pci_0000_3b_00_0', names)
        traits = set(configs[names[0]]['traits']['additional'])
        self.assertIn('CUSTOM_MIG_2G_10GB', traits)
        self.assertIn('CUSTOM_VGPU_TYPE_A100_2_10C', traits)
        self.assertNotIn('CUSTOM_GPUVIRT_MANAGED', traits)
        self.assertNotIn('OWNER_NOVA', traits)

    def test_vendor_vfio_gpus_are_skipped_with_a_warning(self):
        code, out, err = self.gpuvirt(
            'placement', 'provider-config', '--simulate',
            '2xA100-PCIE-40GB:mig', '--host', 'node01', '--layout',
            self.layout)
        self.assertEqual(0, code, err)
        self.assertEqual([], yaml.safe_load(out)['providers'])
        self.assertIn('vendor VFIO', err)


class TestFlavorSync(CliTestCase):

    def test_dry_run_lists_one_flavor_per_offered_type(self):
        self.placement('sync')
        code, out, err = self.gpuvirt('flavor', 'sync', '--dry-run',
                                      '--state-dir', self.state, '-f', 'json')
        self.assertEqual(0, code, err)
        rows = json.loads(out)
        self.assertEqual(['vgpu.a100-2-10c'], [r['flavor'] for r in rows])
        self.assertIn('resources:CUSTOM_VGPU_A100_2_10C=1', rows[0]['detail'])

    def test_without_a_cloud_only_dry_run_works(self):
        code, _, err = self.gpuvirt('flavor', 'sync', '--type', 'A100-4C',
                                    '--state-dir', self.state)
        self.assertEqual(2, code)
        self.assertIn('--os-cloud', err)

    def test_nothing_offered_is_a_usage_error(self):
        code, _, err = self.gpuvirt('flavor', 'sync', '--dry-run',
                                    '--state-dir', self.state)
        self.assertEqual(2, code)
        self.assertIn('placement sync', err)


class TestConfiguredLayout(CliTestCase):
    """[gpuvirt_layout] file is a wish: Placement is told the hardware.

    The same rule the Nova driver follows, so both report the same offers.
    """

    def sync_with_configured(self, layout_text):
        layout = placement_base.write_file(self.tmp, 'cluster.yaml',
                                           layout_text)
        conf = placement_base.write_file(
            self.tmp, 'gpuvirt.conf', '[gpuvirt_layout]\nfile = %s\n' % layout)
        code, _, err = self.gpuvirt(
            '--config-file', conf, 'placement', 'sync', '--simulate', SPEC,
            '--host', 'node01', '--state-dir', self.state)
        self.assertEqual(0, code, err)
        code, out, err = self.gpuvirt('placement', 'show', '--state-dir',
                                      self.state, '-f', 'json')
        self.assertEqual(0, code, err)
        return json.loads(out)

    def test_configured_layout_naming_the_host_is_not_offered(self):
        # The simulated host is not carved: the file's wish is not what
        # its GPUs are, so nothing is offered until layout apply runs.
        rows = self.sync_with_configured(LAYOUT)
        self.assertNotIn('CUSTOM_VGPU_A100_2_10C',
                         {r['resource_class'] for r in rows})

    def test_layout_on_a_real_or_kept_host_is_refused(self):
        code, _, err = self.gpuvirt(
            'placement', 'sync', '--sim-root', self.tmp, '--host', 'node01',
            '--layout', self.layout, '--state-dir', self.state)
        self.assertEqual(2, code, err)
        self.assertIn('layout apply', err)

    def test_configured_layout_for_other_hosts_is_ignored(self):
        rows = self.sync_with_configured(
            LAYOUT.replace('host: node01', 'host: node99'))
        self.assertNotIn('CUSTOM_VGPU_A100_2_10C',
                         {r['resource_class'] for r in rows})


class TestNeverTheWrongPlacement(CliTestCase):
    """A real host with no Placement configured is refused, in one line."""

    def assert_refused(self, *argv):
        code, out, err = self.gpuvirt(*argv)
        self.assertEqual(2, code, err)
        refusal = err.strip().splitlines()[-1]
        self.assertIn('[gpuvirt_placement] cloud', refusal)
        self.assertIn('--os-placement-url', refusal)
        self.assertFalse(os.path.exists(os.path.join(self.state,
                                                     'placement.sqlite')))

    def test_sync_and_audit_of_a_real_host_are_refused(self):
        for command in ('sync', 'audit'):
            self.assert_refused('placement', command, '--host', 'node01',
                                '--state-dir', self.state)

    def test_flavor_sync_is_refused(self):
        self.assert_refused('flavor', 'sync', '--dry-run')

    def test_draining_a_real_host_is_refused(self):
        from gpuvirt_nova.cmd import layout as layout_cmd

        app = mock.Mock(conf=cfg.CONF, stderr=io.StringIO())
        cfg.CONF([], project='gpuvirt-nova', default_config_files=[])
        with testtools.ExpectedException(exception.UsageError,
                                         '.*none is configured.*'):
            with layout_cmd._drainer(app, True, simulated=False):
                pass

    def test_a_simulated_host_may_use_the_embedded_placement(self):
        code, out, err = self.placement('sync')
        self.assertEqual(0, code, err)
        self.assertIn('embedded Placement', err)


class TestLeftDraining(CliTestCase):
    """A drain a killed apply left behind: audit says so, undrain ends it."""

    def test_audit_reports_it_and_undrain_releases_it(self):
        code, _, err = self.placement('sync')
        self.assertEqual(0, code, err)
        gpu = '0000:3b:00.0'
        with connect.connect(state_directory=self.state,
                             embedded_for='this test') as conn:
            # What a layout apply --drain killed with -9 leaves.
            placement_drain.PlacementDrainer(conn.client).set_reserved(
                'node01', gpu, True)
        code, out, err = self.placement('audit', '-f', 'json')
        self.assertEqual(1, code, err)
        self.assertEqual([('node01_pci_0000_3b_00_0', 'left draining')],
                         [(r['provider'], r['drift'])
                          for r in json.loads(out)])

        conf = placement_base.write_file(
            self.tmp, 'gpuvirt.conf', '[gpuvirt]\nstate_dir = %s\n'
            % self.state)
        code, out, err = self.gpuvirt('--config-file', conf, 'layout',
                                      'undrain', '--host', 'node01',
                                      '--simulated', '-f', 'json')
        self.assertEqual(0, code, err)
        self.assertEqual([{'gpu': gpu, 'was_draining': True}],
                         json.loads(out))
        code, out, err = self.placement('audit')
        self.assertEqual(0, code, err)
        code, out, err = self.gpuvirt('placement', 'show', '--state-dir',
                                      self.state, '-f', 'json')
        self.assertEqual({0}, {r['reserved'] for r in json.loads(out)})


class TestFlavorSyncWithoutCompute(CliTestCase):

    def test_a_cloud_without_compute_gets_a_sentence(self):
        sdk = mock.Mock(compute=object())
        self.useFixture(fixtures.MockPatch(
            'gpuvirt_nova.placement.connect.sdk_for_cloud',
            return_value=sdk))
        code, out, err = self.gpuvirt('flavor', 'sync', '--type',
                                      'A100-2-10C', '--os-cloud', 'mycloud')
        self.assertEqual(2, code, err)
        self.assertIn('no Compute (nova) endpoint', err)
        self.assertNotIn('Proxy', err)

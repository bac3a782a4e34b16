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

"""``gpuvirt-nova doctor`` end to end: the issue's must-show hosts.

A healthy simulated host exits 0; IOMMU off, VFs disabled, a GPU on the
wrong NUMA node for the pinned CPUs, a MIG reset pending, mixed driver
branches across two hosts (Placement traits) and a stuck drain each name
the problem and its fix and exit 2. Placement is the embedded one.
"""

import json
import os

from oslotest import base
import pynvml

from gpuvirt_nova.doctor import cluster
from gpuvirt_nova.doctor import facts as facts_mod
from gpuvirt_nova.placement import audit
from gpuvirt_nova.placement import connect
from gpuvirt_nova.placement import drain as placement_drain
from gpuvirt_nova.placement import naming
from gpuvirt_nova.sim import host as sim_host_mod
from tests.integration.placement import base as placement_base

LAYOUT = """
gpu_cluster:
  nodes:
    - host: node01
      gpus:
        - type: A100-40GB
          vgpus:
            - {name: a, memory: 10GB, compute: 25%}
    - host: node02
      gpus:
        - type: A100-40GB
          vgpus:
            - {name: a, memory: 10GB, compute: 25%}
"""


def host_yaml(hostname='node01', driver='550.127.06', extra='',
              gpu='mode: mig'):
    return ('hostname: %s\ndriver_version: "%s"\n%sgpus:\n'
            '  - {model: A100-PCIE-40GB, count: 2, %s}\n'
            % (hostname, driver, extra, gpu))


class DoctorCase(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.tmp, self.gpuvirt, self.state = \
            placement_base.isolated_cli(self)
        self.layout = placement_base.write_file(self.tmp, 'layout.yaml',
                                                LAYOUT)

    def spec(self, name, text):
        return placement_base.write_file(self.tmp, name + '.yaml', text)

    def doctor(self, *argv):
        """(exit code, [finding dicts], stderr) of doctor -f json."""
        code, out, err = self.gpuvirt('doctor', '-f', 'json', *argv)
        return code, json.loads(out) if out.strip() else [], err

    def problems(self, rows):
        return [r for r in rows if r['severity'] in ('warning', 'error')]

    def assertNamed(self, rows, check, *words):
        """The error rows of ``check``: each names evidence and a fix."""
        found = [r for r in rows if r['check'] == check
                 and r['severity'] == 'error']
        self.assertTrue(found, rows)
        for row in found:
            self.assertTrue(row['fix'])
            for word in words:
                self.assertIn(word, row['evidence'] + ' ' + row['fix'])
        return found


class TestMustShow(DoctorCase):

    def test_healthy_host_exits_0(self):
        code, rows, err = self.doctor('--simulate', self.spec(
            'good', host_yaml()))
        self.assertEqual(0, code, err)
        self.assertEqual([], self.problems(rows))
        self.assertEqual(['check', 'evidence', 'fix', 'severity', 'subject'],
                         sorted(rows[0]))
        self.assertIn('doctor: 0 error(s), 0 warning(s)', err)

    def test_iommu_off(self):
        code, rows, err = self.doctor('--simulate', self.spec(
            'iommu', host_yaml(extra='iommu: false\n')))
        self.assertEqual(2, code, err)
        self.assertNamed(rows, 'iommu', 'IOMMU is off', 'intel_iommu=on')
        self.assertEqual({'iommu'}, {r['check'] for r in
                                     self.problems(rows)})

    def test_vfs_disabled(self):
        code, rows, err = self.doctor('--simulate', self.spec(
            'novfs', host_yaml(gpu='mode: vfio, vfs_enabled: false')))
        self.assertEqual(2, code, err)
        self.assertEqual(2, len(self.assertNamed(
            rows, 'sriov-vfs', 'VFs disabled', 'sriov-manage -e')))

    def test_gpu_on_the_wrong_numa_node(self):
        nova = placement_base.write_file(
            self.tmp, 'nova.conf', '[compute]\ncpu_dedicated_set = 0-15\n')
        code, rows, err = self.doctor('--simulate', self.spec(
            'numa', host_yaml(gpu='mode: mig, numa_node: 1')),
            '--nova-conf', nova)
        self.assertEqual(2, code, err)
        self.assertNamed(rows, 'numa-affinity', 'NUMA node 1',
                         'cpu_dedicated_set', '16-31,48-63')

    def test_mig_reset_pending(self):
        root = os.path.join(self.tmp, 'sim')
        sim_host = sim_host_mod.SimulatedHost.create(
            root, self.spec('node01', host_yaml()))
        nvml = sim_host.nvml()
        nvml.nvmlInit()
        nvml.nvmlDeviceSetMigMode(nvml.nvmlDeviceGetHandleByIndex(1),
                                  pynvml.NVML_DEVICE_MIG_DISABLE)
        code, rows, err = self.doctor('--sim-root', root)
        self.assertEqual(2, code, err)
        [row] = self.assertNamed(rows, 'mig-reset', 'GPU reset',
                                 'nvidia-smi -r')
        self.assertEqual('0000:5e:00.0', row['subject'])

    def test_mixed_driver_branches_across_two_hosts(self):
        for name, driver, mode in (('node01', '550.127.06', 'vfio'),
                                   ('node02', '535.216.01', 'sriov-mdev')):
            spec = self.spec(name, host_yaml(name, driver,
                                             gpu='mode: %s' % mode))
            code, _, err = self.gpuvirt(
                'placement', 'sync', '--simulate', spec, '--layout',
                self.layout, '--state-dir', self.state)
            self.assertEqual(0, code, err)
        code, rows, err = self.doctor(
            '--simulate', os.path.join(self.tmp, 'node01.yaml'),
            '--all-hosts', '--state-dir', self.state)
        self.assertEqual(2, code, err)
        [row] = self.assertNamed(rows, 'driver-branch', 'R535: node02',
                                 'R550: node01', 'same NVIDIA vGPU manager')
        self.assertEqual({'driver-branch'},
                         {r['check'] for r in self.problems(rows)})

    def test_stuck_drain(self):
        root = os.path.join(self.tmp, 'sim')
        code, _, err = self.gpuvirt(
            'layout', 'apply', self.layout, '--simulate',
            self.spec('node01', host_yaml()), '--sim-root', root,
            '--host', 'node01')
        self.assertEqual(0, code, err)
        code, _, err = self.gpuvirt('placement', 'sync', '--sim-root', root,
                                    '--state-dir', self.state)
        self.assertEqual(0, code, err)
        code, rows, err = self.doctor('--sim-root', root, '--host', 'node01',
                                      '--state-dir', self.state)
        self.assertEqual(0, code, (err, self.problems(rows)))
        with connect.connect(state_directory=self.state,
                             embedded_for='this test') as conn:
            # What a layout apply --drain killed with -9 leaves.
            placement_drain.PlacementDrainer(conn.client).set_reserved(
                'node01', '0000:3b:00.0', True)
        code, rows, err = self.doctor('--sim-root', root, '--host', 'node01',
                                      '--state-dir', self.state)
        self.assertEqual(2, code, err)
        [row] = self.assertNamed(rows, 'drain', naming.DRAINING_TRAIT,
                                 'layout undrain --host node01')
        self.assertEqual('node01_pci_0000_3b_00_0', row['subject'])
        self.assertEqual({'drain'}, {r['check'] for r in
                                     self.problems(rows)})

    def test_placement_behind_the_carve(self):
        root = os.path.join(self.tmp, 'sim')
        sim_host_mod.SimulatedHost.create(root,
                                          self.spec('node01', host_yaml()))
        code, _, err = self.gpuvirt('placement', 'sync', '--sim-root', root,
                                    '--state-dir', self.state)
        self.assertEqual(0, code, err)
        code, _, err = self.gpuvirt(
            'layout', 'apply', self.layout, '--sim-root', root,
            '--host', 'node01')
        self.assertEqual(0, code, err)
        code, rows, err = self.doctor('--sim-root', root, '--host', 'node01',
                                      '--state-dir', self.state)
        self.assertEqual(2, code, err)
        self.assertEqual({'placement-providers', 'placement-drift'},
                         {r['check'] for r in self.problems(rows)})
        self.assertIn('missing provider', ' '.join(
            r['evidence'] for r in rows if r['check'] == 'placement-drift'))
        code, _, err = self.gpuvirt('placement', 'sync', '--sim-root', root,
                                    '--state-dir', self.state)
        self.assertEqual(0, code, err)
        code, rows, err = self.doctor('--sim-root', root, '--host', 'node01',
                                      '--state-dir', self.state)
        self.assertEqual(0, code, self.problems(rows))

    def test_host_and_all_hosts_exclude_each_other(self):
        code, _, err = self.gpuvirt('doctor', '--simulate', 'A100',
                                    '--host', 'x', '--all-hosts')
        self.assertEqual(2, code)
        self.assertIn('--host and --all-hosts', err)


class TestClusterChecks(base.BaseTestCase):
    """The Placement checks over plain data."""

    def provider(self, host, driver='550', model='A100_PCIE_40GB',
                 rc='CUSTOM_VGPU_A100_2_10C', traits=()):
        return facts_mod.GpuProvider(
            name='%s_pci_0000_3b_00_0' % host, uuid=host, host=host,
            traits=frozenset({'CUSTOM_NVIDIA_DRIVER_' + driver,
                              'CUSTOM_GPU_' + model,
                              'CUSTOM_GPU_ARCH_AMPERE',
                              'CUSTOM_GPU_NUMA_0'} | set(traits)),
            inventories={rc: {'total': 3, 'reserved': 0, 'used': 0}})

    def facts(self, *providers, hosts=None, **kwargs):
        return facts_mod.ClusterFacts(
            where='test', providers=list(providers),
            hosts=hosts or sorted({p.host for p in providers}), **kwargs)

    def severities(self, findings):
        return sorted({f.severity for f in findings})

    def test_one_branch(self):
        self.assertEqual(['ok'], self.severities(cluster.check_driver_branches(
            self.facts(self.provider('a'), self.provider('b')))))

    def test_two_branches(self):
        [finding] = cluster.check_driver_branches(self.facts(
            self.provider('a'), self.provider('b', driver='535')))
        self.assertEqual('error', finding.severity)
        self.assertIn('R535: b; R550: a', finding.evidence)

    def test_pool_with_two_models(self):
        findings = cluster.check_pools(self.facts(
            self.provider('a'), self.provider('b', model='A100_SXM4_40GB')))
        self.assertEqual(['error'], self.severities(findings))
        self.assertIn('CUSTOM_GPU_A100_SXM4_40GB: b', findings[0].evidence)
        self.assertEqual(['ok'], self.severities(cluster.check_pools(
            self.facts(self.provider('a'), self.provider(
                'b', model='A100_SXM4_40GB', rc='CUSTOM_VGPU_OTHER')))))

    def test_drain_running_or_stuck(self):
        draining = self.provider('a', traits=[naming.DRAINING_TRAIT])
        self.assertEqual(['ok'], self.severities(cluster.check_drain(
            self.facts(self.provider('a')))))
        self.assertEqual(['error'], self.severities(cluster.check_drain(
            self.facts(draining))))
        self.assertEqual(['info'], self.severities(cluster.check_drain(
            self.facts(draining, apply_running={'a': 42}))))
        # Another host's drain is not this host's problem.
        self.assertEqual(['ok'], self.severities(cluster.check_drain(
            self.facts(draining, self.provider('b'), hosts=['b']))))

    def test_host_without_providers(self):
        self.assertEqual(['error'], self.severities(cluster.check_providers(
            self.facts(self.provider('a'), hosts=['z']))))

    def test_drift_but_not_the_drain_mark(self):
        items = [audit.Drift('a', audit.DRAINING, 'x')]
        self.assertEqual(['ok'], self.severities(cluster.check_drift(
            self.facts(self.provider('a'), drift=items))))
        items.append(audit.Drift('a', 'wrong traits', 'y'))
        self.assertEqual(['warning'], self.severities(cluster.check_drift(
            self.facts(self.provider('a'), drift=items))))
        self.assertEqual(['skipped'], self.severities(cluster.check_drift(
            self.facts(self.provider('a')))))

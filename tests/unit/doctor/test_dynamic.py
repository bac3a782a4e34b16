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

"""Doctor's dynamic-GPU check over simulated hosts."""

import fixtures
from oslotest import base

from gpuvirt_nova.doctor import dynamic
from gpuvirt_nova.doctor import facts as facts_mod
from gpuvirt_nova.dynamic import records
from gpuvirt_nova.hardware import discover
from gpuvirt_nova import sim
from tests import sim_fixture


class TestDynamicCheck(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        tmp = self.useFixture(fixtures.TempDir(
            rootdir=sim_fixture.scratch_dir())).path
        self.sim = sim.SimulatedHost.create(tmp, '1xA100-PCIE-40GB:mig')
        self.address = discover.discover_host(self.sim).gpus[0].address

    def facts(self, carves=None):
        host = discover.discover_host(self.sim)
        return facts_mod.HostFacts(
            hostname='node01', host=host,
            dynamic={self.address: {'owner': 'dynamic', 'series': 'C'}},
            dynamic_carves=carves or {})

    def severities(self, findings):
        return [(f.severity, f.subject) for f in findings]

    def test_no_dynamic_gpu_is_skipped(self):
        facts = self.facts()
        facts.dynamic = {}
        self.assertEqual(facts_mod.SKIPPED,
                         dynamic.check_dynamic_gpus(facts)[0].severity)

    def test_ready_gpu_is_ok(self):
        self.assertEqual([(facts_mod.OK, self.address)], self.severities(
            dynamic.check_dynamic_gpus(self.facts())))

    def test_vfs_off_after_a_reboot_is_an_error(self):
        self.sim.reboot()
        findings = dynamic.check_dynamic_gpus(self.facts())
        self.assertIn(facts_mod.ERROR, [f.severity for f in findings])
        self.assertTrue(any('SR-IOV VFs' in f.evidence for f in findings))

    def test_an_instance_no_guest_owns_is_flagged(self):
        writer = self.sim.writer()
        gi = writer.create_gpu_instance(self.address, '3g.20gb', 4)
        findings = dynamic.check_dynamic_gpus(self.facts())
        self.assertEqual([facts_mod.WARNING],
                         [f.severity for f in findings])
        self.assertIn('GPU instance %d (3g.20gb at slice 4)' % gi,
                      findings[0].evidence)
        # Once the driver's record names it, it is a guest's.
        owned = {'guest': [records.Carved(self.address, '3g.20gb', 4,
                                          'A100-3-20C', 'vf', 'x')]}
        self.assertEqual([facts_mod.OK], [
            f.severity for f in dynamic.check_dynamic_gpus(
                self.facts(owned))])


class TestDynamicTimeSlicedCheck(base.BaseTestCase):

    ENTRY = {'owner': 'dynamic', 'series': 'C', 'mode': 'time-sliced',
             'scheduling': 'mixed-size'}

    def facts(self, spec):
        tmp = self.useFixture(fixtures.TempDir(
            rootdir=sim_fixture.scratch_dir())).path
        host = discover.discover_host(sim.SimulatedHost.create(tmp, spec))
        return facts_mod.HostFacts(
            hostname='node01', host=host,
            dynamic={host.gpus[0].address: dict(self.ENTRY)},
            dynamic_carves={})

    def test_time_sliced_gpu_with_mig_off_is_ok(self):
        finding, = dynamic.check_dynamic_gpus(
            self.facts('1xA100-PCIE-40GB:vfio'))
        self.assertEqual(facts_mod.OK, finding.severity)
        self.assertIn('time-sliced (mixed-size)', finding.evidence)

    def test_mig_mode_on_is_an_error_naming_the_fix(self):
        findings = dynamic.check_dynamic_gpus(
            self.facts('1xA100-PCIE-40GB:mig'))
        self.assertEqual([facts_mod.ERROR], [f.severity for f in findings])
        self.assertIn('MIG mode is on', findings[0].evidence)
        self.assertIn('layout apply', findings[0].fix)

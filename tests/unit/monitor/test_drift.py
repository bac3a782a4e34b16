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

"""Layout drift: computed by the daemon with the layout's planner.

The alert is raised once and cleared once.
"""

import os

import fixtures
from oslotest import base

from gpuvirt_nova.demo import nova as inprocess
from gpuvirt_nova.hardware import discover
from gpuvirt_nova.layout import apply
from gpuvirt_nova.layout import plan as plan_mod
from gpuvirt_nova.layout import spec
from gpuvirt_nova.layout import target
from gpuvirt_nova.monitor import daemon
from gpuvirt_nova.monitor import drift
from gpuvirt_nova.monitor import prometheus
from gpuvirt_nova.monitor import rules
from gpuvirt_nova.monitor import sampler as sampler_mod
from gpuvirt_nova import sim
from tests import sim_fixture

TYPE = 'A100-2-10C'
LAYOUT = inprocess.layout_text(('index: [0]', TYPE, 3),
                               ('index: [1]', TYPE, 3))


class Group:
    fb_used_percent = 95.0
    gpu_util_percent = 98.0
    temperature_c = 85.0
    power_percent = 98.0
    hysteresis_percent = 5.0
    raise_after_samples = 2
    clear_after_samples = 2


class DriftedTests(base.BaseTestCase):

    def test_a_gpu_with_steps_or_blocked_drifts(self):
        plan = plan_mod.Plan(host='node1', gpus=[
            plan_mod.GpuPlan('0000:b1:00.0', 'A100', 'mig', steps=['x']),
            plan_mod.GpuPlan('0000:3b:00.0', 'A100', 'mig'),
            plan_mod.GpuPlan('0000:5e:00.0', 'A100', 'mig', blocked='no')])
        self.assertEqual(['0000:5e:00.0', '0000:b1:00.0'],
                         drift.drifted(plan))


class LayoutDriftTests(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.host = self.useFixture(sim_fixture.SimulatedHostFixture(
            '2xA100-PCIE-40GB:mig')).host
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.path = os.path.join(self.tmp, 'layout.yaml')
        self.write(LAYOUT.format(host=self.host.hostname))
        self.pf = self.host.nvml_addresses()[0]
        self.carve()

    def write(self, text):
        with open(self.path, 'w') as stream:
            stream.write(text)

    def read(self):
        return discover.discover_host(self.host)

    def carve(self):
        layout = spec.load_file(self.path)
        targets = target.resolve_node(layout.node(self.host.hostname),
                                      self.read())
        results = apply.apply(
            targets, self.read, self.host.writer(), self.host.hostname,
            read_gpu=lambda a: discover.discover_host_gpu(self.host, a))
        self.assertLessEqual({r.status for r in results},
                             {apply.APPLIED, apply.UNCHANGED})

    def untype_vf(self):
        """Someone frees a carved VF by hand: the carve leaves the layout."""
        vf = sim.vf_address(self.pf, 0)
        self.host.writer().write_sysfs(
            '/sys/bus/pci/devices/%s/nvidia/current_vgpu_type' % vf, 0)

    def test_verdict(self):
        check = drift.LayoutDrift(self.path)
        self.assertEqual([], check(self.read()))
        self.untype_vf()
        self.assertEqual([self.pf], check(self.read()))

    def test_no_layout_for_this_host_is_no_verdict(self):
        self.assertIsNone(drift.LayoutDrift(self.path, node='other')(
            self.read()))
        self.assertIsNone(drift.LayoutDrift(
            os.path.join(self.tmp, 'missing.yaml'))(self.read()))

    def test_a_broken_layout_warns_once_and_gives_no_verdict(self):
        logger = self.useFixture(fixtures.FakeLogger())
        self.write('gpu_cluster: {nodes: [{host: x, gpus: 3}]}\n')
        check = drift.LayoutDrift(self.path, node='x')
        self.assertIsNone(check(self.read()))
        self.assertIsNone(check(self.read()))
        self.assertEqual(1, logger.output.count('layout drift not checked'))
        self.assertIn(self.path, logger.output)

    def monitor(self):
        sampler = sampler_mod.Sampler(self.host.nvml(), 'node1')
        self.assertTrue(sampler.start())
        self.addCleanup(sampler.close)
        return daemon.Monitor(
            discover=self.read, sampler=sampler,
            rules=rules.default_rules(Group), clock=lambda: 1.0,
            rediscover_every=1, drift=drift.LayoutDrift(self.path))

    def drift_events(self, monitor):
        _sample, events = monitor.run_once()
        return [(e.state, e.labels['drifting_gpus']) for e in events
                if e.rule == 'layout_drift']

    def test_the_daemon_raises_once_and_clears_once(self):
        monitor = self.monitor()
        self.assertEqual([], self.drift_events(monitor))
        self.untype_vf()
        # Held for raise_after_samples, then raised once.
        self.assertEqual([], self.drift_events(monitor))
        self.assertEqual([(rules.RAISED, [self.pf])],
                         self.drift_events(monitor))
        self.assertEqual([], self.drift_events(monitor))
        self.assertEqual([], self.drift_events(monitor))
        text = prometheus.render(prometheus.make_registry(monitor.state))
        self.assertIn('gpuvirt_layout_drift_gpus{host="node1"} 1.0', text)
        # layout apply brings the carve back: cleared once.
        self.carve()
        self.assertEqual([], self.drift_events(monitor))
        self.assertEqual([(rules.CLEARED, [])], self.drift_events(monitor))
        self.assertEqual([], self.drift_events(monitor))

    def test_drift_is_read_at_each_discovery_only(self):
        monitor = self.monitor()
        monitor.rediscover_every = 100
        monitor.run_once()
        self.untype_vf()
        sample, _events = monitor.run_once()
        self.assertEqual([], sample.drift)

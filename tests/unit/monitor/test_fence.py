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

"""The fence: at once when unhealthy, released after a healthy time."""

from oslotest import base
import pynvml

from gpuvirt_nova.hardware import discover
from gpuvirt_nova.monitor import fence
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import tree
from tests import sim_fixture

A = '0000:3b:00.0'
B = '0000:5e:00.0'


def run(checks, release_after=300, marked=None):
    """[fenced dict] after each (time, unhealthy) check."""
    state = {}
    seen = []
    for i, (now, unhealthy) in enumerate(checks):
        marks = (marked or {}) if i == 0 else {}
        state, fenced = fence.step(state, now, marks, unhealthy,
                                   release_after)
        seen.append(fenced)
    return seen


class StepTests(base.BaseTestCase):

    def test_fenced_at_once(self):
        self.assertEqual([{A: fence.GPU_LOST}],
                         run([(0, {A: fence.GPU_LOST})]))

    def test_released_only_after_the_healthy_time(self):
        seen = run([(0, {A: fence.GPU_LOST}), (10, {}), (200, {}),
                    (309, {}), (310, {})])
        self.assertEqual([{A: 'gpu-lost'}] * 4 + [{}], seen)

    def test_a_relapse_restarts_the_healthy_time(self):
        seen = run([(0, {A: fence.GPU_LOST}), (10, {}),
                    (300, {A: fence.ECC_DBE}), (320, {}), (400, {}),
                    (620, {})])
        self.assertEqual({A: 'ecc-dbe'}, seen[2])
        self.assertEqual({A: 'ecc-dbe'}, seen[4])
        self.assertEqual({}, seen[5])

    def test_zero_release_time_releases_on_the_first_healthy_check(self):
        self.assertEqual([{A: 'gpu-lost'}, {}],
                         run([(0, {A: 'gpu-lost'}), (1, {})], 0))

    def test_a_mark_left_by_a_previous_run_waits_its_healthy_time(self):
        # nova-compute restarted: Placement still marks A; healthy now.
        seen = run([(1000, {}), (1200, {}), (1300, {})],
                   marked={A: fence.GPU_LOST})
        self.assertEqual([{A: 'gpu-lost'}, {A: 'gpu-lost'}, {}], seen)

    def test_other_gpus_are_untouched(self):
        seen = run([(0, {A: fence.GPU_LOST})])
        self.assertNotIn(B, seen[0])


class TreeTests(base.BaseTestCase):

    def test_an_unhealthy_gpu_is_reserved_and_marked_with_its_reason(self):
        sim_host = self.useFixture(sim_fixture.SimulatedHostFixture(
            '2xA100-PCIE-40GB:mig')).host
        host = discover.discover_host(sim_host)
        offer = {A: {'A100-2-10C': 3}, B: {'A100-3-20C': 2}}
        desired = tree.build_provider_tree('cn1', host, offer,
                                           unhealthy={A: fence.GPU_LOST})
        sick = desired.provider(naming.gpu_provider_name('cn1', A))
        well = desired.provider(naming.gpu_provider_name('cn1', B))
        for inv in sick.inventories.values():
            self.assertEqual(inv.total, inv.reserved)
        self.assertIn(naming.UNHEALTHY_TRAIT, sick.traits)
        self.assertIn('CUSTOM_GPUVIRT_UNHEALTHY_GPU_LOST', sick.traits)
        for inv in well.inventories.values():
            self.assertEqual(0, inv.reserved)
        self.assertNotIn(naming.UNHEALTHY_TRAIT, well.traits)
        # The marks are what a restarted driver reads back.
        self.assertEqual({A: 'gpu-lost'}, tree.unhealthy_addresses(
            [(p.name, p.traits) for p in desired.providers], 'cn1'))
        # Both traits are the package's: removed once the GPU is healthy.
        self.assertTrue(all(naming.is_package_trait(t) for t in
                            (naming.UNHEALTHY_TRAIT,
                             naming.unhealthy_trait('gpu-lost'))))


class XidReasonTests(base.BaseTestCase):

    def test_the_last_critical_xid_names_the_reason(self):
        self.assertEqual('xid-48', fence.xid_reason([79, 13, 48], {48, 79}))
        self.assertIsNone(fence.xid_reason([13, 31, 43], {48, 79}))
        self.assertIsNone(fence.xid_reason([79], ()))

    def test_reasons_make_traits_and_come_back(self):
        for reason in ('xid-79', fence.NVML_TIMEOUT, fence.NVML_ERROR):
            trait = naming.unhealthy_trait(reason)
            self.assertEqual(reason, naming.unhealthy_reason(
                {naming.UNHEALTHY_TRAIT, trait}))


class HealthProbeTests(base.BaseTestCase):
    """NVML's view of each GPU's health, on the simulator."""

    CRITICAL = (48, 79)

    def setUp(self):
        super().setUp()
        self.sim = self.useFixture(sim_fixture.SimulatedHostFixture(
            '2xA100-PCIE-40GB:vfio')).host
        self.a, self.b = self.sim.nvml_addresses()
        self.health = fence.HealthProbe(self.sim.nvml(), self.CRITICAL)
        self.addCleanup(self.health.close)

    def check(self):
        return self.health.check([self.a, self.b])

    def test_healthy(self):
        self.assertEqual({}, self.check())

    def test_a_critical_xid_fences_that_gpu_once_seen(self):
        self.assertEqual({}, self.check())  # watching from now on
        self.sim.inject_xid(self.a, 79)
        self.assertEqual({self.a: 'xid-79'}, self.check())
        # Consumed: the next check judges the GPU afresh.
        self.assertEqual({}, self.check())

    def test_an_application_xid_fences_nothing(self):
        self.check()
        self.sim.inject_xid(self.a, 13)  # graphics engine exception
        self.sim.inject_xid(self.b, 43)  # a guest's application stopped
        self.assertEqual({}, self.check())

    def test_lost_wins_over_a_xid(self):
        self.check()
        self.sim.inject_xid(self.a, 79)
        self.sim.set_gpu_lost(self.a)
        self.assertEqual({self.a: fence.GPU_LOST}, self.check())

    def test_a_timeout_on_one_gpu_fences_it_alone(self):
        self.sim.set_gpu_nvml_error(self.b, pynvml.NVML_ERROR_TIMEOUT)
        self.assertEqual({self.b: fence.NVML_TIMEOUT}, self.check())
        self.sim.set_gpu_nvml_error(self.b, pynvml.NVML_ERROR_UNKNOWN)
        self.assertEqual({self.b: fence.NVML_ERROR}, self.check())
        self.sim.set_gpu_nvml_error(self.b, None)
        self.assertEqual({}, self.check())

    def test_version_mismatch_is_no_verdict_on_any_gpu(self):
        self.sim.inject_failure(
            'nvmlInit', nvml_error=pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH)
        exc = self.assertRaises(fence.HealthUnknown, self.check)
        self.assertIn('mismatch', str(exc).lower())
        # The next check starts NVML again.
        self.assertEqual({}, self.check())

    def test_version_mismatch_mid_session_restarts_nvml(self):
        self.check()
        self.sim.inject_failure(
            'nvmlDeviceGetUUID',
            nvml_error=pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH)
        self.assertRaises(fence.HealthUnknown, self.check)
        self.assertIsNone(self.health.sampler)
        self.assertEqual({}, self.check())

    def test_no_nvml_or_no_driver_is_healthy(self):
        self.assertEqual({}, fence.HealthProbe(None).check([self.a]))
        self.sim.inject_failure(
            'nvmlInit', nvml_error=pynvml.NVML_ERROR_DRIVER_NOT_LOADED)
        self.assertEqual({}, self.check())

    def test_one_shot_probe_still_reads_lost_and_ecc(self):
        self.sim.set_gpu_lost(self.a)
        self.sim.set_telemetry(self.b, ecc_dbe_total=2)
        self.assertEqual({self.a: fence.GPU_LOST, self.b: fence.ECC_DBE},
                         fence.probe(self.sim.nvml(), [self.a, self.b]))

    def test_a_gpu_that_could_not_be_watched_is_watched_later(self):
        self.sim.inject_failure('nvmlDeviceRegisterEvents',
                                nvml_error=pynvml.NVML_ERROR_UNKNOWN)
        self.assertEqual({}, self.check())  # A not watched yet
        self.assertEqual({}, self.check())  # now it is
        self.sim.inject_xid(self.a, 79)
        self.assertEqual({self.a: 'xid-79'}, self.check())

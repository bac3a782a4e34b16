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

"""Apply on the simulator: idempotence, restore, isolation, rollback, drain."""

from gpuvirt_nova.layout import apply
from gpuvirt_nova.layout import drain
from gpuvirt_nova.layout import plan
from tests.unit.layout import base

TWO_GPUS = '''
gpu_cluster:
  nodes:
    - host: node01
      gpus:
        - type: A100-40GB
          vgpus:
            - {name: a, memory: 10GB, compute: 25%}
            - {name: b, memory: 8GB, compute: 15%}
            - {name: c, mig: 1g.5gb}
'''

TIME_SLICED = '''
gpu_cluster:
  nodes:
    - host: node01
      gpus:
        - type: %s
          mode: time-sliced
          vgpus:
            - {name: v, count: 3, memory: 4GB}
'''


class RecordingDrainer(drain.Drainer):
    """Stands in for Placement: records calls, drains after N polls."""

    def __init__(self, busy_polls=1):
        self.calls = []
        self.busy_polls = busy_polls

    def set_reserved(self, host, gpu_address, reserved):
        self.calls.append(('reserved', gpu_address, reserved))

    def has_allocations(self, host, gpu_address):
        self.calls.append(('poll', gpu_address))
        self.busy_polls -= 1
        return self.busy_polls >= 0


class TestApply(base.LayoutTestCase):

    def apply(self, text, sim_host, **options):
        return self.apply_layout(text, sim_host,
                                 options=apply.Options(**options))

    def assert_matches(self, text, sim_host):
        the_plan = plan.make_plan(self.targets(text, sim_host),
                                  self.read(sim_host))
        self.assertEqual([], [s.describe() for s in the_plan.steps])

    def test_apply_twice_changes_nothing_the_second_time(self):
        sim_host = self.sim_host('2xA100-PCIE-40GB:mig@node01')
        first = self.apply(TWO_GPUS, sim_host)
        self.assertEqual([apply.APPLIED] * 2, [r.status for r in first])
        journal = sim_host.journal_entries()
        second = self.apply(TWO_GPUS, sim_host)
        self.assertEqual([apply.UNCHANGED] * 2, [r.status for r in second])
        self.assertEqual(journal, sim_host.journal_entries())
        self.assert_matches(TWO_GPUS, sim_host)

    def test_reboot_then_boot_apply_restores_the_exact_state(self):
        sim_host = self.sim_host('2xA100-PCIE-40GB:mig@node01')
        self.apply(TWO_GPUS, sim_host)
        before = self.state(sim_host)
        sim_host.reboot()
        self.assertNotEqual(before, self.state(sim_host))
        results = self.apply(TWO_GPUS, sim_host, force=True)
        self.assertEqual([apply.APPLIED] * 2, [r.status for r in results])
        self.assertEqual(before, self.state(sim_host))
        self.assert_matches(TWO_GPUS, sim_host)

    def test_hopper_reboot_sets_mig_mode_again_without_reset(self):
        sim_host = self.sim_host('1xH100-PCIE-80GB:mig@node01')
        text = TWO_GPUS.replace('A100-40GB', 'H100-PCIE-80GB') \
            .replace('1g.5gb', '1g.10gb')
        self.apply(text, sim_host)
        sim_host.reboot()
        self.assertFalse(self.read(sim_host).gpus[0].mig_current)
        results = self.apply(text, sim_host, force=True)
        self.assertEqual(apply.APPLIED, results[0].status)
        self.assertIn('set MIG mode on (no reset)', results[0].done[0])
        self.assert_matches(text, sim_host)

    def test_failure_on_one_gpu_leaves_it_as_it_was_and_others_applied(self):
        sim_host = self.sim_host('2xA100-PCIE-40GB:mig@node01')
        host = self.read(sim_host)
        second = host.gpus[1]
        before = self.state(sim_host)[1]
        # The second vGPU of the second GPU goes to its second VF: fail
        # there, after its GPU instances and first vGPU were made.
        sim_host.inject_failure('/sys/bus/pci/devices/%s/nvidia/'
                                'current_vgpu_type' % second.vfs[1].address)
        results = self.apply(TWO_GPUS, sim_host)
        self.assertEqual([apply.APPLIED, apply.FAILED],
                         [r.status for r in results])
        self.assertIn('injected failure', results[1].message)
        self.assertGreater(len(results[1].rolled_back), 0)
        after = self.state(sim_host)
        self.assertEqual(before, after[1])
        self.assertEqual(3, len(after[0]['gpu_instances']))

    def test_destroying_slices_needs_drain_or_force(self):
        sim_host = self.sim_host('1xA100-PCIE-40GB:mig@node01')
        self.apply(TWO_GPUS, sim_host)
        before = self.state(sim_host)
        other = TWO_GPUS.replace('1g.5gb', '3g.20gb')
        results = self.apply(other, sim_host)
        self.assertEqual(apply.SKIPPED, results[0].status)
        self.assertIn('--drain', results[0].message)
        self.assertEqual(before, self.state(sim_host))
        results = self.apply(other, sim_host, force=True)
        self.assertEqual(apply.APPLIED, results[0].status)
        self.assert_matches(other, sim_host)

    def test_mig_on_for_an_empty_ampere_gpu_resets_without_drain(self):
        sim_host = self.sim_host('1xA100-PCIE-40GB:vfio@node01')
        self.assertFalse(self.read(sim_host).gpus[0].mig_current)
        results = self.apply(TWO_GPUS, sim_host)
        self.assertEqual(apply.APPLIED, results[0].status)
        self.assertIn('set MIG mode on (needs a GPU reset)',
                      ' '.join(results[0].done))
        self.assertTrue(self.read(sim_host).gpus[0].mig_current)
        self.assert_matches(TWO_GPUS, sim_host)

    def test_drain_reserves_waits_and_releases(self):
        sim_host = self.sim_host('1xA100-PCIE-40GB:mig@node01')
        self.apply(TWO_GPUS, sim_host)
        drainer = RecordingDrainer(busy_polls=2)
        other = TWO_GPUS.replace('1g.5gb', '3g.20gb')
        results = self.apply(other, sim_host, drainer=drainer,
                             drain_interval=0)
        address = results[0].address
        self.assertEqual(apply.APPLIED, results[0].status)
        self.assertEqual(('reserved', address, True), drainer.calls[0])
        self.assertEqual(3, drainer.calls.count(('poll', address)))
        self.assertEqual(('reserved', address, False), drainer.calls[-1])

    def test_drain_timeout_skips_the_gpu_and_releases_it(self):
        sim_host = self.sim_host('1xA100-PCIE-40GB:mig@node01')
        self.apply(TWO_GPUS, sim_host)
        before = self.state(sim_host)
        drainer = RecordingDrainer(busy_polls=10 ** 6)
        results = self.apply(TWO_GPUS.replace('1g.5gb', '3g.20gb'),
                             sim_host, drainer=drainer, drain_timeout=0,
                             drain_interval=0)
        self.assertEqual(apply.SKIPPED, results[0].status)
        self.assertIn('still has allocations', results[0].message)
        self.assertEqual(('reserved', results[0].address, False),
                         drainer.calls[-1])
        self.assertEqual(before, self.state(sim_host))

    def test_mdev_host_gets_mdevs_with_stable_uuids(self):
        sim_host = self.sim_host('1xT4:mdev@node01')
        text = TIME_SLICED % 'T4'
        results = self.apply(text, sim_host)
        self.assertEqual(apply.APPLIED, results[0].status)
        gpu = self.read(sim_host).gpus[0]
        self.assertEqual(
            sorted(plan.mdev_uuid('node01', gpu.address, 'v-%d' % i)
                   for i in (1, 2, 3)),
            sorted(m.uuid for m in gpu.mdevs))
        self.assert_matches(text, sim_host)

    def test_sriov_mdev_host_puts_one_mdev_per_vf(self):
        sim_host = self.sim_host('1xA100-PCIE-40GB:sriov-mdev@node01')
        text = TIME_SLICED % 'A100-40GB'
        self.apply(text, sim_host)
        gpu = self.read(sim_host).gpus[0]
        self.assertEqual(3, len({m.parent for m in gpu.mdevs}))
        self.assertNotIn(gpu.address, {m.parent for m in gpu.mdevs})
        self.assert_matches(text, sim_host)

    def test_an_mdev_in_use_is_not_removed_and_the_gpu_is_rolled_back(self):
        sim_host = self.sim_host('1xT4:mdev@node01')
        self.apply(TIME_SLICED % 'T4', sim_host)
        gpu = self.read(sim_host).gpus[0]
        sim_host.set_mdev_in_use(gpu.mdevs[-1].uuid, 'instance-1')
        before = self.state(sim_host)
        smaller = (TIME_SLICED % 'T4').replace('count: 3', 'count: 1')
        results = self.apply(smaller, sim_host, force=True)
        self.assertEqual(apply.FAILED, results[0].status)
        self.assertEqual(before, self.state(sim_host))

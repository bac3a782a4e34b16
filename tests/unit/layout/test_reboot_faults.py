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

"""A host that goes down at any step of ``layout apply --boot``.

After a reboot, ``layout apply --boot`` restores the carve before
nova-compute starts. It may itself be cut short after any step: the
process killed (the host keeps what was written), or the host losing
power again (a second reboot drops it). Either way the next ``--boot``
must bring the host to the very carve it had before the first reboot:
the same VFs with the same types and, where mdevs persist, the same mdev
UUIDs, so that every guest's definition finds its device again.
"""

import fixtures

from gpuvirt_nova.layout import apply
from gpuvirt_nova.layout import mdevs as layout_mdevs
from gpuvirt_nova.layout import plan as plan_mod
from tests.unit.layout import base

LAYOUT = """
gpu_cluster:
  nodes:
    - host: node01
      gpus:
%s"""
GPU = """        - index: [%d]
          vgpus:
            - {profile: %s, count: %d}
"""

#: (simulator spec, the layout's GPUs) of each kind of carve.
HOSTS = {
    # MIG-backed vGPUs on VFs: MIG mode survives an Ampere reboot, the
    # GPU instances, VFs and their types do not.
    'mig': ('2xA100-PCIE-40GB:mig@node01',
            GPU % (0, 'A100-2-10C', 3) + GPU % (1, 'A100-3-20C', 2)),
    # Time-sliced vGPUs on VFs.
    'vfio': ('2xA100-PCIE-40GB:vfio@node01',
             GPU % (0, 'A100-5C', 8) + GPU % (1, 'A100-10C', 4)),
    # mdevs on the GPU itself: defined persistently, they come back.
    'mdev': ('2xT4:mdev@node01',
             GPU % (0, 'T4-4C', 4) + GPU % (1, 'T4-8C', 2)),
    # mdevs on VFs: the VFs are gone after a reboot, so are the mdevs.
    'sriov-mdev': ('1xA100-PCIE-40GB:sriov-mdev@node01',
                   GPU % (0, 'A100-10C', 4)),
}


class _KillAfter(object):
    """``stop()`` turns True once ``count`` steps were started.

    The apply checks ``stop()`` before each step and reports each step
    through ``progress`` as it starts it.
    """

    def __init__(self, count):
        self.count = count
        self.started = 0

    def progress(self, text):
        self.started += 1

    def __call__(self):
        return self.started >= self.count


class TestRebootDuringBoot(base.LayoutTestCase):

    def boot_apply(self, layout, sim_host, kill_after=None):
        """``layout apply --boot``: force, mdevs through libvirt's door."""
        killer = _KillAfter(kill_after) if kill_after is not None else None
        options = apply.Options(
            force=True, mdevs=layout_mdevs.SimulatedMdevs(sim_host),
            stop=killer, progress=killer.progress if killer else None)
        if killer is None:
            return self.apply_layout(layout, sim_host, options=options)
        # kill -9 or a power cut: no rollback runs.
        with fixtures.MockPatch('gpuvirt_nova.layout.apply._rollback'):
            return self.apply_layout(layout, sim_host, options=options)

    def carve(self, sim_host):
        """The carve guests see: typed VFs, and mdevs by UUID."""
        host = self.read(sim_host)
        return ({vf.address: vf.current_vgpu_type for g in host.gpus
                 for vf in g.vfs if vf.current_vgpu_type},
                {m.uuid: (m.parent, m.mdev_type) for g in host.gpus
                 for m in g.mdevs})

    def carved_and_rebooted(self, kind, name):
        spec, gpus = HOSTS[kind]
        layout = LAYOUT % gpus
        sim_host = self.sim_host(spec, name=name)
        self.assertEqual(
            {apply.APPLIED}, {r.status for r in self.boot_apply(
                layout, sim_host)})
        carve = self.carve(sim_host)
        sim_host.reboot()
        return layout, sim_host, carve

    def assert_converges_at_every_step(self, kind, mdevs_persist=True):
        layout, probe, carve = self.carved_and_rebooted(kind, 'probe')
        steps = len(plan_mod.make_plan(self.targets(layout, probe),
                                       self.read(probe)).steps)
        if kind == 'mdev':
            # Persistent mdevs on the GPUs come back by themselves: the
            # boot apply has nothing to do, and changes nothing.
            self.assertEqual(0, steps)
            self.boot_apply(layout, probe)
            self.assertEqual(carve, self.carve(probe))
            return
        self.assertGreater(steps, 1)
        for killed_after in range(steps):
            for power_cut in (False, True):
                label = '%s killed after %d step(s)%s' % (
                    kind, killed_after, ', power cut' if power_cut else '')
                layout, sim_host, carve = self.carved_and_rebooted(
                    kind, '%d-%d' % (killed_after, power_cut))
                results = self.boot_apply(layout, sim_host,
                                          kill_after=killed_after)
                self.assertIn(apply.INTERRUPTED,
                              [r.status for r in results], label)
                if power_cut:
                    sim_host.reboot()
                results = self.boot_apply(layout, sim_host)
                self.assertNotIn(apply.FAILED,
                                 [r.status for r in results], label)
                self.assertEqual([], list(plan_mod.make_plan(
                    self.targets(layout, sim_host),
                    self.read(sim_host)).steps), label)
                after = self.carve(sim_host)
                # The same VFs carry the same types.
                self.assertEqual(carve[0], after[0], label)
                if mdevs_persist:
                    # The very mdevs guests name, on the same parents.
                    self.assertEqual(carve[1], after[1], label)
                else:
                    self.assertEqual(
                        sorted(carve[1].values()),
                        sorted(after[1].values()), label)

    def test_mig_backed(self):
        self.assert_converges_at_every_step('mig')

    def test_time_sliced_vfs(self):
        self.assert_converges_at_every_step('vfio')

    def test_mdevs_on_the_gpu(self):
        self.assert_converges_at_every_step('mdev')

    def test_mdevs_on_the_gpu_first_carve_killed(self):
        # Nothing to restore after a reboot there: the apply that made
        # them is the one cut short (the same planner and writer).
        spec, gpus = HOSTS['mdev']
        layout = LAYOUT % gpus
        probe = self.sim_host(spec, name='probe')
        self.boot_apply(layout, probe)
        carve = self.carve(probe)
        for killed_after in range(len(carve[1])):
            sim_host = self.sim_host(spec, name='k%d' % killed_after)
            self.boot_apply(layout, sim_host, kill_after=killed_after)
            results = self.boot_apply(layout, sim_host)
            self.assertNotIn(apply.FAILED, [r.status for r in results],
                             killed_after)
            self.assertEqual(carve, self.carve(sim_host), killed_after)

    def test_mdevs_on_vfs(self):
        # Their UUIDs are new after a reboot: the driver's start-up
        # restore pairs each guest with a free mdev of its type.
        self.assert_converges_at_every_step('sriov-mdev',
                                            mdevs_persist=False)

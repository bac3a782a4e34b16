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

"""Privileged writes failing during ``layout apply``: EBUSY, ENOSPC, EPERM
and a VF that vanished (ENOENT).

Each must give a clear error naming the GPU, roll that GPU back to what
it was (nothing half-applied), leave the other GPUs applied, and let a
rerun converge once the fault is gone.
"""

import errno
import os

from gpuvirt_nova.layout import apply
from gpuvirt_nova.layout import plan
from tests.unit.layout import base
from tests.unit.layout import test_apply

TWO_GPUS = test_apply.TWO_GPUS
TIME_SLICED = test_apply.TIME_SLICED

PCI = '/sys/bus/pci/devices/%s'
MDEV_BUS = '/sys/class/mdev_bus/%s'
CODES = {'EBUSY': errno.EBUSY, 'ENOSPC': errno.ENOSPC,
         'EPERM': errno.EPERM, 'vanished VF': errno.ENOENT}


def disable_vfs(sim_host):
    """Every GPU's VFs off, so that the layout has to enable them."""
    writer = sim_host.writer()
    for gpu in base.LayoutTestCase.read(sim_host).gpus:
        writer.write_sysfs(PCI % gpu.address + '/sriov_numvfs', '0')


class TestPrivilegedWriteFails(base.LayoutTestCase):

    def apply(self, text, sim_host):
        return self.apply_layout(text, sim_host, options=apply.Options())

    def assert_fault_handled(self, spec, text, device_of, name,
                             undone=True, prepare=None):
        """Per errno: fail a write to ``device_of(second GPU)/name`` once.

        ``device_of`` gives a sysfs directory; ``undone``: steps came
        before the fault, so some were rolled back; ``prepare(sim_host)``
        sets the host up first.
        """
        for label, code in sorted(CODES.items()):
            sim_host = self.sim_host(spec, name=label.replace(' ', '-'))
            if prepare:
                prepare(sim_host)
            second = self.read(sim_host).gpus[1]
            before = self.state(sim_host)
            device = device_of(second)
            sim_host.inject_failure('%s/%s' % (device, name),
                                    errno_code=code)
            results = self.apply(text, sim_host)
            self.assertEqual([apply.APPLIED, apply.FAILED],
                             [r.status for r in results], label)
            failed = results[1]
            # A clear error: the GPU (the row ``layout apply`` prints),
            # the file written and what the kernel said.
            self.assertEqual(second.address, failed.address, label)
            self.assertIn(device + '/', failed.message, label)
            self.assertIn(os.strerror(code), failed.message, label)
            # Rolled back: that GPU is exactly as it was; the other one
            # got its layout.
            self.assertEqual(undone, len(failed.rolled_back) > 0, label)
            after = self.state(sim_host)
            self.assertEqual(before[1], after[1], label)
            self.assertNotEqual(before[0], after[0], label)
            # The fault gone, a rerun converges.
            rerun = self.apply(text, sim_host)
            self.assertEqual([apply.UNCHANGED, apply.APPLIED],
                             [r.status for r in rerun], label)
            self.assertEqual([], [s.describe() for s in plan.make_plan(
                self.targets(text, sim_host), self.read(sim_host)).steps])

    def test_vgpu_type_write_on_a_mig_backed_vf(self):
        # The second vGPU goes to the second VF, after the GPU instances
        # and the first vGPU were made: a lot to roll back.
        self.assert_fault_handled(
            '2xA100-PCIE-40GB:mig@node01', TWO_GPUS,
            lambda gpu: PCI % gpu.vfs[1].address, 'nvidia/current_vgpu_type')

    def test_vgpu_type_write_on_a_time_sliced_vf(self):
        self.assert_fault_handled(
            '2xA100-PCIE-40GB:vfio@node01', TIME_SLICED % 'A100-40GB',
            lambda gpu: PCI % gpu.vfs[2].address, 'nvidia/current_vgpu_type')

    def test_vf_enablement(self):
        # The first step of the GPU: nothing before it to undo.
        self.assert_fault_handled(
            '2xA100-PCIE-40GB:vfio@node01', TIME_SLICED % 'A100-40GB',
            lambda gpu: PCI % gpu.address, 'sriov_numvfs', undone=False,
            prepare=disable_vfs)

    def test_mdev_creation(self):
        self.assert_fault_handled(
            '2xT4:mdev@node01', TIME_SLICED % 'T4',
            lambda gpu: MDEV_BUS % gpu.address,
            'mdev_supported_types/*/create', undone=False)

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

"""Faults after a device was assigned to a guest, through Nova's fixtures.

libvirt failing to define or start a guest must leave the device free:
no claim left in the driver, no domain naming it, the carve untouched and
the allocation gone, so that the next boot gets the very same device.
Both kinds of carved device: a typed VF (MIG-backed or time-sliced) and
an mdev. Each case ends with the fault suite's audit (tests.functional.
audit).
"""

import fixtures
from nova.tests.fixtures import libvirt as fakelibvirt

from gpuvirt_nova.demo import nova as inprocess
from gpuvirt_nova.virt import assign
from tests.functional import audit
from tests.functional import base


def _libvirt_error(*args, **kwargs):
    raise fakelibvirt.make_libvirtError(
        fakelibvirt.libvirtError, 'injected libvirt failure',
        error_code=fakelibvirt.VIR_ERR_INTERNAL_ERROR,
        error_domain=fakelibvirt.VIR_FROM_QEMU)


class LibvirtFailsAfterAssignmentTests(audit.FaultAuditMixin,
                                       base.GpuvirtTestBase):
    """GPU 1 carved whole: exactly one A100-7-40C device on the host.

    With a single device, a claim or domain leaked by the failed boot
    makes the next boot fail, so the test needs no knowledge of which
    device the driver prefers.
    """

    LAYOUT = inprocess.layout_text(('index: [0]', 'A100-2-10C', 3),
                                   ('index: [1]', 'A100-7-40C', 1))

    #: The type of the host's only device, and its kind.
    TYPE = 'A100-7-40C'
    KIND = assign.KIND_VF

    def setUp(self):
        super().setUp()
        self.start_gpu_compute('host1')
        self.driver = self.computes['host1'].driver
        self.flavor = self.vgpu_flavor(self.TYPE)

    def _fail_then_recover(self, target):
        carve = self.carve_state('host1')
        claimed_when_failing = []

        def fail(*args, **kwargs):
            claimed_when_failing.append(
                [keys for keys in self.driver._gpuvirt_claims.values()
                 if keys])
            _libvirt_error()

        with fixtures.MonkeyPatch(target, fail):
            failed = self._create_server(flavor_id=self.flavor,
                                         networks='none',
                                         expected_state='ERROR')
        # The fault struck after the device was claimed for the guest.
        self.assertEqual(1, len(claimed_when_failing[0]))
        [[(kind, _)]] = claimed_when_failing[0]
        self.assertEqual(self.KIND, kind)
        # The device is free again: no claim, no domain names it.
        self.assertEqual({}, {uuid: keys for uuid, keys
                              in self.driver._gpuvirt_claims.items()
                              if keys})
        self.assertEqual(set(), self.used_devices('host1'))
        # The carve is the layout's, untouched by the guest's failure.
        self.assertEqual(carve, self.carve_state('host1'))
        # No allocation is left for the failed server.
        self.assertEqual({}, self._get_allocations_by_server_uuid(
            failed['id']))
        self.assertEqual([], self.leaks('host1'))
        # The next boot gets the (only) device.
        server = self._create_server(flavor_id=self.flavor,
                                     networks='none')
        self.assertEqual(1, len(self.domain_keys('host1', server)))
        self.assertEqual(self.used_devices('host1'),
                         self.domain_keys('host1', server))
        self.assertEqual(carve, self.carve_state('host1'))
        self.assertEqual([], self.leaks('host1'))

    def test_define_fails(self):
        self._fail_then_recover(
            'nova.tests.fixtures.libvirt.Connection.defineXML')

    def test_start_fails(self):
        self._fail_then_recover(
            'nova.tests.fixtures.libvirt.Domain.createWithFlags')


class MdevLibvirtFailsAfterAssignmentTests(LibvirtFailsAfterAssignmentTests):
    """The same on an mdev-backed host: one A100-40C mdev on a VF."""

    SIM_SPEC = '1xA100-PCIE-40GB:sriov-mdev'
    LAYOUT = inprocess.layout_text(('type: A100-PCIE-40GB', 'A100-40C', 1))
    TYPE = 'A100-40C'
    KIND = assign.KIND_MDEV

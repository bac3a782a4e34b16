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
Placement failing (503, or gone) once the scheduler has claimed: the
spawn goes on without it, or fails cleanly when it needs it, and the host
converges when Placement returns. Both kinds of carved device: a typed
VF (MIG-backed or time-sliced) and an mdev. Each case ends with the
fault suite's audit (tests.functional.audit).
"""

import functools

import fixtures
from keystoneauth1 import exceptions as ks_exceptions
from nova import context as nova_context
from nova.scheduler.client import report
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.virt.libvirt import driver as libvirt_driver
from oslo_serialization import jsonutils
import requests

from gpuvirt_nova.demo import nova as inprocess
from gpuvirt_nova.hardware import discover
from gpuvirt_nova.layout import apply as apply_mod
from gpuvirt_nova.layout import mdevs as layout_mdevs
from gpuvirt_nova.layout import plan as plan_mod
from gpuvirt_nova.layout import spec as layout_spec
from gpuvirt_nova.layout import target as layout_target
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


class _PlacementFault(fixtures.Fixture):
    """Nova's report client on a Placement answering 503, or gone.

    ``mode``: None (Placement answers), ``503`` or ``'down'`` (no
    connection). Counts the calls it failed.
    """

    METHODS = ('get', 'put', 'post', 'delete')

    def __init__(self):
        super().__init__()
        self.mode = None
        self.failed = 0

    def _setUp(self):
        for name in self.METHODS:
            real = getattr(report.SchedulerReportClient, name)
            self.useFixture(fixtures.MonkeyPatch(
                'nova.scheduler.client.report.SchedulerReportClient.%s'
                % name, self._faulty(real)))

    def _faulty(self, real):
        fault = self

        def call(client, url, *args, **kwargs):
            if fault.mode is None:
                return real(client, url, *args, **kwargs)
            fault.failed += 1
            if fault.mode == 'down':
                raise ks_exceptions.ConnectFailure('injected: refused')
            answer = requests.models.Response()
            answer.status_code = fault.mode
            answer._content = jsonutils.dump_as_bytes(
                {'errors': [{'status': fault.mode, 'title': 'injected',
                             'detail': 'injected'}]})
            answer.headers['Content-Type'] = 'application/json'
            return answer
        return call


class PlacementFailingDuringSpawnTests(audit.FaultAuditMixin,
                                       base.GpuvirtTestBase):
    """Placement fails once the scheduler has claimed the vGPU.

    The spawn needs no Placement (allocations come with it, the GPU
    providers are known from the last periodic report); a spawn that
    would need it fails cleanly. nova-compute keeps running either way
    and converges when Placement returns.
    """

    def setUp(self):
        super().setUp()
        self.start_gpu_compute('host1')
        self.driver = self.computes['host1'].driver
        self.flavor = self.vgpu_flavor('A100-3-20C')
        self.fault = self.useFixture(_PlacementFault())
        self.carve = self.carve_state('host1')

    def _fail_placement_in_spawn(self, mode, forget_providers=False):
        """From the start of the driver's spawn on, Placement fails.

        With ``forget_providers`` only while the spawn runs: Nova's own
        handling of the failed build needs Placement (without it the
        server stays in BUILD, as with upstream Nova).
        """
        real_spawn = libvirt_driver.LibvirtDriver.spawn
        test = self

        def spawn(driver, *args, **kwargs):
            test.fault.mode = mode
            if forget_providers:
                # As after a restart of nova-compute while Placement was
                # down: no periodic report told the driver its GPUs.
                driver._gpuvirt_provider_gpus = {}
                try:
                    return real_spawn(driver, *args, **kwargs)
                finally:
                    test.fault.mode = None
            return real_spawn(driver, *args, **kwargs)

        return fixtures.MonkeyPatch(
            'nova.virt.libvirt.driver.LibvirtDriver.spawn', spawn)

    def _periodic(self):
        self.computes['host1'].manager.update_available_resource(
            nova_context.get_admin_context())

    def _assert_compute_up(self):
        service, = self.admin_api.get_services(binary='nova-compute',
                                               host='host1')
        self.assertEqual(('up', 'enabled'),
                         (service['state'], service['status']))

    def _placement_returns(self):
        self.fault.mode = None
        self._periodic()
        self.assertEqual(self.carve, self.carve_state('host1'))
        self.assertEqual([], self.leaks('host1'))

    def test_spawn_succeeds_while_placement_answers_503(self):
        self._spawn_succeeds(503)

    def test_spawn_succeeds_while_placement_is_unreachable(self):
        self._spawn_succeeds('down')

    def _spawn_succeeds(self, mode):
        with self._fail_placement_in_spawn(mode):
            server = self._create_server(flavor_id=self.flavor,
                                         networks='none')
        self.assertEqual(1, len(self.domain_keys('host1', server)))
        # Still failing: the periodic report fails, nova-compute does not.
        failed = self.fault.failed
        self._periodic()
        self.assertGreater(self.fault.failed, failed)
        self._assert_compute_up()
        self._placement_returns()
        # And the next guest gets the other device.
        other = self._create_server(flavor_id=self.flavor, networks='none')
        self.assertNotEqual(self.domain_keys('host1', server),
                            self.domain_keys('host1', other))
        self.assertEqual([], self.leaks('host1'))

    def test_a_spawn_needing_placement_fails_cleanly(self):
        with self._fail_placement_in_spawn(503, forget_providers=True):
            failed = self._create_server(flavor_id=self.flavor,
                                         networks='none',
                                         expected_state='ERROR')
        self.assertGreater(self.fault.failed, 0)
        # The guest was not started without its vGPU, nothing is claimed.
        self.assertEqual(set(), self.used_devices('host1'))
        self.assertEqual({}, {u: k for u, k in
                              self.driver._gpuvirt_claims.items() if k})
        self._assert_compute_up()
        self._delete_server(failed)
        self._placement_returns()
        server = self._create_server(flavor_id=self.flavor, networks='none')
        self.assertEqual(1, len(self.domain_keys('host1', server)))
        self.assertEqual([], self.leaks('host1'))


class RebootDuringBootTests(audit.FaultAuditMixin, base.GpuvirtTestBase):
    """The host reboots; ``layout apply --boot`` is killed half-way.

    A guest on each GPU. After the reboot the boot apply carves GPU 0
    and is killed before GPU 1; nova-compute starts anyway. The guest
    on GPU 0 gets its very VF back; the one on GPU 1 is reported and
    not started without its vGPU. Once ``--boot`` is rerun, a hard
    reboot gives it its VF back too.
    """

    def _boot_apply(self, hostname, kill_after=None):
        """``layout apply --boot`` on the simulated host (no rollback)."""
        sim_host = self.sims[hostname]
        layout = layout_spec.load_file(self.layout_file(hostname))
        read = functools.partial(discover.discover_host, sim_host, hostname)
        targets = layout_target.resolve_node(layout.node(hostname), read())
        started = []
        options = apply_mod.Options(
            force=True, mdevs=layout_mdevs.SimulatedMdevs(sim_host),
            progress=started.append,
            stop=lambda: kill_after is not None and
            len(started) >= kill_after)
        with fixtures.MockPatch('gpuvirt_nova.layout.apply._rollback'):
            return apply_mod.apply(
                targets, read, sim_host.writer(), hostname, options,
                read_gpu=functools.partial(discover.discover_host_gpu,
                                           sim_host))

    def test_every_guest_gets_its_device_back_or_is_reported(self):
        self.flags(resume_guests_state_on_host_boot=True)
        self.start_gpu_compute('host1')
        first = self._create_server(
            flavor_id=self.vgpu_flavor('A100-2-10C'), networks='none')
        second = self._create_server(
            flavor_id=self.vgpu_flavor('A100-3-20C'), networks='none')
        first_vf = self.one_vf('host1', first, 0, 'A100-2-10C')
        second_vf = self.one_vf('host1', second, 1, 'A100-3-20C')
        carve = self.carve_state('host1')

        conn = self.computes['host1'].driver._host.get_connection()
        inprocess.power_off_all(conn)
        self.sims['host1'].reboot()
        gpu0 = self.gpu_address('host1', 0)
        steps = plan_mod.make_plan(
            layout_target.resolve_node(layout_spec.load_file(
                self.layout_file('host1')).node('host1'),
                self.hardware('host1')), self.hardware('host1')).steps
        results = self._boot_apply('host1', kill_after=len(
            [s for s in steps if s.gpu == gpu0]))
        self.assertEqual([apply_mod.APPLIED, apply_mod.INTERRUPTED],
                         [r.status for r in results])

        self.restart_compute_service('host1')
        first = self._wait_for_state_change(first, 'ACTIVE')
        self.assertEqual(first_vf, self.one_vf('host1', first, 0,
                                               'A100-2-10C'))
        second = self._wait_for_server_parameter(
            second, {'OS-EXT-STS:vm_state': 'error'})
        self.assertFalse(conn.lookupByUUIDString(second['id']).isActive())
        self.assertIn('instance %s: its vGPU device(s) cannot be restored'
                      % second['id'], self.stdlog.logger.output)

        # --boot rerun: the host converges to the carve it had.
        results = self._boot_apply('host1')
        self.assertEqual([apply_mod.UNCHANGED, apply_mod.APPLIED],
                         [r.status for r in results])
        self.assertEqual(carve, self.carve_state('host1'))
        self._reboot_server(second, hard=True)
        second = self.api.get_server(second['id'])
        self.assertEqual(second_vf, self.one_vf('host1', second, 1,
                                                'A100-3-20C'))
        # GPU 1 offered nothing while uncarved: the next periodic report
        # offers it again, and the host is consistent.
        self.computes['host1'].manager.update_available_resource(
            nova_context.get_admin_context())
        self.assertEqual([], self.leaks('host1'))

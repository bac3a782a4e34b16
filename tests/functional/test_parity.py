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

"""Where upstream Nova's vGPU support is ahead: the same, with our GPUs.

Live migration of mdev-backed vGPUs (upstream since 2024.1 with libvirt
>= 8.6.0 and QEMU >= 8.1.0), suspend/resume and pause/unpause of a server
with a vGPU.
"""


import fixtures
from lxml import etree
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.functional.api import client as api_client
from nova.tests.functional.libvirt import base as libvirt_base

from gpuvirt_nova.demo import nova as inprocess
from gpuvirt_nova.virt import assign
from tests.functional import base

TYPE_10C = 'A100-10C'


class _MdevHosts(base.GpuvirtTestBase):
    """Two hosts, one A100 each, carved into four A100-10C mdevs on VFs."""

    SIM_SPEC = '1xA100-PCIE-40GB:sriov-mdev'
    LAYOUT = inprocess.layout_text(('type: A100-PCIE-40GB', TYPE_10C, 4))

    def one_mdev(self, hostname, server):
        keys = self.domain_keys(hostname, server)
        self.assertEqual(1, len(keys), keys)
        kind, mdev_uuid = keys.pop()
        self.assertEqual(assign.KIND_MDEV, kind)
        self.assertIn(mdev_uuid, self.carve_state(hostname)[1])
        return mdev_uuid


class MdevLiveMigrationTests(libvirt_base.LibvirtMigrationMixin, _MdevHosts):

    def setUp(self):
        super().setUp()
        self.src = self.start_gpu_compute('host1')
        self.dest = self.start_gpu_compute('host2')
        self.flavor = self.vgpu_flavor(TYPE_10C)
        self.resource_class = 'CUSTOM_VGPU_A100_10C'
        self.fail_migration = False

    def _migrate_stub(self, domain, destination, params, flags):
        if self.fail_migration:
            # What libvirt reports when the job fails half-way.
            self.dest_claims = dict(self.dest.driver._gpuvirt_claims)
            domain.fail_job()
            return
        super()._migrate_stub(domain, destination, params, flags)
        if flags & fakelibvirt.VIR_MIGRATE_UNDEFINE_SOURCE:
            domain.undefine()

    def test_live_migration_moves_the_mdev(self):
        self.server = self._create_server(flavor_id=self.flavor,
                                          networks='none', host='host1')
        src_mdev = self.one_mdev('host1', self.server)
        carves = {h: self.carve_state(h) for h in ('host1', 'host2')}

        server = self._live_migrate(self.server, host='host2')
        self.assertTrue(self.migrate_stub_ran)
        self.assertEqual('host2', server['OS-EXT-SRV-ATTR:host'])
        # Nova rewrote the hostdev with the destination's own mdev.
        dest_mdev = self.one_mdev('host2', server)
        self.assertNotIn(dest_mdev, carves['host1'][1])
        self.assertEqual(set(), self.used_devices('host1'))
        self.assertEqual({}, self.computes['host2'].driver._gpuvirt_claims)
        self.assertEqual(
            {self.gpu_rp_uuid('host2', 0): {self.resource_class: 1}},
            self.vgpu_allocations(server))
        # Nobody created or removed an mdev on either host.
        self.assertEqual(carves, {h: self.carve_state(h)
                                  for h in ('host1', 'host2')})
        self.assertNotEqual(src_mdev, dest_mdev)

    def test_failed_migration_leaves_no_claim_and_keeps_the_source(self):
        self.server = self._create_server(flavor_id=self.flavor,
                                          networks='none', host='host1')
        src_mdev = self.one_mdev('host1', self.server)
        self.fail_migration = True
        self._live_migrate(self.server, migration_expected_state='failed',
                           host='host2')
        server = self.settle(self.server)
        self.assertEqual('ACTIVE', server['status'])
        # The destination had claimed an mdev for the guest.
        self.assertEqual([server['id']], list(self.dest_claims))
        self.assertEqual('host1', server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual(src_mdev, self.one_mdev('host1', server))
        self.assertEqual({}, self.computes['host2'].driver._gpuvirt_claims)
        self.assertEqual({}, self.computes['host2'].driver._gpuvirt_held)
        self.assertEqual(set(), self.used_devices('host2'))


class MdevLiveMigrationPrecheckTests(libvirt_base.LibvirtMigrationMixin,
                                     _MdevHosts):
    """The destination's QEMU is too old for mdev live migration."""

    def setUp(self):
        super().setUp()
        self.src = self.start_gpu_compute('host1')
        self.create_sim_host('host2')
        self.dest = self.start_compute(
            hostname='host2', libvirt_version=self.FAKE_LIBVIRT_VERSION,
            qemu_version=8000000)
        self.flavor = self.vgpu_flavor(TYPE_10C)

    def test_refused_before_anything_moves(self):
        self.server = self._create_server(flavor_id=self.flavor,
                                          networks='none', host='host1')
        src_mdev = self.one_mdev('host1', self.server)
        # (Casts are calls in these tests: the refusal surfaces here.)
        self.assertRaises(api_client.OpenStackApiException,
                          self.api.post_server_action, self.server['id'],
                          {'os-migrateLive': {'host': 'host2',
                                              'block_migration': 'auto'}})
        server = self.settle(self.server)
        self.assertEqual('host1', server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual(src_mdev, self.one_mdev('host1', server))
        self.assertFalse(self.migrate_stub_ran)
        self.assertEqual({}, self.computes['host2'].driver._gpuvirt_claims)


def _mdev_uuid(xml):
    if not xml.startswith('<hostdev'):
        return None
    element = etree.fromstring(xml)
    if element.get('type') != 'mdev':
        return None
    return element.find('./source/address').get('uuid')


class MdevHotplugFixture(fixtures.Fixture):
    """What Nova's fake libvirt lacks for mdev hostdevs, as libvirt does it.

    The fake writes an mdev hostdev back without ``managed='no'`` (which
    Nova cannot parse back: suspend fails on it) and cannot attach or
    detach one live (it treats every hostdev as PCI, and has one
    configuration where libvirt has a live and a persistent one). Real
    libvirt does all of it; upstream Nova's suspend relies on it: a live
    detach leaves the mdev in the persistent configuration, from which
    resume takes it to attach it again.
    """

    def _setUp(self):
        domain = 'nova.tests.fixtures.libvirt.Domain'
        real_xml = fakelibvirt.Domain.XMLDesc
        real_attach = fakelibvirt.Domain.attachDeviceFlags
        real_detach = fakelibvirt.Domain.detachDeviceFlags

        def hidden(dom):
            return dom.__dict__.setdefault('_live_detached_mdevs', set())

        def xml_desc(dom, flags):
            hostdevs = dom._def['devices']['hostdevs']
            # Saved (managed save): the persistent configuration is what
            # the domain is, and it kept the mdev.
            if dom.isActive() and not getattr(dom, '_has_saved_state',
                                              False):
                dom._def['devices']['hostdevs'] = [
                    h for h in hostdevs
                    if h.get('address_uuid') not in hidden(dom)]
            try:
                return real_xml(dom, flags).replace(
                    "<hostdev mode='subsystem' type='mdev'",
                    "<hostdev mode='subsystem' type='mdev' managed='no'")
            finally:
                dom._def['devices']['hostdevs'] = hostdevs

        def attach(dom, xml, flags=0):
            uuid = _mdev_uuid(xml)
            if uuid is None:
                return real_attach(dom, xml, flags)
            hidden(dom).discard(uuid)
            if uuid not in {h.get('address_uuid')
                            for h in dom._def['devices']['hostdevs']}:
                dom._def['devices']['hostdevs'].append({
                    'type': 'mdev', 'model': 'vfio-pci',
                    'address_uuid': uuid})

        def detach(dom, xml, flags=0):
            uuid = _mdev_uuid(xml)
            if uuid is None:
                return real_detach(dom, xml, flags)
            if flags & fakelibvirt.VIR_DOMAIN_AFFECT_CONFIG:
                dom._def['devices']['hostdevs'] = [
                    h for h in dom._def['devices']['hostdevs']
                    if h.get('address_uuid') != uuid]
            else:
                hidden(dom).add(uuid)

        self.useFixture(fixtures.MonkeyPatch(domain + '.XMLDesc', xml_desc))
        self.useFixture(fixtures.MonkeyPatch(domain + '.attachDeviceFlags',
                                             attach))
        self.useFixture(fixtures.MonkeyPatch(domain + '.detachDeviceFlags',
                                             detach))


class PauseSuspendTests(_MdevHosts):
    """Pause/unpause and suspend/resume keep an mdev-backed vGPU.

    Suspend detaches the mdev live before the managed save and resume
    attaches it again (Nova's own handling of mdevs); pause keeps it.
    """

    def setUp(self):
        super().setUp()
        self.useFixture(MdevHotplugFixture())
        self.start_gpu_compute('host1')
        self.flavor = self.vgpu_flavor(TYPE_10C)

    def test_pause_unpause_keeps_the_device(self):
        server = self._create_server(flavor_id=self.flavor, networks='none')
        mdev = self.one_mdev('host1', server)
        self.api.post_server_action(server['id'], {'pause': None})
        server = self._wait_for_state_change(server, 'PAUSED')
        self.assertEqual(mdev, self.one_mdev('host1', server))
        self.api.post_server_action(server['id'], {'unpause': None})
        server = self._wait_for_state_change(server, 'ACTIVE')
        self.assertEqual(mdev, self.one_mdev('host1', server))
        self.assertEqual({}, self.computes['host1'].driver._gpuvirt_claims)

    def test_suspend_resume_keeps_the_device(self):
        server = self._create_server(flavor_id=self.flavor, networks='none')
        mdev = self.one_mdev('host1', server)
        server = self._suspend_server(server)
        server = self._resume_server(server)
        self.assertEqual(mdev, self.one_mdev('host1', server))
        self.assertEqual({}, self.computes['host1'].driver._gpuvirt_claims)
        # Its mdev was never free for others meanwhile: the carve holds
        # exactly the four mdevs, and a resumed guest keeps its own.
        self.assertEqual(4, len(self.carve_state('host1')[1]))


class MigBackedMdevLiveMigrationTests(MdevLiveMigrationTests):
    """The same with MIG-backed mdevs: 2g.10gb GPU instances, vGPU <= 16."""

    SIM_SPEC = '1xA100-PCIE-40GB:mig-mdev'
    LAYOUT = inprocess.layout_text(('type: A100-PCIE-40GB', 'A100-2-10C', 3))

    def setUp(self):
        super().setUp()
        self.flavor = self.vgpu_flavor('A100-2-10C')
        self.resource_class = 'CUSTOM_VGPU_A100_2_10C'

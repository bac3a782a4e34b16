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

import collections
import threading
from unittest import mock

from nova import objects
from oslo_config import fixture as config_fixture
from oslotest import base

from gpuvirt_nova import conf as gpuvirt_conf
from gpuvirt_nova.virt import assign
from gpuvirt_nova.virt import livemig
from gpuvirt_nova.virt import migrate

RC = 'CUSTOM_VGPU_A100_2_10C'
RC2 = 'CUSTOM_VGPU_A100_3_20C'


class TestPrecheck(base.BaseTestCase):

    def test_same_types_and_branch_pass(self):
        self.assertEqual([], livemig.precheck_problems(
            collections.Counter({RC: 1}), collections.Counter({RC: 1}),
            {'CUSTOM_NVIDIA_DRIVER_550', 'CUSTOM_GPU_A100_PCIE_40GB'},
            {'CUSTOM_NVIDIA_DRIVER_550'}))

    def test_other_driver_branch_refused(self):
        problems = livemig.precheck_problems(
            collections.Counter({RC: 1}), collections.Counter({RC: 1}),
            {'CUSTOM_NVIDIA_DRIVER_550'}, {'CUSTOM_NVIDIA_DRIVER_535'})
        self.assertEqual(1, len(problems))
        self.assertIn('source 550, destination 535', problems[0])

    def test_other_type_refused(self):
        problems = livemig.precheck_problems(
            collections.Counter({RC: 1}), collections.Counter({RC2: 1}),
            {'CUSTOM_NVIDIA_DRIVER_550'}, {'CUSTOM_NVIDIA_DRIVER_550'})
        self.assertEqual(1, len(problems))
        self.assertIn(RC2, problems[0])


class TestPairing(base.BaseTestCase):

    def devices(self, *addresses):
        return [assign.Device(assign.KIND_VF, '0000:5e:00.0', 'A100-2-10C',
                              address=a) for a in addresses]

    def test_placeholders_then_resolve_pair_by_class(self):
        pci_map = livemig.placeholders(self.devices('0000:5e:00.4',
                                                    '0000:5e:00.5'))
        pci_map['0000:01:00.1'] = '0000:02:00.1'  # Nova's own PCI claim
        resolved = livemig.resolve(pci_map, {'0000:3b:00.6': RC,
                                             '0000:3b:00.4': RC})
        self.assertEqual({'0000:3b:00.4': '0000:5e:00.4',
                          '0000:3b:00.6': '0000:5e:00.5',
                          '0000:01:00.1': '0000:02:00.1'}, resolved)

    def test_unpaired_source_vf_raises(self):
        pci_map = livemig.placeholders(self.devices('0000:5e:00.4'))
        self.assertRaises(ValueError, livemig.resolve, pci_map,
                          {'0000:3b:00.4': RC, '0000:3b:00.5': RC2})

    def test_extra_destination_device_raises(self):
        pci_map = livemig.placeholders(self.devices('0000:5e:00.4',
                                                    '0000:5e:00.5'))
        self.assertRaises(ValueError, livemig.resolve, pci_map,
                          {'0000:3b:00.4': RC})


class TestExpiredClaims(base.BaseTestCase):

    def test_old_claim_without_domain_expires(self):
        held = {'gone': 0.0, 'arrived': 0.0, 'recent': 1000.0}
        self.assertEqual(['gone'], livemig.expired_claims(
            held, now=1900.0, max_age=1800, defined={'arrived'}))

    def test_nothing_expires_before_max_age(self):
        self.assertEqual([], livemig.expired_claims(
            {'a': 100.0}, now=1900.0, max_age=1800, defined=set()))


class _Destination(migrate.LiveMigrationMixin):
    """The state the mixin keeps on the driver, without a driver."""

    def __init__(self, held):
        self._gpuvirt_lock = threading.Lock()
        self._gpuvirt_held = dict(held)
        self._gpuvirt_held_migrations = {}
        self._gpuvirt_claims = {uuid: {('vf', uuid)} for uuid in held}

    def _domain_keys(self):
        return {}


class TestClaimTimeoutOption(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.conf = self.useFixture(config_fixture.Config(gpuvirt_conf.CONF))

    def test_claims_older_than_the_option_are_released(self):
        self.conf.config(live_migration_claim_timeout=600, group='gpuvirt')
        dest = _Destination({'old': 1000.0, 'young': 1500.0})
        self.assertEqual(['old'], dest.expire_dest_claims(now=1700.0))
        # The claim is gone: its device is free for others again.
        self.assertEqual({'young'}, set(dest._gpuvirt_claims))
        self.assertEqual({'young'}, set(dest._gpuvirt_held))

    def test_a_longer_timeout_keeps_both(self):
        self.conf.config(live_migration_claim_timeout=900, group='gpuvirt')
        dest = _Destination({'old': 1000.0, 'young': 1500.0})
        self.assertEqual([], dest.expire_dest_claims(now=1700.0))
        self.assertEqual({'old', 'young'}, set(dest._gpuvirt_claims))


class TestEndedMigrationClaims(base.BaseTestCase):
    """A claim goes as soon as its live migration has ended."""

    def test_claims_of_ended_migrations_go_before_the_timeout(self):
        objects.register_all()
        dest = _Destination({'cancelled': 1000.0, 'running': 1000.0,
                             'unreadable': 1000.0})
        dest._gpuvirt_held_migrations = {
            'cancelled': 'm1', 'running': 'm2', 'unreadable': 'm3'}
        statuses = {'m1': 'cancelled', 'm2': 'running'}

        def get_by_uuid(context, uuid):
            if uuid not in statuses:
                raise LookupError(uuid)
            return mock.Mock(status=statuses[uuid])

        with mock.patch.object(objects.Migration, 'get_by_uuid',
                               side_effect=get_by_uuid), \
                mock.patch.object(migrate.nova_context,
                                  'get_admin_context'):
            self.assertEqual(['cancelled'],
                             dest.expire_dest_claims(now=1100.0))
        self.assertEqual({'running', 'unreadable'},
                         set(dest._gpuvirt_claims))
        self.assertEqual({'running', 'unreadable'},
                         set(dest._gpuvirt_held_migrations))

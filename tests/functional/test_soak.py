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

"""A bounded soak on two hosts through Nova's fixtures.

Rounds of concurrent spawns, deletes, resizes and live migrations (each
round's operations run at once, each from its own API thread) on two
hosts whose GPUs are carved into mdevs. Sized by event counts, not by
time. Every libvirt define or create is checked as it happens: no device
may be named by two domains of a host, even for an instant. At the end
the fault suite's audit (tests.functional.audit) must find nothing.
"""

import collections
import random
import threading

import fixtures
from nova import context as nova_context
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.functional.api import client as api_client
from nova.tests.functional.libvirt import base as libvirt_base
from testtools import content as text_content

from gpuvirt_nova.demo import nova as inprocess
from gpuvirt_nova.virt import xml as vxml
from tests.functional import audit
from tests.functional import base

HOSTS = ('host1', 'host2')
TYPE = 'A100-10C'
#: Rounds, and the operations of each round (run at once).
ROUNDS = 4
ROUND = ('spawn', 'spawn', 'delete', 'resize', 'live-migrate')
#: Servers alive at most (4 devices per host). A move that finds the
#: other host full is refused by the scheduler (NoValidHost): a refusal
#: is counted, and must leave everything consistent too.
MAX_SERVERS = 5
SEED = 15


class SoakTests(libvirt_base.LibvirtMigrationMixin, audit.FaultAuditMixin,
                base.GpuvirtTestBase):

    SIM_SPEC = '1xA100-PCIE-40GB:sriov-mdev'
    LAYOUT = inprocess.layout_text(('type: A100-PCIE-40GB', TYPE, 4))

    def setUp(self):
        super().setUp()
        for hostname in HOSTS:
            self.start_gpu_compute(hostname)
        # Two flavors asking the same vGPU: a resize moves the guest (to
        # the other host) with its vGPU.
        self.flavors = {}
        for _ in range(2):
            flavor = self.vgpu_flavor(TYPE)
            self.flavors[flavor] = self.api.get_flavor(flavor)['name']
        self.carves = {h: self.carve_state(h) for h in HOSTS}
        self.lock = threading.Lock()
        #: Devices found in two domains at a define or create.
        self.doubles = []
        self.defines = 0
        self.refused = 0
        self._watch('defineXML', lambda conn, xml: xml)
        self._watch('createXML', lambda conn, xml, flags: xml)

    def _watch(self, name, xml_of):
        real = getattr(fakelibvirt.Connection, name)
        test = self

        def call(conn, *args):
            xml = xml_of(conn, *args)
            with test.lock:
                test.defines += 1
                new = vxml.hostdev_keys(xml)
                for dom in list(conn._vms.values()):
                    if dom.UUIDString() in xml:
                        # The same guest, redefined.
                        continue
                    both = new & vxml.hostdev_keys(dom.XMLDesc(0))
                    if both:
                        test.doubles.append((name, sorted(both)))
                return real(conn, *args)

        self.useFixture(fixtures.MonkeyPatch(
            'nova.tests.fixtures.libvirt.Connection.%s' % name, call))

    def _migrate_stub(self, domain, destination, params, flags):
        # Any server, either direction (the mixin's stub knows one).
        dest = next(h for h in HOSTS if h in destination)
        self.computes[dest].driver._host.get_connection().createXML(
            params['destination_xml'],
            'fake-createXML-doesnt-care-about-flags')
        domain.complete_job()
        if flags & fakelibvirt.VIR_MIGRATE_UNDEFINE_SOURCE:
            domain.undefine()

    # -- operations (each from its own thread) ---------------------------

    def spawn(self, rng):
        server = self._create_server(
            flavor_id=rng.choice(sorted(self.flavors)), networks='none',
            host=rng.choice(HOSTS))
        return 'spawn', server

    def delete(self, server):
        self._delete_server(server)
        return 'delete', None

    def resize(self, server):
        flavor = next(f for f, name in sorted(self.flavors.items())
                      if name != server['flavor']['original_name'])
        source = server['OS-EXT-SRV-ATTR:host']
        self.api.post_server_action(server['id'],
                                    {'resize': {'flavorRef': flavor}})
        server = self._wait_for_state_change(server, 'VERIFY_RESIZE')
        return 'resize', (server, source)

    def live_migrate(self, server):
        dest = next(h for h in HOSTS
                    if h != server['OS-EXT-SRV-ATTR:host'])
        server = self._live_migrate(server, host=dest)
        return 'live-migrate', server

    # -- the soak ---------------------------------------------------------

    def _round(self, rng, servers):
        """Start the round's operations at once; [(kind, result)]."""
        work = []
        free = list(servers)
        rng.shuffle(free)
        for kind in ROUND:
            if kind == 'spawn':
                if len(servers) + sum(k == 'spawn' for k, _ in work) < \
                        MAX_SERVERS:
                    work.append((kind, (self.spawn, rng)))
            elif free:
                server = free.pop()
                method = {'delete': self.delete, 'resize': self.resize,
                          'live-migrate': self.live_migrate}[kind]
                work.append((kind, (method, server)))
        results, errors = [], []
        start = threading.Barrier(len(work))

        def run(method, arg):
            try:
                start.wait(timeout=120)
                results.append(method(arg))
            except api_client.OpenStackApiException as exc:
                if 'NoValidHost' not in str(exc):
                    errors.append(exc)
                with self.lock:
                    self.refused += 1
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=args)
                   for _, args in work]
        for thread in threads:
            thread.start()
        for thread in threads:
            # A liveness bound only.
            thread.join(timeout=600)
        self.assertEqual([], [t for t in threads if t.is_alive()])
        self.assertEqual([], errors)
        return [kind for kind, _ in work], results

    def test_soak(self):
        rng = random.Random(SEED)
        servers = {}
        done = []
        for _ in range(ROUNDS):
            _, results = self._round(rng, list(servers.values()))
            for kind, result in results:
                done.append(kind)
                if kind == 'resize':
                    server, source = result
                    self._confirm_resize(server, host=source)
                    result = self.api.get_server(server['id'])
                if kind == 'delete':
                    continue
                servers[result['id']] = result
            # Deleted servers are gone from the API.
            alive = {s['id'] for s in self.api.get_servers()}
            servers = {i: self.api.get_server(i) for i in servers
                       if i in alive}
            self.assertEqual([], self.doubles)
        # Every kind of operation succeeded, concurrently with others.
        self.assertEqual(set(ROUND), set(done))
        self.assertLessEqual(self.refused, len(done))
        for hostname in HOSTS:
            self.computes[hostname].manager.update_available_resource(
                nova_context.get_admin_context())
        # Each server is ACTIVE with one device, on its host.
        for server in servers.values():
            self.assertEqual('ACTIVE', server['status'])
            self.assertEqual(1, len(self.domain_keys(
                server['OS-EXT-SRV-ATTR:host'], server)))
        self.assertEqual([], self.doubles)
        self.assertGreaterEqual(self.defines,
                                sum(k != 'delete' for k in done))
        self.assertEqual([], self.leaks(*HOSTS))
        self.addDetail('soak', text_content.text_content(
            '%s; %d refused; %d defines checked' % (
                ', '.join('%s %d' % kv for kv in sorted(
                    collections.Counter(done).items())),
                self.refused, self.defines)))
        # Nobody created or removed an mdev.
        self.assertEqual(self.carves, {h: self.carve_state(h)
                                       for h in HOSTS})

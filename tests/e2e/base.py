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

"""End-to-end tests against the mini cloud (``tools/minicloud.sh up``).

Every OpenStack service is a real process configured by its files; the
tests drive it as an operator would, with the real ``openstack`` CLI
(osc-placement for Placement) and the ``gpuvirt-nova`` command, and look
at the hardware through the simulated hosts the computes run on. They run
only where ``GPUVIRT_TEST_MINICLOUD=1`` (``.ci/run`` sets it and brings
the cloud up) and MariaDB and RabbitMQ answer; elsewhere they skip.
"""

import json
import os
import socket
import subprocess
import sys
import time

import testtools

from gpuvirt_nova.hardware import discover
from gpuvirt_nova.placement import naming
from gpuvirt_nova.sim import host as sim_host
from gpuvirt_nova.virt import xml as vxml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
ENV_FLAG = 'GPUVIRT_TEST_MINICLOUD'
ADMIN = 'minicloud-admin'
ALICE = 'minicloud-alice'
IMAGE = 'minicloud-image'
#: Long enough for a loaded 2-core machine; a boot takes seconds.
BOOT_TIMEOUT = 300


def state_dir():
    return os.path.abspath(os.environ.get(
        'GPUVIRT_MINICLOUD_STATE', os.path.join(REPO, '.minicloud')))


def _port_open(port):
    try:
        socket.create_connection(('127.0.0.1', port), 2).close()
        return True
    except OSError:
        return False


def skip_reason():
    """Why the end-to-end tests cannot run here, or None."""
    if os.environ.get(ENV_FLAG) != '1':
        return ('%s=1 not set: bring the mini cloud up with '
                '"tools/minicloud.sh up" and set it (.ci/run does both)'
                % ENV_FLAG)
    if not (_port_open(3306) and _port_open(5672)):
        return 'MariaDB (127.0.0.1:3306) or RabbitMQ (127.0.0.1:5672) absent'
    return None


class CommandFailed(Exception):
    pass


class MiniCloudTestCase(testtools.TestCase):
    """Helpers: the CLIs, the servers, the simulated hardware."""

    #: Resource provider names by uuid, shared by the tests.
    _provider_names = {}

    def setUp(self):
        super().setUp()
        reason = skip_reason()
        if reason:
            self.skipTest(reason)
        self.state = state_dir()
        self.clouds_yaml = os.path.join(self.state, 'clouds.yaml')
        if not os.path.exists(self.clouds_yaml):
            self.fail('%s=1 but the mini cloud is not up (no %s): run '
                      'tools/minicloud.sh up' % (ENV_FLAG, self.clouds_yaml))

    # -- commands ---------------------------------------------------------

    def command(self, argv, check=True):
        """Run a CLI; its stdout. CommandFailed (with stderr) on failure."""
        env = dict(os.environ, OS_CLIENT_CONFIG_FILE=self.clouds_yaml)
        env.pop('OS_CLOUD', None)
        proc = subprocess.run(argv, capture_output=True, text=True, env=env,
                              stdin=subprocess.DEVNULL, timeout=600)
        if check and proc.returncode:
            raise CommandFailed('%s: exit %d: %s' % (
                ' '.join(argv), proc.returncode, proc.stderr[-2000:]))
        return proc.stdout

    def openstack(self, *args, cloud=ADMIN, fmt='json'):
        """``openstack --os-cloud CLOUD ARGS -f json``, parsed."""
        argv = [os.path.join(os.path.dirname(sys.executable), 'openstack'),
                '--os-cloud', cloud] + list(args)
        if fmt:
            return json.loads(self.command(argv + ['-f', fmt]) or 'null')
        return self.command(argv)

    def gpuvirt_nova(self, *args, check=True):
        argv = [sys.executable, '-m', 'gpuvirt_nova.cmd.main'] + list(args)
        return self.command(argv, check=check)

    def minicloud(self, *args):
        return self.command(['bash', os.path.join(REPO, 'tools',
                                                  'minicloud.sh')] +
                            list(args))

    # -- servers ------------------------------------------------------------

    def boot(self, name, flavor, cloud=ADMIN, wait=True):
        """Create a server (no network); the server once it settles."""
        server = self.openstack('server', 'create', '--flavor', flavor,
                                '--image', IMAGE, '--nic', 'none', name,
                                cloud=cloud)
        self.addCleanup(self.delete_quietly, server['id'])
        return self.settle(server['id']) if wait else server

    def settle(self, server_id, states=('ACTIVE', 'ERROR')):
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            server = self.openstack('server', 'show', server_id)
            if server['status'] in states and \
                    not server.get('OS-EXT-STS:task_state'):
                return server
            time.sleep(2)
        self.fail('server %s still %s after %ds'
                  % (server_id, server['status'], BOOT_TIMEOUT))

    def delete(self, server_id):
        self.openstack('server', 'delete', '--wait', server_id, fmt=None)

    def delete_quietly(self, server_id):
        try:
            self.delete(server_id)
        except CommandFailed:
            pass

    def allocations(self, server_id):
        """{provider name: {resource class: amount}} (osc-placement)."""
        rows = self.openstack('resource', 'provider', 'allocation', 'show',
                              server_id)
        # Providers outlive a test: list them again only for a new one.
        if any(row['resource_provider'] not in self._provider_names
               for row in rows):
            self._provider_names.update(
                (rp['uuid'], rp['name'])
                for rp in self.openstack('resource', 'provider', 'list'))
        return {self._provider_names[row['resource_provider']]:
                row['resources'] for row in rows}

    # -- the hardware -------------------------------------------------------

    def host_hardware(self, hostname):
        root = os.path.join(self.state, hostname, 'nova-sim', hostname)
        return discover.discover_host(sim_host.SimulatedHost.open(root),
                                      hostname)

    def domain_devices(self, hostname, server_id):
        """Device keys of the guest's hostdevs, as its libvirt defines it."""
        path = os.path.join(self.state, hostname, 'fake-libvirt',
                            '%s.json' % server_id)
        with open(path) as f:
            return vxml.hostdev_keys(json.load(f)['xml'])

    def vf_home(self, hostname, vf_address):
        """(GPU provider name, vGPU type) of a VF on ``hostname``."""
        for gpu in self.host_hardware(hostname).gpus:
            vf = gpu.vf(vf_address)
            if vf is not None:
                return (naming.gpu_provider_name(hostname, gpu.address),
                        vf.current_vgpu_type)
        return (None, None)

    def record(self, name, text):
        """Keep evidence for the CI log (``<state>/evidence/NAME``)."""
        path = os.path.join(self.state, 'evidence', name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)

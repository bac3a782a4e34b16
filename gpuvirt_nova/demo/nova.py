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

"""In-process Nova with the gpuvirt driver on simulated GPUs.

The harness of the functional tests and of ``gpuvirt-nova nova demo``:
Nova's own functional fixtures from the installed nova wheel (real API,
conductor, scheduler, compute; PlacementFixture for real Placement),
Nova's fake libvirt, and each compute host's GPUs from
``gpuvirt_nova.sim`` behind sysfs and NVML.

Each host is carved before its nova-compute starts, as ``layout apply
--boot`` does on a real host, through the layout's own writer (mdevs
through :class:`gpuvirt_nova.layout.mdevs.SimulatedMdevs`, which plays
libvirt and mdevctl); nova-compute only hands the carved devices out.
Test and demo use only.
"""

import os
import sys
import time

import fixtures
from nova import conf as nova_conf
from nova.tests.functional.libvirt import base
import testtools

from gpuvirt_nova import conf as gpuvirt_conf
from gpuvirt_nova import exception
from gpuvirt_nova.hardware import discover
from gpuvirt_nova.layout import carve as layout_carve
from gpuvirt_nova.layout import hostctx
from gpuvirt_nova.layout import mdevs as layout_mdevs
from gpuvirt_nova.layout import owners
from gpuvirt_nova.layout import spec as layout_spec
from gpuvirt_nova.placement import naming
# NOTE: imported before Nova's fixtures forbid os.uname(), which numpy
# calls once on import; the scheduler loads the filters later.
from gpuvirt_nova.scheduler import filters as _filters  # noqa: F401
from gpuvirt_nova.virt import assign
from gpuvirt_nova.virt import hardware
from gpuvirt_nova.virt import shim
from gpuvirt_nova.virt import xml as vxml

CONF = nova_conf.CONF
gpuvirt_conf.register_opts(CONF)


def power_off_all(connection):
    """Every running domain stops, as when the host goes down."""
    for domain in list(connection._vms.values()):
        if domain.isActive():
            domain.destroy()


def layout_text(*gpus):
    """A one-node layout file, ``{host}`` left to fill in.

    ``gpus``: ``(selector, vGPU type, count)``, the selector as the file
    writes it (``'index: [0]'``, ``'type: A100-PCIE-40GB'``).
    """
    lines = ['gpu_cluster:', '  nodes:', '    - host: {host}', '      gpus:']
    for selector, type_name, count in gpus:
        lines += ['        - %s' % selector, '          vgpus:',
                  '            - {{profile: %s, count: %d}}'
                  % (type_name, count)]
    return '\n'.join(lines) + '\n'


def sim_available():
    try:
        from gpuvirt_nova import sim
    except ImportError:
        return False
    return hasattr(sim, 'SimulatedHost')


class GpuvirtNovaTestBase(base.ServersTestBase):
    """Computes run GpuvirtLibvirtDriver on simulated hosts."""

    microversion = 'latest'
    ADMIN_API = True
    FAKE_LIBVIRT_VERSION = 8006000
    FAKE_QEMU_VERSION = 8001000

    #: Simulator spec of every compute host.
    SIM_SPEC = '2xA100-PCIE-40GB:mig'
    #: The layout each compute host is carved into before nova-compute
    #: starts (``{host}``: its name): GPU 0 as three 2g.10gb MIG-backed
    #: vGPUs, GPU 1 as two 3g.20gb.
    LAYOUT = layout_text(('index: [0]', 'A100-2-10C', 3),
                         ('index: [1]', 'A100-3-20C', 2))

    def setUp(self):
        if not sim_available():
            self.skipTest('gpuvirt_nova.sim.SimulatedHost is not available')
        shim.install()
        self.state_dir = self.useFixture(fixtures.TempDir()).path
        self.sims = {}
        super().setUp()
        # As upstream's vGPU tests: no real disks to move on resize.
        self.useFixture(fixtures.MockPatch(
            'nova.virt.libvirt.LibvirtDriver._get_instance_disk_info',
            return_value=[]))
        self.useFixture(fixtures.MockPatch('os.rename'))
        self.flags(simulate=self.SIM_SPEC, state_dir=self.state_dir,
                   group='gpuvirt')

    def _setup_compute_service(self):
        self.flags(compute_driver=shim.DRIVER_NAME)

    # -- hosts ------------------------------------------------------------

    def create_sim_host(self, hostname, carve=True):
        """A simulated host, carved by :attr:`LAYOUT` unless ``carve``."""
        from gpuvirt_nova import sim
        root = hardware.simulated_host_root(CONF, hostname)
        os.makedirs(root)
        sim_host = sim.SimulatedHost.create(root, sim.parse_spec(
            self.SIM_SPEC))
        self.sims[hostname] = sim_host
        if carve:
            self.carve(hostname)
        return sim_host

    def layout_file(self, hostname, text=None):
        """Write the layout of ``hostname`` (default :attr:`LAYOUT`)."""
        path = os.path.join(self.state_dir, 'layout-%s.yaml' % hostname)
        with open(path, 'w') as f:
            f.write((text or self.LAYOUT).format(host=hostname))
        return path

    def carve(self, hostname, text=None):
        """What ``layout apply`` does on a host no guest uses yet."""
        sim_host = self.sims[hostname]
        context = hostctx.HostContext(
            hostname=hostname,
            read=lambda: discover.discover_host(sim_host, hostname),
            make_writer=sim_host.writer, simulated=sim_host,
            make_mdevs=lambda: layout_mdevs.SimulatedMdevs(sim_host),
            owners_path=owners.path_in(
                hardware.simulated_host_root(CONF, hostname)))
        layout = layout_spec.load_file(self.layout_file(hostname, text))
        return layout_carve.carve(context, layout, hostname)

    def start_gpu_compute(self, hostname):
        self.create_sim_host(hostname)
        self.start_compute(hostname=hostname,
                           libvirt_version=self.FAKE_LIBVIRT_VERSION,
                           qemu_version=self.FAKE_QEMU_VERSION)
        return self.computes[hostname]

    def hardware(self, hostname):
        return discover.discover_host(self.sims[hostname])

    # -- looking at results -------------------------------------------------

    def gpu_address(self, hostname, index):
        return sorted(g.address for g in self.hardware(hostname).gpus)[index]

    def gpu_rp_uuid(self, hostname, index):
        return self._get_provider_uuid_by_name(naming.gpu_provider_name(
            hostname, self.gpu_address(hostname, index)))

    def host_of(self, server):
        """The compute host the server is on now (after a move)."""
        return self._show_server(server)['OS-EXT-SRV-ATTR:host']

    def domain_keys(self, hostname, server):
        conn = self.computes[hostname].driver._host.get_connection()
        dom = conn.lookupByUUIDString(server['id'])
        return vxml.hostdev_keys(dom.XMLDesc(0))

    def vgpu_allocations(self, server):
        allocations = self._get_allocations_by_server_uuid(server['id'])
        return {rp: {rc: n for rc, n in alloc['resources'].items()
                     if rc.startswith(naming.VGPU_RC_PREFIX)}
                for rp, alloc in allocations.items()
                if any(rc.startswith(naming.VGPU_RC_PREFIX)
                       for rc in alloc['resources'])}

    def vf_types(self, hostname):
        """{VF address: current vGPU type} of every typed VF."""
        return {vf.address: vf.current_vgpu_type
                for g in self.hardware(hostname).gpus for vf in g.vfs
                if vf.current_vgpu_type}

    def settle(self, server, states=('ACTIVE', 'ERROR')):
        """The server once its status is one of ``states``, task done.

        Sized for a loaded 2-core machine (up to 5 minutes), and quick to
        return on a failed boot (ERROR is a state like any other).
        """
        for _ in range(1200):
            server = self.api.get_server(server['id'])
            if server['status'] in states and \
                    not server['OS-EXT-STS:task_state']:
                return server
            time.sleep(0.25)
        self.fail('server %s still %s' % (server['id'], server['status']))

    def one_vf(self, hostname, server, gpu_index, type_name):
        """The server's only device: a VF of that GPU with that type."""
        keys = self.domain_keys(hostname, server)
        self.assertEqual(1, len(keys), keys)
        kind, vf_address = keys.pop()
        self.assertEqual(assign.KIND_VF, kind)
        self.assertEqual(self.gpu_address(hostname, gpu_index),
                         self.vf_gpu(hostname, vf_address))
        self.assertEqual(type_name, self.vf_types(hostname)[vf_address])
        return vf_address

    def carve_state(self, hostname):
        """What the host is carved into: VF types and mdevs (by type)."""
        host = self.hardware(hostname)
        return ({vf.address: vf.current_vgpu_type for g in host.gpus
                 for vf in g.vfs if vf.current_vgpu_type},
                {m.uuid: m.mdev_type for g in host.gpus for m in g.mdevs})

    def used_devices(self, hostname):
        """Device keys referenced by any domain defined on ``hostname``."""
        conn = self.computes[hostname].driver._host.get_connection()
        keys = set()
        for dom in list(conn._vms.values()):
            keys |= vxml.hostdev_keys(dom.XMLDesc(0))
        return keys

    def vf_gpu(self, hostname, vf_address):
        for gpu in self.hardware(hostname).gpus:
            if gpu.vf(vf_address) is not None:
                return gpu.address
        return None

    def vgpu_flavor(self, *type_names):
        """A flavor asking one vGPU per type name (granular when several)."""
        if len(type_names) == 1:
            extra = {'resources:%s' % naming.resource_class(type_names[0]):
                     '1'}
        else:
            extra = {'resources%d:%s' % (i + 1, naming.resource_class(t)):
                     '1' for i, t in enumerate(type_names)}
            extra['group_policy'] = 'none'
        # Small, so that many fit the fake host's disk and memory.
        return self._create_flavor(memory_mb=512, vcpu=1, disk=1,
                                   ephemeral=0, extra_spec=extra)

    def _confirm_resize(self, server, host='host1'):
        # NOTE: libvirt's _cleanup_resize compares CONF.host with the
        # source host; all computes share one CONF here (as upstream's
        # vGPU tests do).
        orig_host = CONF.host
        self.flags(host=host)
        try:
            return super()._confirm_resize(server)
        finally:
            self.flags(host=orig_host)

    def cold_migrate(self, server):
        """Cold-migrate to the other of host1 and host2, and confirm.

        Returns (server, source, destination) once the source's
        resources are cleaned up (periodics run).
        """
        source = self.host_of(server)
        dest = 'host2' if source == 'host1' else 'host1'
        server = self._migrate_server(server)
        self.assertEqual(dest, self.host_of(server))
        self._confirm_resize(server, host=source)
        self._run_periodics()
        return server, source, dest


class NovaDemo(GpuvirtNovaTestBase):
    """Boot vGPU servers on simulated hosts; record where each landed."""

    #: Set by run_demo before the case runs.
    options = {'hosts': 2, 'servers': 3,
               'types': ('A100-2-10C', 'A100-3-20C')}
    rows = []

    def test_demo(self):
        hosts = ['compute%d' % (i + 1) for i in range(self.options['hosts'])]
        for hostname in hosts:
            self.start_gpu_compute(hostname)
        rows = []
        for type_name in self.options['types']:
            flavor = self.vgpu_flavor(type_name)
            for index in range(self.options['servers']):
                server = self.api.post_server({'server': self._build_server(
                    name='%s-%d' % (type_name.lower(), index + 1),
                    flavor_id=flavor, networks='none')})
                rows.append(self._row(self._settle(server), type_name))
        NovaDemo.rows = rows

    def _settle(self, server):
        for _ in range(300):
            server = self._show_server(server)
            if server['status'] in ('ACTIVE', 'ERROR'):
                break
            time.sleep(0.1)
        return server

    def _row(self, server, type_name):
        host = server.get('OS-EXT-SRV-ATTR:host')
        if server['status'] != 'ACTIVE' or not host:
            fault = server.get('fault', {}).get('message', '')
            status = '%s: %s' % (server['status'], fault.split('.')[0])
            return (server['name'], type_name, status, host or '-', '-',
                    '-', '-')
        rp_names = []
        for rp_uuid in self.vgpu_allocations(server):
            rp_names.append(self.placement.get(
                '/resource_providers/%s' % rp_uuid).body['name'])
        keys = self.domain_keys(host, server)
        devices = sorted('%s %s' % key for key in keys)
        types = self.vf_types(host)
        backing = sorted(types.get(k[1], '') for k in keys)
        return (server['name'], type_name, server['status'], host,
                ','.join(rp_names), ','.join(devices),
                ','.join(b for b in backing if b))


#: The scheduler demo's filters (after Nova's defaults) and weigher.
OUR_FILTERS = ['VGPUUserLimitFilter', 'VGPUFairShareFilter',
               'VGPUPlacementFilter']
OUR_WEIGHER = 'gpuvirt_nova.scheduler.weighers.GpuPackingWeigher'
DEMO_TYPE = 'A100-4C'


class SchedulerDemo(GpuvirtNovaTestBase):
    """Our filters and weigher at work in Nova: caps, fair share, policy.

    Two hosts, each two A100-PCIE-40GB carved into ten A100-4C. Three
    acts, each on an empty cloud, each row one boot: who asked, where it
    landed or why it was refused (the server's fault, as the user sees
    it).
    """

    SIM_SPEC = '2xA100-PCIE-40GB:vfio'
    LAYOUT = layout_text(('type: A100-PCIE-40GB', DEMO_TYPE, 10))
    rows = []

    def _setup_scheduler_service(self):
        self.flags(available_filters=[
            'nova.scheduler.filters.all_filters',
            'gpuvirt_nova.scheduler.filters.all_filters'],
            group='filter_scheduler')
        self.flags(weight_classes=['nova.scheduler.weights.all_weighers',
                                   OUR_WEIGHER], group='filter_scheduler')
        # NOTE: Nova's RAM weigher spreads; ours must outweigh it for the
        # policy to show (and says so in the output).
        self.flags(packing_weight_multiplier=10.0,
                   cluster_usage_cache_seconds=0, group='gpuvirt_scheduler')
        self.ADDITIONAL_FILTERS = list(OUR_FILTERS)
        return super()._setup_scheduler_service()

    def test_demo(self):
        self.flags(file=os.path.join(self.state_dir, 'no-layout.yaml'),
                   group='gpuvirt_layout')
        for hostname in ('compute1', 'compute2'):
            self.start_gpu_compute(hostname)
        self.flavor = self.vgpu_flavor(DEMO_TYPE)
        rows = []
        rows += self.act_user_cap()
        rows += self.act_fair_share()
        rows += self.act_policy('pack')
        rows += self.act_policy('spread')
        SchedulerDemo.rows = rows

    def api_as(self, user, project):
        from nova.tests.functional.api import client
        api = client.TestOpenStackClient(user, self.api.base_url,
                                         project_id=project)
        api.microversion = self.api.microversion
        return api

    def boot(self, act, user, project, name):
        api = self.api_as(user, project)
        server = api.post_server({'server': self._build_server(
            name=name, flavor_id=self.flavor, networks='none')})
        server = self.settle(server)
        if server['status'] == 'ACTIVE':
            host = server.get('OS-EXT-SRV-ATTR:host')
            gpus = ','.join(self.placement.get(
                '/resource_providers/%s' % uuid).body['name']
                for uuid in self.vgpu_allocations(server))
            outcome = 'ACTIVE on %s' % gpus
        else:
            host = '-'
            outcome = 'refused: %s' % server.get('fault', {}).get(
                'message', server['status']).replace(
                'No valid host was found. ', '')
        self._servers.append(server)
        return (act, '%s/%s' % (user, project), name, host, outcome)

    def clean(self):
        for server in self._servers:
            self._delete_server(server)
        self._servers = []
        for consumer in self._others:
            self.placement.delete('/allocations/%s' % consumer)
        self._others = []

    def occupy(self, count, project):
        """Another user of ``project`` holds ``count`` vGPUs per GPU."""
        from oslo_utils import uuidutils
        rc = naming.resource_class(DEMO_TYPE)
        for uuid in self.gpu_providers():
            consumer = uuidutils.generate_uuid()
            self.placement.put('/allocations/%s' % consumer, {
                'allocations': {uuid: {'resources': {rc: count}}},
                'project_id': project, 'user_id': 'batch-jobs',
                'consumer_generation': None}, version='1.28')
            self._others.append(consumer)

    def gpu_providers(self):
        rc = naming.resource_class(DEMO_TYPE)
        return sorted(p['uuid'] for p in self.placement.get(
            '/resource_providers?resources=%s:1' % rc,
            version='1.14').body['resource_providers'])

    def act_user_cap(self):
        self._servers, self._others = [], []
        self.flags(max_jobs_per_user=2, fair_share=False,
                   group='gpuvirt_scheduler')
        act = 'max_jobs_per_user=2'
        rows = [self.boot(act, 'alice', 'research', 'alice-%d' % i)
                for i in (1, 2, 3)]
        rows.append(self.boot(act, 'bob', 'research', 'bob-1'))
        self.clean()
        self.flags(max_jobs_per_user=0, group='gpuvirt_scheduler')
        return rows

    def act_fair_share(self):
        self._servers, self._others = [], []
        self.flags(fair_share=True, fair_share_threshold=0.5,
                   project_weights={'research': '1', 'render': '1'},
                   group='gpuvirt_scheduler')
        # research's batch jobs hold 6 of 10 vGPUs on every GPU: the
        # cloud is 60% used, research is over its half.
        self.occupy(6, 'research')
        act = 'fair share 1:1, busy above 50%'
        rows = [self.boot(act, 'alice', 'research', 'alice-4'),
                self.boot(act, 'carol', 'render', 'carol-1')]
        self.clean()
        self.flags(fair_share=False, group='gpuvirt_scheduler')
        return rows

    def act_policy(self, policy):
        self._servers, self._others = [], []
        self.flags(weigher_policy=policy, group='gpuvirt_scheduler')
        act = 'weigher_policy=%s' % policy
        rows = [self.boot(act, 'dave', 'render', '%s-%d' % (policy, i))
                for i in (1, 2, 3)]
        self.clean()
        return rows


def run_scheduler_demo():
    """Run :class:`SchedulerDemo`; return its rows or raise GpuvirtError."""
    _run(SchedulerDemo('test_demo'))
    return SchedulerDemo.rows


def _run(case):
    os.environ.setdefault('OS_WSGI__API_PASTE_CONFIG', os.path.join(
        sys.prefix, 'etc', 'nova', 'api-paste.ini'))
    CONF.reset()
    result = testtools.TestResult()
    case.run(result)
    problems = result.errors + result.failures
    if problems:
        detail = str(problems[0][1]).strip().splitlines() or ['unknown']
        raise exception.GpuvirtError(
            'the in-process Nova demo failed: %s' % detail[-1])
    if result.skipped:
        raise exception.GpuvirtError(
            'the in-process Nova demo was skipped: %s'
            % list(result.skipped)[0])
    return True


def run_demo(hosts=2, servers=3, types=None, spec=None):
    """Run :class:`NovaDemo`; return its rows or raise GpuvirtError."""
    NovaDemo.options = {'hosts': hosts, 'servers': servers,
                        'types': tuple(types or NovaDemo.options['types'])}
    if spec:
        NovaDemo.SIM_SPEC = spec
    _run(NovaDemo('test_demo'))
    return NovaDemo.rows

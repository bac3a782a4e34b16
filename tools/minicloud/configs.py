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

"""The mini cloud's configuration files, as plain text from plain data.

Pure functions: :class:`Cloud` says where things are, each ``*_files``
function returns ``{relative path: text}`` for one service. Nothing here
touches the disk or the network (``cloud.py`` does).
"""

import collections
import os

#: Every service's port is ``port_base`` plus its offset.
PORT_OFFSETS = {'keystone': 0, 'placement': 1, 'glance': 2, 'neutron': 3,
                'nova': 4}
#: What each WSGI service reads besides its gunicorn.conf.py.
WSGI_CONFIGS = {'keystone': ['keystone.conf'],
                'placement': ['placement.conf'],
                'glance': ['glance-api.conf'],
                'neutron': ['neutron.conf'],
                'nova': ['api-paste.ini', 'nova.conf']}
#: Databases, each prefixed with ``Cloud.db_prefix``.
DATABASES = ('keystone', 'glance', 'neutron', 'placement', 'nova_api',
             'nova', 'nova_cell0')
#: Keystone users of the services (project "service", role admin).
SERVICE_USERS = ('nova', 'placement', 'glance', 'neutron')
PASSWORD = 'minicloud'
REGION = 'RegionOne'

#: The two GPU compute hosts: simulator spec and the layout they are
#: carved into before their nova-compute starts (``layout apply``).
#: One of compute-mig's GPUs is time-sliced (MIG mode is per GPU) and
#: carved like compute-vfio's second: A100-20C is the one type both hosts
#: offer, so a server of that flavor can migrate between them. It is
#: compute-mig's first GPU, so its VFs' PCI addresses differ from those
#: of compute-vfio's A100-20C VFs: a guest that kept its source address
#: would be seen on the wrong device.
COMPUTES = collections.OrderedDict([
    ('compute-vfio', {
        'spec': '2xA100-PCIE-40GB:vfio',
        'gpus': [('index: [0]', 'A100-10C', 4),
                 ('index: [1]', 'A100-20C', 2)]}),
    ('compute-mig', {
        'spec': '1xA100-PCIE-40GB:vfio+1xA100-PCIE-40GB:mig',
        'gpus': [('index: [0]', 'A100-20C', 2),
                 ('index: [1]', 'A100-2-10C', 3)]}),
])
#: The vGPU type both GPU hosts offer (the migration tests' flavor).
SHARED_TYPE = 'A100-20C'

#: The host on a real libvirtd with QEMU, no GPUs (when both are installed).
QEMU_HOST = 'compute-qemu'

#: The scheduler's [filter_scheduler], as the operator guide tells
#: operators (doc/source/scheduler.rst; tests/unit/test_minicloud.py
#: compares them).
SCHEDULER_FILTERS = [
    ('available_filters', 'nova.scheduler.filters.all_filters'),
    ('available_filters', 'gpuvirt_nova.scheduler.filters.all_filters'),
    ('enabled_filters', 'ComputeFilter,ComputeCapabilitiesFilter,'
     'ImagePropertiesFilter,ServerGroupAntiAffinityFilter,'
     'ServerGroupAffinityFilter,VGPUUserLimitFilter,VGPUFairShareFilter,'
     'VGPUPlacementFilter,VGPUGeometryFilter'),
    ('weight_classes', 'nova.scheduler.weights.all_weighers,'
     'gpuvirt_nova.scheduler.weighers.GpuPackingWeigher'),
]
#: max_jobs_per_user of the mini cloud's scheduler.
MAX_JOBS_PER_USER = 3


class Cloud(collections.namedtuple('Cloud', [
        'state_dir', 'service_venv', 'nova_venv', 'repo', 'db_url',
        'transport_url', 'port_base'])):
    """Where the mini cloud lives.

    ``state_dir``: every file it writes; ``service_venv``: Keystone,
    Glance, Neutron; ``nova_venv``: the project's (Nova, Placement, us);
    ``db_url``: ``mysql+pymysql://root@127.0.0.1:3306/`` (database name
    appended); ``transport_url``: a RabbitMQ URL with its virtual host.
    """

    def port(self, service):
        return self.port_base + PORT_OFFSETS[service]

    def url(self, service):
        suffix = {'keystone': '/v3', 'nova': '/v2.1'}.get(service, '')
        return 'http://127.0.0.1:%d%s' % (self.port(service), suffix)

    def db(self, name):
        return '%sminicloud_%s' % (self.db_url, name)

    def path(self, *parts):
        return os.path.join(self.state_dir, *parts)

    @property
    def libvirt_uri(self):
        """The mini cloud's own libvirtd (its socket under state_dir)."""
        return 'qemu+unix:///system?socket=%s' % self.path(
            'libvirt', 'sock', 'libvirt-sock')


def render_ini(sections):
    """INI text from ``[(section, [(key, value), ...]), ...]``.

    Keys may repeat (oslo.config's MultiStrOpt), so pairs, not dicts.
    """
    out = []
    for name, pairs in sections:
        out.append('[%s]' % name)
        out.extend('%s = %s' % (k, v) for k, v in pairs)
        out.append('')
    return '\n'.join(out)


def auth_section(cloud, user):
    """Keystone password credentials of a service user."""
    return [('auth_type', 'password'), ('auth_url', cloud.url('keystone')),
            ('username', user), ('password', PASSWORD),
            ('project_name', 'service'), ('user_domain_name', 'Default'),
            ('project_domain_name', 'Default'), ('region_name', REGION)]


def authtoken_section(cloud, user):
    return [('www_authenticate_uri', cloud.url('keystone'))] + \
        auth_section(cloud, user)


def gunicorn_conf(cloud, service, app, env, pythonpath=''):
    """gunicorn.conf.py: the WSGI services start with no arguments.

    Keystone and nova-api parse ``sys.argv`` with oslo.config, so
    everything gunicorn needs is here; its shared control socket is
    disabled so several gunicorns can run side by side.
    """
    lines = ['# Written by tools/minicloud.sh.',
             'wsgi_app = %r' % app,
             'bind = %r' % ('127.0.0.1:%d' % cloud.port(service)),
             'workers = 1',
             'threads = 4',
             'timeout = 300',
             'graceful_timeout = 5',
             # NOTE: gunicorn closes an idle kept-alive connection after
             # 2 s by default, which races a client reusing it from its
             # pool ("Remote end closed connection without response",
             # seen once in an end-to-end run); a client's command ends
             # well within 75 s.
             'keepalive = 75',
             'accesslog = "-"',
             'control_socket_disable = True',
             'raw_env = %r' % ['%s=%s' % kv for kv in sorted(env.items())]]
    if pythonpath:
        lines.append('pythonpath = %r' % pythonpath)
    return '\n'.join(lines) + '\n'


def keystone_files(cloud):
    conf = render_ini([
        ('DEFAULT', []),
        ('database', [('connection', cloud.db('keystone'))]),
        ('token', [('provider', 'fernet')]),
        # Cheap password hashes: every service authenticates often, on a
        # small machine.
        ('identity', [('password_hash_rounds', '4')]),
        ('fernet_tokens', [('key_repository',
                            cloud.path('keystone', 'fernet-keys'))]),
        # NOTE: receipts need a key directory of their own.
        ('fernet_receipts', [('key_repository',
                              cloud.path('keystone', 'fernet-receipts'))]),
        ('credential', [('key_repository',
                         cloud.path('keystone', 'credential-keys'))]),
    ])
    return {'keystone/keystone.conf': conf,
            'keystone/gunicorn.conf.py': gunicorn_conf(
                cloud, 'keystone', 'keystone.wsgi.api:application',
                {'OS_KEYSTONE_CONFIG_DIR': cloud.path('keystone')})}


def placement_files(cloud):
    conf = render_ini([
        ('DEFAULT', []),
        ('api', [('auth_strategy', 'keystone')]),
        ('keystone_authtoken', authtoken_section(cloud, 'placement')),
        ('placement_database', [('connection', cloud.db('placement'))]),
    ])
    return {'placement/placement.conf': conf,
            'placement/gunicorn.conf.py': gunicorn_conf(
                cloud, 'placement', 'placement.wsgi.api:application',
                {'OS_PLACEMENT_CONFIG_DIR': cloud.path('placement')})}


def glance_files(cloud):
    paste = os.path.join(cloud.service_venv, 'etc', 'glance',
                         'glance-api-paste.ini')
    stores = [('os_glance_staging_store', 'staging'),
              ('os_glance_tasks_store', 'tasks'), ('fs', 'images')]
    conf = render_ini([
        ('DEFAULT', [('enabled_backends', 'fs:file')]),
        ('database', [('connection', cloud.db('glance'))]),
        ('keystone_authtoken', authtoken_section(cloud, 'glance')),
        ('paste_deploy', [('flavor', 'keystone'), ('config_file', paste)]),
        ('glance_store', [('default_backend', 'fs')]),
        ('oslo_concurrency', [('lock_path', cloud.path('glance', 'lock'))]),
    ] + [(name, [('filesystem_store_datadir', cloud.path('glance', d))])
         for name, d in stores])
    return {'glance/glance-api.conf': conf,
            'glance/gunicorn.conf.py': gunicorn_conf(
                cloud, 'glance', 'glance.wsgi.api:application',
                {'OS_GLANCE_CONFIG_DIR': cloud.path('glance')})}


def neutron_files(cloud):
    paste = os.path.join(cloud.service_venv, 'etc', 'neutron',
                         'api-paste.ini')
    conf = render_ini([
        ('DEFAULT', [('core_plugin', 'ml2'), ('service_plugins', ''),
                     ('auth_strategy', 'keystone'),
                     ('api_paste_config', paste),
                     ('transport_url', cloud.transport_url),
                     ('notify_nova_on_port_status_changes', 'false'),
                     ('notify_nova_on_port_data_changes', 'false')]),
        ('database', [('connection', cloud.db('neutron'))]),
        ('keystone_authtoken', authtoken_section(cloud, 'neutron')),
        # The API server alone: no agents, no mechanism drivers.
        ('ml2', [('type_drivers', 'flat'), ('tenant_network_types', ''),
                 ('mechanism_drivers', ''),
                 ('extension_drivers', 'port_security')]),
        ('oslo_concurrency', [('lock_path', cloud.path('neutron', 'lock'))]),
        ('oslo_messaging_notifications', [('driver', 'noop')]),
    ])
    return {'neutron/neutron.conf': conf,
            'neutron/gunicorn.conf.py': gunicorn_conf(
                cloud, 'neutron', 'minicloud_neutron_wsgi:application',
                {'OS_NEUTRON_CONFIG_DIR': cloud.path('neutron'),
                 'OS_NEUTRON_CONFIG_FILES': 'neutron.conf'},
                pythonpath=os.path.join(cloud.repo, 'tools', 'minicloud',
                                        'wsgi'))}


def nova_conf(cloud):
    """nova.conf shared by nova-api, nova-conductor and nova-scheduler."""
    return render_ini([
        ('DEFAULT', [('transport_url', cloud.transport_url),
                     ('state_path', cloud.path('nova')),
                     ('my_ip', '127.0.0.1')]),
        ('api', [('auth_strategy', 'keystone')]),
        ('api_database', [('connection', cloud.db('nova_api'))]),
        ('database', [('connection', cloud.db('nova'))]),
        ('keystone_authtoken', authtoken_section(cloud, 'nova')),
        ('placement', auth_section(cloud, 'placement')),
        ('neutron', auth_section(cloud, 'neutron')),
        ('glance', [('region_name', REGION)]),
        ('conductor', [('workers', '1')]),
        # New computes are mapped to the cell without nova-manage.
        ('scheduler', [('workers', '1'),
                       ('discover_hosts_in_cells_interval', '2')]),
        ('filter_scheduler', SCHEDULER_FILTERS),
        ('gpuvirt_scheduler', [('weigher_policy', 'pack'),
                               ('max_jobs_per_user',
                                str(MAX_JOBS_PER_USER))]),
        ('oslo_concurrency', [('lock_path', cloud.path('nova', 'lock'))]),
        ('oslo_messaging_notifications', [('driver', 'noop')]),
    ])


def layout_text(hostname, gpus):
    """The layout file of one compute host (``gpuvirt-nova layout``)."""
    lines = ['gpu_cluster:', '  nodes:', '    - host: %s' % hostname,
             '      gpus:']
    for selector, type_name, count in gpus:
        lines += ['        - %s' % selector, '          vgpus:',
                  '            - {profile: %s, count: %d}'
                  % (type_name, count)]
    return '\n'.join(lines) + '\n'


def compute_files(cloud, hostname):
    """nova-compute.conf of one GPU host, read after nova.conf."""
    spec = COMPUTES[hostname]['spec']
    conf = render_ini([
        ('DEFAULT', [('host', hostname),
                     ('compute_driver', 'gpuvirt.GpuvirtLibvirtDriver'),
                     ('state_path', cloud.path(hostname)),
                     ('instances_path', cloud.path(hostname, 'instances')),
                     # Nova's fake libvirt runs in eventlet mode, as in
                     # Nova's own functional tests.
                     ('concurrency_backend', 'eventlet')]),
        ('gpuvirt', [('simulate', spec),
                     ('state_dir', cloud.path(hostname))]),
        ('gpuvirt_layout', [('file', cloud.path(hostname, 'layout.yaml'))]),
        ('oslo_concurrency', [('lock_path', cloud.path(hostname, 'lock'))]),
    ])
    return {'%s/nova-compute.conf' % hostname: conf,
            '%s/layout.yaml' % hostname: layout_text(
                hostname, COMPUTES[hostname]['gpus'])}


def libvirt_files(cloud):
    """The mini cloud's libvirtd: its own socket, configuration, state.

    libvirtd runs as root in a mount namespace of its own where
    ``libvirt/etc``, ``run``, ``lib``, ``cache`` and ``log`` under
    state_dir stand for /etc/libvirt, /run/libvirt, /var/lib/libvirt,
    /var/cache/libvirt and /var/log/libvirt (``tools/minicloud/cloud.py``
    ``start_libvirtd``), so it neither needs nor touches the machine's.
    QEMU runs as root with no security driver, no cgroups and no mount
    namespace (a container), and writes guest consoles to files (no
    virtlogd).
    """
    libvirtd = '\n'.join([
        '# Written by tools/minicloud.sh.',
        'unix_sock_dir = "%s"' % cloud.path('libvirt', 'sock'),
        'unix_sock_rw_perms = "0700"',
        'auth_unix_rw = "none"',
        'auth_unix_ro = "none"',
        'log_outputs = "3:file:%s"' % cloud.path('logs', 'libvirtd-log.log'),
    ]) + '\n'
    qemu = '\n'.join([
        '# Written by tools/minicloud.sh.',
        'user = "root"',
        'group = "root"',
        'dynamic_ownership = 0',
        'remember_owner = 0',
        'security_driver = "none"',
        'cgroup_controllers = [ ]',
        'namespaces = [ ]',
        'stdio_handler = "file"',
    ]) + '\n'
    return {'libvirt/etc/libvirtd.conf': libvirtd,
            'libvirt/etc/qemu.conf': qemu}


def qemu_compute_conf(cloud, virt_type):
    """nova-compute.conf of the QEMU host, read after nova.conf.

    Our driver on a real libvirtd, no simulated GPUs: the host has none.
    """
    hostname = QEMU_HOST
    return render_ini([
        ('DEFAULT', [('host', hostname),
                     ('compute_driver', 'gpuvirt.GpuvirtLibvirtDriver'),
                     ('state_path', cloud.path(hostname)),
                     ('instances_path', cloud.path(hostname, 'instances'))]),
        ('libvirt', [('virt_type', virt_type),
                     ('connection_uri', cloud.libvirt_uri)]),
        ('gpuvirt', [('state_dir', cloud.path(hostname))]),
        ('oslo_concurrency', [('lock_path', cloud.path(hostname, 'lock'))]),
    ])


def clouds_yaml(cloud, users):
    """clouds.yaml for the ``openstack`` CLI: one cloud per user.

    ``users``: ``{cloud name: (user, project)}``.
    """
    lines = ['clouds:']
    for name, (user, project) in sorted(users.items()):
        lines += ['  %s:' % name,
                  '    region_name: %s' % REGION,
                  '    identity_api_version: 3',
                  '    auth:',
                  '      auth_url: %s' % cloud.url('keystone'),
                  '      username: %s' % user,
                  '      password: %s' % PASSWORD,
                  '      project_name: %s' % project,
                  '      user_domain_name: Default',
                  '      project_domain_name: Default']
    return '\n'.join(lines) + '\n'


def all_files(cloud):
    """Every configuration file, ``{path under state_dir: text}``."""
    files = {}
    for make in (keystone_files, placement_files, glance_files,
                 neutron_files):
        files.update(make(cloud))
    files['nova/nova.conf'] = nova_conf(cloud)
    # Read after nova.conf by the schema sync of cell0 only.
    files['nova/cell0.conf'] = render_ini([
        ('database', [('connection', cloud.db('nova_cell0'))])])
    files['nova/gunicorn.conf.py'] = gunicorn_conf(
        cloud, 'nova', 'nova.wsgi.osapi_compute:application',
        {'OS_NOVA_CONFIG_DIR': cloud.path('nova'),
         # The first file is the paste pipeline (a copy of Nova's).
         'OS_NOVA_CONFIG_FILES': 'api-paste.ini;nova.conf'})
    for hostname in COMPUTES:
        files.update(compute_files(cloud, hostname))
    files.update(libvirt_files(cloud))
    return files

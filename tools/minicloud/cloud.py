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

"""``tools/minicloud.sh up|down|status``: the mini cloud's life cycle.

``up`` writes every configuration file under the state directory
(:mod:`tools.minicloud.configs`), creates empty databases and a RabbitMQ
virtual host, syncs the schemas, starts Keystone, Placement, Glance, the
Neutron API, nova-api, nova-conductor, nova-scheduler and one
``gpuvirt-nova-compute`` per simulated GPU host (carved first with
``gpuvirt-nova layout apply``), and, where libvirtd and QEMU are
installed, a libvirtd of its own and a third ``gpuvirt-nova-compute``
on it (``compute-qemu``, no GPUs); registers the catalog, and waits
until the computes are mapped. ``down`` destroys that libvirtd's guests,
stops every recorded PID and drops the databases and the virtual host.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time

from tools.minicloud import configs
from tools.minicloud import procs

IMAGE_NAME = 'minicloud-image'
#: clouds.yaml entries: {cloud: (user, project)}.
USERS = {'minicloud-admin': ('admin', 'admin'),
         'minicloud-alice': ('alice', 'demo')}


def log(msg):
    print('minicloud: %s' % msg, flush=True)


def cloud_from_env(repo):
    env = os.environ
    return configs.Cloud(
        state_dir=os.path.abspath(env.get('GPUVIRT_MINICLOUD_STATE',
                                          os.path.join(repo, '.minicloud'))),
        service_venv=env['GPUVIRT_MINICLOUD_VENV'],
        nova_venv=sys.prefix, repo=repo,
        db_url=env.get('GPUVIRT_MINICLOUD_DB_URL',
                       'mysql+pymysql://root@127.0.0.1:3306/'),
        transport_url=env.get(
            'GPUVIRT_MINICLOUD_TRANSPORT_URL',
            'rabbit://guest:guest@127.0.0.1:5672/minicloud'),
        port_base=int(env.get('GPUVIRT_MINICLOUD_PORT_BASE', '25000')))


def run(argv, cloud, name, env=None):
    """Run a setup command; on failure raise with its log's tail."""
    log_path = cloud.path('logs', '%s.log' % name)
    with open(log_path, 'ab') as out:
        rc = subprocess.call(argv, stdout=out, stderr=subprocess.STDOUT,
                             env=env, stdin=subprocess.DEVNULL)
    if rc:
        with open(log_path, errors='replace') as f:
            tail = f.read()[-2000:]
        raise RuntimeError('%s failed (exit %d), see %s:\n%s'
                           % (' '.join(argv[:3]), rc, log_path, tail))


def sbin(cloud, venv, name):
    return os.path.join(venv, 'bin', name)


# -- databases and the message bus ------------------------------------------

def _mysql(cloud):
    import pymysql
    from urllib import parse
    url = parse.urlparse(cloud.db_url.replace('mysql+pymysql', 'mysql'))
    return pymysql.connect(host=url.hostname, port=url.port or 3306,
                           user=url.username or 'root',
                           password=url.password or '', autocommit=True)


def recreate_databases(cloud, create=True):
    conn = _mysql(cloud)
    with conn.cursor() as cur:
        for name in configs.DATABASES:
            cur.execute('DROP DATABASE IF EXISTS minicloud_%s' % name)
            if create:
                cur.execute('CREATE DATABASE minicloud_%s CHARACTER SET '
                            'utf8mb4' % name)
    conn.close()


def _vhost(cloud):
    return cloud.transport_url.rsplit('/', 1)[-1]


def rabbit_vhost(cloud, create=True):
    """Our own RabbitMQ virtual host (skipped without rabbitmqctl)."""
    vhost = _vhost(cloud)
    if not vhost:
        return
    cmds = [['rabbitmqctl', '-q', 'delete_vhost', vhost]]
    if create:
        cmds += [['rabbitmqctl', '-q', 'add_vhost', vhost],
                 ['rabbitmqctl', '-q', 'set_permissions', '-p', vhost,
                  'guest', '.*', '.*', '.*']]
    for argv in cmds:
        subprocess.call(argv, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL)


# -- up -----------------------------------------------------------------------

def write_files(cloud):
    for rel, text in configs.all_files(cloud).items():
        path = cloud.path(rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)
    shutil.copy(os.path.join(cloud.nova_venv, 'etc', 'nova',
                             'api-paste.ini'), cloud.path('nova'))
    for sub in ('logs', 'glance/images', 'glance/staging', 'glance/tasks',
                'keystone/fernet-keys', 'keystone/fernet-receipts',
                'keystone/credential-keys'):
        os.makedirs(cloud.path(sub), exist_ok=True)


def sync_schemas(cloud):
    """Every service's schema, in parallel (MariaDB does the waiting)."""
    sv, nv = cloud.service_venv, cloud.nova_venv
    manage = [sbin(cloud, nv, 'nova-manage'), '--config-file',
              cloud.path('nova', 'nova.conf')]
    jobs = {
        'keystone-db': [sbin(cloud, sv, 'keystone-manage'), '--config-file',
                        cloud.path('keystone', 'keystone.conf'), 'db_sync'],
        'glance-db': [sbin(cloud, sv, 'glance-manage'), '--config-file',
                      cloud.path('glance', 'glance-api.conf'), 'db_sync'],
        'neutron-db': [sbin(cloud, sv, 'neutron-db-manage'), '--config-file',
                       cloud.path('neutron', 'neutron.conf'), 'upgrade',
                       'heads'],
        'placement-db': [sbin(cloud, nv, 'placement-manage'),
                         '--config-file',
                         cloud.path('placement', 'placement.conf'),
                         'db', 'sync'],
        # Three jobs: the API database and the cell mappings; cell1's
        # schema; cell0's (the same nova.conf, another [database]).
        'nova-api-db': ['sh', '-c', ' && '.join(' '.join(c) for c in [
            manage + ['api_db', 'sync'],
            manage + ['cell_v2', 'map_cell0', '--database_connection',
                      cloud.db('nova_cell0')],
            manage + ['cell_v2', 'create_cell', '--name', 'cell1']])],
        'nova-cell1-db': manage + ['db', 'sync', '--local_cell'],
        'nova-cell0-db': manage + ['--config-file',
                                   cloud.path('nova', 'cell0.conf'),
                                   'db', 'sync', '--local_cell'],
    }
    running = {}
    for name, argv in jobs.items():
        out = open(cloud.path('logs', '%s.log' % name), 'ab')
        running[name] = (subprocess.Popen(argv, stdout=out,
                                          stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL), out)
    failed = []
    started = time.monotonic()
    for name, (proc, out) in running.items():
        if proc.wait():
            failed.append(name)
        out.close()
        log('  %s done at %.0fs' % (name, time.monotonic() - started))
    if failed:
        raise RuntimeError('schema sync failed: %s (logs in %s)'
                           % (', '.join(failed), cloud.path('logs')))


def start_wsgi(cloud, service, venv):
    """gunicorn, no arguments, in the service's directory."""
    conf_dir = cloud.path(service)
    configs_used = [os.path.join(conf_dir, f) for f in
                    ['gunicorn.conf.py'] + configs.WSGI_CONFIGS[service]]
    argv = [sbin(cloud, venv, 'gunicorn')]
    procs.start(cloud.state_dir, service, argv, configs_used, cwd=conf_dir)
    return procs.load(cloud.state_dir)[-1]


def bootstrap_keystone(cloud):
    manage = [sbin(cloud, cloud.service_venv, 'keystone-manage'),
              '--config-file', cloud.path('keystone', 'keystone.conf')]
    for step in (['fernet_setup'], ['credential_setup']):
        run(manage + step + ['--keystone-user', 'root', '--keystone-group',
                             'root'], cloud, 'keystone-setup')
    url = cloud.url('keystone')
    run(manage + ['bootstrap', '--bootstrap-password', configs.PASSWORD,
                  '--bootstrap-admin-url', url,
                  '--bootstrap-internal-url', url,
                  '--bootstrap-public-url', url,
                  '--bootstrap-region-id', configs.REGION],
        cloud, 'keystone-setup')


def connect(cloud):
    """An openstacksdk connection as the cloud's admin."""
    import openstack
    return openstack.connect(
        auth_url=cloud.url('keystone'), username='admin',
        password=configs.PASSWORD, project_name='admin',
        user_domain_name='Default', project_domain_name='Default',
        region_name=configs.REGION, identity_api_version='3')


def register_catalog(cloud):
    """Service users, services and endpoints, the demo user."""
    conn = connect(cloud)
    ident = conn.identity
    service_project = ident.create_project(name='service',
                                           domain_id='default')
    demo = ident.create_project(name='demo', domain_id='default')
    member_role = ident.find_role('member')
    # NOTE: the "service" role too: keystonemiddleware accepts the
    # service token Nova sends along (to Neutron, Placement) only with it.
    roles = [ident.find_role('admin'), ident.find_role('service') or
             ident.create_role(name='service')]
    for user in configs.SERVICE_USERS:
        u = ident.create_user(name=user, password=configs.PASSWORD,
                              domain_id='default')
        for role in roles:
            ident.assign_project_role_to_user(service_project, u, role)
    alice = ident.create_user(name='alice', password=configs.PASSWORD,
                              domain_id='default')
    ident.assign_project_role_to_user(demo, alice, member_role)
    for name, kind in (('nova', 'compute'), ('placement', 'placement'),
                       ('glance', 'image'), ('neutron', 'network')):
        svc = ident.create_service(name=name, type=kind)
        for interface in ('public', 'internal', 'admin'):
            ident.create_endpoint(service_id=svc.id, interface=interface,
                                  url=cloud.url(name),
                                  region_id=configs.REGION)
    return conn


def carve(cloud, hostname):
    """Create the simulated host and carve it, as ``layout apply`` does."""
    cli = sbin(cloud, cloud.nova_venv, 'gpuvirt-nova')
    sim_root = cloud.path(hostname, 'nova-sim', hostname)
    if not os.path.isdir(sim_root):
        run([cli, 'sim', 'create', sim_root, '%s@%s' % (
            configs.COMPUTES[hostname]['spec'], hostname)], cloud,
            '%s-carve' % hostname)
    run([cli, 'layout', 'apply', cloud.path(hostname, 'layout.yaml'),
         '--sim-root', sim_root, '--host', hostname], cloud,
        '%s-carve' % hostname)


def start_compute(cloud, hostname):
    """``gpuvirt-nova-compute``, with Nova's fake libvirt standing in."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [os.path.join(cloud.repo, 'tools', 'minicloud', 'fakevirt'),
         env.get('PYTHONPATH', '')]).rstrip(os.pathsep)
    files = [cloud.path('nova', 'nova.conf'),
             cloud.path(hostname, 'nova-compute.conf')]
    argv = [sbin(cloud, cloud.nova_venv, 'gpuvirt-nova-compute')]
    for path in files:
        argv += ['--config-file', path]
    procs.start(cloud.state_dir, hostname, argv, files, env=env)


# -- the QEMU host: a real libvirtd ----------------------------------------

#: What libvirtd's mount namespace puts where (see configs.libvirt_files).
LIBVIRT_DIRS = (('etc', '/etc/libvirt'), ('run', '/run/libvirt'),
                ('lib', '/var/lib/libvirt'), ('cache', '/var/cache/libvirt'),
                ('log', '/var/log/libvirt'))
#: The Debian packages the QEMU host needs.
QEMU_PACKAGES = ('libvirt-daemon', 'libvirt-daemon-driver-qemu',
                 'qemu-system-x86', 'qemu-utils')
#: Where ``up`` says why the QEMU host is absent (the e2e test reads it).
QEMU_SKIPPED = 'compute-qemu.skipped'


def _which(name):
    return shutil.which(name, path=os.pathsep.join(
        [os.environ.get('PATH', ''), '/usr/sbin', '/sbin']))


def qemu_unavailable():
    """Why the QEMU host cannot run here, or None."""
    if os.environ.get('GPUVIRT_MINICLOUD_QEMU', '1') == '0':
        return 'GPUVIRT_MINICLOUD_QEMU=0'
    missing = [b for b in ('libvirtd', 'qemu-system-x86_64', 'qemu-img',
                           'unshare', 'mount') if not _which(b)]
    if missing:
        return ('%s not installed (Debian packages: %s)'
                % (', '.join(missing), ' '.join(QEMU_PACKAGES)))
    if os.geteuid() != 0:
        return 'the mini cloud runs libvirtd as root, and this is not root'
    return None


def virt_type():
    """``qemu`` (TCG) unless GPUVIRT_MINICLOUD_VIRT_TYPE says ``kvm``.

    TCG by default, even where /dev/kvm opens: a nested /dev/kvm may
    refuse the host-model CPU Nova asks for (QEMU 7.2 stopped at "failed
    to set MSR 0x10a" under one), and the guest here only has to run.
    """
    wanted = os.environ.get('GPUVIRT_MINICLOUD_VIRT_TYPE', 'qemu')
    if wanted == 'kvm':
        try:
            os.close(os.open('/dev/kvm', os.O_RDWR))
        except OSError as exc:
            raise RuntimeError('GPUVIRT_MINICLOUD_VIRT_TYPE=kvm: %s' % exc)
    return wanted


def start_libvirtd(cloud, timeout=120):
    """libvirtd in a mount namespace of its own; waits for its socket."""
    import libvirt
    steps = []
    for sub, target in LIBVIRT_DIRS:
        source = cloud.path('libvirt', sub)
        os.makedirs(source, exist_ok=True)
        # NOTE: the mount point must exist; an empty directory where the
        # machine has no libvirt installed system-wide.
        steps.append('mkdir -p %s && mount --bind %s %s'
                     % (target, source, target))
    # libvirtd resolves its built-in QEMU user and group before it reads
    # qemu.conf (which says root): where the machine lacks them (libvirt
    # installed without its system setup), its namespace gets copies of
    # /etc/passwd and /etc/group that have them.
    for name, entry in (('passwd', '%s:x:64055:64055::/var/lib/libvirt:'
                                   '/usr/sbin/nologin\n'),
                        ('group', '%s:x:64055:\n')):
        with open('/etc/%s' % name) as f:
            text = f.read()
        if not any(line.startswith('libvirt-qemu:')
                   for line in text.splitlines()):
            copy = cloud.path('libvirt', name)
            with open(copy, 'w') as f:
                f.write(text.rstrip('\n') + '\n' + entry % 'libvirt-qemu')
            steps.append('mount --bind %s /etc/%s' % (copy, name))
    os.makedirs(cloud.path('libvirt', 'sock'), exist_ok=True)
    conf = cloud.path('libvirt', 'etc', 'libvirtd.conf')
    steps.append('exec %s -f %s -p %s' % (
        _which('libvirtd'), conf, cloud.path('libvirt', 'libvirtd.pid')))
    argv = [_which('unshare'), '--mount', '--propagation', 'private', '--',
            'sh', '-c', ' && '.join(steps)]
    procs.start(cloud.state_dir, 'libvirtd', argv,
                [conf, cloud.path('libvirt', 'etc', 'qemu.conf')])
    record = procs.load(cloud.state_dir)[-1]
    libvirt.registerErrorHandler(lambda *args: None, None)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not procs.alive(record):
            raise RuntimeError('libvirtd exited; see %s' % record['log'])
        try:
            conn = libvirt.open(cloud.libvirt_uri)
            conn.getCapabilities()
            conn.close()
            return
        except libvirt.libvirtError:
            time.sleep(1)
    raise RuntimeError('libvirtd did not answer within %ds; see %s'
                       % (timeout, record['log']))


def start_qemu_compute(cloud):
    """``gpuvirt-nova-compute`` on the real libvirtd (no fake libvirt)."""
    kind = virt_type()
    conf = cloud.path(configs.QEMU_HOST, 'nova-compute.conf')
    # The instances directory is the deployer's to make.
    os.makedirs(cloud.path(configs.QEMU_HOST, 'instances'), exist_ok=True)
    with open(conf, 'w') as f:
        f.write(configs.qemu_compute_conf(cloud, kind))
    files = [cloud.path('nova', 'nova.conf'), conf]
    argv = [sbin(cloud, cloud.nova_venv, 'gpuvirt-nova-compute')]
    for path in files:
        argv += ['--config-file', path]
    procs.start(cloud.state_dir, configs.QEMU_HOST, argv, files)
    return kind


def stop_guests(cloud):
    """Destroy the real libvirtd's guests (QEMU outlives libvirtd)."""
    if not os.path.exists(cloud.path('libvirt', 'sock', 'libvirt-sock')):
        return []
    stopped = []
    try:
        import libvirt
        libvirt.registerErrorHandler(lambda *args: None, None)
        conn = libvirt.open(cloud.libvirt_uri)
        for dom in conn.listAllDomains():
            if dom.isActive():
                dom.destroy()
            dom.undefine()
            stopped.append(dom.name())
        conn.close()
    except Exception as exc:  # noqa: libvirtd gone: the PID files below
        log('guests not listed by libvirtd: %s' % exc)
    # What libvirtd could not stop: the QEMU PIDs it recorded.
    run_dir = cloud.path('libvirt', 'run', 'qemu')
    for name in os.listdir(run_dir) if os.path.isdir(run_dir) else []:
        if not name.endswith('.pid'):
            continue
        try:
            with open(os.path.join(run_dir, name)) as f:
                pid = int(f.read().strip())
            with open('/proc/%d/comm' % pid) as f:
                if not f.read().startswith('qemu'):
                    continue
            os.kill(pid, 9)
            stopped.append(name[:-len('.pid')])
        except (OSError, ValueError):
            pass
    return stopped


def start_service(cloud, binary):
    conf = cloud.path('nova', 'nova.conf')
    procs.start(cloud.state_dir, binary,
                [sbin(cloud, cloud.nova_venv, binary), '--config-file',
                 conf], [conf])


def wait_computes(conn, want, timeout=300):
    """Until every compute is up and has a hypervisor (mapped to cell1)."""
    want = set(want)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            up = {s.host for s in conn.compute.services()
                  if s.binary == 'nova-compute' and s.state == 'up'}
            # By service host: a real libvirt names its node after the
            # machine, not after [DEFAULT] host.
            hyps = {(h.service_details or {}).get('host')
                    for h in conn.compute.hypervisors(details=True)}
        except Exception:  # noqa: nova-api may still be starting
            up, hyps = set(), set()
        if want <= up and want <= hyps:
            return
        time.sleep(2)
    raise RuntimeError('computes not ready within %ds: %s'
                       % (timeout, ', '.join(sorted(want))))


def upload_image(conn, cloud):
    path = cloud.path('glance', 'minicloud-image.raw')
    with open(path, 'wb') as f:
        f.write(b'\0' * 1024 * 1024)
    conn.image.create_image(name=IMAGE_NAME, filename=path,
                            disk_format='raw', container_format='bare',
                            visibility='public', wait=True)


def up(cloud):
    if any(procs.alive(r) for r in procs.load(cloud.state_dir)):
        raise RuntimeError('already up (state in %s); run down first'
                           % cloud.state_dir)
    started = time.monotonic()
    # A fresh cloud: nothing of an earlier one (guests, carve, keys).
    shutil.rmtree(cloud.state_dir, ignore_errors=True)
    os.makedirs(cloud.state_dir)
    write_files(cloud)
    log('databases and RabbitMQ virtual host')
    recreate_databases(cloud)
    rabbit_vhost(cloud)
    log('schemas (keystone, glance, neutron, placement, nova)')
    sync_schemas(cloud)
    bootstrap_keystone(cloud)
    sv, nv = cloud.service_venv, cloud.nova_venv
    records = {'keystone': start_wsgi(cloud, 'keystone', sv)}
    procs.wait_http(cloud.port('keystone'), 'keystone', records['keystone'])
    log('keystone up; catalog')
    register_catalog(cloud)
    conn = connect(cloud)
    for service, venv in (('placement', nv), ('glance', sv),
                          ('neutron', sv), ('nova', nv)):
        records[service] = start_wsgi(cloud, service, venv)
    for binary in ('nova-conductor', 'nova-scheduler'):
        start_service(cloud, binary)
    for service in ('placement', 'glance', 'neutron', 'nova'):
        procs.wait_http(cloud.port(service), service, records[service])
    log('APIs up; carving and starting the GPU computes')
    for hostname in configs.COMPUTES:
        carve(cloud, hostname)
        start_compute(cloud, hostname)
    computes = list(configs.COMPUTES)
    why_not = qemu_unavailable()
    if why_not is None:
        try:
            start_libvirtd(cloud)
            kind = start_qemu_compute(cloud)
            computes.append(configs.QEMU_HOST)
            log('%s on a real libvirtd, virt_type %s'
                % (configs.QEMU_HOST, kind))
        except RuntimeError as exc:
            why_not = 'libvirtd did not start: %s' % exc
    if why_not:
        log('no %s: %s' % (configs.QEMU_HOST, why_not))
        with open(cloud.path(QEMU_SKIPPED), 'w') as f:
            f.write(why_not + '\n')
    upload_image(conn, cloud)
    with open(cloud.path('clouds.yaml'), 'w') as f:
        f.write(configs.clouds_yaml(cloud, USERS))
    wait_computes(conn, computes)
    log('up in %.0fs; OS_CLIENT_CONFIG_FILE=%s'
        % (time.monotonic() - started, cloud.path('clouds.yaml')))
    status(cloud)


def down(cloud):
    guests = stop_guests(cloud)
    if guests:
        log('destroyed QEMU guests %s' % ', '.join(guests))
    stopped = procs.stop_all(cloud.state_dir)
    log('stopped %s' % (', '.join(stopped) or 'nothing'))
    try:
        recreate_databases(cloud, create=False)
    except Exception as exc:  # noqa: MariaDB gone: nothing to drop
        log('databases not dropped: %s' % exc)
    rabbit_vhost(cloud, create=False)
    log('databases and virtual host dropped')


def restart(cloud, name):
    """Stop one compute host's nova-compute by PID and start it again."""
    hosts = list(configs.COMPUTES) + [configs.QEMU_HOST]
    if name not in hosts:
        raise RuntimeError('restart: %r is not a compute host (one of %s)'
                           % (name, ', '.join(hosts)))
    stopped = procs.stop(cloud.state_dir, name)
    log('stopped %s (PID %s)' % (name, ', '.join(map(str, stopped))))
    if name == configs.QEMU_HOST:
        start_qemu_compute(cloud)
    else:
        start_compute(cloud, name)
    log('started %s (PID %d)' % (name, procs.load(cloud.state_dir)[-1]['pid']))


def status(cloud):
    """One line per process: name, PID, RSS, configuration files."""
    total = 0
    for record in procs.load(cloud.state_dir):
        if not procs.alive(record):
            print('%-16s %7d  gone  (log %s)' % (record['name'],
                                                 record['pid'],
                                                 record['log']))
            continue
        rss = procs.rss_kib(record['pid'])
        total += rss
        print('%-16s %7d %6d MiB  %s' % (record['name'], record['pid'],
                                         rss // 1024,
                                         ' '.join(record['configs'])))
    print('services RSS sum: %d MiB' % (total // 1024))
    return total


def main(argv=None):
    parser = argparse.ArgumentParser(prog='minicloud')
    parser.add_argument('action', choices=('up', 'down', 'status',
                                           'restart'))
    parser.add_argument('name', nargs='?', help='restart: a compute host')
    args = parser.parse_args(argv)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    cloud = cloud_from_env(repo)
    try:
        if args.action == 'restart':
            restart(cloud, args.name)
        else:
            {'up': up, 'down': down, 'status': status}[args.action](cloud)
    except RuntimeError as exc:
        log('error: %s' % exc)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())

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

"""The mini cloud's pieces that need no cloud: files, processes, skips.

``tools/minicloud.sh`` itself runs in ``.ci/run`` (tests/e2e); these
check what it writes and how it stops processes, on any machine.
"""

import configparser
import importlib.util
import os
import signal
import subprocess
import sys
import time
import types
import uuid

import fixtures
from oslotest import base

from tests.e2e import base as e2e_base
from tests.unit import guide
from tools.minicloud import configs
from tools.minicloud import procs

CLOUD = configs.Cloud(state_dir='/srv/mc', service_venv='/srv/venv',
                      nova_venv='/srv/nova-venv', repo='/srv/repo',
                      db_url='mysql+pymysql://root@127.0.0.1:3306/',
                      transport_url='rabbit://guest:guest@127.0.0.1:5672/mc',
                      port_base=25000)


def parse(text):
    parser = configparser.RawConfigParser(strict=False)
    parser.read_string(text)
    return parser


class ConfigFilesTests(base.BaseTestCase):

    def test_scheduler_enables_our_plugins_as_the_guide_says(self):
        [ini] = [b for b in guide.blocks(guide.pages()['scheduler'], 'ini')
                 if 'enabled_filters' in b]
        pairs = []
        for line in ini.split('[gpuvirt_scheduler]')[0].splitlines():
            key, sep, value = line.partition('=')
            if sep and not line.lstrip().startswith('#'):
                pairs.append((key.strip(), value.strip()))
        self.assertEqual(pairs, configs.SCHEDULER_FILTERS)
        text = configs.all_files(CLOUD)['nova/nova.conf']
        self.assertIn(configs.render_ini([('filter_scheduler', pairs)]),
                      text)

    def test_render_ini_keeps_repeated_keys(self):
        text = configs.render_ini([('s', [('k', 'a'), ('k', 'b')])])
        self.assertEqual('[s]\nk = a\nk = b\n', text)

    def test_computes_run_our_driver_on_their_simulated_host(self):
        files = configs.all_files(CLOUD)
        for hostname, host in configs.COMPUTES.items():
            conf = parse(files['%s/nova-compute.conf' % hostname])
            self.assertEqual('gpuvirt.GpuvirtLibvirtDriver',
                             conf.get('DEFAULT', 'compute_driver'))
            self.assertEqual(hostname, conf.get('DEFAULT', 'host'))
            self.assertEqual('eventlet',
                             conf.get('DEFAULT', 'concurrency_backend'))
            self.assertEqual(host['spec'], conf.get('gpuvirt', 'simulate'))
            self.assertEqual('/srv/mc/%s' % hostname,
                             conf.get('gpuvirt', 'state_dir'))
        self.assertEqual({'A100-PCIE-40GB:vfio', 'A100-PCIE-40GB:mig'},
                         {group.split('x', 1)[1]
                          for h in configs.COMPUTES.values()
                          for group in h['spec'].split('+')})
        # Servers migrate between the hosts only with a type both offer.
        for host in configs.COMPUTES.values():
            self.assertIn(configs.SHARED_TYPE,
                          [type_name for _, type_name, _ in host['gpus']])

    def test_qemu_host_uses_the_clouds_own_libvirtd(self):
        files = configs.all_files(CLOUD)
        self.assertIn('unix_sock_dir = "/srv/mc/libvirt/sock"',
                      files['libvirt/etc/libvirtd.conf'].splitlines())
        conf = parse(configs.qemu_compute_conf(CLOUD, 'qemu'))
        self.assertEqual(
            'qemu+unix:///system?socket=/srv/mc/libvirt/sock/libvirt-sock',
            conf.get('libvirt', 'connection_uri'))
        self.assertEqual('qemu', conf.get('libvirt', 'virt_type'))
        self.assertEqual(configs.QEMU_HOST, conf.get('DEFAULT', 'host'))
        self.assertEqual('gpuvirt.GpuvirtLibvirtDriver',
                         conf.get('DEFAULT', 'compute_driver'))
        self.assertFalse(conf.has_option('gpuvirt', 'simulate'))

    def test_every_service_has_its_own_database(self):
        files = configs.all_files(CLOUD)
        urls = set()
        for path, text in files.items():
            # libvirt's files are in libvirt's own format, with no database.
            if not path.endswith('.conf') or path.startswith('libvirt/'):
                continue
            conf = parse(text)
            for section in ('database', 'api_database',
                            'placement_database'):
                if conf.has_option(section, 'connection'):
                    urls.add(conf.get(section, 'connection'))
        self.assertEqual({CLOUD.db(name) for name in configs.DATABASES},
                         urls)

    def test_wsgi_services_start_without_arguments(self):
        files = configs.all_files(CLOUD)
        for service in ('keystone', 'placement', 'glance', 'neutron',
                        'nova'):
            settings = {}
            exec(files['%s/gunicorn.conf.py' % service], settings)
            self.assertEqual('127.0.0.1:%d' % CLOUD.port(service),
                             settings['bind'])
            self.assertTrue(settings['control_socket_disable'])
            self.assertEqual(1, settings['workers'])


def load_fakevirt():
    """The compute hosts' sitecustomize, without its import hook."""
    path = os.path.join(os.path.dirname(configs.__file__), 'fakevirt',
                        'sitecustomize.py')
    spec = importlib.util.spec_from_file_location('minicloud_fakevirt', path)
    module = importlib.util.module_from_spec(spec)
    finders = list(sys.meta_path)
    spec.loader.exec_module(module)
    sys.meta_path[:] = finders
    return module


class FakeLiveMigrationTests(base.BaseTestCase):
    """Two hosts' fake libvirts hand a guest over through their stores."""

    def setUp(self):
        super().setUp()
        from nova.tests.fixtures import libvirt as fakelibvirt
        self.fakelibvirt = fakelibvirt
        self.fakevirt = load_fakevirt()
        self.root = self.useFixture(fixtures.TempDir()).path

    def connection(self, host):
        os.makedirs(os.path.join(self.root, host), exist_ok=True)
        cls = self.fakevirt._persistent_connection_class(
            self.fakelibvirt, os.path.join(self.root, host, 'fake-libvirt'))
        return cls('qemu:///system', version=8006000, hv_version=8001000,
                   hostname=host)

    def test_guest_moves_from_the_source_to_the_destination_process(self):
        src, dst = self.connection('src'), self.connection('dst')
        server = str(uuid.uuid4())
        xml = ("<domain type='kvm'><name>instance-1</name><uuid>%s</uuid>"
               "<memory>1024</memory><vcpu>1</vcpu><os><type>hvm</type>"
               "</os><devices></devices></domain>" % server)
        dom = src.defineXML(xml)
        dom.create()
        migrate = self.fakevirt._migrate_to_uri3(
            self.fakelibvirt,
            types.SimpleNamespace(state_path=os.path.join(self.root, 'src')))

        migrate(dom, 'qemu+tcp://dst/system', {'destination_xml': xml},
                self.fakelibvirt.VIR_MIGRATE_UNDEFINE_SOURCE)

        self.assertEqual(self.fakelibvirt.VIR_DOMAIN_JOB_COMPLETED,
                         dom.jobStats()['type'])
        self.assertRaises(self.fakelibvirt.libvirtError,
                          src.lookupByUUIDString, server)
        self.assertEqual([], os.listdir(
            os.path.join(self.root, 'src', 'fake-libvirt')))
        # The destination process adopts it when Nova looks for it.
        self.assertTrue(dst.lookupByUUIDString(server).isActive())
        # A nova-compute started later there defines it too.
        self.assertEqual([server], [d.UUIDString() for d in self.connection(
            'dst').listAllDomains(
                self.fakelibvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)])

    def test_unknown_destination_fails_the_migration(self):
        migrate = self.fakevirt._migrate_to_uri3(
            self.fakelibvirt,
            types.SimpleNamespace(state_path=os.path.join(self.root, 'src')))
        dom = self.connection('src').defineXML(
            "<domain type='kvm'><name>i</name><uuid>%s</uuid><memory>1"
            "</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices>"
            "</devices></domain>" % uuid.uuid4())
        self.assertRaises(self.fakelibvirt.libvirtError, migrate, dom,
                          'qemu+tcp://elsewhere/system',
                          {'destination_xml': '<domain/>'}, 0)


class ProcessTests(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.state = self.useFixture(fixtures.TempDir()).path

    def sleeper(self, name):
        pid = procs.start(self.state, name, ['sleep', '120'], [])
        self.addCleanup(self.reap, pid)
        return pid

    def reap(self, pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass

    def test_stop_all_ends_the_recorded_processes(self):
        pids = [self.sleeper('a'), self.sleeper('b')]
        self.assertTrue(all(procs.alive(r) for r in procs.load(self.state)))
        self.assertEqual(['a', 'b'], procs.stop_all(self.state, timeout=10))
        for pid in pids:
            os.waitpid(pid, 0)
        self.assertEqual([], procs.load(self.state))

    def test_a_reused_pid_is_left_alone(self):
        other = subprocess.Popen(['sleep', '120'])
        self.addCleanup(self.reap, other.pid)
        # A record of an earlier process that had this PID.
        procs._save(self.state, [{'name': 'old', 'pid': other.pid,
                                  'start': 1, 'argv': ['sleep', '120'],
                                  'configs': [], 'log': '-'}])
        self.assertEqual([], procs.stop_all(self.state, timeout=1))
        time.sleep(0.2)
        self.assertIsNone(other.poll())

    def test_stop_one_keeps_the_others(self):
        self.sleeper('a')
        self.sleeper('b')
        self.assertEqual(1, len(procs.stop(self.state, 'a', timeout=10)))
        self.assertEqual(['b'], [r['name'] for r in procs.load(self.state)])


class SkipTests(base.BaseTestCase):

    def test_end_to_end_tests_say_how_to_run_them(self):
        self.useFixture(fixtures.EnvironmentVariable(e2e_base.ENV_FLAG))
        reason = e2e_base.skip_reason()
        self.assertIn('GPUVIRT_TEST_MINICLOUD=1', reason)
        self.assertIn('tools/minicloud.sh up', reason)

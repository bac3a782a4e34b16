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

"""The devstack plugin, run phase by phase in bash with devstack stubbed.

Each phase is sourced the way stack.sh does it (``source plugin.sh stack
post-config``) after ``settings``, with devstack's helpers replaced by
stubs that keep nova.conf values in a store file (one line per value, so
multi-valued options keep every line) and log every call. ``sudo`` runs
its command as the test user; ``systemctl`` and the ``gpuvirt-nova``
command only record their arguments. No network, no root.
"""

import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import types

import nova.conf
from oslotest import base

from gpuvirt_nova import privsep
from gpuvirt_nova.scheduler import filters
from gpuvirt_nova.scheduler import weighers
from gpuvirt_nova.virt import shim

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DEVSTACK = os.path.join(REPO, 'devstack')
OURS = ['VGPUUserLimitFilter', 'VGPUFairShareFilter', 'VGPUPlacementFilter',
        'VGPUGeometryFilter']
WEIGHER = 'gpuvirt_nova.scheduler.weighers.GpuPackingWeigher'
ALL_FILTERS = 'gpuvirt_nova.scheduler.filters.all_filters'

STUBS = r'''
function _log { printf '%s\n' "$*" >> "$CALLS"; }
function _put { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$STORE"; }
function _del {
    awk -F'\t' -v f="$1" -v s="$2" -v o="$3" \
        '!($1 == f && $2 == s && $3 == o)' "$STORE" > "$STORE.new"
    mv "$STORE.new" "$STORE"
}
function _get {
    awk -F'\t' -v f="$1" -v s="$2" -v o="$3" \
        '$1 == f && $2 == s && $3 == o { print $4 }' "$STORE"
}
function iniset { _log iniset "$@"; _del "$1" "$2" "$3"; _put "$@"; }
function iniget { _get "$@" | tail -n 1; }
function iniget_multiline { echo $(_get "$@"); }
function iniset_multiline {
    _log iniset_multiline "$@"
    local f=$1 s=$2 o=$3 v
    shift 3
    _del "$f" "$s" "$o"
    for v in "$@"; do _put "$f" "$s" "$o" "$v"; done
}
function iniadd {
    _log iniadd "$@"
    local f=$1 s=$2 o=$3 v
    shift 3
    for v in "$@"; do _put "$f" "$s" "$o" "$v"; done
}
function inidelete { _log inidelete "$@"; _del "$1" "$2" "$3"; }
function is_service_enabled {
    local s
    for s in "$@"; do
        [[ ",$ENABLED_SERVICES," == *",$s,"* ]] && return 0
    done
    return 1
}
function enable_service { ENABLED_SERVICES+=",$1"; }
function define_plugin { _log define_plugin "$@"; }
function trueorfalse {
    case "${!2:-$1}" in
        1|[Tt]rue|[Yy]es|TRUE|YES) echo True ;;
        *) echo False ;;
    esac
}
function echo_summary { _log echo_summary "$@"; }
function setup_develop { _log setup_develop "$@"; }
function get_python_exec_prefix { echo "$TMP/bin"; }
function systemctl { _log systemctl "$@"; }
function sudo { _log sudo "$@"; "$@"; }
'''

FAKE_CLI = '#!/bin/bash\nprintf "gpuvirt-nova %s\\n" "$*" >> "$CALLS"\n'


def _console_script(name):
    """The target of one of our console scripts, from setup.cfg."""
    with open(os.path.join(REPO, 'setup.cfg')) as f:
        match = re.search(r'^\s*%s = (\S+)$' % re.escape(name), f.read(),
                          re.M)
    return match and match.group(1)


class DevstackPlugin(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        if shutil.which('bash') is None:
            self.skipTest('bash is not installed')
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)
        self.store = self._path('ini.store')
        self.calls = self._path('calls.log')
        self.nova_conf = self._path('nova.conf')
        self.nova_dir = self._path('nova')
        self.systemd = self._path('systemd')
        self.sudoers = self._path('sudoers.d')
        for path in (self.store, self.calls):
            open(path, 'w').close()
        os.makedirs(os.path.join(self.nova_dir, 'nova', 'virt'))
        os.makedirs(self.systemd)
        os.makedirs(self.sudoers)
        os.makedirs(self._path('bin'))
        cli = self._path('bin', 'gpuvirt-nova')
        with open(cli, 'w') as f:
            f.write(FAKE_CLI)
        os.chmod(cli, stat.S_IRWXU)
        with open(self._path('stubs.sh'), 'w') as f:
            f.write(STUBS)
        self.env = {
            'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
            'TMP': self.tmp, 'STORE': self.store, 'CALLS': self.calls,
            'DEST': self._path('dest'), 'DATA_DIR': self._path('data'),
            'NOVA_DIR': self.nova_dir, 'NOVA_CONF': self.nova_conf,
            'NOVA_CPU_CONF': self._path('nova-cpu.conf'),
            'PYTHON': sys.executable, 'GPUVIRT_NOVA_DIR': REPO,
            'GPUVIRT_SYSTEMD_DIR': self.systemd,
            'GPUVIRT_SUDOERS_DIR': self.sudoers,
            'STACK_USER': self._user(),
            'ENABLED_SERVICES': 'n-cpu,n-sch,placement-api',
        }

    def _path(self, *parts):
        return os.path.join(self.tmp, *parts)

    @staticmethod
    def _user():
        return pwd.getpwuid(os.getuid()).pw_name

    def run_phase(self, *phase, **env):
        """Source settings and plugin.sh for one phase, as stack.sh does."""
        script = ('set -o errexit\n'
                  'source "$TMP/stubs.sh"\n'
                  'source "%s/settings"\n'
                  'source "%s/plugin.sh" %s\n'
                  % (DEVSTACK, DEVSTACK, ' '.join(phase)))
        full_env = dict(self.env, **env)
        result = subprocess.run(['bash', '-c', script], env=full_env,
                                capture_output=True, text=True)
        self.assertEqual(0, result.returncode,
                         'phase %s failed: %s' % (phase, result.stderr))
        return result

    def preset(self, section, option, *values):
        with open(self.store, 'a') as f:
            for value in values:
                f.write('%s\t%s\t%s\t%s\n'
                        % (self.nova_conf, section, option, value))

    def values(self, section, option, conf=None):
        conf = conf or self.nova_conf
        found = []
        with open(self.store) as f:
            for line in f:
                parts = line.rstrip('\n').split('\t')
                if parts[:3] == [conf, section, option]:
                    found.append(parts[3])
        return found

    def calls_log(self):
        with open(self.calls) as f:
            return f.read().splitlines()

    def cli_calls(self):
        return [line for line in self.calls_log()
                if line.startswith('gpuvirt-nova ')]


class TestScripts(DevstackPlugin):

    def test_scripts_parse(self):
        for name in ('plugin.sh', 'settings'):
            result = subprocess.run(
                ['bash', '-n', os.path.join(DEVSTACK, name)],
                capture_output=True, text=True)
            self.assertEqual(0, result.returncode, result.stderr)

    def test_plugin_names_our_real_classes(self):
        with open(os.path.join(DEVSTACK, 'plugin.sh')) as f:
            text = f.read()
        self.assertIn('GPUVIRT_FILTERS=%s\n' % ','.join(OURS), text)
        self.assertEqual(sorted(OURS),
                         sorted(c.__name__ for c in filters.all_filters()))
        self.assertIn('GPUVIRT_WEIGHER=%s\n' % WEIGHER, text)
        self.assertEqual(WEIGHER, '%s.%s' % (
            weighers.GpuPackingWeigher.__module__,
            weighers.GpuPackingWeigher.__name__))
        self.assertIn('GPUVIRT_DRIVER=%s\n' % shim.DRIVER_NAME, text)

    def test_every_setting_is_documented(self):
        with open(os.path.join(DEVSTACK, 'settings')) as f:
            names = re.findall(r'^(GPUVIRT_\w+)=', f.read(), re.M)
        with open(os.path.join(DEVSTACK, 'README.md')) as f:
            readme = f.read()
        self.assertGreater(len(names), 10)
        for name in names:
            self.assertIn('| `%s` |' % name, readme)

    def test_install_develops_the_package(self):
        self.run_phase('stack', 'install')
        self.assertIn('setup_develop %s' % REPO, self.calls_log())

    def test_disabled_service_does_nothing(self):
        # local.conf's disable_service runs after settings enabled it.
        script = ('source "$TMP/stubs.sh"; source "%s/settings"; '
                  'ENABLED_SERVICES=n-cpu,n-sch; '
                  'source "%s/plugin.sh" stack post-config'
                  % (DEVSTACK, DEVSTACK))
        subprocess.run(['bash', '-c', script], env=self.env, check=True)
        with open(self.store) as f:
            self.assertEqual('', f.read())
        # settings declares the plugin; nothing else runs.
        self.assertEqual(['define_plugin gpuvirt-nova'], self.calls_log())


class TestPostConfig(DevstackPlugin):

    def test_compute_gets_driver_shim_and_options(self):
        self.preset('devices', 'enabled_mdev_types', 'nvidia-35')
        self.run_phase('stack', 'post-config',
                       GPUVIRT_SIMULATE='2xA100-PCIE-40GB:mig',
                       GPUVIRT_DEFAULT_VGPU_TYPES='A100-PCIE-40GB:A100-10C',
                       GPUVIRT_LAYOUT_FILE='/etc/gpuvirt-nova/l.yaml')
        self.assertEqual([shim.DRIVER_NAME],
                         self.values('DEFAULT', 'compute_driver'))
        self.assertEqual(['True'], self.values(
            'DEFAULT', 'resume_guests_state_on_host_boot'))
        self.assertEqual(['2xA100-PCIE-40GB:mig'],
                         self.values('gpuvirt', 'simulate'))
        self.assertEqual(['A100-PCIE-40GB:A100-10C'], self.values(
            'gpuvirt_layout', 'default_vgpu_types'))
        self.assertEqual(['/etc/gpuvirt-nova/l.yaml'],
                         self.values('gpuvirt_layout', 'file'))
        self.assertEqual([self._path('data', 'gpuvirt-nova')],
                         self.values('gpuvirt', 'state_dir'))
        self.assertTrue(os.path.isdir(self._path('data', 'gpuvirt-nova')))
        self.assertEqual([], self.values('devices', 'enabled_mdev_types'))
        # Nothing in Nova's tree: n-cpu starts as gpuvirt-nova-compute.
        self.assertEqual([], os.listdir(os.path.join(self.nova_dir, 'nova',
                                                     'virt')))
        with open(os.path.join(self.systemd, 'devstack@n-cpu.service.d',
                               'gpuvirt-nova.conf')) as f:
            dropin = f.read().splitlines()
        self.assertIn('ExecStart=', dropin)
        self.assertIn('ExecStart=%s --config-file %s' % (
            self._path('bin', 'gpuvirt-nova-compute'),
            self._path('nova-cpu.conf')), dropin)
        self.assertEqual('gpuvirt_nova.virt.shim:main', _console_script(
            'gpuvirt-nova-compute'))
        self.assertEqual(shim.DRIVER_NAME.split('.')[0],
                         shim.SHIM_MODULE.rsplit('.', 1)[1])

    def test_compute_gets_the_privsep_sudoers_rule(self):
        self.run_phase('stack', 'post-config')
        path = os.path.join(self.sudoers, 'gpuvirt-nova')
        self.assertEqual(0o440, stat.S_IMODE(os.stat(path).st_mode))
        with open(path) as f:
            rules = [line for line in f.read().splitlines()
                     if line and not line.startswith('#')]
        user = self._user()
        self.assertEqual('Defaults:%s !requiretty' % user, rules[0])
        prefix = '%s ALL = (root) NOPASSWD: %s ^' % (
            user, self._path('bin', 'privsep-helper'))
        self.assertTrue(rules[1].startswith(prefix), rules[1])
        self.assertEqual(2, len(rules))

    def test_shipped_sudoers_rule_allows_only_our_contexts(self):
        with open(os.path.join(REPO, 'etc', 'sudoers.d',
                               'gpuvirt-nova')) as f:
            [rule] = [line for line in f.read().splitlines()
                      if line.startswith('nova ALL')]
        command, regex = rule.split(' NOPASSWD: ')[1].split(' ', 1)
        self.assertEqual('/usr/local/bin/privsep-helper', command)
        self.assertTrue(regex.startswith('^') and regex.endswith('$'))
        sock = '--privsep_sock_path /tmp/tmpa1_b2/privsep.sock'
        good = '--config-file /etc/nova/nova-cpu.conf --privsep_context %s '
        for context in (privsep.sysfs_pctxt, privsep.nvml_pctxt):
            self.assertTrue(re.search(regex, good % context.pypath + sock))
        for args in (good % privsep.sysfs_pctxt.pypath + sock
                     + ' --privsep_context nova.privsep.sys_admin_pctxt',
                     good % 'nova.privsep.sys_admin_pctxt' + sock,
                     (good % privsep.nvml_pctxt.pypath + sock).replace(
                         'nova-cpu.conf', '../../tmp/x.conf')):
            self.assertIsNone(re.search(regex, args), args)

    def test_unset_variables_leave_options_alone(self):
        self.run_phase('stack', 'post-config')
        for section, option in (('gpuvirt', 'simulate'),
                                ('gpuvirt_layout', 'file'),
                                ('gpuvirt_layout', 'default_vgpu_types'),
                                ('gpuvirt_scheduler', 'max_jobs_per_user'),
                                ('gpuvirt_scheduler', 'weigher_policy')):
            self.assertEqual([], self.values(section, option),
                             '[%s] %s' % (section, option))

    def test_filters_appended_once_keeping_existing(self):
        self.preset('filter_scheduler', 'enabled_filters',
                    'ComputeFilter, ImagePropertiesFilter,'
                    'PciPassthroughFilter')
        self.preset('filter_scheduler', 'available_filters',
                    'nova.scheduler.filters.all_filters')
        self.preset('filter_scheduler', 'weight_classes',
                    'nova.scheduler.weights.ram.RAMWeigher')
        for _ in range(2):
            self.run_phase('stack', 'post-config')
            self.assertEqual(
                [','.join(['ComputeFilter', 'ImagePropertiesFilter',
                           'PciPassthroughFilter'] + OURS)],
                self.values('filter_scheduler', 'enabled_filters'))
            self.assertEqual(
                ['nova.scheduler.filters.all_filters', ALL_FILTERS],
                self.values('filter_scheduler', 'available_filters'))
            self.assertEqual(
                ['nova.scheduler.weights.ram.RAMWeigher,' + WEIGHER],
                self.values('filter_scheduler', 'weight_classes'))

    def test_filter_already_enabled_is_not_repeated(self):
        self.preset('filter_scheduler', 'enabled_filters',
                    'VGPUPlacementFilter,ComputeFilter')
        self.run_phase('stack', 'post-config')
        self.assertEqual(
            ['VGPUPlacementFilter,ComputeFilter,VGPUUserLimitFilter,'
             'VGPUFairShareFilter,VGPUGeometryFilter'],
            self.values('filter_scheduler', 'enabled_filters'))

    def test_unset_scheduler_options_start_from_nova_defaults(self):
        self.run_phase('stack', 'post-config')
        # Nova's own defaults, as its option definitions give them (not
        # the process's CONF, which other tests may have configured).
        defaults = types.SimpleNamespace(**{
            name: nova.conf.CONF._get_opt_info(
                name, 'filter_scheduler')['opt'].default
            for name in ('enabled_filters', 'weight_classes',
                         'available_filters')})
        self.assertEqual(
            [','.join(list(defaults.enabled_filters) + OURS)],
            self.values('filter_scheduler', 'enabled_filters'))
        self.assertEqual(
            [','.join(list(defaults.weight_classes) + [WEIGHER])],
            self.values('filter_scheduler', 'weight_classes'))
        self.assertEqual(
            list(defaults.available_filters) + [ALL_FILTERS],
            self.values('filter_scheduler', 'available_filters'))

    def test_scheduler_options_from_settings(self):
        self.run_phase('stack', 'post-config',
                       GPUVIRT_MAX_JOBS_PER_USER='3',
                       GPUVIRT_WEIGHER_POLICY='spread')
        self.assertEqual(['3'], self.values('gpuvirt_scheduler',
                                            'max_jobs_per_user'))
        self.assertEqual(['spread'], self.values('gpuvirt_scheduler',
                                                 'weigher_policy'))

    def test_scheduler_plugins_can_be_turned_off(self):
        self.run_phase('stack', 'post-config',
                       GPUVIRT_ENABLE_SCHEDULER_PLUGINS='False')
        self.assertEqual([], self.values('filter_scheduler',
                                         'enabled_filters'))
        self.assertEqual([], self.values('filter_scheduler',
                                         'weight_classes'))
        self.assertEqual([shim.DRIVER_NAME],
                         self.values('DEFAULT', 'compute_driver'))

    def test_controller_without_compute_gets_no_driver(self):
        self.run_phase('stack', 'post-config', ENABLED_SERVICES='n-sch')
        self.assertEqual([], self.values('DEFAULT', 'compute_driver'))
        self.assertFalse(os.path.exists(os.path.join(
            self.nova_dir, 'nova', 'virt', 'gpuvirt.py')))
        self.assertEqual(1, len(self.values('filter_scheduler',
                                            'enabled_filters')))

    def test_compute_without_scheduler_leaves_filters(self):
        self.run_phase('stack', 'post-config', ENABLED_SERVICES='n-cpu')
        self.assertEqual([], self.values('filter_scheduler',
                                         'enabled_filters'))
        self.assertEqual([shim.DRIVER_NAME],
                         self.values('DEFAULT', 'compute_driver'))


class TestExtra(DevstackPlugin):

    def test_layout_sync_flavors_in_order_on_simulated_host(self):
        env = dict(GPUVIRT_SIMULATE='2xA100-PCIE-40GB:mig',
                   GPUVIRT_LAYOUT_FILE='/srv/layout.yaml',
                   GPUVIRT_PLACEMENT_SYNC='True',
                   GPUVIRT_FLAVORS='A100-2-10C,A100-3-20C')
        self.run_phase('stack', 'post-config', **env)
        # The layout is carved in post-config: before nova-compute starts
        # (devstack starts services between post-config and extra).
        self.assertEqual(1, len(self.cli_calls()))
        self.run_phase('stack', 'extra', **env)
        conf = '--config-file %s ' % self.nova_conf
        self.assertEqual([
            'gpuvirt-nova ' + conf + 'layout apply /srv/layout.yaml --boot '
            '-f value',
            'gpuvirt-nova ' + conf + 'placement sync --os-cloud '
            'devstack-admin --layout /srv/layout.yaml -f value',
            'gpuvirt-nova ' + conf + 'flavor sync --os-cloud devstack-admin '
            '--type A100-2-10C --type A100-3-20C -f value',
        ], self.cli_calls())
        # A simulated host belongs to the stack user: never written as root.
        self.assertFalse([line for line in self.calls_log()
                          if line.startswith('sudo ')
                          and self._path('bin', 'gpuvirt-nova ') in line])
        self.assertEqual(['devstack@n-cpu.service.d'],
                         os.listdir(self.systemd))

    def test_defaults_apply_nothing_without_layout(self):
        self.run_phase('stack', 'extra', GPUVIRT_SIMULATE='1xT4:mdev')
        self.assertEqual([], self.cli_calls())

    def test_all_flavors(self):
        self.run_phase('stack', 'extra', GPUVIRT_SIMULATE='1xT4:mdev',
                       GPUVIRT_FLAVORS='all')
        self.assertEqual(
            ['gpuvirt-nova --config-file %s flavor sync --os-cloud '
             'devstack-admin -f value' % self.nova_conf], self.cli_calls())

    def test_real_gpus_apply_as_root_and_install_boot_unit(self):
        self.run_phase('stack', 'post-config',
                       GPUVIRT_LAYOUT_FILE='/srv/layout.yaml')
        self.run_phase('stack', 'extra',
                       GPUVIRT_LAYOUT_FILE='/srv/layout.yaml')
        cli = self._path('bin', 'gpuvirt-nova')
        self.assertIn('sudo %s --config-file %s layout apply /srv/layout.yaml '
                      '--boot -f value' % (cli, self.nova_conf),
                      self.calls_log())
        unit = os.path.join(self.systemd, 'gpuvirt-nova-layout.service')
        with open(unit) as installed, open(os.path.join(
                REPO, 'etc', 'systemd',
                'gpuvirt-nova-layout.service')) as shipped:
            self.assertEqual(shipped.read(), installed.read())
        with open(unit + '.d/devstack.conf') as f:
            dropin = f.read().splitlines()
        self.assertIn('ConditionPathExists=', dropin)
        self.assertIn('ConditionPathExists=/srv/layout.yaml', dropin)
        self.assertIn('ExecStart=', dropin)
        self.assertIn('ExecStart=%s --config-file %s layout apply --boot '
                      '-f value' % (cli, self.nova_conf), dropin)
        self.assertIn('systemctl enable gpuvirt-nova-layout.service',
                      self.calls_log())

    def test_boot_unit_can_be_turned_off(self):
        self.run_phase('stack', 'extra', GPUVIRT_BOOT_UNIT='False',
                       GPUVIRT_MONITOR='False')
        self.assertEqual([], os.listdir(self.systemd))

    def test_monitor_unit_on_real_gpus(self):
        self.run_phase('stack', 'extra', GPUVIRT_BOOT_UNIT='False')
        unit = os.path.join(self.systemd, 'gpuvirt-nova-monitor.service')
        with open(unit) as installed, open(os.path.join(
                REPO, 'etc', 'systemd',
                'gpuvirt-nova-monitor.service')) as shipped:
            self.assertEqual(shipped.read(), installed.read())
        with open(unit + '.d/devstack.conf') as f:
            dropin = f.read().splitlines()
        self.assertIn('ExecStart=%s --config-file %s monitor' % (
            self._path('bin', 'gpuvirt-nova'), self.nova_conf), dropin)
        self.assertIn('User=%s' % self._user(), dropin)
        self.assertIn('systemctl enable --now gpuvirt-nova-monitor.service',
                      self.calls_log())

    def test_no_monitor_unit_on_simulated_gpus(self):
        self.run_phase('stack', 'extra', GPUVIRT_SIMULATE='1xT4:mdev')
        self.assertEqual([], os.listdir(self.systemd))


class TestUnstackClean(DevstackPlugin):

    def test_unstack_disables_and_clean_removes(self):
        self.run_phase('stack', 'post-config')
        self.run_phase('stack', 'extra')
        unit = os.path.join(self.systemd, 'gpuvirt-nova-layout.service')
        self.assertTrue(os.path.exists(unit))
        self.run_phase('unstack')
        self.assertIn('systemctl disable gpuvirt-nova-layout.service',
                      self.calls_log())
        self.assertTrue(os.path.exists(unit))
        self.assertTrue(os.path.exists(os.path.join(
            self.systemd, 'gpuvirt-nova-monitor.service')))
        self.run_phase('clean')
        self.assertEqual([], os.listdir(self.systemd))
        self.assertFalse(os.path.exists(os.path.join(
            self.nova_dir, 'nova', 'virt', 'gpuvirt.py')))
        self.assertFalse(os.path.exists(self._path('data', 'gpuvirt-nova')))
        self.assertEqual([], os.listdir(self.sudoers))


class TestContract(DevstackPlugin):
    """What devstack's plugin contract asks of the plugin's files."""

    def test_settings_define_the_plugin(self):
        self.run_phase('stack', 'install')
        self.assertIn('define_plugin gpuvirt-nova', self.calls_log())

    def test_system_packages_listed(self):
        with open(os.path.join(DEVSTACK, 'files', 'debs',
                               'gpuvirt-nova')) as f:
            packages = [line.strip() for line in f
                        if line.strip() and not line.startswith('#')]
        self.assertIn('mdevctl', packages)

    def test_shellcheck_clean(self):
        if shutil.which('shellcheck') is None:
            self.skipTest('shellcheck is not installed')
        result = subprocess.run(
            ['shellcheck', '-S', 'warning', '-s', 'bash',
             os.path.join(DEVSTACK, 'plugin.sh'),
             os.path.join(DEVSTACK, 'settings')],
            capture_output=True, text=True)
        self.assertEqual(0, result.returncode, result.stdout)

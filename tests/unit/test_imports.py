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

"""The house's import rules, checked in fresh interpreters.

DESIGN.md: lower rooms never import higher ones; ``hardware/`` knows
neither ``sim/`` nor ``privsep``; test harnesses (Nova's functional
fixtures, ``fixtures``, ``testtools``) and the demos stay out of the
runtime package. What a module imports only shows in an interpreter that
has not imported anything else yet, so every check here starts one (this
test process has loaded the simulator and the harnesses long ago).
"""

import ast
import json
import os
import pkgutil
import subprocess
import sys

from oslotest import base

import gpuvirt_nova

PACKAGE_DIR = os.path.dirname(os.path.abspath(gpuvirt_nova.__file__))
REPO = os.path.dirname(PACKAGE_DIR)

#: Not runtime: the simulator, the demos, and the commands that run them.
NOT_RUNTIME_PACKAGES = ('gpuvirt_nova.sim', 'gpuvirt_nova.demo')
NOT_RUNTIME_MODULES = ('gpuvirt_nova.cmd.demo', 'gpuvirt_nova.cmd.nova_demo',
                       'gpuvirt_nova.cmd.sim')

#: Modules no runtime import may load: the simulator, the demos and test
#: harnesses (Nova's functional fixtures import testtools and fixtures).
FORBIDDEN_IN_RUNTIME = ('gpuvirt_nova.sim', 'gpuvirt_nova.demo',
                        'nova.tests', 'testtools', 'fixtures', 'oslotest')

#: The wiring module: it picks the simulator or privsep from [gpuvirt]
#: options (inside its functions), so it counts as a room of its own, above
#: the option modules that every room may read.
BACKENDS = 'conf.backends'

#: Room -> the other rooms its modules may load when imported (a room is
#: the second part of a module's name, ``gpuvirt_nova.<room>``; the
#: package itself and the room's own modules are always allowed). Read
#: bottom-up, this is the flow of DESIGN.md section 2: hardware is read
#: into the model, layout and placement decide from it, the driver and the
#: scheduler use both, cmd is the CLI over all of them.
MAY_LOAD = {
    # The leaves: error types and the package version.
    'exception': set(),
    'version': set(),
    # A loopback WSGI server safe under eventlet (a leaf).
    'loopback': set(),
    # Option modules are plain declarations, readable from every room but
    # hardware.
    'conf': set(),
    # hardware/ is the bottom room. Its one exception is the package-wide
    # error types (gpuvirt_nova.exception, a leaf): UsageError and
    # DiscoveryError are raised by discovery and caught by every layer.
    # Not even conf: it takes roots and NVML modules as arguments, the
    # callers read the options.
    'hardware': {'exception'},
    # The privileged daemons' entrypoints: validated by hardware/writers,
    # configured in the sections conf/privsep.py names.
    'privsep': {'hardware', 'exception', 'conf'},
    # The wiring of backends from [gpuvirt] options (privsep and sim are
    # imported inside its functions only, so they never load here).
    BACKENDS: {'conf', 'hardware', 'exception'},
    # layout/hostctx picks the layout commands' host through the wiring.
    'layout': {'hardware', 'exception', 'conf', BACKENDS},
    # Placement is told the host; it reads the layout's target but never
    # the scheduler, the driver or the wiring of backends.
    'placement': {'hardware', 'exception', 'conf', 'layout', 'loopback'},
    # Dynamic GPUs: the driver's carve through the layout's own steps, the
    # slices' names from placement; the scheduler's filter and the driver
    # read its flavor requests.
    'dynamic': {'hardware', 'exception', 'conf', 'layout', 'placement',
                'loopback'},
    'scheduler': {'hardware', 'exception', 'conf', 'layout', 'placement',
                  'dynamic', 'loopback'},
    # The driver: its hardware adapter (virt/hardware) uses the wiring;
    # the scheduler is another service and the privsep daemon loads only
    # when a host writes.
    # The driver also asks the monitor's fence which GPUs are unhealthy
    # (monitor/fence.py), and feeds them to the one provider-tree path.
    'virt': {'hardware', 'exception', 'conf', BACKENDS, 'layout',
             'placement', 'monitor', 'dynamic', 'loopback'},
    # The monitor samples hardware (NVML through hardware/nvml's helpers,
    # the catalog for vGPU type names) and reads its options. It never
    # loads placement, virt or Nova: it runs as its own daemon on hosts
    # where nova-compute's modules need not load, and the fence's
    # Placement marks are named by placement/naming in the driver. Its
    # daemon wiring reaches the backends from inside a function only.
    'monitor': {'hardware', 'exception', 'conf', 'loopback'},
    # Empty room so far: the doctor checks what the other rooms decide.
    'doctor': {'hardware', 'exception', 'conf', BACKENDS, 'layout',
               'placement', 'dynamic', 'loopback'},
    # The CLI over everything, but a command that only reads never starts
    # oslo.privsep (the wiring imports it when a host is written).
    'cmd': {'hardware', 'exception', 'conf', BACKENDS, 'layout', 'loopback',
            'placement', 'scheduler', 'virt', 'monitor', 'doctor',
            'dynamic', 'version'},
}

#: Prints the gpuvirt_nova and forbidden modules loaded by importing argv.
PROBE = '''
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
'''


def _walk(path, prefix):
    """Module names under ``path`` without importing anything."""
    for info in pkgutil.iter_modules([path], prefix):
        if info.name in NOT_RUNTIME_PACKAGES + NOT_RUNTIME_MODULES:
            continue
        yield info.name
        if info.ispkg:
            yield from _walk(
                os.path.join(path, info.name.rsplit('.', 1)[1]),
                info.name + '.')


def runtime_modules():
    """Every runtime module of gpuvirt_nova, the package included."""
    return ['gpuvirt_nova'] + sorted(_walk(PACKAGE_DIR, 'gpuvirt_nova.'))


def room_of(name):
    """``hardware`` for gpuvirt_nova.hardware.sysfs; None for the package."""
    parts = name.split('.')
    if len(parts) < 2:
        return None
    if parts[1:3] == BACKENDS.split('.'):
        return BACKENDS
    return parts[1]


def loaded_by(modules):
    """Every module a fresh interpreter holds after importing ``modules``."""
    env = dict(os.environ, PYTHONWARNINGS='ignore',
               PYTHONPATH=os.pathsep.join(
                   [REPO] + [p for p in [os.environ.get('PYTHONPATH')]
                             if p]))
    result = subprocess.run([sys.executable, '-c', PROBE] + list(modules),
                            cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=300)
    if result.returncode:
        raise AssertionError('importing %s failed:\n%s'
                             % (' '.join(modules), result.stderr))
    return json.loads(result.stdout.splitlines()[-1])


def _forbidden(name):
    return any(name == p or name.startswith(p + '.')
               for p in FORBIDDEN_IN_RUNTIME)


class TestRuntimeImports(base.BaseTestCase):

    def test_runtime_modules_are_found(self):
        names = runtime_modules()
        self.assertIn('gpuvirt_nova.hardware.writers', names)
        self.assertIn('gpuvirt_nova.virt.driver', names)
        self.assertIn('gpuvirt_nova.conf.backends', names)
        self.assertFalse([n for n in names if _forbidden(n)])

    def test_no_harness_simulator_or_demo_in_runtime(self):
        loaded = loaded_by(runtime_modules())
        self.assertEqual([], [name for name in loaded if _forbidden(name)])

    def test_every_room_has_a_rule(self):
        rooms = {room_of(n) for n in runtime_modules()} - {None}
        self.assertEqual(set(), rooms - set(MAY_LOAD))


class TestRoomOrder(base.BaseTestCase):
    """Each room, imported alone, loads only the rooms below it."""

    def check_room(self, room):
        modules = [n for n in runtime_modules() if room_of(n) == room]
        self.assertTrue(modules, 'no module in room %s' % room)
        allowed = MAY_LOAD[room] | {room, None}
        wrong = sorted(name for name in loaded_by(modules)
                       if name.startswith('gpuvirt_nova')
                       and room_of(name) not in allowed)
        self.assertEqual([], wrong, 'importing %s (room %s) loads modules '
                         'of rooms it may not use (allowed: %s)'
                         % (', '.join(modules), room,
                            ', '.join(sorted(MAY_LOAD[room])) or 'none'))


def _room_test(room):
    def test(self):
        self.check_room(room)
    test.__name__ = 'test_%s' % room.replace('.', '_')
    test.__doc__ = 'Room %s loads only %s.' % (
        room, ', '.join(sorted(MAY_LOAD[room])) or 'itself')
    return test


for _room in MAY_LOAD:
    setattr(TestRoomOrder, 'test_%s' % _room.replace('.', '_'),
            _room_test(_room))


class TestHardwareImportsNoHigherRoom(base.BaseTestCase):
    """hardware/ may not import sim, privsep... even inside a function.

    A late import loads nothing at import time, so the fresh-interpreter
    checks above cannot see it: this reads the source instead, every
    ``import``, ``from ... import`` and ``importlib.import_module('...')``
    string anywhere in the room.
    """

    ALLOWED = ('gpuvirt_nova.hardware', 'gpuvirt_nova.exception')

    def _allowed(self, name):
        return any(name == a or name.startswith(a + '.')
                   for a in self.ALLOWED)

    def imported_names(self, path):
        """(line, gpuvirt_nova module name) of every import in ``path``."""
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        # The package a relative import starts from.
        package = os.path.relpath(os.path.dirname(path), REPO).split(os.sep)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield node.lineno, alias.name
            elif isinstance(node, ast.ImportFrom):
                module = node.module
                if node.level:
                    parts = package[:len(package) - node.level + 1]
                    module = '.'.join(parts + ([module] if module else []))
                for alias in node.names:
                    yield node.lineno, '%s.%s' % (module, alias.name)
            elif isinstance(node, ast.Constant) and \
                    isinstance(node.value, str) and \
                    node.value.startswith('gpuvirt_nova') and \
                    node.value.replace('.', '').replace('_', '').isalnum():
                yield node.lineno, node.value

    def test_hardware_sources(self):
        room = os.path.join(PACKAGE_DIR, 'hardware')
        wrong = []
        paths = []
        for directory, _, files in os.walk(room):
            paths.extend(os.path.join(directory, f) for f in files
                         if f.endswith('.py'))
        self.assertIn(os.path.join(room, 'writers.py'), paths)
        for path in sorted(paths):
            for line, name in self.imported_names(path):
                if name.startswith('gpuvirt_nova') and \
                        not self._allowed(name):
                    wrong.append('%s:%d %s' % (
                        os.path.relpath(path, REPO), line, name))
        self.assertEqual([], wrong)

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

"""Fuzzing of every input, with hypothesis.

The layout file and its resolver, the catalog's data, the sysfs parsers
and a whole discovery over a sysfs tree with a file made up, NVML's
answers, the command line and the configuration values: bad input must
give our own error naming the field (a GpuvirtError, which the command
line prints as one line), never another exception, which would reach the
user as a traceback; and the command line must never half-apply a layout
it rejects. Examples are derandomized: every run tries the same ones.
"""

import copy
import io
import os
import shutil
import tempfile

import fixtures
import hypothesis
from hypothesis import strategies as st
import testtools
import yaml

from gpuvirt_nova.cmd import main
from gpuvirt_nova.conf import opts as conf_opts
from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import discover
from gpuvirt_nova.hardware import model
from gpuvirt_nova.hardware import nvml as nvml_mod
from gpuvirt_nova.hardware import sysfs
from gpuvirt_nova.layout import spec
from gpuvirt_nova.layout import target
from gpuvirt_nova import sim
from tests import sim_fixture
from tests.unit.cmd import cli as cli_fixture

#: Examples per property (the slow ones run a fifth of them).
EXAMPLES = 200
SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True,
    database=None, suppress_health_check=list(hypothesis.HealthCheck))
SLOW = hypothesis.settings(SETTINGS, max_examples=EXAMPLES // 5)

SPEC = '2xA100-PCIE-40GB:mig@node01'
LAYOUT = {'gpu_cluster': {'nodes': [{'host': 'node01', 'gpus': [
    {'type': 'A100-PCIE-40GB',
     'vgpus': [{'profile': 'A100-2-10C', 'count': 3}]},
    {'index': [1], 'mode': 'time-sliced',
     'vgpus': [{'name': 'v', 'count': 2, 'memory': '8GB'}]}]}]}}

#: Any YAML value: what a typo, a wrong paste or an attacker may write.
SCALARS = (st.none() | st.booleans() | st.integers()
           | st.floats(allow_nan=False) | st.text(max_size=20)
           | st.sampled_from(['', '-1', '0', '1e9', '../../etc', 'A100',
                              '3g.20gb', 'nvidia-9999', '10GB', '150%']))
VALUES = st.recursive(SCALARS, lambda inner: (
    st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=6)


def _paths(value, path=()):
    """Every path into ``value`` (dict keys, list indexes)."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, path + (index,))


def _set(document, path, value):
    if not path:
        return value
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return document


def _named(path):
    """How an error names ``path``: ``gpu_cluster.nodes[0].host``."""
    text = ''
    for step in path:
        text += '[%d]' % step if isinstance(step, int) else (
            '.%s' % step if text else str(step))
    return text


LAYOUT_PATHS = list(_paths(LAYOUT))


class _Examples(testtools.TestCase):
    """Counts the examples each property ran (see the module's table)."""

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(dir=sim_fixture.scratch_dir())
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)


class TestLayoutFuzz(_Examples):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        root = tempfile.mkdtemp(dir=sim_fixture.scratch_dir())
        cls.host = discover.discover_host(
            sim.SimulatedHost.create(os.path.join(root, 'h'), SPEC))
        shutil.rmtree(root, ignore_errors=True)

    def load_and_resolve(self, text):
        """The layout's targets, or the GpuvirtError rejecting it."""
        try:
            layout = spec.load_text(text)
            return target.resolve_node(layout.node('node01'), self.host)
        except exception.GpuvirtError as exc:
            return exc

    @SETTINGS
    @hypothesis.given(st.sampled_from(LAYOUT_PATHS), VALUES)
    def test_a_bad_value_anywhere_is_named(self, path, value):
        document = _set(copy.deepcopy(LAYOUT), path, value)
        result = self.load_and_resolve(yaml.safe_dump(document))
        if isinstance(result, exception.UsageError) and path and \
                not str(result).startswith('layout'):
            # A value's own error names it, or the entry it belongs to.
            parent = _named(path[:-1])
            self.assertTrue(str(result).startswith(parent) or
                            'host node01' in str(result), (path, result))

    @SETTINGS
    @hypothesis.given(st.sampled_from([p for p in LAYOUT_PATHS
                                       if p and isinstance(p[-1], str)]),
                      st.text(min_size=1, max_size=12))
    def test_an_unknown_key_is_named(self, path, key):
        document = copy.deepcopy(LAYOUT)
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        hypothesis.assume(key not in parent)
        parent[key] = 1
        result = self.load_and_resolve(yaml.safe_dump(document))
        if isinstance(result, exception.GpuvirtError):
            self.assertIn(str(key), str(result))

    @SETTINGS
    @hypothesis.given(st.binary(max_size=200))
    def test_any_bytes_as_a_layout_file(self, data):
        self.load_and_resolve(data.decode('utf-8', 'replace'))


class TestCatalogFuzz(_Examples):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        path = os.path.join(os.path.dirname(catalog.__file__), 'data',
                            'a100-pcie-40gb.yaml')
        with open(path) as f:
            cls.document = yaml.safe_load(f)
        cls.paths = list(_paths(cls.document))

    @SETTINGS
    @hypothesis.given(st.data(), VALUES)
    def test_a_bad_catalog_value_is_named(self, data, value):
        path = data.draw(st.sampled_from(self.paths))
        document = _set(copy.deepcopy(self.document), path, value)
        try:
            catalog.build_model(document, source='a100.yaml')
        except catalog.CatalogError as exc:
            self.assertTrue(str(exc).startswith('a100.yaml: '), exc)


#: sysfs parsers: (function, takes a path for its message).
PARSERS = (sysfs.parse_int, sysfs.parse_numa_node, sysfs.parse_hex_id,
           sysfs.parse_pci_class, sysfs.parse_current_vgpu_type,
           sysfs.parse_creatable_vgpu_types, sysfs.parse_device_api,
           sysfs.parse_mdev_uuid, sysfs.parse_pci_address)


class TestSysfsFuzz(_Examples):

    @SETTINGS
    @hypothesis.given(st.sampled_from(PARSERS), st.text(max_size=80))
    def test_parsers_name_the_file(self, parser, text):
        try:
            parser(text, '/sys/x/attr')
        except exception.DiscoveryError as exc:
            self.assertIn('/sys/x/attr', str(exc))

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.root = tempfile.mkdtemp(dir=sim_fixture.scratch_dir())
        cls.sim_host = sim.SimulatedHost.create(
            os.path.join(cls.root, 'h'), SPEC)
        sys_dir = os.path.join(cls.sim_host.sysfs_root, 'sys')
        cls.files = sorted(
            os.path.join(d, f) for d, _, names in os.walk(sys_dir)
            for f in names if not os.path.islink(os.path.join(d, f)))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)
        super().tearDownClass()

    @SETTINGS
    @hypothesis.given(st.data(), st.binary(max_size=64))
    def test_discovery_over_any_file_content(self, data, content):
        # One sysfs file of a simulated host made up: discovery reads
        # the host (with warnings) or fails with a DiscoveryError.
        victim = data.draw(st.sampled_from(self.files))
        with open(victim, 'rb') as f:
            original = f.read()
        self.addCleanup(self._restore, victim, original)
        with open(victim, 'wb') as f:
            f.write(content)
        try:
            discover.discover_host(self.sim_host)
        except exception.GpuvirtError:
            pass
        self._restore(victim, original)

    @staticmethod
    def _restore(path, original):
        with open(path, 'wb') as f:
            f.write(original)


class _FakeNvmlError(Exception):
    def __init__(self, value):
        super().__init__(value)
        self.value = value


class TestNvmlFuzz(_Examples):
    """NVML answering anything: a made-up value or error, per call."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.root = tempfile.mkdtemp(dir=sim_fixture.scratch_dir())
        cls.sim_host = sim.SimulatedHost.create(
            os.path.join(cls.root, 'h'), SPEC)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.read_gpus = []

    @SETTINGS
    @hypothesis.given(st.data())
    def test_any_answer(self, data):
        self._read(data, always_real=())

    @SETTINGS
    @hypothesis.given(st.data())
    def test_any_answer_about_one_gpu(self, data):
        # The GPUs are found; what NVML says of each is made up.
        self._read(data, always_real=('nvmlDeviceGetCount',
                                      'nvmlDeviceGetHandleByIndex'))

    def test_the_fuzz_reaches_the_gpus(self):
        # Not vacuous: some examples read GPUs, some leave them out.
        self.test_any_answer_about_one_gpu()
        self.assertIn(2, self.read_gpus)
        self.assertLess(min(self.read_gpus), 2)

    def _read(self, data, always_real):
        real = self.sim_host.nvml()
        real.nvmlInit()
        self.addCleanup(real.nvmlShutdown)
        answers = {name: 'real' for name in always_real}

        class Faulty(object):
            NVMLError = getattr(real, 'NVMLError', _FakeNvmlError)

            def __getattr__(self, name):
                value = getattr(real, name)
                if not callable(value) or not name.startswith('nvml') or \
                        name in ('nvmlInit', 'nvmlShutdown'):
                    return value

                def call(*args, **kwargs):
                    if name not in answers:
                        answers[name] = data.draw(st.sampled_from(
                            ['real', 'error', 'value']))
                    if answers[name] == 'real':
                        return value(*args, **kwargs)
                    if answers[name] == 'error':
                        raise self.NVMLError(data.draw(
                            st.integers(0, 1000)))
                    return data.draw(SCALARS | st.binary(max_size=8))
                return call

        try:
            view = nvml_mod.NvmlReader(Faulty()).read()
        except exception.GpuvirtError:
            return
        if always_real:
            self.read_gpus.append(len(view.gpus))


def _option_names():
    return [(group.name, opt) for group, opts in conf_opts.list_opts()
            for opt in opts if not group.name.startswith('privsep')]


class TestCommandLineFuzz(_Examples):

    COMMANDS = (('layout', 'validate'), ('layout', 'plan'),
                ('layout', 'resolve'), ('layout', 'assert'),
                ('layout', 'export'), ('catalog', 'list'),
                ('catalog', 'show'), ('discover',), ('sim', 'show'))

    def setUp(self):
        super().setUp()
        self.useFixture(cli_fixture.CliFixture())
        self.layout = os.path.join(self.tmp, 'layout.yaml')
        with open(self.layout, 'w') as f:
            yaml.safe_dump(LAYOUT, f)

    @staticmethod
    def cli(*argv):
        """(exit code, stdout, stderr), as the console script ends.

        argparse ends a usage error with SystemExit(2) after printing
        the usage and the error: the script exits 2 with those lines.
        """
        out, err = io.StringIO(), io.StringIO()
        with fixtures.MonkeyPatch('sys.stdout', out), \
                fixtures.MonkeyPatch('sys.stderr', err):
            app = main.GpuvirtApp()
            app.stdout, app.stderr = out, err
            try:
                rc = app.run([str(a) for a in argv])
            except SystemExit as exc:
                rc = exc.code
        failure = getattr(app, '_failure', None)
        if failure is not None and \
                not isinstance(failure, exception.GpuvirtError):
            # cliff shows it in one line, but it is no error of ours: a
            # traceback with --debug, and no field named.
            err = err.getvalue() + '\nTraceback: %r' % (failure,)
            return rc, out.getvalue(), err
        return rc, out.getvalue(), err.getvalue()

    def assert_clean(self, rc, err):
        self.assertIn(rc, (0, 1, 2), err)
        self.assertNotIn('Traceback', err)
        if rc == 2:
            self.assertTrue(err.strip(), 'exit 2 without a word')

    @SETTINGS
    @hypothesis.given(st.sampled_from(COMMANDS), st.lists(
        st.sampled_from(['--simulate', '--sim-root', '--host', '-f',
                         '--gpu', '--model', 'json', 'yaml', '2xT4:mdev',
                         SPEC, '9xNOPE:mig', 'node01', '../x', '', '-',
                         '--', '0000:3b:00.0', 'A100-PCIE-40GB', '-1',
                         '--select', '--format', 'LAYOUT', 'SIMROOT'])
        | st.text(max_size=10), max_size=6))
    def test_any_arguments(self, command, argv):
        argv = [self.layout if a == 'LAYOUT' else
                os.path.join(self.tmp, 'r') if a == 'SIMROOT' else a
                for a in argv]
        rc, out, err = self.cli(*(command + tuple(argv)))
        self.assert_clean(rc, err)

    @SETTINGS
    @hypothesis.given(st.sampled_from(_option_names()),
                      st.text(max_size=16).filter(
                          lambda t: '\n' not in t and '\r' not in t))
    def test_any_config_value(self, option, value):
        group, opt = option
        path = os.path.join(self.tmp, 'gpuvirt.conf')
        with open(path, 'w') as f:
            f.write('[%s]\n%s = %s\n' % (group, opt.dest, value))
        rc, out, err = self.cli('--config-file', path, 'catalog', 'list')
        self.assert_clean(rc, err)
        if rc == 2:
            self.assertIn('[%s] %s' % (group, opt.dest), err)

    @SLOW
    @hypothesis.given(st.sampled_from(LAYOUT_PATHS), VALUES)
    def test_a_rejected_layout_writes_nothing(self, path, value):
        document = _set(copy.deepcopy(LAYOUT), path, value)
        with open(self.layout, 'w') as f:
            yaml.safe_dump(document, f)
        root = os.path.join(self.tmp, 'r%d' % len(os.listdir(self.tmp)))
        sim_host = sim.SimulatedHost.create(root, SPEC)
        before = model.to_dict(discover.discover_host(sim_host).gpus)
        rc, out, err = self.cli('layout', 'apply', self.layout, '--simulate',
                                SPEC, '--sim-root', root, '--host',
                                'node01', '--force')
        self.assert_clean(rc, err)
        if rc == 2:
            self.assertEqual(before, model.to_dict(
                discover.discover_host(sim_host).gpus))

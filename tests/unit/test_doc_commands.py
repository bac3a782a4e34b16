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

"""The operator guide says what the code does.

Every ``gpuvirt-nova`` command in a ``console`` block of ``doc/source``
(and of the README) names a real command and parses with its options,
and the blocks on simulated hosts run;
every check id the doctor can report has its entry in the troubleshooting
page; the guide builds with Sphinx without a warning (where Sphinx is
installed: ``doc/requirements.txt``).
"""

import glob
import importlib.util
import itertools
import os
import re
import shlex
import subprocess
import sys
import tempfile

import fixtures
from oslotest import base

from gpuvirt_nova.cmd import main
from tests.unit.cmd import cli as cli_fixture
from tests.unit import guide

DOCTOR = os.path.join(guide.REPO, 'gpuvirt_nova', 'doctor')


def expand(command):
    """A synopsis as the commands to parse.

    ``[optional | parts]``: one without any optional part, and one per
    alternative of each; ``plan|apply`` (one word): one per alternative.
    """
    parts = re.split(r'(\[[^\]]*\])', command)
    bare = ''.join(p for p in parts if not p.startswith('['))
    variants = [bare]
    for i, part in enumerate(parts):
        if part.startswith('['):
            for alternative in part[1:-1].split('|'):
                variants.append(''.join(
                    alternative if j == i else
                    ('' if p.startswith('[') else p)
                    for j, p in enumerate(parts)))
    words = []
    for variant in variants:
        choices = [w.split('|') for w in variant.split()]
        words += [' '.join(c) for c in itertools.product(*choices)]
    return words


def guide_commands():
    """[(where, gpuvirt-nova argv)] of every console block."""
    texts = dict(guide.pages())
    with open(os.path.join(guide.REPO, 'README.md')) as stream:
        readme = stream.read()
    found = []
    for name, text in texts.items():
        for block in guide.blocks(text, 'console'):
            found += [('doc/source/%s.rst' % name, c)
                      for c, _ in guide.console_commands(block)]
    for block in re.findall(r'```console\n(.*?)```', readme, re.S):
        found += [('README.md', c) for c, _ in guide.console_commands(block)]
    result = []
    for where, command in found:
        for piece in re.split(r'\s*(?:;|&&|\|\|)\s*', command):
            if piece.startswith('gpuvirt-nova '):
                for variant in expand(piece):
                    result.append((where, shlex.split(variant)[1:]))
    return result


def parse(argv):
    """Parse ``gpuvirt-nova ARGV`` as the app would; an error message or None.

    Nothing runs: the global options, the command and its options are
    parsed only.
    """
    app = main.GpuvirtApp()
    try:
        _, rest = app.parser.parse_known_args(argv)
        try:
            factory, name, sub_argv = app.command_manager.find_command(rest)
        except ValueError as exc:
            return 'no such command: %s' % exc
        cmd = factory(app, None)
        parser = cmd.get_parser('gpuvirt-nova %s' % name)
        parser.error = lambda message: (_ for _ in ()).throw(
            ValueError(message))
        parser.parse_args(sub_argv)
    except ValueError as exc:
        return str(exc)
    except SystemExit as exc:
        return 'exit %s' % exc.code
    return None


class TestGuideCommands(base.BaseTestCase):

    def test_the_guide_shows_commands(self):
        where = {w for w, _ in guide_commands()}
        for page in ('layout', 'placement', 'nova', 'troubleshooting',
                     'upgrade'):
            self.assertIn('doc/source/%s.rst' % page, where)

    def test_every_command_exists_and_parses(self):
        bad = []
        for where, argv in guide_commands():
            error = parse(argv)
            if error:
                bad.append('%s: gpuvirt-nova %s: %s' % (
                    where, ' '.join(argv), error))
        self.assertEqual([], bad)

    def test_a_wrong_option_is_caught(self):
        self.assertIn('--no-such-option',
                      parse(['layout', 'plan', '--no-such-option']))
        self.assertIn('no such command', parse(['layout', 'carve']))
        self.assertIsNone(parse(['layout', 'plan', 'x.yaml', '-f', 'json']))

    def test_optional_parts_expand(self):
        self.assertEqual(['sync', 'sync --drain', 'sync --force'],
                         expand('sync [--drain | --force]'))
        self.assertEqual(['sim show DIR', 'sim reboot DIR'],
                         expand('sim show|reboot DIR'))


class TestSimulatedCommandsRun(base.BaseTestCase):
    """The guide's commands on simulated hosts run as written.

    Each console block whose ``gpuvirt-nova`` commands all act on a
    simulated host (``--simulate``, ``--sim-root``, ``sim``, a
    ``--sysfs-root`` made by ``sim create``) is run in order, in a
    temporary directory: ``/tmp/...`` paths move into it, shipped files
    are read from this tree, and the state directory is the temporary one.
    """

    SIMULATED = re.compile(r'--simulate |--sim-root |^sim |--sysfs-root \./')

    def blocks(self):
        found = []
        for name, text in guide.pages().items():
            for block in guide.blocks(text, 'console'):
                commands = [c for c, _ in guide.console_commands(block)
                            if c.startswith('gpuvirt-nova ')]
                runnable = [c for c in commands if self.SIMULATED.search(
                    c[len('gpuvirt-nova '):]) and '--os-' not in c]
                if runnable:
                    found.append((name, runnable))
        return found

    def test_simulated_blocks_run(self):
        blocks = self.blocks()
        self.assertIn('layout', [name for name, _ in blocks])
        self.assertIn('hardware', [name for name, _ in blocks])
        for name, commands in blocks:
            with self.subTest(page=name):
                self.run_block(commands)

    def run_block(self, commands):
        tmp = self.useFixture(fixtures.TempDir()).path
        conf = os.path.join(tmp, 'gpuvirt.conf')
        with open(conf, 'w') as stream:
            stream.write('[gpuvirt]\nstate_dir = %s\n' % tmp)
        cli = self.useFixture(cli_fixture.CliFixture()).cli
        for command in commands:
            text = command.split(';')[0]
            text = text.replace(' /tmp/', ' %s/' % tmp).replace(
                ' ./', ' %s/' % tmp).replace(
                ' etc/gpuvirt-nova/', ' %s/' % os.path.join(
                    guide.REPO, 'etc', 'gpuvirt-nova'))
            argv = ['--config-file', conf] + shlex.split(text)[1:]
            rc, out, err = cli(*argv)
            allowed = (0, 1) if argv[2] == 'doctor' else (0,)
            self.assertIn(rc, allowed, '%s\n%s' % (command, err[-2000:]))


class TestTroubleshootingPage(base.BaseTestCase):

    def test_every_doctor_check_is_explained(self):
        ids = set()
        for path in glob.glob(os.path.join(DOCTOR, '*.py')):
            with open(path) as stream:
                text = stream.read()
            ids.update(re.findall(r"Finding\(\s*'([a-z0-9-]+)'", text))
            # A module with one check names it once: CHECK = 'flavor-numa'.
            ids.update(re.findall(r"^CHECK = '([a-z0-9-]+)'", text, re.M))
        self.assertIn('flavor-numa', ids)
        self.assertGreater(len(ids), 15)
        page = guide.pages()['troubleshooting']
        explained = set(re.findall(r'^``([a-z0-9-]+)``$', page, re.M))
        self.assertEqual([], sorted(ids - explained))


class TestSphinxBuild(base.BaseTestCase):

    def test_guide_builds_without_warnings(self):
        if importlib.util.find_spec('sphinx') is None:
            self.skipTest('Sphinx is not installed (doc/requirements.txt; '
                          'tox -e docs)')
        with tempfile.TemporaryDirectory() as out:
            result = subprocess.run(
                [sys.executable, '-m', 'sphinx', '-W', '-q', '-b', 'html',
                 '-d', os.path.join(out, 'doctrees'), guide.SOURCE,
                 os.path.join(out, 'html')],
                capture_output=True, text=True, timeout=600,
                env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                    [guide.REPO, os.environ.get('PYTHONPATH', '')])))
            self.assertEqual(0, result.returncode,
                             result.stderr[-3000:])
            self.assertTrue(os.path.exists(os.path.join(
                out, 'html', 'cli.html')))

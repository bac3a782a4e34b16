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

"""The ``gpuvirt-nova`` command: a cliff application.

Commands are found through the ``gpuvirt_nova.cli`` entry points (an
underscore in the entry point name is a space on the command line), so each
room owns its commands in its own module under ``gpuvirt_nova/cmd``.
"""

import configparser
import difflib
import os
import sys

from cliff import app
from cliff import commandmanager
from oslo_config import cfg

from gpuvirt_nova import conf as gpuvirt_conf
from gpuvirt_nova import exception
from gpuvirt_nova import version

DEFAULT_CONFIG_FILES = ('/etc/nova/nova.conf',
                        '/etc/gpuvirt-nova/gpuvirt-nova.conf')


def existing_default_config_files(candidates=DEFAULT_CONFIG_FILES):
    return [path for path in candidates if os.path.isfile(path)]


def load_config(config_files, conf=None):
    """Parse the given files (or the defaults that exist) into ``conf``.

    Raises ConfigError naming the file when one is missing or unreadable.
    """
    conf = conf or gpuvirt_conf.CONF
    for path in config_files or ():
        if not os.path.isfile(path):
            raise exception.ConfigError(
                '--config-file %s: no such file; pass an existing file or '
                'leave the option out to use the defaults' % path)
    files = list(config_files) if config_files \
        else existing_default_config_files()
    try:
        conf([], project='gpuvirt-nova', default_config_files=files,
             default_config_dirs=[], validate_default_values=True)
    except (cfg.Error, ValueError) as exc:
        raise exception.ConfigError('configuration error: %s' % exc)
    check_values(conf, files)
    return conf


def _our_options():
    """{group name: {option names, deprecated names included}}."""
    from gpuvirt_nova.conf import opts as opts_mod
    groups = {}
    for group, opts in opts_mod.list_opts():
        names = groups.setdefault(group.name, set())
        for opt in opts:
            names.add(opt.dest)
            names.update(d.name for d in opt.deprecated_opts
                         if d.name and d.group in (None, group.name))
    return groups


def check_values(conf, files):
    """Read every option of our groups now, so a bad value stops here.

    oslo.config converts a value only when it is first read: without
    this, ``drain_timeout = ten`` would fail in the middle of a drain.

    :raises exception.ConfigError: one line naming group, option, file
        and what is wrong.
    """
    for group, names in sorted(_our_options().items()):
        for name in sorted(names):
            try:
                getattr(getattr(conf, group), name)
            except (cfg.NoSuchOptError, AttributeError):
                continue
            except (cfg.Error, ValueError) as exc:
                reason = str(exc).split(' is not valid: ', 1)[-1]
                raise exception.ConfigError(
                    '[%s] %s in %s: %s; fix the value (gpuvirt-nova.conf.'
                    'sample lists what each option takes)' % (
                        group, name, ', '.join(files) or 'the defaults',
                        reason))


def unknown_options(files):
    """Warnings for keys of our groups that no option of ours reads.

    A misspelt key (``sysfs_rot``) would otherwise be ignored in silence.
    """
    groups = _our_options()
    warnings = []
    for path in files:
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        try:
            parser.read(path)
        except configparser.Error:
            continue  # oslo.config has read it; its errors came first
        for group in parser.sections():
            if group not in groups:
                continue
            for key in parser.options(group):
                if key in groups[group] or key in parser.defaults():
                    continue
                close = difflib.get_close_matches(key, groups[group], 1)
                warnings.append(
                    '%s: [%s] %s is not an option of gpuvirt-nova and is '
                    'ignored%s' % (path, group, key,
                                   '; did you mean %s?' % close[0]
                                   if close else ''))
    return warnings


class _EarlyExit(SystemExit):
    """Leaves cliff's start-up with our exit code instead of its 1."""


class GpuvirtApp(app.App):

    def __init__(self):
        super().__init__(
            description='NVIDIA vGPU and MIG management for OpenStack Nova',
            version=version.version_string(),
            command_manager=commandmanager.CommandManager(
                'gpuvirt_nova.cli'),
            deferred_help=True)
        self.conf = gpuvirt_conf.CONF

    def build_option_parser(self, description, version, argparse_kwargs=None):
        parser = super().build_option_parser(description, version,
                                             argparse_kwargs)
        parser.add_argument(
            '--config-file', action='append', default=[],
            metavar='PATH',
            help='Configuration file to read (repeatable). Default: '
                 '%s, whichever exist.' % ' and '.join(DEFAULT_CONFIG_FILES))
        parser.add_argument(
            '--os-placement-url', metavar='URL',
            default=os.environ.get('OS_PLACEMENT_URL'),
            help='Placement endpoint for every command (noauth2, token '
                 '"admin"); overrides [gpuvirt_placement] placement_url. '
                 'Default: $OS_PLACEMENT_URL.')
        return parser

    def initialize_app(self, argv):
        # Help does not need configuration; everything else does.
        if argv and argv[0] in ('help', 'complete'):
            return
        try:
            load_config(self.options.config_file, self.conf)
            files = self.options.config_file or \
                existing_default_config_files()
            for warning in unknown_options(files):
                self.stderr.write('gpuvirt-nova: warning: %s\n' % warning)
            if self.options.os_placement_url:
                self.conf.set_override('placement_url',
                                       self.options.os_placement_url,
                                       group='gpuvirt_placement')
        except exception.GpuvirtError as exc:
            # cliff would turn this into exit 1; configuration errors are 2.
            self.stderr.write('gpuvirt-nova: %s\n' % exc)
            raise _EarlyExit(exc.exit_code)

    def run(self, argv):
        try:
            return super().run(argv)
        except _EarlyExit as exc:
            return exc.code

    def run_subcommand(self, argv):
        self._failure = None
        result = super().run_subcommand(argv)
        # cliff already printed the message and returned 1; our errors say
        # which exit code they mean (2 for usage and configuration).
        if isinstance(self._failure, exception.GpuvirtError):
            return self._failure.exit_code
        return result

    def clean_up(self, cmd, result, err):
        self._failure = err


def main(argv=None):
    return GpuvirtApp().run(sys.argv[1:] if argv is None else argv)


if __name__ == '__main__':
    sys.exit(main())

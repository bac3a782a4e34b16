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

"""Command-line pieces several commands share, so they read the same.

``--simulate``, ``--sim-root`` and ``--select`` mean the same thing in
``discover``, ``layout`` and ``placement``; ``-o/--output FILE`` fails the
same way everywhere (one line naming the option, exit 2).
"""

from gpuvirt_nova import exception

SIMULATE_HELP = ('a simulated host, for example 2xA100-PCIE-40GB:mig, '
                 '8xH100-SXM5-80GB:vfio or 4xT4:mdev (groups joined by "+", '
                 'optional @hostname), or a YAML host file')


def add_simulate(parser, where):
    """Add ``--simulate SPEC``; ``where`` says where the host is kept."""
    parser.add_argument(
        '--simulate', metavar='SPEC',
        help='Use %s instead of this host; %s.' % (SIMULATE_HELP, where))


def add_select(parser):
    """Add ``--select NAME``: the named layout a node uses."""
    parser.add_argument(
        '--select', metavar='NAME',
        help='Use the named layout gpu_cluster.layouts.NAME for this node '
             '(default: [gpuvirt_layout] select, else the node\'s own).')


def selected_layout(conf, parsed_args):
    """The named layout asked for: ``--select``, else the configured one."""
    return parsed_args.select or conf.gpuvirt_layout.select


def kept_sim_root(path):
    """``path`` if it holds a simulated host, else UsageError (--sim-root)."""
    from gpuvirt_nova.sim import state  # imported late: simulating only
    if not state.StateStore(path).exists():
        raise exception.UsageError(
            '--sim-root %s: no simulated host there; create one with '
            'gpuvirt-nova sim create %s SPEC (or layout apply --simulate '
            'SPEC --sim-root %s)' % (path, path, path))
    return path


def write_output(path, text, option='--output'):
    """Write ``text`` to ``path``; UsageError naming ``option`` if it fails."""
    try:
        with open(path, 'w') as stream:
            stream.write(text)
    except OSError as exc:
        raise exception.UsageError('%s %s: %s; pick a writable path'
                                   % (option, path, exc.strerror))

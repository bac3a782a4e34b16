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

:class:`TypedOutput` is how every listing command prints: ``take_action``
returns typed values (numbers, lists, booleans, None) and the formatter
decides how they read, so ``-f json`` never carries a number as a string.
"""

import enum
import functools
import json
import re

from cliff import lister
from cliff import show
import yaml

from gpuvirt_nova import exception

#: Formatters whose output is parsed by tools: typed values, identifier keys.
MACHINE_FORMATS = ('json', 'yaml')
#: Formatters read by people: a list is one line per item.
HUMAN_FORMATS = ('table',)

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


def column_key(label):
    """The identifier a column has in machine output.

    ``'Resource class'`` -> ``'resource_class'``, ``'VFs used/total'`` ->
    ``'vfs_used_total'``, ``'GPU util %'`` -> ``'gpu_util'``.
    """
    key = re.sub(r'[^0-9a-z]+', '_', label.lower()).strip('_')
    if not key or key[0].isdigit():
        raise ValueError('column %r has no identifier form' % label)
    return key


class Cell:
    """A value whose table text is not its value (``2GB unused``).

    Machine output gets ``value``; the table shows ``text``.
    """

    def __init__(self, value, text):
        self.value, self.text = value, text

    def __repr__(self):
        return 'Cell(%r, %r)' % (self.value, self.text)


def machine_value(value):
    """``value`` as JSON/YAML should carry it: typed, lists as lists."""
    if isinstance(value, Cell):
        return machine_value(value.value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): machine_value(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(machine_value(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [machine_value(v) for v in value]
    return value


def human_value(value, separator='\n'):
    """``value`` as a table cell: yes/no, ``-`` for nothing, one per line."""
    if isinstance(value, Cell):
        return value.text
    if value is None:
        return '-'
    if isinstance(value, bool):
        return 'yes' if value else 'no'
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        value = ['%s=%s' % (k, human_value(v, ',')) for k, v in
                 sorted(value.items())]
    if isinstance(value, (set, frozenset)):
        value = sorted(value)
    if isinstance(value, (list, tuple)):
        return separator.join(str(human_value(v, ',')) for v in value) \
            or '-'
    return value


def dump_document(document, formatter, stream, indent=2):
    """Write a whole document as ``-f json`` or ``-f yaml`` asked."""
    if formatter == 'json':
        stream.write(json.dumps(machine_value(document), indent=indent)
                     + '\n')
    else:
        stream.write(yaml.safe_dump(machine_value(document), sort_keys=False,
                                    default_flow_style=False))


class TypedOutput:
    """Mixin for a cliff Lister or ShowOne: one way to print typed rows.

    - ``-f json|yaml``: keys are :func:`column_key` identifiers, values
      keep their types (:func:`machine_value`);
    - ``-f table``: the column labels, values as :func:`human_value` with
      one list item per line;
    - other formatters (csv, value, shell): identifier keys, list items
      joined by commas.

    ``machine_only`` names columns too wide for the table (provider
    UUIDs): machine formats have them, the table does not. A command that
    sets ``self.document`` prints that whole document for json/yaml
    instead of its rows.
    """

    machine_only = ()
    document = None

    def produce_output(self, parsed_args, column_names, data):
        formatter = parsed_args.formatter
        single = isinstance(self, show.ShowOne)
        rows = [data] if single else data
        if formatter in MACHINE_FORMATS and self.document is not None:
            dump_document(self.document, formatter, self.app.stdout,
                          None if getattr(parsed_args, 'noindent', False)
                          else 2)
            return 0
        keep = [formatter not in HUMAN_FORMATS
                or name not in self.machine_only for name in column_names]
        if formatter in MACHINE_FORMATS:
            convert = machine_value
        elif formatter in HUMAN_FORMATS:
            convert = human_value
        else:
            convert = functools.partial(human_value, separator=',')
        names = [name if formatter in HUMAN_FORMATS else column_key(name)
                 for name, wanted in zip(column_names, keep) if wanted]
        rows = [[convert(v) for v, wanted in zip(row, keep) if wanted]
                for row in rows]
        return super().produce_output(parsed_args, names,
                                      rows[0] if single else rows)


class Lister(TypedOutput, lister.Lister):
    """A cliff Lister that prints typed rows (see :class:`TypedOutput`)."""


class ShowOne(TypedOutput, show.ShowOne):
    """A cliff ShowOne that prints a typed row (see :class:`TypedOutput`)."""

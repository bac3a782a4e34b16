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

"""Read the operator guide (``doc/source/*.rst``) the way tests need it.

Plain text parsing, no Sphinx: sections by title, code blocks by
language, and the commands of ``console`` blocks, so the guide's
recipes and commands can be checked without building the documents.
"""

import glob
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SOURCE = os.path.join(REPO, 'doc', 'source')
_ADORNMENT = re.compile(r'^([=\-~^"\'`#*+]){3,}$')


def pages():
    """Every page of the guide: {name: text}."""
    result = {}
    for path in sorted(glob.glob(os.path.join(SOURCE, '*.rst'))):
        with open(path) as stream:
            result[os.path.basename(path)[:-4]] = stream.read()
    return result


def _titles(lines):
    """Indexes of the lines that are section titles."""
    return [i for i in range(len(lines) - 1)
            if lines[i].strip() and not _ADORNMENT.match(lines[i])
            and _ADORNMENT.match(lines[i + 1])
            and len(lines[i + 1]) >= len(lines[i].rstrip())]


def section(page, title):
    """The text under ``title`` in ``page`` up to the next title."""
    lines = pages()[page].splitlines()
    titles = _titles(lines)
    for n, i in enumerate(titles):
        if lines[i].strip() == title:
            end = titles[n + 1] if n + 1 < len(titles) else len(lines)
            return '\n'.join(lines[i + 2:end]) + '\n'
    raise AssertionError('doc/source/%s.rst has no section %r'
                         % (page, title))


def blocks(text, language):
    """The bodies of ``.. code:: LANGUAGE`` blocks, dedented."""
    found = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = re.match(r'^(\s*)\.\. code(?:-block)?:: *(\S+)\s*$', line)
        if not match or match.group(2) != language:
            continue
        indent = len(match.group(1))
        body = []
        for following in lines[i + 1:]:
            if following.strip() and \
                    len(following) - len(following.lstrip()) <= indent:
                break
            body.append(following)
        prefix = min((len(b) - len(b.lstrip()) for b in body if b.strip()),
                     default=0)
        found.append('\n'.join(b[prefix:] for b in body).strip('\n') + '\n')
    return found


def console_commands(block):
    """The commands of a console block: ``$ `` lines, continuations joined.

    Output lines are left out; a ``# comment`` after the command is kept
    apart as the second item: [(command, comment)].
    """
    commands, current = [], None
    for line in block.splitlines():
        if current is not None:
            current += ' ' + line.strip()
        elif line.startswith('$ '):
            current = line[2:]
        else:
            continue
        if current.endswith('\\'):
            current = current[:-1].rstrip()
            continue
        command, _, comment = current.partition('  #')
        commands.append((command.strip(), comment.strip()))
        current = None
    return commands

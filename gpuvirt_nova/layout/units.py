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

"""Memory sizes and compute shares as operators write them in a layout.

Memory: ``10GB``, ``10GiB``, ``10240MiB``, ``10240MB``, ``1.5GB``. NVIDIA
names every profile by its size in binary units (``2g.10gb``, ``A100-10C``
= 10240 MiB), and operators copy those names, so ``GB`` and ``GiB`` both
mean 1024 MiB and ``MB`` and ``MiB`` both mean 1 MiB. A request is matched
against a profile's *nominal* size (the number in its name): ``memory:
10GB`` fits a ``2g.10gb`` even though MIG keeps 384 MiB of it for itself.

Compute: ``25%``, a percentage of the whole GPU, ``0% < share <= 100%``.
A bare number (``25`` or ``0.25``) is refused as ambiguous.
"""

import re

_MEMORY_RE = re.compile(
    r'^\s*(?P<number>\d+(\.\d+)?)\s*(?P<unit>[kmgt]i?b?)\s*$', re.I)
_FACTORS_MIB = {'m': 1, 'g': 1024, 't': 1024 * 1024}
_COMPUTE_RE = re.compile(r'^\s*(?P<number>-?\d+(\.\d+)?)\s*%\s*$')

MEMORY_HINT = 'write a size like 10GB or 10240MiB'
COMPUTE_HINT = 'write a share like 25% (more than 0%, at most 100%)'


def parse_memory(value):
    """``'10GB'`` -> 10240 (MiB). Raises ValueError with the expected form."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError('%r is not a size; %s' % (value, MEMORY_HINT))
    if isinstance(value, (int, float)):
        raise ValueError('%r has no unit; %s' % (value, MEMORY_HINT))
    match = _MEMORY_RE.match(value)
    if not match or match.group('unit')[0].lower() == 'k':
        raise ValueError('%r is not a size; %s' % (value, MEMORY_HINT))
    mib = float(match.group('number')) * \
        _FACTORS_MIB[match.group('unit')[0].lower()]
    if mib < 1:
        raise ValueError('%r is smaller than 1MiB; %s' % (value, MEMORY_HINT))
    return int(round(mib))


def parse_compute(value):
    """``'25%'`` -> 25.0. Raises ValueError with the expected form."""
    if not isinstance(value, str):
        raise ValueError('%r has no %% sign; %s' % (value, COMPUTE_HINT))
    match = _COMPUTE_RE.match(value)
    if not match:
        raise ValueError('%r is not a share; %s' % (value, COMPUTE_HINT))
    number = float(match.group('number'))
    if not 0 < number <= 100:
        raise ValueError('%r is out of range; %s' % (value, COMPUTE_HINT))
    return number


def format_mib(mib):
    """10240 -> ``'10GB'``, 1664 -> ``'1.6GB'``, 512 -> ``'512MiB'``."""
    if mib and abs(mib) >= 1024:
        text = '%.1f' % (mib / 1024.0)
        if text.endswith('.0'):
            text = text[:-2]
        return text + 'GB'
    return '%dMiB' % mib


def format_share(percent):
    """28.571 -> ``'28.6%'``, 25.0 -> ``'25%'``."""
    text = '%.1f' % percent
    if text.endswith('.0'):
        text = text[:-2]
    return text + '%'

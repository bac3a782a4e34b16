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

"""Drift between hardware/layout and Placement, in the operator's words.

An audit is a sync in dry-run mode: what a sync would change is drift,
and what a sync would protect (allocations on a GPU that is no longer
offered or no longer exists, usage above the offered total) is drift too.
Pure: turns a :class:`gpuvirt_nova.placement.sync.SyncReport` into rows.
"""

import dataclasses

#: sync action -> drift kind shown by ``placement audit``.
DRIFT_KINDS = {
    'create compute node provider': 'missing compute node provider',
    'create resource class': 'missing resource class',
    'create trait': 'missing trait',
    'create provider': 'missing provider',
    'delete provider': 'stale provider',
    'reserve inventory': 'stale provider in use',
    'update inventory': 'wrong inventory',
    'update traits': 'wrong traits',
}

IN_USE = 'allocations beyond what the GPU offers'
DRAINING = 'left draining'


@dataclasses.dataclass(frozen=True)
class Drift:
    provider: str
    kind: str
    detail: str


def drift(report, draining=()):
    """[Drift] found by a dry-run sync report (empty: no drift).

    ``draining``: names of this host's GPU providers marked
    ``CUSTOM_GPUVIRT_DRAINING``. A sync keeps them reserved, as it must
    while ``layout apply --drain`` runs; when no apply runs, the mark is
    left over from one that was killed, and only an operator can say so.
    """
    items = [Drift(c.provider, DRIFT_KINDS.get(c.action, c.action),
                   c.detail) for c in report.changes]
    for name in draining:
        items.append(Drift(name, DRAINING, (
            'fully reserved and marked draining: a layout apply --drain is '
            'running, or was killed; if none runs, release it with '
            'gpuvirt-nova layout undrain')))
    for note in report.protected:
        provider = note.split(' ', 1)[0].rstrip(':')
        items.append(Drift(provider, IN_USE, note))
    return items

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

"""Live migration of servers with vGPUs: the pure pre-checks and pairing.

Where the pieces travel: the destination chooses its devices once it
knows its allocations (``check_source_migrate_data_at_dest``) and writes
them into ``migrate_data.pci_dev_map_src_dst`` under placeholder keys
(``gpuvirt:<resource class>:<n>``), because only the source knows its own
VF addresses; the source swaps the placeholders for its VFs just before
the migration starts, and Nova's own XML update then moves each hostdev
to the destination VF.
"""

import collections
import re

from gpuvirt_nova.placement import naming

PLACEHOLDER_PREFIX = 'gpuvirt:'

#: Statuses of a Nova live migration that will never bring the guest to
#: the destination (or already did): its destination claim can go.
ENDED_MIGRATION_STATUSES = frozenset(
    ('cancelled', 'failed', 'error', 'completed', 'done'))


def _driver_majors(traits):
    return {t[len(naming.DRIVER_TRAIT_PREFIX):] for t in traits
            if t.startswith(naming.DRIVER_TRAIT_PREFIX)}


def precheck_problems(source_classes, dest_classes, source_traits,
                      dest_traits):
    """Why a vGPU server cannot live-migrate (empty list: it can).

    :param source_classes, dest_classes: Counters of ``CUSTOM_VGPU_*``
        units allocated on each side.
    :param source_traits, dest_traits: traits of the GPU providers used
        on each side (for the NVIDIA driver branch).
    """
    problems = []
    if source_classes != dest_classes:
        problems.append(
            'the destination allocation (%s) is not the same vGPU types as '
            'the source (%s)' % (_fmt(dest_classes), _fmt(source_classes)))
    source_drivers = _driver_majors(source_traits)
    dest_drivers = _driver_majors(dest_traits)
    if source_drivers != dest_drivers:
        problems.append(
            'the NVIDIA driver branch differs: source %s, destination %s; '
            'vGPU live migration needs the same branch on both hosts'
            % (_fmt(source_drivers), _fmt(dest_drivers)))
    return problems


def _fmt(values):
    if isinstance(values, collections.Counter):
        return ', '.join('%s x%d' % kv for kv in sorted(values.items()))
    return ', '.join(sorted(values)) or 'unknown'


def placeholders(devices):
    """``{gpuvirt:<rc>:<n>: dest VF address}`` for the destination's VFs."""
    counts = collections.Counter()
    result = {}
    for device in devices:
        rc = device.resource_class
        result['%s%s:%d' % (PLACEHOLDER_PREFIX, rc, counts[rc])] = \
            device.address
        counts[rc] += 1
    return result


def pair_mdevs(source_mdevs, devices):
    """``{source mdev UUID: destination mdev UUID}``, type by type.

    ``source_mdevs``: ``{uuid: vGPU type name}`` the guest has at the
    source; ``devices``: the destination's chosen devices. Nova rewrites
    each ``<hostdev type='mdev'>`` of the guest with this map (its own
    ``target_mdevs``).

    :raises ValueError: a source mdev has no destination device of its
        type, or the destination chose more mdevs than the guest has.
    """
    free = sorted((d for d in devices if d.kind == 'mdev'),
                  key=lambda d: d.mdev_uuid)
    result = {}
    for uuid, type_name in sorted(source_mdevs.items()):
        match = next((d for d in free if d.vgpu_type == type_name), None)
        if match is None:
            raise ValueError('the destination has no free %s mdev for the '
                             'guest\'s mdev %s' % (type_name, uuid))
        free.remove(match)
        result[uuid] = match.mdev_uuid
    if free:
        raise ValueError('the destination chose %d mdev(s) the guest does '
                         'not have at the source' % len(free))
    return result


def resolve(pci_map, source_vfs):
    """Replace placeholder keys with the source's VF addresses.

    :param pci_map: ``pci_dev_map_src_dst`` as the destination set it.
    :param source_vfs: ``{source VF address: resource class}`` of the
        server's vGPU VFs on the source.
    :returns: the map with real source addresses.
    :raises ValueError: when the two sides do not pair one to one.
    """
    by_class = collections.defaultdict(list)
    for address, rc in sorted(source_vfs.items()):
        by_class[rc].append(address)
    result = {}
    for key, dest in pci_map.items():
        match = re.match(r'^%s(?P<rc>[A-Z0-9_]+):(?P<n>\d+)$'
                         % PLACEHOLDER_PREFIX, key)
        if match is None:
            result[key] = dest
            continue
        sources = by_class.get(match.group('rc'), [])
        index = int(match.group('n'))
        if index >= len(sources):
            raise ValueError('the destination prepared a %s device the '
                             'source does not have' % match.group('rc'))
        result[sources[index]] = dest
    unpaired = set(source_vfs) - set(result)
    if unpaired:
        raise ValueError('source VF(s) %s have no destination device'
                         % ', '.join(sorted(unpaired)))
    return result


def expired_claims(held, now, max_age, defined):
    """Instances whose destination claim is older than ``max_age``.

    ``held``: ``{instance uuid: when the claim was made}`` (monotonic
    seconds); ``defined``: instance uuids with a domain on this host. A
    claim whose guest arrived, or is arriving (libvirt defines the
    incoming domain when the migration starts), is kept; one the
    conductor gave up on after the pre-check would otherwise hold its
    devices forever.
    """
    return sorted(uuid for uuid, since in held.items()
                  if now - since > max_age and uuid not in defined)

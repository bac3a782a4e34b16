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

"""Pure decisions of a sync: what a provider's inventory and traits become.

Inputs are what Placement returned (plain dicts and sets); outputs are
what to write. The rules that protect running servers live here:

* an inventory is never lowered below what is allocated from it; the
  total stays at the usage and the difference is reported;
* a resource class no longer offered but still in use stays, fully
  reserved, so nothing new lands there while the servers run;
* a GPU whose type changes while guests of the old type remain (one of
  its classes is allocated beyond what it now offers) offers nothing new
  at all until they are gone: the old guests still fill the GPU, so the
  new type's capacity is not there yet;
* traits this package does not generate are kept as they are.

:func:`merge_inventories` is the one reconcile rule: the standalone sync
(:mod:`gpuvirt_nova.placement.sync`) and the Nova driver
(:mod:`gpuvirt_nova.virt.provider`) both write what it returns.
"""

from gpuvirt_nova.placement import naming

INVENTORY_FIELDS = ('total', 'reserved', 'min_unit', 'max_unit',
                    'step_size', 'allocation_ratio')


def _fields(inventory):
    return {k: inventory[k] for k in INVENTORY_FIELDS if k in inventory}


def inventories_equal(left, right):
    """True when both ``{rc: inventory}`` maps hold the same records."""
    if set(left) != set(right):
        return False
    for rc, inventory in left.items():
        a, b = _fields(inventory), _fields(right[rc])
        for field in INVENTORY_FIELDS:
            if field == 'allocation_ratio':
                if abs(float(a.get(field, 1.0))
                       - float(b.get(field, 1.0))) > 1e-6:
                    return False
            elif a.get(field) != b.get(field):
                return False
    return True


def needs_usages(spec, current):
    """True when the change could drop capacity (then usages matter)."""
    for rc, inventory in current.items():
        wanted = spec.inventories.get(rc)
        if wanted is None or wanted.total - wanted.reserved \
                < inventory['total'] - inventory.get('reserved', 0):
            return True
    return False


def merge_inventories(spec, current, usages):
    """(inventories to hold, notes) for ``spec`` given Placement's state.

    ``current``: ``{rc: inventory}`` now in Placement; ``usages``:
    ``{rc: used}``. Notes are one line each, for the report.
    """
    result = {}
    notes = []
    leaving = []
    for rc, inventory in sorted(spec.inventories.items()):
        record = inventory.as_dict()
        used = usages.get(rc, 0)
        if record['total'] < used:
            notes.append(
                '%s %s: offers %d but %d are allocated; total kept at %d '
                'and fully reserved until they are freed'
                % (spec.name, rc, record['total'], used, used))
            record.update(total=used, max_unit=used, reserved=used)
            leaving.append(rc)
        result[rc] = record
    for rc, inventory in sorted(current.items()):
        if rc in result:
            continue
        used = usages.get(rc, 0)
        if used:
            notes.append(
                '%s %s: no longer offered but %d allocated; kept and fully '
                'reserved until they are freed' % (spec.name, rc, used))
            record = _fields(inventory)
            record['reserved'] = record['total']
            result[rc] = record
            leaving.append(rc)
    if leaving:
        fresh = sorted(rc for rc, record in result.items()
                       if rc not in leaving
                       and record['reserved'] < record['total'])
        for rc in fresh:
            result[rc]['reserved'] = result[rc]['total']
        if fresh:
            notes.append(
                '%s: its vGPU type changes while guests of %s remain; %s '
                'fully reserved until they are gone'
                % (spec.name, ', '.join(sorted(leaving)), ', '.join(fresh)))
    return result, notes


def merge_traits(desired, current):
    """Desired traits plus every current trait this package did not set."""
    kept = {t for t in current if not naming.is_package_trait(t)}
    return set(desired) | kept


def drained(current):
    """``current`` with every inventory fully reserved."""
    result = {}
    for rc, inventory in current.items():
        record = _fields(inventory)
        record['reserved'] = record['total']
        result[rc] = record
    return result

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

"""Apply the desired GPU providers to Nova's ProviderTree.

The desired tree comes from :func:`gpuvirt_nova.placement.tree.
build_provider_tree` (the one function the standalone sync uses too), fed
with the hardware's carve as discovered now (:mod:`gpuvirt_nova.placement.
offers`). Every inventory goes through :func:`gpuvirt_nova.placement.diff.
merge_inventories`, the sync's reconcile rule, so the driver never lowers
an inventory below what is allocated from it (Placement would refuse with
InventoryInUse, and Nova would then fail every claim on the host). Nova's
own providers, inventories and every trait we did not set are untouched.
"""

from gpuvirt_nova.placement import diff
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import tree


def apply_desired(provider_tree, desired, usages_of=None):
    """Create/update our GPU providers; fully reserve the stale ones.

    :param usages_of: ``usages_of(provider uuid)`` -> ``{rc: used}``, the
        provider's usages in Placement. Called only when a change could
        drop capacity below what guests hold (never in steady state).
        When it raises, that GPU's inventory is left as it is.
    :returns: (``{provider uuid: GPU PCI address}`` of every GPU provider,
        [notes]: one line per inventory the reconcile rule protected).
    """
    root = desired.compute_node
    gpus = {}
    notes = []
    for spec in desired.providers:
        if not provider_tree.exists(spec.name):
            provider_tree.new_child(spec.name, root)
        data = provider_tree.data(spec.name)
        wanted = _reconciled(spec, data, usages_of, notes)
        if wanted is not None:
            provider_tree.update_inventory(spec.name, wanted)
        current = provider_tree.data(spec.name).traits
        traits = diff.merge_traits(spec.traits, current)
        if traits != set(current):
            provider_tree.update_traits(spec.name, traits)
        gpus[provider_tree.data(spec.name).uuid] = spec.address
    wanted = {spec.name for spec in desired.providers}
    for name in stale_providers(provider_tree, root, wanted):
        # Guests may still hold allocations here (Placement refuses to
        # delete such a provider): reserve everything instead, so nothing
        # new lands on a GPU that no longer offers its vGPUs.
        data = provider_tree.data(name)
        provider_tree.update_inventory(name, diff.drained(data.inventory))
        gpus[data.uuid] = naming.address_from_provider_name(root, name)
    return gpus, notes


def _reconciled(spec, data, usages_of, notes):
    """The inventory to write for ``spec``; None: leave it as it is."""
    current = dict(data.inventory or {})
    usages = {}
    if current and diff.needs_usages(spec, current):
        if usages_of is None:
            return None
        try:
            usages = usages_of(data.uuid)
        except Exception as exc:
            notes.append('%s: usages unreadable (%s); inventory left as it '
                         'is' % (spec.name, exc))
            return None
    wanted, spec_notes = diff.merge_inventories(spec, current, usages)
    notes.extend(spec_notes)
    return wanted


def draining_gpus(provider_tree, root):
    """GPU addresses ``layout apply --drain`` marked as draining."""
    return tree.draining_addresses(
        ((name, provider_tree.data(name).traits)
         for name in _child_names(provider_tree, root)), root)


def unhealthy_gpus(provider_tree, root):
    """``{address: reason}`` of GPUs the fence marked (see monitor.fence)."""
    return tree.unhealthy_addresses(
        ((name, provider_tree.data(name).traits)
         for name in _child_names(provider_tree, root)), root)


def stale_providers(provider_tree, root, wanted):
    """Names of our GPU providers under ``root`` that are not wanted."""
    stale = []
    for name in _child_names(provider_tree, root):
        if name in wanted:
            continue
        if naming.address_from_provider_name(root, name) is None:
            continue
        if naming.MANAGED_TRAIT in provider_tree.data(name).traits:
            stale.append(name)
    return stale


def _child_names(provider_tree, root):
    names = []
    for uuid in provider_tree.get_provider_uuids_in_tree(root):
        data = provider_tree.data(uuid)
        if data.name != root:
            names.append(data.name)
    return sorted(names)

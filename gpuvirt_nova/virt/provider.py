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
build_provider_tree` (the one function the standalone sync uses too);
this module only translates it into ProviderTree calls, leaving Nova's own
providers, inventories and every trait we did not set untouched.
"""

from gpuvirt_nova.placement import diff
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import offers as offers_mod
from gpuvirt_nova.placement import tree


def driver_offers(host, default_types, node_name=None, layout=None,
                  select=None):
    """{GPU address: {type: count}} the driver reports for ``host``.

    The standalone sync's rule (:func:`offers_mod.offers_for`): the layout
    file's entry for ``node_name``, then what the hardware is carved into,
    then ``[gpuvirt_placement] default_vgpu_types``. A cluster-wide layout
    file that does not name this host is not an error here: the host simply
    has no layout entry.

    :raises exception.UsageError: the layout does not fit the host.
    """
    if layout is not None and node_name not in layout.hosts():
        layout = None
    return offers_mod.offers_for(host, node_name, layout=layout,
                                 select=select, default_types=default_types)


def apply_desired(provider_tree, desired):
    """Create/update our GPU providers; fully reserve the stale ones.

    :returns: ``{provider uuid: GPU PCI address}`` of every GPU provider.
    """
    root = desired.compute_node
    gpus = {}
    for spec in desired.providers:
        if not provider_tree.exists(spec.name):
            provider_tree.new_child(spec.name, root)
        provider_tree.update_inventory(
            spec.name, {rc: inv.as_dict()
                        for rc, inv in spec.inventories.items()})
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
        provider_tree.update_inventory(name, {
            rc: dict(inv, reserved=inv['total'])
            for rc, inv in data.inventory.items()})
        gpus[data.uuid] = naming.address_from_provider_name(root, name)
    return gpus


def draining_gpus(provider_tree, root):
    """GPU addresses ``layout apply --drain`` marked as draining."""
    return tree.draining_addresses(
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

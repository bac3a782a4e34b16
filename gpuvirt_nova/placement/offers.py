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

"""Where offers come from until (and besides) a layout file.

An *offer* is ``{gpu PCI address: {vGPU type name: count}}``, the input of
:func:`gpuvirt_nova.placement.tree.build_provider_tree`. The layout
resolver produces one from the operator's layout file; these functions
produce one from what the hardware already carries, or from one default
type per GPU model, so the provider tree works on hosts without a layout.
"""

import collections

from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog


def _type_by_mdev(gpu_model, mdev_type):
    if gpu_model is None or not str(mdev_type).startswith('nvidia-'):
        return None
    try:
        return gpu_model.vgpu_type_by_id(int(str(mdev_type)[7:]))
    except ValueError:
        return None


def gpu_offer_from_hardware(gpu):
    """{type: count} that one GPU is configured for right now.

    MIG GPU instances count as their MIG-backed type; on SR-IOV hosts each
    VF's ``current_vgpu_type`` (vendor VFIO) counts once; on mdev hosts
    each existing mediated device counts once. A MIG-backed vGPU on a VF
    lives in one of those GPU instances, so a type counts the larger of
    its instances and its VFs, never both.
    """
    gpu_model = catalog.load().find(gpu.model)
    counts = collections.Counter()
    if gpu.mig_enabled and gpu.gpu_instances and gpu_model is not None:
        by_profile = {t.mig_profile: t.name
                      for t in gpu_model.mig_backed_types()}
        for instance in gpu.gpu_instances:
            if instance.profile in by_profile:
                counts[by_profile[instance.profile]] += 1
    counts |= collections.Counter(vf.current_vgpu_type for vf in gpu.vfs
                                  if vf.current_vgpu_type)
    if not counts:
        for mdev in gpu.mdevs:
            vgpu_type = _type_by_mdev(gpu_model, mdev.mdev_type)
            counts[vgpu_type.name if vgpu_type else mdev.mdev_type] += 1
    return dict(counts)


def offers_from_hardware(host):
    """Offers of every GPU of ``host`` from its current configuration."""
    offers = {}
    for gpu in host.gpus:
        offer = gpu_offer_from_hardware(gpu)
        if offer:
            offers[gpu.address] = offer
    return offers


def offers_from_defaults(host, default_types):
    """Each GPU offers the maximum count of its model's default type.

    ``default_types``: ``{GPU model or alias: vGPU type name}`` (the
    ``[gpuvirt_placement] default_vgpu_types`` option). GPUs of other
    models offer nothing.
    """
    the_catalog = catalog.load()
    by_model = {}
    for model_name, type_name in (default_types or {}).items():
        try:
            gpu_model = the_catalog.get(model_name)
            vgpu_type = gpu_model.vgpu_type(type_name)
        except (KeyError, LookupError) as exc:
            raise exception.UsageError(
                '[gpuvirt_placement] default_vgpu_types %s:%s: %s'
                % (model_name, type_name, exc.args[0]))
        by_model[gpu_model.name] = vgpu_type
    offers = {}
    for gpu in host.gpus:
        gpu_model = the_catalog.find(gpu.model)
        vgpu_type = by_model.get(gpu_model.name) if gpu_model else None
        if vgpu_type:
            offers[gpu.address] = {vgpu_type.name: vgpu_type.max_instances}
    return offers


def merge_offers(*sources):
    """The first source that offers anything for a GPU wins, per GPU."""
    merged = {}
    for source in sources:
        for address, offer in (source or {}).items():
            if offer and address not in merged:
                merged[address] = dict(offer)
    return merged


def offers_from_layout(layout, host, node_name, select=None):
    """Offers the layout file gives ``host`` (its ``node_name`` entry).

    ``layout``: a parsed :class:`gpuvirt_nova.layout.spec.Layout`. GPUs the
    layout does not select offer nothing here (merge with other sources).
    Raises UsageError (with the YAML path) when the layout does not fit.
    """
    return offers_for_node(layout.node(node_name, select), host)


def offers_for_node(node, host):
    """``{GPU address: {type: count}}`` a layout node gives ``host``.

    ``node``: a :class:`gpuvirt_nova.layout.spec.Node`; raises UsageError
    (with the YAML path) when it does not fit the host.
    """
    # NOTE: imported here so the provider tree keeps working on its own.
    from gpuvirt_nova.layout import target as layout_target

    offers = {}
    for gpu_target in layout_target.resolve_node(node, host):
        counts = collections.Counter(
            r.type_name for r in gpu_target.vgpus if r.type_name)
        if counts:
            offers[gpu_target.address] = dict(counts)
    return offers


def offers_for(host, node_name, layout=None, select=None,
               default_types=None):
    """The offers of ``host``: layout first, then hardware, then defaults.

    The first source that offers anything for a GPU wins. This one rule
    serves the standalone sync and the Nova driver, so they never disagree.

    On a GPU not in MIG mode the hardware also holds the guests' devices
    (VF types and mdevs made out of the default type at spawn): they must
    not shrink the inventory to what is in use, so when the hardware offers
    the GPU's default type, the default count is kept when larger. MIG GPUs
    count their GPU instances instead (see :func:`gpu_offer_from_hardware`).
    """
    sources = []
    if layout is not None:
        sources.append(offers_from_layout(layout, host, node_name, select))
    defaults = offers_from_defaults(host, default_types)
    hardware = offers_from_hardware(host)
    for gpu in host.gpus:
        offer = hardware.get(gpu.address)
        default = defaults.get(gpu.address, {})
        if gpu.mig_enabled or not offer:
            continue
        hardware[gpu.address] = {
            name: max(count, default.get(name, 0))
            for name, count in offer.items()}
    sources.extend([hardware, defaults])
    return merge_offers(*sources)

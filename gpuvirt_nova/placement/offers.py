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

"""What each GPU offers: the carve as the hardware holds it now.

An *offer* is ``{gpu PCI address: {vGPU type name: count}}``, the input of
:func:`gpuvirt_nova.placement.tree.build_provider_tree`. Placement is told
what the hardware is, never what a file wishes: a GPU offers one vGPU per
carved device (an SR-IOV VF whose ``current_vgpu_type`` is set, or a
mediated device), whether a guest uses it or not. The carve has one
writer, ``gpuvirt-nova layout apply`` (see :mod:`gpuvirt_nova.layout`);
a guest's life never changes it, so it never changes an offer. A layout
change not yet applied shows in ``layout plan``/``assert``, not here.
"""

import collections

from gpuvirt_nova.hardware import catalog


def _type_by_mdev(gpu_model, mdev_type):
    if gpu_model is None or not str(mdev_type).startswith('nvidia-'):
        return None
    try:
        return gpu_model.vgpu_type_by_id(int(str(mdev_type)[7:]))
    except (ValueError, LookupError):
        return None


def gpu_offer_from_hardware(gpu):
    """{type: count} of the devices one GPU is carved into right now.

    Each VF with a ``current_vgpu_type`` (vendor VFIO; a MIG-backed one
    sits in a GPU instance) counts once, each mediated device counts
    once. GPU instances without a vGPU on them are not devices a guest
    can get, so they offer nothing by themselves.
    """
    gpu_model = catalog.load().find(gpu.model)
    counts = collections.Counter(vf.current_vgpu_type for vf in gpu.vfs
                                 if vf.current_vgpu_type)
    names = {t.mdev_type: t.name
             for t in list(gpu.mdev_types) + [
                 t for vf in gpu.vfs for t in vf.mdev_types]}
    for mdev in gpu.mdevs:
        name = names.get(mdev.mdev_type)
        if name is None:
            vgpu_type = _type_by_mdev(gpu_model, mdev.mdev_type)
            name = vgpu_type.name if vgpu_type else mdev.mdev_type
        counts[name] += 1
    return dict(counts)


def offers_from_hardware(host, dynamic=()):
    """Offers of every GPU of ``host`` from its current carve.

    ``dynamic``: addresses of dynamic GPUs; their devices are the
    guests' own, carved per guest, and they offer slices instead (see
    :func:`gpuvirt_nova.placement.tree.build_dynamic_provider`).
    """
    offers = {}
    for gpu in host.gpus:
        if gpu.address in dynamic:
            continue
        offer = gpu_offer_from_hardware(gpu)
        if offer:
            offers[gpu.address] = offer
    return offers


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

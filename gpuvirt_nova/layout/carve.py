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

"""Carve a host no guest uses yet: the whole of ``layout apply --force``.

For hosts that have just been built (a simulated host made for one
command, a test's compute host before nova-compute starts): resolve the
layout for the node, apply every GPU through the one carve writer
(:mod:`gpuvirt_nova.layout.apply`) and fail loudly when a GPU does not
reach its layout. Hosts with guests go through ``gpuvirt-nova layout
apply`` and its drain instead.
"""

from gpuvirt_nova import exception
from gpuvirt_nova.layout import apply as apply_mod
from gpuvirt_nova.layout import target as target_mod


def carve(context, layout, node_name, select=None):
    """Bring ``context``'s host to ``layout``'s node ``node_name``.

    :param context: a :class:`gpuvirt_nova.layout.hostctx.HostContext`.
    :returns: the GpuResult list.
    :raises exception.UsageError: the layout does not fit the host.
    :raises exception.GpuvirtError: a GPU could not be carved (it was
        rolled back).
    """
    node = layout.node(node_name, select)
    targets = target_mod.resolve_node(node, context.read())
    results = apply_mod.apply(
        targets, context.read, context.writer(), node_name,
        apply_mod.Options(force=True, progress=lambda text: None,
                          mdevs=context.mdevs(),
                          owners_path=context.owners_path),
        read_gpu=context.gpu_reader())
    bad = [r for r in results
           if r.status not in (apply_mod.APPLIED, apply_mod.UNCHANGED)]
    if bad:
        raise exception.GpuvirtError(
            'carving %s failed on GPU %s: %s' % (
                node_name, bad[0].address, bad[0].message or bad[0].status))
    return results

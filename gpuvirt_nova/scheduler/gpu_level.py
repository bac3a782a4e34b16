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

"""The GPU-level decision of one request, over Placement's JSON.

The pure half of ``VGPUPlacementFilter`` and ``GpuPackingWeigher``, kept
free of Nova imports so that the demo (and any tool replaying Placement
answers) runs the very same code without loading Nova:

- :func:`typical_mix` is the mix the filter and the weigher score with;
- :func:`host_weight` is the weigher's weight of one host;
- :func:`pick` replays one scheduling request the way Nova runs the two
  plugins: candidates grouped by host, each host's list reordered by the
  filter, hosts sorted by the weigher, ties to the smallest root
  provider uuid (:func:`candidates.stable_ties`), the first candidate of
  the best host claimed.

:func:`cluster_view` reads the same per-GPU states for a report (usage,
utilization, fragmentation rate as ``scoring`` defines it).
"""

import collections
import dataclasses

import numpy as np

from gpuvirt_nova import exception
from gpuvirt_nova.scheduler import candidates
from gpuvirt_nova.scheduler import scoring
from gpuvirt_nova.scheduler import shapes


def typical_mix(summaries, asked, configured=None):
    """The typical-request mix: ``configured``, else learned from usage.

    ``configured`` is ``[gpuvirt_scheduler] typical_requests``, taken as
    written (a class that does not parse is a UsageError naming it).
    Learned = the vGPUs in use in the providers of this request's
    candidates (the allocations Placement shows), plus ``asked`` ({rc:
    amount}), as shares in steps of 1/20
    (:func:`candidates.learned_shares`).
    """
    if configured:
        mix, errors = candidates.usable_mix(configured)
        if errors:
            # NOTE: the tools that call this (report, demo) stop on a bad
            # class; the scheduler leaves it out (filters.configured_mix).
            raise exception.UsageError('; '.join(errors))
        return mix
    learned = dict(asked)
    for summary in summaries.values():
        for rc, res in summary.get('resources', {}).items():
            if rc.startswith(candidates.VGPU_PREFIX) and res.get('used'):
                learned[rc] = learned.get(rc, 0) + res['used']
    return candidates.learned_shares(learned)


def host_weight(summaries, root_uuid, best_candidate, policy, weights_mix):
    """The weigher's weight of one host (``pack`` or ``spread``).

    ``pack``: minus the ``ours`` score of the host's best candidate;
    ``spread``: the host's free GPU share. 0 for a host without GPUs.
    """
    gpus = candidates.host_gpus(summaries, root_uuid, weights_mix)
    if gpus is None:
        return 0.0
    capacity = float(len(gpus.states) * 1000)
    if policy == 'spread':
        return float(gpus.space.free[gpus.states].sum()) / capacity
    deltas, keys = candidates.score_candidates(gpus, [best_candidate])
    if not np.isfinite(deltas[0]):
        return -1.0 - scoring.PACK_BLEND
    return -float(scoring.ours_score(deltas[:1], keys[1][:1])[0])


def candidates_by_host(summaries, allocation_requests):
    """{root provider uuid: [allocation request]} in Placement's order.

    Nova hands each host the candidates that touch its compute node; a
    candidate whose providers are all children (no VCPU on the root) is
    grouped under their root, which is the same host.
    """
    by_host = collections.OrderedDict()
    for request in allocation_requests:
        roots = []
        for uuid in request.get('allocations', {}):
            root = summaries.get(uuid, {}).get('root_provider_uuid', uuid)
            if root not in roots:
                roots.append(root)
        for root in roots:
            by_host.setdefault(root, []).append(request)
    return by_host


def pick(summaries, allocation_requests, asked, configured_mix=None,
         weigher_policy='pack'):
    """The allocation request Nova would claim with both plugins enabled.

    ``summaries`` and ``allocation_requests`` are Placement's answer to
    the request; ``asked`` is ``{rc: amount}`` of the flavor. None when
    there is no candidate.
    """
    if not allocation_requests:
        return None
    mix = typical_mix(summaries, asked, configured_mix)
    best, best_weight, best_root = None, None, None
    for root, found in candidates_by_host(summaries,
                                          allocation_requests).items():
        ordered = candidates.order_candidates(summaries, root, found, mix)
        weight = host_weight(summaries, root, ordered[0], weigher_policy,
                             mix)
        # NOTE: as candidates.stable_ties does for Nova's weigher, hosts
        # of the same weight go to the smallest root provider uuid.
        if best_weight is None or weight > best_weight or (
                weight == best_weight and root < best_root):
            best, best_weight, best_root = ordered[0], weight, root
    return best


@dataclasses.dataclass(frozen=True)
class GpuView:
    """One GPU as the scorer sees it (milli-GPU units)."""

    root: str
    uuid: str
    #: GPU share allocated (1000 = the whole GPU).
    used: int
    #: Free share no typical request could use on this GPU.
    fragmented: float


def cluster_view(summaries, mix_weights):
    """[GpuView] of every GPU provider in ``summaries``.

    ``mix_weights`` ({rc: weight}) is the typical-request mix. The sum of
    ``fragmented`` over the GPUs divided by their capacity is the
    fragmentation rate of :mod:`scoring` (for one-GPU requests and no CPU
    limit, F(node) is the sum of its GPUs' local parts).
    """
    roots = []
    for uuid, summary in summaries.items():
        root = summary.get('root_provider_uuid', uuid)
        if root not in roots:
            roots.append(root)
    views = []
    for root in roots:
        gpus = candidates.host_gpus(summaries, root, mix_weights)
        if gpus is None:
            continue
        free = gpus.space.free[gpus.states]
        local = scoring.gpu_fragmentation(gpus.space, gpus.states, gpus.mix)
        for uuid, slot in sorted(gpus.slots.items(), key=lambda kv: kv[1]):
            views.append(GpuView(root, uuid,
                                 int(shapes.MILLI - free[slot]),
                                 float(local[slot])))
    return views

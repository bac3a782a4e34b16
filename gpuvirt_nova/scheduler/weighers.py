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

"""Host weigher of gpuvirt-nova: pack (or spread) vGPU requests.

Enable it by adding ``gpuvirt_nova.scheduler.weighers.GpuPackingWeigher``
to ``[filter_scheduler] weight_classes`` after
``nova.scheduler.weights.all_weighers``. The option is one comma-separated
list: a second ``weight_classes`` line would replace Nova's weighers.

``pack`` (default) scores a host by minus the ``ours`` score of its best
candidate (scoring.ours_score: FGD fragmentation increase, in GPUs, plus
the dominant-share term, scored in FGD's integer points,
``scoring.TIE_STEP``; hosts of equal score go to the tightest GPU, then
to the smallest root provider uuid, a fixed order as the benchmark's
node names, and a host with no candidate that fits its GPUs' geometry
weighs least, see
``candidates.stable_ties``): small requests
land on hosts whose GPUs are partly used and whole GPUs stay free for
large requests. ``spread`` prefers the
host with the most free GPU capacity. A request of no GPU is weighed
too under ``pack`` (``weigh_cpu_only_requests``): by the idle GPU share
its vCPUs would strand on the host, then as above; hosts without GPUs
all weigh the most (``fleet.GPULESS_WEIGHT``), hosts of dynamic GPUs
and hosts the filter did not score 0, and nothing is scored where no
host has GPUs, under ``spread`` or with the option off. Run it after
VGPUPlacementFilter, which it reads the ordered candidates of; it
shares that filter's per-request Placement cache.
"""

from nova.scheduler import weights
from oslo_log import log as logging

from gpuvirt_nova import conf
from gpuvirt_nova.scheduler import filters
from gpuvirt_nova.scheduler import gpu_level

CONF = conf.CONF
LOG = logging.getLogger(__name__)


#: The weight of one host (pure; see the module docstring), shared with
#: the demo through :mod:`gpu_level`.
host_weight = gpu_level.host_weight


class GpuPackingWeigher(weights.BaseHostWeigher):
    """Pack small vGPU requests, keep whole GPUs for large ones."""

    reads = filters.READS

    #: The multiplier read once per request by weigh_objects (Nova's
    #: handler asks it once per host, right after).
    _multiplier = None

    def weight_multiplier(self, host_state):
        if self._multiplier is not None:
            return self._multiplier
        return CONF.gpuvirt_scheduler.packing_weight_multiplier

    def weigh_objects(self, weighed_obj_list, spec_obj):
        """Every host's weight in one pass.

        Nova's handler calls this once per request with all hosts (pinned
        by test_nova_seams); VGPUPlacementFilter scored every host
        already, so it is one look-up each.
        """
        opts = CONF.gpuvirt_scheduler
        self._multiplier = opts.packing_weight_multiplier
        pick = 2 if opts.weigher_policy == 'spread' else 1
        scored = self.reads.peek(spec_obj, 'weights') or {}
        weights = []
        for obj in weighed_obj_list:
            host_state = obj.obj
            found = host_state.allocation_candidates
            got = scored.get(host_state.uuid)
            # NOTE: the filter's weight holds while the host's first
            # candidate is the one it scored.
            if got is not None and found and got[0] is found[0]:
                weights.append(got[pick])
            else:
                weights.append(self._weigh_object(host_state, spec_obj))
        return weights

    def _weigh_object(self, host_state, spec_obj):
        """One host alone (a host the filter did not score)."""
        found = host_state.allocation_candidates
        if not found or not filters.asks_vgpu(found):
            return 0.0
        policy = CONF.gpuvirt_scheduler.weigher_policy
        try:
            providers = self.reads.request_view(spec_obj).get(
                host_state.uuid, {})
            return host_weight(providers, host_state.uuid, found[0], policy,
                               filters.request_mix(self.reads, spec_obj))
        except Exception:
            # NOTE: a weight is a preference; never fail a boot over it.
            LOG.exception('Could not weigh vGPU host %s', host_state)
            return 0.0

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

"""Nova scheduler filters of gpuvirt-nova.

Enable them in nova.conf (``[filter_scheduler] available_filters`` must
also list ``gpuvirt_nova.scheduler.filters.all_filters``)::

    [filter_scheduler]
    available_filters = nova.scheduler.filters.all_filters
    available_filters = gpuvirt_nova.scheduler.filters.all_filters
    enabled_filters = <the usual ones>,VGPUUserLimitFilter,
                      VGPUFairShareFilter,VGPUPlacementFilter

- ``VGPUPlacementFilter`` decides the GPU level: it reorders each host's
  allocation candidates (Nova claims the first) with the scorer, and
  never drops one.
- ``VGPUUserLimitFilter`` refuses a request that would give its user more
  than ``max_jobs_per_user`` vGPUs.
- ``VGPUFairShareFilter`` refuses a project over its weighted share once
  the cluster is busier than ``fair_share_threshold``.

Each filter brings the layout file's ``scheduler:`` block up to date
first (:mod:`layout_options`: the options' defaults, nova.conf wins), so
the filters and the weigher that runs after them see the same options.

The two admission filters refuse the request as a whole (every host
alike), so they raise NoValidHost with the reason, which Nova records as
the server's fault; a plain False would only say "no valid host".
"""

import functools
import time

from nova import exception as nova_exception
from nova.scheduler import filters
from nova.scheduler import utils as nova_utils
from oslo_log import log as logging

from gpuvirt_nova import conf
from gpuvirt_nova.scheduler import admitted as admitted_mod
from gpuvirt_nova.scheduler import candidates
from gpuvirt_nova.scheduler import fleet
from gpuvirt_nova.scheduler import geometry
from gpuvirt_nova.scheduler import layout_options
from gpuvirt_nova.scheduler import limits
from gpuvirt_nova.scheduler import reads as reads_mod
from gpuvirt_nova.scheduler import recent as recent_mod
from gpuvirt_nova.scheduler import typical

LOG = logging.getLogger(__name__)
CONF = conf.CONF

#: One cache of Placement reads per scheduler process, shared by the
#: filters and the weigher so that a request reads each thing once.
READS = reads_mod.PlacementReads()
# NOTE: the provider summaries Nova's scheduler already fetched for the
# request (see reads.install_tap; pinned by test_nova_seams).
reads_mod.install_tap(READS)
#: The layout file's scheduler options, kept current per request.
LAYOUT = layout_options.LayoutOptions(CONF)
#: Requests VGPUUserLimitFilter admitted that Placement shows no claim of
#: yet (concurrent boots of one user; see admitted.py).
ADMITTED = admitted_mod.Admitted()
#: The latest vGPU requests, which the typical mix is learned from when
#: ``typical_requests`` is empty (see recent.py).
RECENT = recent_mod.RecentRequests()
#: Dynamic GPUs' placement geometry (it reads READS from this module).
VGPUGeometryFilter = geometry.VGPUGeometryFilter


def all_filters():
    """Our filter classes, for ``available_filters``."""
    return [VGPUPlacementFilter, VGPUUserLimitFilter, VGPUFairShareFilter,
            VGPUGeometryFilter]


asks_vgpu = candidates.asks_vgpu


def request_mix(reads, spec_obj):
    """The request's typical mix, derived once per request.

    Configured (classes that do not parse left out, :func:`configured_mix`),
    else learned from the latest requests (:func:`recent_mix`), else
    from usage: see :func:`fleet.typical_mix` (:func:`gpu_level.typical_mix`
    for the demo).
    """
    return reads.per_request(spec_obj, 'mix', lambda: _request_mix(
        reads, spec_obj))


def _request_mix(reads, spec_obj):
    extra_specs = _extra_specs(spec_obj)
    mix = configured_mix(CONF.gpuvirt_scheduler.typical_requests) or \
        recent_mix(spec_obj, extra_specs)
    return fleet.typical_mix(reads.request_gpus(spec_obj),
                             fleet.requested_mix(extra_specs), mix)


def recent_mix(spec_obj, extra_specs):
    """Count this request in :data:`RECENT`; the mix learned, or None.

    Called once per request (through the per-request cache of
    :func:`request_mix`); a request asked again after that cache let it
    go, or rescheduled, is known by its key and counts once.
    """
    opts = CONF.gpuvirt_scheduler
    if not opts.recent_requests_window:
        return None
    RECENT.record(typical.request_classes(request_vcpus(spec_obj),
                                          extra_specs),
                  opts.recent_requests_window,
                  key=_counted_key(spec_obj))
    # NOTE: a window smaller than the minimum would never reach it
    return RECENT.mix(min(opts.recent_requests_minimum,
                          opts.recent_requests_window))


def _weighs_cpu_only(spec_obj):
    """Whether a request of no vGPU is scored (the pack policy only).

    A request of a dynamic GPU's units is not one (its flavor asks GPU
    units, which VGPUGeometryFilter places); only a request that asks
    no GPU at all is scored by the vCPUs it takes.
    """
    opts = CONF.gpuvirt_scheduler
    return (opts.weigh_cpu_only_requests and opts.weigher_policy == 'pack'
            and not flavor_vgpus(spec_obj))


def _counted_key(spec_obj):
    """The request's key for :data:`RECENT`: its request id and server.

    None without a request id (the object's id could be reused by a
    later request): such a request counts each time it is asked.
    """
    context = getattr(spec_obj, '_context', None)
    if getattr(context, 'request_id', None) is None:
        return None
    return reads_mod.request_key(spec_obj)


def request_vcpus(spec_obj):
    """The shared vCPUs (``VCPU``) the request asks Placement for.

    Nova's own translation of the request, as its scheduler made it: a
    flavor's ``resources:VCPU`` override, and the flavor's or the
    image's CPU policy (pinned CPUs are ``PCPU``, a mixed policy asks
    both). A request without a flavor asks none.
    """
    if not spec_obj.obj_attr_is_set('flavor'):
        return 0
    asked = nova_utils.ResourceRequest.from_request_spec(spec_obj)
    return int(asked.merged_resources().get('VCPU', 0))


def configured_mix(configured):
    """``typical_requests`` without the classes that do not parse.

    Each error is logged once per value of the option (not per request),
    naming the class and the fix; the other classes keep scoring.
    """
    return _usable_mix(tuple(sorted((configured or {}).items())))


@functools.lru_cache(maxsize=1)
def _usable_mix(items):
    mix, errors = candidates.usable_mix(dict(items))
    for error in errors:
        LOG.error('%s; scoring with the other classes until it is fixed',
                  error)
    return mix


def _extra_specs(spec_obj):
    flavor = spec_obj.flavor if spec_obj.obj_attr_is_set('flavor') else None
    return getattr(flavor, 'extra_specs', None)


def flavor_vgpus(spec_obj):
    """What the admission filters count of the request's flavor."""
    return limits.requested_units(_extra_specs(spec_obj))


class VGPUPlacementFilter(filters.BaseHostFilter,
                          filters.CandidateFilterMixin):
    """Order each host's candidates so Nova claims the best GPU."""

    RUN_ON_REBUILD = False
    reads = READS
    layout = LAYOUT
    #: Seconds spent and hosts seen, for the overhead benchmark.
    spent = 0.0
    hosts = 0

    def filter_all(self, filter_obj_list, spec_obj):
        """Order every kept host's candidates at once (never drops one).

        Nova hands a filter the hosts its earlier filters kept; scoring
        them together (:func:`fleet.score_hosts`) costs a few array
        operations per GPU shape instead of several per host, and leaves
        the weigher each host's weight.
        """
        self.layout.refresh()
        hosts = list(filter_obj_list)
        start = time.perf_counter()
        try:
            self._reorder_all(hosts, spec_obj)
        except Exception:
            # NOTE: ordering is an optimisation; a scoring failure must
            # never cost a boot, so keep Placement's order.
            LOG.exception('Could not score vGPU candidates; keeping '
                          'Placement order')
        type(self).spent += time.perf_counter() - start
        type(self).hosts += len(hosts)
        return hosts

    def _reorder_all(self, hosts, spec_obj):
        found = [h for h in hosts if h.allocation_candidates]
        if not any(asks_vgpu(h.allocation_candidates) for h in found) and \
                not (found and _weighs_cpu_only(spec_obj)):
            return
        scored = fleet.score_hosts(
            self.reads.request_gpus(spec_obj),
            [(h.uuid, h.allocation_candidates) for h in found],
            request_mix(self.reads, spec_obj))
        weights = {}
        for host in found:
            got = scored.get(host.uuid)
            if got is None:
                continue
            order, pack, spread = got
            listed = host.allocation_candidates
            host.allocation_candidates = [listed[i] for i in order]
            weights[host.uuid] = (host.allocation_candidates[0], pack,
                                  spread)
        self.reads.put(spec_obj, 'weights', weights)

    def host_passes(self, host_state, spec_obj):
        """One host alone (callers outside Nova's filter handler)."""
        start = time.perf_counter()
        try:
            self._reorder(host_state, spec_obj)
        except Exception:
            LOG.exception('Could not score vGPU candidates of host %s; '
                          'keeping Placement order', host_state)
        type(self).spent += time.perf_counter() - start
        type(self).hosts += 1
        return True

    def _reorder(self, host_state, spec_obj):
        found = host_state.allocation_candidates
        if len(found) < 2 or not asks_vgpu(found):
            return
        providers = self.reads.request_view(spec_obj).get(host_state.uuid,
                                                          {})
        host_state.allocation_candidates = candidates.order_candidates(
            providers, host_state.uuid, found,
            request_mix(self.reads, spec_obj))


class _AdmissionFilter(filters.BaseHostFilter):
    """Checks a request once and refuses it for every host with a reason."""

    RUN_ON_REBUILD = False
    run_filter_once_per_request = True
    reads = READS
    layout = LAYOUT

    def host_passes(self, host_state, spec_obj):
        return True

    def filter_all(self, filter_obj_list, spec_obj):
        self.layout.refresh()
        if not nova_utils.request_is_rebuild(spec_obj):
            reason = self.refusal(spec_obj)
            if reason:
                LOG.info('%s refused request: %s',
                         type(self).__name__, reason)
                raise nova_exception.NoValidHost(reason=reason)
        # NOTE: every host passes alike; Nova's handler passes a list
        # (pinned by test_nova_seams), so no per-host call.
        return filter_obj_list

    def asked(self, spec_obj):
        """{rc: amount} this request adds.

        A move re-uses what the instance holds, which Nova has handed to
        the migration's consumer by now (see ``reads.consumer_usages``):
        a migration adds nothing, a resize only its extra vGPUs.
        """
        per_instance = flavor_vgpus(spec_obj)
        if not per_instance:
            return {}
        count = spec_obj.num_instances \
            if spec_obj.obj_attr_is_set('num_instances') else 1
        held = self.reads.consumer_usages(spec_obj)
        return {rc: max(0, n * count - held.get(rc, 0))
                for rc, n in per_instance.items()}

    def refusal(self, spec_obj):
        raise NotImplementedError()


class VGPUUserLimitFilter(_AdmissionFilter):
    """At most ``max_jobs_per_user`` vGPUs per user at a time.

    The user's other requests this process admitted and Nova has not
    claimed yet count as in use (:mod:`admitted`): concurrent boots of
    one user get past the cap by at most one request per scheduler
    process, not all of them.
    """

    admitted = ADMITTED

    def refusal(self, spec_obj):
        limit = CONF.gpuvirt_scheduler.max_jobs_per_user
        if not limit:
            return None
        wanted = self.asked(spec_obj)
        asked = limits.vgpu_count(wanted)
        if not asked:
            return None
        key = reads_mod.request_key(spec_obj)
        user, project = spec_obj.user_id, spec_obj.project_id
        source = limits.LIMIT_FROM_LAYOUT \
            if self.layout.source_of('max_jobs_per_user') == 'layout' \
            else limits.LIMIT_FROM_CONFIG
        with self.admitted.deciding(user, project):
            pending = limits.vgpu_count(admitted_mod.unclaimed(
                self.admitted, key, user, project,
                self.reads.holds_allocation))
            in_use = limits.vgpu_count(self.reads.user_usages(spec_obj))
            reason = limits.check_user_limit(user, project, in_use + pending,
                                             asked, limit, source)
            if reason is None:
                self.admitted.add(
                    key, spec_obj, user, project, wanted,
                    spec_obj.instance_uuid
                    if spec_obj.obj_attr_is_set('instance_uuid') else None)
        return reason


class VGPUFairShareFilter(_AdmissionFilter):
    """Weighted fair share of GPU capacity between projects."""

    def refusal(self, spec_obj):
        opts = CONF.gpuvirt_scheduler
        if not opts.fair_share:
            return None
        asked = self.asked(spec_obj)
        if not limits.vgpu_count(asked):
            return None
        shares = limits.type_shares()
        cluster_used, cluster_capacity, fallback = \
            self.reads.request_gpus(spec_obj).cluster_use(
                self.reads.managed_gpus(opts.cluster_usage_cache_seconds))
        project_used = limits.gpu_share(self.reads.project_usages(spec_obj),
                                        shares, fallback)
        share = limits.project_share(spec_obj.project_id,
                                     opts.project_weights,
                                     opts.default_project_weight)
        return limits.check_fair_share(
            spec_obj.project_id, project_used,
            limits.gpu_share(asked, shares, fallback), cluster_used,
            cluster_capacity, share, opts.fair_share_threshold)

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

"""Per-user vGPU caps and per-project fair share: pure decisions.

Each check returns None when the request may go on, or the one-line
reason the user reads in the server's fault. Counting comes from
Placement usages (``CUSTOM_VGPU_*`` classes, and on dynamic GPUs one
``CUSTOM_GPUVIRT_DYNAMIC_VGPU`` per guest vGPU); GPU shares come from the
catalog (a MIG-backed type takes its memory slices out of 8, a
time-sliced type ``1/max_instances``), else from the provider's capacity
(a dynamic GPU's memory or framebuffer slices over its total).
"""

import functools
import re

from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.placement import naming

_RESOURCES_KEY = re.compile(r'^resources(?P<group>[0-9A-Za-z_-]*):'
                            r'(?P<rc>CUSTOM_VGPU_[A-Z0-9_]+)$')


_DYNAMIC_KEY = re.compile(r'^resources(?P<group>[0-9A-Za-z_-]*):(?P<rc>%s)$'
                          % '|'.join((naming.DYNAMIC_VGPU_RC,
                                      naming.MIG_MEMORY_SLICE_RC,
                                      naming.FB_SLICE_RC)))
#: GPU share of one slice of a dynamic GPU whose capacity the request's
#: providers do not show: a MIG memory slice is 1/8 of every MIG GPU; a
#: framebuffer slice the median over the catalog's models.
_SLICE_SHARES = {naming.MIG_MEMORY_SLICE_RC: 1.0 / 8}


@functools.lru_cache(maxsize=1)
def _fb_slice_share():
    from gpuvirt_nova.hardware import ts_placement
    totals = sorted(ts_placement.total_slices(m)
                    for m in catalog.load().models.values()
                    if ts_placement.total_slices(m))
    return 1.0 / totals[len(totals) // 2] if totals else 0.0


def requested_units(extra_specs):
    """What the admission filters count of a flavor, over all groups.

    :func:`requested_vgpus`, plus on dynamic GPUs the guest vGPUs
    (``CUSTOM_GPUVIRT_DYNAMIC_VGPU``) and the memory or framebuffer
    slices that size their GPU share.
    """
    wanted = requested_vgpus(extra_specs)
    for key, value in (extra_specs or {}).items():
        match = _DYNAMIC_KEY.match(key)
        if match:
            rc = match.group('rc')
            wanted[rc] = wanted.get(rc, 0) + int(value)
    return wanted


def _vgpu_groups(extra_specs):
    """``(resource class, amount)`` of each request group asking vGPUs."""
    for key, value in (extra_specs or {}).items():
        match = _RESOURCES_KEY.match(key)
        if match:
            yield match.group('rc'), int(value)


def requested_groups(extra_specs):
    """{resource class: number of request groups asking it} of a flavor.

    A flavor of two granular groups (``resources1:`` and
    ``resources2:``, ``group_policy=isolate``) asks its vGPUs on two
    GPUs; the unnumbered group asks all its units of one provider.
    """
    groups = {}
    for rc, _ in _vgpu_groups(extra_specs):
        groups[rc] = groups.get(rc, 0) + 1
    return groups


def requested_vgpus(extra_specs):
    """{resource class: amount} a flavor asks, over all request groups."""
    wanted = {}
    for rc, amount in _vgpu_groups(extra_specs):
        wanted[rc] = wanted.get(rc, 0) + amount
    return wanted


def vgpu_count(usages):
    """vGPUs in a Placement usages dict.

    Every CUSTOM_VGPU_* unit, and every guest vGPU of a dynamic GPU.
    """
    return sum(int(v) for rc, v in (usages or {}).items()
               if rc.startswith(naming.VGPU_RC_PREFIX) or
               rc == naming.DYNAMIC_VGPU_RC)


#: Where a limit was set, as the refusal names it.
LIMIT_FROM_CONFIG = '[gpuvirt_scheduler] max_jobs_per_user'
LIMIT_FROM_LAYOUT = "scheduler.max_jobs_per_user in the layout file"


def check_user_limit(user_id, project_id, in_use, asked, limit,
                     source=LIMIT_FROM_CONFIG):
    """Refuse when ``in_use + asked`` vGPUs exceeds ``limit`` (0 = off).

    ``source`` names the setting the operator would raise.
    """
    if not limit or not asked or in_use + asked <= limit:
        return None
    return ('user %s in project %s holds %d vGPU(s) and asks %d more: '
            'max_jobs_per_user is %d; delete a vGPU server first or ask '
            'the operator to raise %s'
            % (user_id, project_id, in_use, asked, limit, source))


@functools.lru_cache(maxsize=1)
def type_shares():
    """{resource class: GPU share of one unit} from the catalog."""
    shares = {}
    for name in catalog.load().names():
        gpu_model = catalog.load().get(name)
        slices = gpu_model.memory_slices or 1
        for t in gpu_model.vgpu_types:
            if t.mig_backed:
                share = gpu_model.mig_profile(t.mig_profile).memory_slices \
                    / float(slices)
            else:
                share = 1.0 / t.max_instances
            shares.setdefault(naming.resource_class(t.name), share)
    return shares


def gpu_share(usages, shares, fallback=None):
    """GPUs (fractional) that a {resource class: units} dict takes."""
    fallback = fallback or {}
    total = 0.0
    for rc, units in (usages or {}).items():
        if rc.startswith(naming.VGPU_RC_PREFIX):
            total += units * shares.get(rc, fallback.get(rc, 1.0))
        elif rc == naming.FB_SLICE_RC:
            total += units * fallback.get(rc, _fb_slice_share())
        elif rc in _SLICE_SHARES:
            total += units * fallback.get(rc, _SLICE_SHARES[rc])
    return total


@functools.lru_cache(maxsize=4096)
def _gpu_use(resources):
    """(GPUs used, fallback shares) of one provider; None: not a GPU.

    Memoised: a fleet has few distinct (offers, usage) providers.
    """
    vgpu = [(rc, cap, used) for rc, cap, used in resources
            if rc.startswith(naming.VGPU_RC_PREFIX)]
    if not vgpu:
        return _dynamic_gpu_use(resources)
    fallback = tuple((rc, 1.0 / max(cap or 1, 1)) for rc, cap, _ in vgpu)
    used = min(1.0, gpu_share({rc: u for rc, _, u in vgpu}, type_shares(),
                              dict(fallback)))
    return used, fallback


def _dynamic_gpu_use(resources):
    """(GPUs used, fallback shares) of a dynamic GPU; None: not one.

    Its memory (MIG) or framebuffer (time-sliced) slices in use over
    their total.
    """
    for rc, cap, used in resources:
        if rc in (naming.MIG_MEMORY_SLICE_RC, naming.FB_SLICE_RC) and cap:
            return min(1.0, float(used) / cap), ((rc, 1.0 / cap),)
    return None


def cluster_use(summaries, managed_count):
    """(GPUs used, GPU capacity, fallback shares) for fair share.

    ``summaries`` are the request's provider summaries (Nova's
    ``GET /allocation_candidates``): every GPU provider that could take
    the request, with its usage. ``managed_count`` is the number of
    managed GPU providers (None: unknown). A managed GPU absent from the
    answer cannot take this request (full, or excluded by the request's
    constraints), so it counts as used: utilization is the share of the
    GPU capacity this request cannot have. Reads nothing per GPU.
    """
    return cluster_use_counted(
        ((tuple((rc, r.get('capacity'), r.get('used', 0))
                for rc, r in summary.get('resources', {}).items()), 1)
         for summary in summaries.values()), managed_count)


def cluster_use_counted(providers, managed_count):
    """:func:`cluster_use` over ``(resources, how many)`` pairs.

    ``resources`` is ``((rc, capacity, used), ...)`` of a provider; the
    scheduler passes each distinct one once with the number of GPUs that
    have it (:class:`fleet.RequestGpus`), so the cost does not grow with
    the fleet.
    """
    fallback, used, seen = {}, 0.0, 0
    for resources, count in providers:
        gpu = _gpu_use(resources)
        if gpu is None:
            continue
        seen += count
        used += gpu[0] * count
        for rc, share in gpu[1]:
            fallback.setdefault(rc, share)
    capacity = max(managed_count or 0, seen)
    return used + (capacity - seen), float(capacity), fallback


def project_share(project_id, weights, default_weight):
    """The share of the cluster project ``project_id`` is entitled to."""
    weights = {p: float(w) for p, w in (weights or {}).items()}
    weights.setdefault(project_id, float(default_weight))
    total = sum(weights.values())
    return weights[project_id] / total if total else 0.0


def check_fair_share(project_id, project_used, asked, cluster_used,
                     cluster_capacity, share, threshold):
    """Refuse a project over its share while the cluster is busy.

    All amounts are in GPUs. Below ``threshold`` utilization everyone is
    served (idle capacity is better used than kept); above it a project
    whose usage plus the request exceeds its share is refused.
    """
    if not asked or cluster_capacity <= 0:
        return None
    utilization = cluster_used / cluster_capacity
    entitled = share * cluster_capacity
    if utilization < threshold or project_used + asked <= entitled + 1e-9:
        return None
    return ('project %s uses %.2f GPU(s) and asks %.2f more, over its fair '
            'share of %.2f GPU(s) (%.0f%% of %.2f) while the cluster is '
            '%.0f%% used (fair_share_threshold %.0f%%); retry when usage '
            'drops or ask the operator to raise the project\'s weight in '
            '[gpuvirt_scheduler] project_weights'
            % (project_id, project_used, asked, entitled, share * 100,
               cluster_capacity, utilization * 100, threshold * 100))


def options_from_layout(scheduler_block):
    """``[gpuvirt_scheduler]`` options for a layout's ``scheduler:`` block.

    ``policy: pack | spread`` sets ``weigher_policy`` and turns
    ``fair_share`` off; ``fair-share`` packs and turns it on;
    ``max_jobs_per_user`` is the option of the same name. A key the block
    does not have gives no option. Returns a dict; raises ValueError
    naming the key for a value the options cannot take.
    """
    block = scheduler_block or {}
    options = {}
    if 'policy' in block:
        policy = block['policy']
        if policy not in ('pack', 'spread', 'fair-share'):
            raise ValueError('scheduler.policy %r: use pack, spread or '
                             'fair-share' % (policy,))
        options['weigher_policy'] = 'spread' if policy == 'spread' \
            else 'pack'
        options['fair_share'] = policy == 'fair-share'
    if 'max_jobs_per_user' in block:
        value = block['max_jobs_per_user']
        if isinstance(value, bool) or not isinstance(value, int) \
                or value < 1:
            raise ValueError('scheduler.max_jobs_per_user %r: use a whole '
                             'number, 1 or more' % (value,))
        options['max_jobs_per_user'] = value
    return options

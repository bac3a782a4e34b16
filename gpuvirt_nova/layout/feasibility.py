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

"""Can one GPU hold all the vGPUs its layout entry resolved to?

Pure checks over catalog facts: MIG placement geometry (every GPU instance
at one of its real ``start:size`` placements, none overlapping, compute
slices within the GPU's), one time-sliced type per GPU in equal-size mode,
the mixed-size maxima, and total memory. An infeasible entry is rejected
with the reason and the nearest feasible change.
"""

import collections

from gpuvirt_nova import exception
from gpuvirt_nova.layout import resolve
from gpuvirt_nova.layout import units

EQUAL = 'equal-size'


def fit_mig(gpu_model, wanted, occupied=()):
    """Place MIG instances on the GPU's real placements.

    ``wanted``: list of (MigProfile, start or None), at most
    ``max_instances`` of each profile; ``occupied``: list of
    model.Placement already taken. Returns the list of chosen
    model.Placement in ``wanted`` order, or None when they cannot fit.
    Larger profiles are placed first; a small backtracking search, since a
    GPU has at most 8 slices.
    """
    compute = sum(p.compute_slices for p, _ in wanted)
    if compute > gpu_model.compute_slices:
        return None
    counts = collections.Counter(p for p, _ in wanted)
    if any(n > p.max_instances for p, n in counts.items()):
        return None  # a +me profile: one instance whatever slices are free
    order = sorted(range(len(wanted)),
                   key=lambda i: (wanted[i][1] is None,
                                  -wanted[i][0].memory_slices, i))
    chosen = [None] * len(wanted)
    used = set()
    for placement in occupied:
        used |= placement.slices

    def place(k):
        if k == len(order):
            return True
        i = order[k]
        profile, start = wanted[i]
        for placement in profile.placements:
            if start is not None and placement.start != start:
                continue
            if placement.slices & used:
                continue
            used.update(placement.slices)
            chosen[i] = placement
            if place(k + 1):
                return True
            used.difference_update(placement.slices)
        return False

    return chosen if place(0) else None


def _mig_problem(gpu_res):
    model_ = gpu_res.gpu_model
    wanted = [(r.mig_profile, r.start) for r in gpu_res.vgpus]
    if fit_mig(model_, wanted) is not None:
        return None
    counts = collections.Counter(r.mig_profile.name for r in gpu_res.vgpus)
    for name, count in counts.items():
        profile = model_.mig_profile(name)
        if count > profile.max_instances:
            return '%d x %s do not fit one %s (at most %d)' % (
                count, name, model_.name, profile.max_instances)
    compute = sum(r.mig_profile.compute_slices for r in gpu_res.vgpus)
    if compute > model_.compute_slices:
        return 'the MIG instances need %d compute slices and %s has %d' % (
            compute, model_.name, model_.compute_slices)
    return 'the MIG instances %s do not fit the placements of %s (%s)' % (
        ', '.join(_with_start(r) for r in gpu_res.vgpus), model_.name,
        '; '.join('%s at %s' % (p.name, ','.join(map(str, p.placements)))
                  for p in sorted({r.mig_profile for r in gpu_res.vgpus},
                                  key=lambda p: p.name)))


def _with_start(res):
    if res.start is None:
        return res.mig_profile.name
    return '%s@%d' % (res.mig_profile.name, res.start)


def _time_sliced_problem(gpu_res):
    model_ = gpu_res.gpu_model
    types = collections.Counter(r.vgpu_type.name for r in gpu_res.vgpus)
    if gpu_res.scheduling == EQUAL and len(types) > 1:
        biggest = max((r.vgpu_type for r in gpu_res.vgpus),
                      key=lambda t: t.framebuffer_mib)
        return ('equal-size mode allows one vGPU type per GPU, got %s'
                % ', '.join(sorted(types)), biggest)
    for name, count in sorted(types.items()):
        vgpu_type = model_.vgpu_type(name)
        limit = vgpu_type.max_instances if gpu_res.scheduling == EQUAL \
            else vgpu_type.max_instances_mixed
        if limit is None:
            return ('%s is not offered in mixed-size mode; use scheduling: '
                    'equal-size' % name, None)
        if count > limit:
            return ('%d x %s do not fit one %s in %s mode (at most %d)'
                    % (count, name, model_.name, gpu_res.scheduling, limit),
                    None)
    total = sum(r.vgpu_type.framebuffer_mib for r in gpu_res.vgpus)
    if total > model_.memory_mib:
        return ('the vGPUs need %s of memory and %s has %s' % (
            units.format_mib(total), model_.name,
            units.format_mib(model_.memory_mib)), None)
    return None


def problem(gpu_res):
    """The reason ``gpu_res`` (a GpuResolution) cannot fit, or None."""
    if gpu_res.mode == resolve.MIG:
        return _mig_problem(gpu_res)
    if gpu_res.mode == resolve.TIME_SLICED:
        found = _time_sliced_problem(gpu_res)
        return found[0] if found else None
    return None


def _prefix(gpu_res, n):
    return gpu_res.__class__(spec=gpu_res.spec, gpu_model=gpu_res.gpu_model,
                             mode=gpu_res.mode, vgpus=gpu_res.vgpus[:n])


def suggest(gpu_res):
    """The nearest feasible change, as one sentence, or None."""
    vgpus = gpu_res.vgpus
    if gpu_res.mode == resolve.MIG and any(r.start is not None
                                           for r in vgpus):
        wanted = [(r.mig_profile, None) for r in vgpus]
        if fit_mig(gpu_res.gpu_model, wanted) is not None:
            return 'remove start: from the vGPUs and let the planner ' \
                'place them'
    if gpu_res.mode == resolve.TIME_SLICED:
        found = _time_sliced_problem(gpu_res)
        if found and found[1] is not None:
            biggest = found[1]
            if len(vgpus) <= biggest.max_instances:
                return 'give every vGPU %s, or set scheduling: mixed-size' \
                    % biggest.name
            return 'set scheduling: mixed-size'
    for keep in range(len(vgpus) - 1, 0, -1):
        if problem(_prefix(gpu_res, keep)) is None:
            dropped = [r.name for r in vgpus[keep:]]
            return 'keep the first %d vGPUs (drop %s)' % (
                keep, ', '.join(dropped))
    return None


def check(gpu_res):
    """Raise UsageError naming the entry's path when it cannot fit."""
    reason = problem(gpu_res)
    if reason is None:
        return
    hint = suggest(gpu_res)
    raise exception.UsageError('%s.vgpus: %s; %s' % (
        gpu_res.spec.path, reason,
        'nearest feasible: %s' % hint if hint else
        'ask for fewer or smaller vGPUs'))

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

"""Memory/compute requests -> the smallest concrete profile of a GPU model.

Pure: catalog facts in, Resolution out. On a GPU running MIG a request
becomes a MIG-backed vGPU type (``A100-2-10C`` on ``2g.10gb``); otherwise a
time-sliced type of the GPU's series (C by default). Memory is compared
with a profile's nominal size (see :mod:`.units`); the compute share of a
MIG profile is its compute slices over the GPU's (2g of 7 = 28.6%). A
time-sliced vGPU runs on all of the GPU's SMs in turn, so it meets any
compute request; its guaranteed share depends on the vGPU scheduler.
"""

import dataclasses
import re

from gpuvirt_nova import exception
from gpuvirt_nova.layout import units

MIG = 'mig'
TIME_SLICED = 'time-sliced'
NONE = 'none'

_NOMINAL_RE = re.compile(r'\.(\d+)gb')


@dataclasses.dataclass(frozen=True)
class Resolution:
    """What one requested vGPU became."""

    request: object
    #: The vGPU type (model.VgpuType), or None for a bare MIG instance on
    #: a model whose catalog has no MIG-backed type for the profile.
    vgpu_type: object
    #: The MIG profile (model.MigProfile) backing it, None when time-sliced.
    mig_profile: object
    nominal_mib: int
    share: float

    @property
    def name(self):
        return self.request.name

    @property
    def start(self):
        return self.request.start

    @property
    def type_name(self):
        return self.vgpu_type.name if self.vgpu_type else None

    @property
    def memory_unused_mib(self):
        if self.request.memory_mib is None:
            return 0
        return self.nominal_mib - self.request.memory_mib

    @property
    def compute_unused(self):
        if self.request.compute is None or self.mig_profile is None:
            return 0.0
        return self.share - self.request.compute

    def target(self):
        """``A100-2-10C (2g.10gb)`` or ``A100-10C (time-sliced)``."""
        name = self.type_name or 'MIG %s' % self.mig_profile.name
        if self.mig_profile is not None:
            return '%s (%s)' % (name, self.mig_profile.name)
        return '%s (time-sliced)' % name

    def waste(self):
        """``2GB and 13.6% compute unused``, or ``exact fit``."""
        parts = []
        if self.memory_unused_mib > 0:
            parts.append(units.format_mib(self.memory_unused_mib))
        if round(self.compute_unused, 1) > 0:
            parts.append('%s compute' % units.format_share(
                self.compute_unused))
        if not parts:
            return 'exact fit'
        return ' and '.join(parts) + ' unused'

    def describe(self):
        """One line: request -> profile, waste.

        For example ``vgpu-02: 8GB, 15% -> A100-2-10C (2g.10gb), 2GB and
        13.6% compute unused``.
        """
        return '%s: %s -> %s, %s' % (self.name,
                                     self.request.describe_request(),
                                     self.target(), self.waste())


def nominal_mib(mig_profile):
    """``2g.10gb`` -> 10240: the size NVIDIA's name promises."""
    match = _NOMINAL_RE.search(mig_profile.name)
    return int(match.group(1)) * 1024 if match else mig_profile.memory_mib


def mig_share(gpu_model, mig_profile):
    return 100.0 * mig_profile.compute_slices / gpu_model.compute_slices


def _fail(path, message):
    raise exception.UsageError('%s: %s' % (path, message))


def gpu_mode(gpu_model, gpu_spec):
    """The mode a gpus[] entry runs on ``gpu_model``: mig, time-sliced, none.

    Explicit ``mode:`` wins; else an explicit profile decides; else MIG
    where the model has it. Raises UsageError for a contradiction.
    """
    if gpu_spec.mode == MIG and not gpu_model.mig_capable:
        _fail(gpu_spec.path + '.mode', '%s has no MIG; use mode: '
              'time-sliced' % gpu_model.name)
    wants = set()
    for request in gpu_spec.vgpus:
        if request.mig:
            wants.add(MIG)
        elif request.profile:
            try:
                vgpu_type = gpu_model.vgpu_type(request.profile)
            except KeyError:
                continue  # reported by resolve_request with its path
            wants.add(MIG if vgpu_type.mig_backed else TIME_SLICED)
    mode = gpu_spec.mode
    if mode is None and len(wants) == 1:
        mode = wants.pop()
    elif mode is None and not wants:
        mode = MIG if gpu_model.mig_capable else TIME_SLICED
    elif mode is None:
        _fail(gpu_spec.path + '.vgpus', 'mixes MIG-backed and time-sliced '
              'profiles; one GPU runs either MIG or time-sliced vGPUs: add '
              'mode: mig or mode: time-sliced and fix the others')
    if getattr(gpu_spec, 'dynamic', False) and mode == TIME_SLICED and \
            gpu_spec.scheduling == 'mixed-size' and \
            not any(t.max_instances_mixed
                    for t in gpu_model.time_sliced_types(gpu_spec.series)):
        _fail(gpu_spec.path + '.scheduling', '%s has no mixed-size mode '
              'for %s-series types; use scheduling: equal-size'
              % (gpu_model.name, gpu_spec.series))
    return mode


def _mig_candidates(gpu_model):
    profiles = [p for p in gpu_model.mig_profiles if '+' not in p.name]
    return sorted(profiles, key=lambda p: (nominal_mib(p), p.compute_slices,
                                           p.memory_slices))


def _mig_type(gpu_model, mig_profile, series):
    for vgpu_type in gpu_model.mig_backed_types():
        if vgpu_type.mig_profile == mig_profile.name \
                and vgpu_type.series.value == series:
            return vgpu_type
    return None


def _resolve_mig(gpu_model, series, request):
    if request.profile:
        vgpu_type = gpu_model.vgpu_type(request.profile)
        if not vgpu_type.mig_backed:
            _fail(request.path + '.profile', '%s is time-sliced but this GPU '
                  'runs MIG; use a MIG-backed type (%s) or mode: '
                  'time-sliced' % (vgpu_type.name, ', '.join(
                      t.name for t in gpu_model.mig_backed_types())))
        profile = gpu_model.mig_profile(vgpu_type.mig_profile)
    elif request.mig:
        try:
            profile = gpu_model.mig_profile(request.mig)
        except KeyError as exc:
            _fail(request.path + '.mig', exc.args[0])
        vgpu_type = _mig_type(gpu_model, profile, series)
    else:
        profile = None
        for candidate in _mig_candidates(gpu_model):
            if (request.memory_mib or 0) <= nominal_mib(candidate) and \
                    (request.compute or 0) <= mig_share(gpu_model,
                                                        candidate) + 1e-9:
                profile = candidate
                break
        if profile is None:
            biggest = _mig_candidates(gpu_model)[-1]
            field = 'memory' if (request.memory_mib or 0) > \
                nominal_mib(biggest) else 'compute'
            _fail('%s.%s' % (request.path, field),
                  '%s is more than the largest MIG profile of %s offers '
                  '(%s: %s, %s compute); ask for at most that'
                  % (request.describe_request(), gpu_model.name,
                     biggest.name, units.format_mib(nominal_mib(biggest)),
                     units.format_share(mig_share(gpu_model, biggest))))
        vgpu_type = _mig_type(gpu_model, profile, series)
    if request.start is not None and \
            request.start not in [p.start for p in profile.placements]:
        _fail(request.path + '.start', '%d is not a placement of %s on %s; '
              'use one of %s or leave start: out'
              % (request.start, profile.name, gpu_model.name,
                 ', '.join(str(p.start) for p in profile.placements)))
    return Resolution(request=request, vgpu_type=vgpu_type,
                      mig_profile=profile, nominal_mib=nominal_mib(profile),
                      share=mig_share(gpu_model, profile))


def _resolve_time_sliced(gpu_model, series, request):
    if request.mig:
        _fail(request.path + '.mig', 'this GPU runs time-sliced vGPUs; '
              'remove mig: or set mode: mig')
    if request.start is not None:
        _fail(request.path + '.start', 'start: is a MIG placement; remove '
              'it for a time-sliced vGPU')
    candidates = sorted(gpu_model.time_sliced_types(series),
                        key=lambda t: t.framebuffer_mib)
    if request.profile:
        vgpu_type = gpu_model.vgpu_type(request.profile)
        if vgpu_type.mig_backed:
            _fail(request.path + '.profile', '%s is MIG-backed but this GPU '
                  'runs time-sliced vGPUs; set mode: mig or use one of %s'
                  % (vgpu_type.name, ', '.join(t.name for t in candidates)))
    else:
        if not candidates:
            _fail(request.path, '%s has no time-sliced %s-series vGPU type; '
                  'use series: %s' % (
                      gpu_model.name, series, ' or '.join(sorted(
                          {t.series.value for t in gpu_model.vgpu_types
                           if not t.mig_backed})) or 'mode: mig'))
        fits = [t for t in candidates
                if (request.memory_mib or 0) <= t.framebuffer_mib]
        if not fits:
            _fail(request.path + '.memory', '%s is more than the largest '
                  '%s-series vGPU type of %s offers (%s, %s); ask for at '
                  'most that' % (units.format_mib(request.memory_mib),
                                 series, gpu_model.name, candidates[-1].name,
                                 units.format_mib(
                                     candidates[-1].framebuffer_mib)))
        vgpu_type = fits[0]
    return Resolution(request=request, vgpu_type=vgpu_type, mig_profile=None,
                      nominal_mib=vgpu_type.framebuffer_mib, share=100.0)


def resolve_request(gpu_model, mode, series, request):
    """One VgpuRequest -> Resolution on ``gpu_model`` in ``mode``.

    Raises UsageError naming the request's path when nothing fits or the
    named profile does not exist on the model.
    """
    if request.profile:
        try:
            gpu_model.vgpu_type(request.profile)
        except KeyError as exc:
            _fail(request.path + '.profile', exc.args[0])
    if mode == MIG:
        return _resolve_mig(gpu_model, series, request)
    return _resolve_time_sliced(gpu_model, series, request)


@dataclasses.dataclass(frozen=True)
class GpuResolution:
    """A gpus[] entry resolved for one GPU model."""

    spec: object
    gpu_model: object
    mode: str
    vgpus: tuple

    @property
    def scheduling(self):
        return self.spec.scheduling

    def notes(self):
        """Operator-facing remarks that are not errors."""
        notes = []
        if self.mode == TIME_SLICED:
            asked = sum(r.request.compute or 0 for r in self.vgpus)
            if asked > 100:
                notes.append(
                    '%s: time-sliced vGPUs share all SMs in turn; together '
                    'they ask %s compute, so each gets its share only '
                    'while others idle' % (self.spec.path,
                                           units.format_share(asked)))
        return notes


def resolve_gpu(gpu_model, gpu_spec):
    """A GpuSpec on ``gpu_model`` -> GpuResolution (no feasibility check)."""
    mode = gpu_mode(gpu_model, gpu_spec)
    vgpus = tuple(resolve_request(gpu_model, mode, gpu_spec.series, r)
                  for r in gpu_spec.vgpus) if mode != NONE else ()
    return GpuResolution(spec=gpu_spec, gpu_model=gpu_model, mode=mode,
                         vgpus=vgpus)

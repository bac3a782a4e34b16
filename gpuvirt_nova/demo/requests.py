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

"""What the demo asks Placement for, and which candidate it claims.

A request is one server's vGPUs (:class:`VgpuRequest`). One vGPU is
``resources:CUSTOM_VGPU_X=1``; several are granular groups
(``resources1:CUSTOM_VGPU_X=1&resources2:CUSTOM_VGPU_Y=1`` with
``group_policy=none|isolate``), the extra specs a flavor made with
``flavor create --vgpus N`` carries. :func:`placement_query` turns extra
specs into the ``GET /allocation_candidates`` query the way Nova does,
so a candidate may touch two GPU providers or hold two units of one.

Pure functions: the stream is drawn up front from a seed, and the
choice among candidates is made over Placement's JSON.
"""

import dataclasses
import random
import re

from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.placement import flavors
from gpuvirt_nova.placement import naming
from gpuvirt_nova.scheduler import gpu_level
from gpuvirt_nova.scheduler import limits

POLICIES = ('ours', 'first-fit', 'best-fit')
GROUP_POLICIES = ('none', 'isolate')
#: Share of the stream's requests that ask two vGPUs.
DEFAULT_MULTI_SHARE = 0.1

_RESOURCES_KEY = re.compile(r'^resources(?P<suffix>[0-9]*):(?P<rc>.+)$')
_TRAIT_KEY = re.compile(r'^trait(?P<suffix>[0-9]*):(?P<trait>.+)$')


@dataclasses.dataclass(frozen=True)
class VgpuRequest:
    """One server's vGPUs: a vGPU type name per vGPU."""

    types: tuple
    #: How the groups of a several-vGPU request may share a GPU.
    group_policy: str = 'none'

    @property
    def vgpus(self):
        return len(self.types)

    @property
    def label(self):
        if len(set(self.types)) == 1 and self.vgpus > 1:
            return '%dx%s (%s)' % (self.vgpus, self.types[0],
                                   self.group_policy)
        return '+'.join(self.types)

    def extra_specs(self):
        """The flavor extra specs (one granular group per vGPU)."""
        if self.vgpus == 1:
            return flavors.extra_specs(self.types[0])
        specs = {'group_policy': self.group_policy}
        for group, type_name in enumerate(self.types, 1):
            specs['resources%d:%s' % (
                group, naming.resource_class(type_name))] = '1'
            specs['trait%d:%s' % (group, naming.MANAGED_TRAIT)] = 'required'
        return specs

    def asked(self):
        """{resource class: amount}, as the scheduler filters read it."""
        return limits.requested_vgpus(self.extra_specs())


def as_request(item):
    """A VgpuRequest from a request, a type name or a list of names."""
    if isinstance(item, VgpuRequest):
        return item
    if isinstance(item, str):
        return VgpuRequest((item,))
    return VgpuRequest(tuple(item))


def placement_query(extra_specs, aggregate=None):
    """``GET /allocation_candidates`` pairs for flavor extra specs.

    ``resources[N]:RC=n`` and ``trait[N]:T=required`` become
    ``resources[N]=RC:n`` and ``required[N]=T``; each group gets
    ``member_of[N]=aggregate`` when one is given (a numbered group's
    member_of is matched against the provider itself, so the GPU
    providers must be members too); ``group_policy`` is copied.
    """
    groups = {}
    for key, value in sorted(extra_specs.items()):
        match = _RESOURCES_KEY.match(key)
        if match:
            groups.setdefault(match.group('suffix'), ([], []))[0].append(
                '%s:%s' % (match.group('rc'), value))
            continue
        match = _TRAIT_KEY.match(key)
        if match and value == 'required':
            groups.setdefault(match.group('suffix'), ([], []))[1].append(
                match.group('trait'))
    pairs = []
    for suffix in sorted(groups, key=lambda s: int(s) if s else -1):
        resources, required = groups[suffix]
        pairs.append(('resources' + suffix, ','.join(resources)))
        if required:
            pairs.append(('required' + suffix, ','.join(required)))
        if aggregate:
            pairs.append(('member_of' + suffix, aggregate))
    if 'group_policy' in extra_specs:
        pairs.append(('group_policy', extra_specs['group_policy']))
    return pairs


def catalog_framebuffer(type_name):
    for gpu_model in catalog.load().models.values():
        for vgpu_type in gpu_model.vgpu_types:
            if vgpu_type.name == type_name:
                return vgpu_type.framebuffer_mib
    return 1


def request_stream(capacity, count, rng):
    """``count`` vGPU type names, drawn in proportion to ``capacity``.

    Larger types come a little more often than their share of slots
    (training jobs), so both packing and fragmentation show.
    """
    names = sorted(capacity)
    sizes = {n: catalog_framebuffer(n) for n in names}
    weights = [capacity[n] * (sizes[n] ** 0.5) for n in names]
    return rng.choices(names, weights=weights, k=count)


def stream_mix(capacity):
    """{resource class: weight} of the stream ``request_stream`` draws.

    This is the typical-request mix the report's fragmentation uses.
    """
    return {naming.resource_class(n): capacity[n] * (
        catalog_framebuffer(n) ** 0.5) for n in sorted(capacity)}


def events(capacity, requests, seed=0, finish_ratio=0.25,
           multi_share=DEFAULT_MULTI_SHARE, group_policy='none'):
    """[(VgpuRequest, a job finishes first, which one in [0, 1))].

    ``multi_share`` of the requests ask two vGPUs of their type (with
    ``group_policy``). Drawn up front so that every policy of ``compare``
    sees the same stream whatever it placed; the two-vGPU draws use their
    own generator, so the share changes nothing else in the stream.
    """
    rng = random.Random(seed)
    sizes = random.Random('%s-vgpus' % seed)
    stream = []
    for name in request_stream(capacity, requests, rng):
        finish, which = rng.random() < finish_ratio, rng.random()
        if sizes.random() < multi_share:
            request = VgpuRequest((name, name), group_policy)
        else:
            request = VgpuRequest((name,))
        stream.append((request, finish, which))
    return stream


def best_fit(candidates):
    """The candidate leaving the fewest free vGPU slots where it lands."""
    requests = candidates['allocation_requests']
    summaries = candidates['provider_summaries']

    def free(index):
        total, providers = 0, []
        for provider, alloc in sorted(
                requests[index]['allocations'].items()):
            for rc in alloc['resources']:
                if rc.startswith(naming.VGPU_RC_PREFIX):
                    res = summaries[provider]['resources'][rc]
                    total += res['capacity'] - res['used']
            providers.append(provider)
        return (total, providers)
    return requests[min(range(len(requests)), key=free)]


def choose(candidates, asked, policy, configured_mix=None):
    """The allocation request to claim (the GPU-level choice), or None.

    ``candidates`` is Placement's answer; ``asked`` a resource class (one
    vGPU) or ``{rc: amount}``. ``ours`` runs the scheduler plugins' code
    (``configured_mix``: ``[gpuvirt_scheduler] typical_requests``, empty =
    learned from usage, as the filter does before it has seen enough
    requests to learn from them), which scores a candidate over
    every GPU it touches; ``first-fit`` takes the first (what Nova does
    without them); ``best-fit`` the one leaving the fewest free slots.
    """
    requests = candidates['allocation_requests']
    if not requests:
        return None
    if policy == 'first-fit':
        return requests[0]
    if policy == 'best-fit':
        return best_fit(candidates)
    if isinstance(asked, str):
        asked = {asked: 1}
    return gpu_level.pick(candidates['provider_summaries'], requests,
                          asked, configured_mix)

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

"""``typical_requests`` written from the servers a cloud runs.

Why: the weigher's mix learned from Placement's usage has no vCPUs and
counts a multi-vGPU server as single vGPUs (Placement's summaries do not
say which flavor holds a vGPU); on the openb traces that places 0.7 to
1.5 points of GPU allocation below a mix that names each kind of request
whole (benchmarks/README.md, "The weigher counts vCPUs"). The mix each
scheduler learns from the requests it sees (:mod:`recent`) names them
whole too, but only once it has seen enough, and it is noisy while the
rare kinds are few; written from the servers, the mix holds from the
first request and in every scheduler process. Nova knows
every server's flavor: one class per kind of request
(``RC[@TRAIT][/VCPUS][*GPUS]``, :func:`candidates.mix_key`), weighted by
how many servers ask it, the most common covering ``cover`` of them (as
the benchmark's typical mix, ``modes.TYPICAL_COVER``).

Pure functions; ``gpuvirt-nova flavor typical-requests`` reads the
servers.
"""

import collections

from gpuvirt_nova.scheduler import candidates
from gpuvirt_nova.scheduler import fleet
from gpuvirt_nova.scheduler import limits
from gpuvirt_nova.scheduler import scoring

#: Share of the vGPU servers the written mix covers, the most common
#: kinds first (the packing benchmark's ``modes.TYPICAL_COVER``).
COVER = 0.95


def pinned(extra_specs):
    """Whether a flavor's CPUs are pinned (``PCPU``, not ``VCPU``)."""
    extra_specs = extra_specs or {}
    return extra_specs.get('hw:cpu_policy') == 'dedicated' or any(
        key.startswith('resources') and key.endswith(':PCPU')
        for key in extra_specs)


def shared_vcpus(vcpus, extra_specs):
    """The ``VCPU`` a server of a flavor of ``vcpus`` takes from Placement.

    The flavor's ``resources:VCPU`` overrides its vCPU count, as in
    Nova's request; a flavor of pinned CPUs takes ``PCPU``, which the
    weigher does not count. (The scheduler asks Nova's own translation,
    which also reads the image's CPU policy: ``filters.request_vcpus``.)
    """
    if pinned(extra_specs):
        return 0
    override = (extra_specs or {}).get('resources:VCPU')
    return vcpus if override is None else int(override)


def request_classes(vcpus, extra_specs):
    """The mix classes one server of a flavor adds (none without vGPUs).

    Each vGPU resource class the flavor asks gives one class with the
    server's shared vCPUs (:func:`shared_vcpus`), its required
    ``CUSTOM_GPU_*`` traits and as many GPUs as request groups ask it
    (:func:`limits.requested_groups`).
    """
    groups = limits.requested_groups(extra_specs)
    vcpus = shared_vcpus(vcpus, extra_specs)
    out = []
    for key in fleet.requested_mix(extra_specs):
        rc, traits = candidates.split_mix_key(key)
        out.append(candidates.mix_key(rc, traits, vcpus, groups.get(rc, 1)))
    return out


def mix_of(servers, cover=COVER):
    """``({class: requests}, requests counted, requests left out)``.

    ``servers``: ``(vcpus, extra_specs)`` per server; each server adds
    one request per vGPU resource class its flavor asks (one, for
    every flavor ``flavor sync`` makes). Classes are kept, the most
    common first (then by name), until they cover ``cover`` of the
    requests; the rest are left out.
    """
    if not 0 < cover <= 1:
        raise ValueError('cover: %r is not a share; use a number in '
                         '(0, 1], for example 0.95' % (cover,))
    counts = collections.Counter()
    for vcpus, extra_specs in servers:
        counts.update(request_classes(vcpus, extra_specs))
    # NOTE: by name first, so that equal counts keep the name order
    kept = dict(scoring.most_common(dict(sorted(counts.items())), cover))
    seen = sum(kept.values())
    return kept, seen, sum(counts.values()) - seen


def option_value(mix):
    """``typical_requests`` as ``nova.conf`` takes it: ``K:n,K:n``."""
    return ','.join('%s:%d' % (key, count) for key, count in mix.items())

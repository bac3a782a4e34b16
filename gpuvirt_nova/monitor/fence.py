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

"""Fencing unhealthy GPUs: which GPUs nothing new may land on, and why.

A GPU is fenced as soon as it is found unhealthy (NVML says it is lost,
or it holds uncorrected ECC errors that need a reset), and released only
once it has been healthy for ``release_after`` seconds without a break,
so a GPU that comes and goes is not offered in between.

The fence has no writer of its own: nova-compute's driver asks
:class:`Fence` in every provider update and passes the result to
``placement.tree.build_provider_tree(unhealthy=...)``, the one reconcile
path, which reserves the GPU's whole inventory and marks the provider
with the reason's trait. Guests already on a fenced GPU keep running:
they are reported (monitor alerts name them), never touched. After a
restart of nova-compute the marks on the providers seed the fence, so a
fenced GPU still waits its healthy time.

:func:`step` is pure; :func:`probe` is the NVML adapter.
"""

import dataclasses

from gpuvirt_nova.monitor import sampler as sampler_mod

GPU_LOST = 'gpu-lost'
ECC_DBE = 'ecc-dbe'
REASONS = (GPU_LOST, ECC_DBE)


@dataclasses.dataclass(frozen=True)
class Fenced:
    reason: str
    #: When the GPU was last seen healthy after being fenced (None: not).
    healthy_since: float = None


def step(state, now, marked, unhealthy, release_after):
    """``(new state, {address: reason})`` after one health check.

    ``state``: ``{address: Fenced}`` from the previous call ({} at first).
    ``marked``: ``{address: reason}`` of providers carrying the unhealthy
    mark (what Placement remembers across restarts). ``unhealthy``:
    ``{address: reason}`` found now; an address in neither is healthy.
    """
    new = {}
    for address, reason in marked.items():
        if address not in state:
            state = dict(state, **{address: Fenced(reason)})
    for address, fenced in state.items():
        if address in unhealthy:
            new[address] = Fenced(unhealthy[address])
        elif fenced.healthy_since is None:
            new[address] = Fenced(fenced.reason, healthy_since=now)
            if release_after <= 0:
                del new[address]
        elif now - fenced.healthy_since < release_after:
            new[address] = fenced
    for address, reason in unhealthy.items():
        new.setdefault(address, Fenced(reason))
    return new, {a: f.reason for a, f in new.items()}


def health(gpu_sample):
    """The reason a sampled GPU is unhealthy, or None."""
    if not gpu_sample.present:
        return GPU_LOST
    if gpu_sample.metrics.get('ecc_dbe_total'):
        return ECC_DBE
    return None


def probe(nvml, addresses):
    """``{address: reason}`` of the unhealthy GPUs among ``addresses``.

    A cheap read (handle, then the uncorrected ECC count) per GPU; NVML
    missing or a GPU NVML does not know gives no verdict (healthy): only
    what NVML says is wrong fences a GPU.
    """
    if nvml is None:
        return {}
    sampler = sampler_mod.Sampler(nvml)
    if not sampler.start():
        return {}
    try:
        result = {}
        for address in addresses:
            reason = _probe_one(sampler, address)
            if reason:
                result[address] = reason
        return result
    finally:
        sampler.close()


def _probe_one(sampler, address):
    nvml = sampler.nvml
    try:
        handle = sampler.call(address, 'nvmlDeviceGetHandleByPciBusId',
                              '0000' + address)
        if handle is None:
            return None
        sampler.call(address, 'nvmlDeviceGetUUID', handle)
        dbe = sampler.call(
            address, 'nvmlDeviceGetTotalEccErrors', handle,
            getattr(nvml, 'NVML_MEMORY_ERROR_TYPE_UNCORRECTED',
                    sampler_mod.NVML_MEMORY_ERROR_TYPE_UNCORRECTED),
            getattr(nvml, 'NVML_VOLATILE_ECC',
                    sampler_mod.NVML_VOLATILE_ECC))
        return ECC_DBE if dbe else None
    except sampler_mod.GpuLost:
        return GPU_LOST
    except sampler_mod.Unsupported:
        return None


class Fence:
    """The state :func:`step` carries, kept by the driver between updates."""

    def __init__(self, clock):
        self.clock = clock
        self.state = {}

    def update(self, marked, unhealthy, release_after):
        self.state, fenced = step(self.state, self.clock(), marked,
                                  unhealthy, release_after)
        return fenced

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
it holds uncorrected ECC errors that need a reset, it raised a critical
XID error since the last check, or NVML cannot read it: a timeout or
another error on that GPU alone), and released only
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

:func:`step` and :func:`xid_reason` are pure; :class:`HealthProbe` is
the NVML adapter. It keeps NVML open between checks, because NVML queues
XID events only for an event set registered before they happen. When
NVML as a whole cannot start for a reason other than being absent (a
driver/library version mismatch after an upgrade) it raises
:class:`HealthUnknown`: the caller keeps the fences as they are, since no
GPU can be judged.
"""

import dataclasses

from gpuvirt_nova.monitor import sampler as sampler_mod

GPU_LOST = 'gpu-lost'
ECC_DBE = 'ecc-dbe'
NVML_TIMEOUT = 'nvml-timeout'
NVML_ERROR = 'nvml-error'
#: A critical XID: ``xid-79``.
XID_PREFIX = 'xid-'
REASONS = (GPU_LOST, ECC_DBE, NVML_TIMEOUT, NVML_ERROR)


#: NVML errors that speak of the whole library, not of one GPU:
#: uninitialized, driver not loaded, library not found, driver/library
#: version mismatch (nvml.h).
HOST_WIDE_ERRORS = frozenset((1, 9, 12, 18))


class HealthUnknown(Exception):
    """NVML is there but cannot start: no GPU can be judged."""


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


def xid_reason(xids, critical):
    """``xid-<n>`` of the last critical XID among ``xids``, or None."""
    found = [x for x in xids if x in critical]
    return '%s%d' % (XID_PREFIX, found[-1]) if found else None


def failure_reason(code):
    """The reason an NVML error on one GPU fences it for."""
    return NVML_TIMEOUT if code == sampler_mod.NVML_ERROR_TIMEOUT \
        else NVML_ERROR


def probe(nvml, addresses, critical_xids=()):
    """``{address: reason}`` of the unhealthy GPUs among ``addresses``.

    One check with a fresh NVML session (so no XID can be seen); see
    :class:`HealthProbe`.
    """
    health = HealthProbe(nvml, critical_xids)
    try:
        return health.check(addresses)
    finally:
        health.close()


class HealthProbe:
    """Health checks over one NVML session kept open between them."""

    def __init__(self, nvml, critical_xids=()):
        self.nvml = nvml
        self.critical_xids = frozenset(int(x) for x in critical_xids)
        self.sampler = None

    def _start(self):
        if self.sampler is not None:
            return True
        if self.nvml is None:
            return False
        sampler = sampler_mod.Sampler(self.nvml)
        if sampler.start():
            self.sampler = sampler
            return True
        if sampler.absent:
            return False  # no NVML here: no verdict, healthy
        raise HealthUnknown(sampler.why_not)

    def check(self, addresses):
        """``{address: reason}`` of the unhealthy GPUs among ``addresses``.

        A cheap read (handle, UUID, the uncorrected ECC count) per GPU and
        the XID events queued since the last check. NVML missing, or a
        GPU NVML does not know, gives no verdict (healthy): only what
        NVML says is wrong fences a GPU.

        :raises HealthUnknown: NVML is installed but cannot start.
        """
        if not self._start():
            return {}
        result, handles = {}, {}
        for address in addresses:
            try:
                reason, handle = _probe_one(self.sampler, address)
            except HealthUnknown:
                self.close()  # a new session at the next check
                raise
            if reason:
                result[address] = reason
            if handle is not None:
                handles[address] = handle
                self.sampler.watch_xids(address, handle)
        for address, xids in self.sampler.take_xids(handles).items():
            reason = xid_reason(xids, self.critical_xids)
            if reason:
                result.setdefault(address, reason)
        return result

    def close(self):
        if self.sampler is not None:
            self.sampler.close()
            self.sampler = None


def _probe_one(sampler, address):
    """(reason or None, handle or None) of one GPU."""
    nvml = sampler.nvml
    handle = None
    try:
        handle = sampler.call(address, 'nvmlDeviceGetHandleByPciBusId',
                              '0000' + address, strict=True)
        sampler.call(address, 'nvmlDeviceGetUUID', handle, strict=True)
        try:
            dbe = sampler.call(
                address, 'nvmlDeviceGetTotalEccErrors', handle,
                getattr(nvml, 'NVML_MEMORY_ERROR_TYPE_UNCORRECTED',
                        sampler_mod.NVML_MEMORY_ERROR_TYPE_UNCORRECTED),
                getattr(nvml, 'NVML_VOLATILE_ECC',
                        sampler_mod.NVML_VOLATILE_ECC), strict=True)
        except sampler_mod.Unsupported:
            dbe = None  # no ECC on this GPU: healthy as far as we know
        return (ECC_DBE if dbe else None), handle
    except sampler_mod.GpuLost:
        return GPU_LOST, None
    except sampler_mod.Unsupported:
        return None, None
    except sampler_mod.Failed as exc:
        if exc.code in HOST_WIDE_ERRORS:
            raise HealthUnknown('NVML %s' % exc)
        if exc.name == 'nvmlDeviceGetHandleByPciBusId' and \
                exc.code == getattr(nvml, 'NVML_ERROR_NOT_FOUND', 6):
            return None, None  # not an NVML GPU (bound to vfio-pci)
        return failure_reason(exc.code), handle


class Fence:
    """The state :func:`step` carries, kept by the driver between updates."""

    def __init__(self, clock):
        self.clock = clock
        self.state = {}

    def update(self, marked, unhealthy, release_after):
        self.state, fenced = step(self.state, self.clock(), marked,
                                  unhealthy, release_after)
        return fenced

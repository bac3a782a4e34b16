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

"""Plumbing shared by the fake NVML's function groups.

Handles are opaque ctypes pointers whose address encodes (device index,
GPU-instance id, compute-instance id); they must never be dereferenced.
Array outputs follow NVML's convention (fill the caller's array, set the
count, ``NVML_ERROR_INSUFFICIENT_SIZE`` when it is too small).
"""

import ctypes

import pynvml

from gpuvirt_nova.hardware import model
from gpuvirt_nova.hardware import writers

#: GPU-instance profile ids by profile index, as NVML reports them on GPUs
#: with 8 memory slices (A100, H100, H200): ``nvidia-smi mig -lgip``.
GI_PROFILE_IDS = {0: 19, 7: 20, 9: 15, 1: 14, 2: 9, 3: 5, 4: 0}
#: Compute-instance profile index by compute slices (ids equal indexes).
CI_PROFILE_BY_SLICES = writers.CI_PROFILE_BY_SLICES
MIB = 1024 * 1024
#: What NVML answers for a type not backed by MIG.
INVALID_PROFILE_ID = 0xFFFFFFFF

_TAG = 0x6e76 << 32
KIND_DEVICE, KIND_GI, KIND_CI = 1, 2, 3

ARCH = {
    model.Architecture.VOLTA: pynvml.NVML_DEVICE_ARCH_VOLTA,
    model.Architecture.TURING: pynvml.NVML_DEVICE_ARCH_TURING,
    model.Architecture.AMPERE: pynvml.NVML_DEVICE_ARCH_AMPERE,
    model.Architecture.ADA: pynvml.NVML_DEVICE_ARCH_ADA,
    model.Architecture.HOPPER: pynvml.NVML_DEVICE_ARCH_HOPPER,
    model.Architecture.BLACKWELL: pynvml.NVML_DEVICE_ARCH_BLACKWELL,
}

DEFAULT_TELEMETRY = {'temperature_c': 34, 'power_w': 38.0,
                     'power_limit_w': 250.0, 'gpu_util': 0, 'mem_util': 0,
                     'memory_used_mib': 0, 'pcie_tx_kbps': 0,
                     'pcie_rx_kbps': 0}


def gi_profile_id(profile_index):
    return GI_PROFILE_IDS.get(profile_index, 32 + profile_index)


def profile_gi_id(profile):
    """The id NVML reports for a MIG profile.

    The board's own where the catalog knows it (1g.24gb is 14 on RTX PRO
    6000, 19 on H100).
    """
    if profile.profile_id is not None:
        return profile.profile_id
    return gi_profile_id(profile.nvml_id)


def error(code):
    return pynvml.NVMLError(code)


def encode(pointer_type, kind, device, gi_id=0, ci_id=0):
    value = _TAG | kind << 28 | (device + 1) << 16 | gi_id << 8 | ci_id
    return ctypes.cast(ctypes.c_void_p(value), pointer_type)


def device_handle(device):
    return encode(pynvml.c_nvmlDevice_t, KIND_DEVICE, device)


def gi_handle(device, gi_id):
    return encode(pynvml.c_nvmlGpuInstance_t, KIND_GI, device, gi_id)


def ci_handle(device, gi_id, ci_id):
    return encode(pynvml.c_nvmlComputeInstance_t, KIND_CI, device, gi_id,
                  ci_id)


def decode(handle, kind):
    """(device index, gi id, ci id) of a handle made by _encode."""
    try:
        value = ctypes.cast(handle, ctypes.c_void_p).value or 0
    except (ctypes.ArgumentError, TypeError):
        raise error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
    if value >> 32 != _TAG >> 32 or (value >> 28) & 0xf != kind:
        raise error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
    return ((value >> 16 & 0xfff) - 1, value >> 8 & 0xff, value & 0xff)


def target(ref):
    """The ctypes object behind a byref()/pointer()/plain argument."""
    if ref is None:
        return None
    if hasattr(ref, '_obj'):
        return ref._obj
    if hasattr(ref, 'contents') and not isinstance(ref, ctypes.Array):
        return ref.contents
    return ref


def fill(items_ref, count_ref, values):
    """NVML's array-out convention: fill the array, return the count."""
    count = target(count_ref)
    items = target(items_ref)
    if items is not None:
        capacity = len(items) if isinstance(items, ctypes.Array) else \
            len(values)
        if capacity < len(values):
            count.value = len(values)
            raise error(pynvml.NVML_ERROR_INSUFFICIENT_SIZE)
        for i, value in enumerate(values):
            items[i] = value
    if count is not None:
        count.value = len(values)
    return pynvml.NVML_SUCCESS


class NvmlBase:
    """State access and argument checks for the fake NVML functions."""

    def __init__(self, host):
        self._host = host
        self._init_count = 0

    # -- plumbing ----------------------------------------------------------

    def _check(self, name):
        if not self._init_count and name not in ('nvmlInit',
                                                 'nvmlInitWithFlags'):
            raise error(pynvml.NVML_ERROR_UNINITIALIZED)
        code = self._host.take_failure(name)
        if code is not None:
            raise error(code)

    def _addresses(self):
        return self._host.nvml_addresses()

    def _device(self, handle):
        index = decode(handle, KIND_DEVICE)[0]
        addresses = self._addresses()
        if not 0 <= index < len(addresses):
            raise error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return index, addresses[index]

    def _gpu(self, address):
        return self._host.store.load()['gpus'][address]

    def _mig_model(self, address, need_enabled=True):
        gpu_model = self._host.gpu_model(address)
        if not gpu_model.mig_capable:
            raise error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        if need_enabled and not self._gpu(address)['mig_current']:
            raise error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return gpu_model

    def _profile_by_id(self, gpu_model, profile_id):
        for profile in gpu_model.mig_profiles:
            if profile_gi_id(profile) == profile_id:
                return profile
        raise error(pynvml.NVML_ERROR_INVALID_ARGUMENT)

    def _gi(self, handle):
        index, gi_id, _ci = decode(handle, KIND_GI)
        address = self._addresses()[index]
        gi = self._gpu(address)['gpu_instances'].get(str(gi_id))
        if gi is None:
            raise error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return index, address, gi_id, gi

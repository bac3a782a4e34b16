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

"""The only door to privileged GPU changes: sysfs writes and NVML MIG calls.

Everything that changes a GPU goes through a HardwareWriter. Production
uses PrivsepWriter (``gpuvirt_nova.privsep``), whose oslo.privsep
entrypoints validate every argument before touching ``/sys`` or NVML;
tests, the demo and benchmarks use the simulator's writer
(``gpuvirt_nova.sim``), which obeys the same contract. Both implement the
contract defined here and neither is imported here:
``gpuvirt_nova.conf.backends`` picks one from the configuration. No other
module opens a sysfs file for writing or calls an NVML setter.

The checks are pure functions here (``validate_*``), shared by the
production writer and the simulator's, in the style of os-vif's
``linux_net``: a sysfs path must match one of :data:`ALLOWED_WRITES` and
the value must have that file's form, so a privileged daemon can never be
talked into writing anywhere else. The NVML MIG steps (``nvml_*``) are
written once over a pynvml-like module: the privsep daemon passes the real
``pynvml``, the simulator its fake.
"""

import abc
import collections
import contextlib
import ctypes
import os
import re

from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import model

_PCI = r'(?P<address>[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])'
_UUID = (r'(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-'
         r'[0-9a-f]{12})')
_TYPE = r'nvidia-(?P<type_id>[1-9][0-9]{0,4})'

#: The only sysfs attributes a writer may write: (kind, path pattern).
#: Every pattern here is used with ``fullmatch``: ``re.match`` with ``$``
#: lets a trailing newline through (``$`` matches before it).
ALLOWED_WRITES = (
    ('sriov_numvfs',
     re.compile(r'/sys/bus/pci/devices/%s/sriov_numvfs' % _PCI)),
    ('current_vgpu_type',
     re.compile(r'/sys/bus/pci/devices/%s/nvidia/current_vgpu_type'
                % _PCI)),
    ('mdev_create',
     re.compile(r'/sys/class/mdev_bus/%s/mdev_supported_types/%s/create'
                % (_PCI, _TYPE))),
    ('mdev_create',
     re.compile(r'/sys/bus/pci/devices/%s/mdev_supported_types/%s/create'
                % (_PCI, _TYPE))),
    ('mdev_remove',
     re.compile(r'/sys/bus/mdev/devices/%s/remove' % _UUID)),
)

#: PCI vendor id of NVIDIA, as sysfs ``vendor`` files read.
NVIDIA_VENDOR = '0x10de'
_NVIDIA_MDEV_TYPE = re.compile(_TYPE)

#: Most VFs a PCI function can have (the routing-id space of one bus).
MAX_VFS = 256
#: NVIDIA vGPU type ids are 16-bit.
MAX_TYPE_ID = 65535
#: Compute-instance profile index (NVML_COMPUTE_INSTANCE_PROFILE_*) by
#: compute slices; a compute instance that fills its GPU instance uses it.
CI_PROFILE_BY_SLICES = {1: 0, 2: 1, 3: 2, 4: 3, 7: 4, 8: 5, 6: 6}
#: Every profile-name form NVIDIA uses (as the catalog's schema).
_MIG_PROFILE_RE = re.compile(r'[1-8]g\.[0-9]+gb(\+me|\+me\.all|\+gfx|-me)?')
#: Most placements NVML reports for one GPU-instance profile.
_MAX_PLACEMENTS = 8
#: A PCI address argument: full or short (``bb:ss.f``) form, any case.
_PCI_ARGUMENT = re.compile(r'([0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]',
                           re.IGNORECASE)
_DIGITS = re.compile(r'[0-9]+')

#: A validated sysfs write: what it is and the canonical path and value.
SysfsWrite = collections.namedtuple(
    'SysfsWrite', 'kind path value address type_id mdev_uuid')


class InvalidWrite(exception.UsageError):
    """A write was refused before anything was touched (bad argument)."""


class HardwareRefused(exception.GpuvirtError):
    """The kernel or NVML refused a change.

    ``errno`` is set for a sysfs write, ``nvml_error`` (an
    ``NVML_ERROR_*`` code) for an NVML call. The constructor arguments are
    the exception's ``args`` so it crosses the privsep channel intact.
    """

    def __init__(self, message, errno=None, nvml_error=None):
        super().__init__(message, errno, nvml_error)
        self.message = message
        self.errno = errno
        self.nvml_error = nvml_error

    def __str__(self):
        return self.message


def validate_pci_address(address, field='address'):
    """Canonical ``dddd:bb:ss.f`` or InvalidWrite naming the field.

    The whole string must be the address: no surrounding blanks or
    newline (operators' files are normalized before they get here).
    """
    if not isinstance(address, str) or not _PCI_ARGUMENT.fullmatch(address):
        raise InvalidWrite('%s: expected a PCI address like 0000:3b:00.0, '
                           'got %r' % (field, address))
    return model.normalize_pci_address(address)


def _as_text(value):
    """``value`` as the text to write, unchanged (None if not str/int).

    Nothing is stripped: a value the checks accept is written as is, so a
    newline or blank is refused rather than quietly dropped.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return str(value)


def _integer(path, value, low, high):
    text = _as_text(value)
    if text is None or not _DIGITS.fullmatch(text) \
            or not low <= int(text) <= high:
        raise InvalidWrite('%s: expected an integer from %d to %d, got %r'
                           % (path, low, high, value))
    return str(int(text))


def validate_sysfs_write(path, value):
    """Check one sysfs write; return a SysfsWrite or raise InvalidWrite.

    ``path`` is the path on a real host (``/sys/...``); ``value`` a str or
    int. Accepted: ``sriov_numvfs`` 0..256, ``nvidia/current_vgpu_type``
    0..65535, ``mdev_supported_types/nvidia-<n>/create`` an mdev UUID,
    ``/sys/bus/mdev/devices/<uuid>/remove`` ``1``.
    """
    if not isinstance(path, str):
        raise InvalidWrite('sysfs path: expected a string, got %r' % (path,))
    for kind, pattern in ALLOWED_WRITES:
        match = pattern.fullmatch(path)
        if match:
            break
    else:
        raise InvalidWrite(
            '%s: not a sysfs attribute a writer may change: use '
            'sriov_numvfs, nvidia/current_vgpu_type, '
            'mdev_supported_types/nvidia-<id>/create or '
            '/sys/bus/mdev/devices/<uuid>/remove' % path)
    groups = match.groupdict()
    type_id = int(groups['type_id']) if groups.get('type_id') else None
    if kind == 'sriov_numvfs':
        text = _integer(path, value, 0, MAX_VFS)
    elif kind == 'current_vgpu_type':
        text = _integer(path, value, 0, MAX_TYPE_ID)
    elif kind == 'mdev_create':
        text = (_as_text(value) or '').lower()
        if not re.fullmatch(_UUID, text):
            raise InvalidWrite('%s: expected an mdev UUID like '
                               '4b20d080-1b54-4048-85b3-a6a62d165c01, got '
                               '%r' % (path, value))
    else:
        text = _as_text(value)
        if text != '1':
            raise InvalidWrite('%s: expected 1, got %r' % (path, value))
    mdev_uuid = text if kind == 'mdev_create' else groups.get('uuid')
    return SysfsWrite(kind, path, text, groups.get('address'), type_id,
                      mdev_uuid)


def _read_text(path):
    try:
        with open(path) as f:
            return f.read().strip().lower()
    except OSError:
        return None


def _under(sysfs_root, path):
    return os.path.join(sysfs_root, path.lstrip('/'))


def check_nvidia_target(request, sysfs_root='/'):
    """Refuse a write whose device is not NVIDIA's; return ``request``.

    The path patterns say *which* attribute, not *whose*: a well-formed
    ``sriov_numvfs`` may belong to a NIC and an mdev UUID to another
    vendor's mediated device. So the PCI device (a VF: its ``physfn``)
    must read vendor 0x10de and a removed mdev's ``mdev_type`` must be
    ``nvidia-<id>``. A device or mdev that does not exist is left to the
    write itself, which fails with ENOENT. Raises InvalidWrite.
    """
    if request.kind == 'mdev_remove':
        device = _under(sysfs_root, '/sys/bus/mdev/devices/%s'
                        % request.mdev_uuid)
        if not os.path.isdir(device):
            return request
        link = os.path.join(device, 'mdev_type')
        mdev_type = os.path.basename(os.path.realpath(link)) \
            if os.path.exists(link) else None
        if not mdev_type or not _NVIDIA_MDEV_TYPE.fullmatch(mdev_type):
            raise InvalidWrite(
                '%s: mdev %s is of type %s, not an NVIDIA vGPU '
                '(nvidia-<id>); only NVIDIA vGPUs may be removed here'
                % (request.path, request.mdev_uuid, mdev_type or 'unknown'))
        return request
    device = _under(sysfs_root, '/sys/bus/pci/devices/%s' % request.address)
    if not os.path.isdir(device):
        return request
    physfn = os.path.join(device, 'physfn')
    owner = physfn if os.path.isdir(physfn) else device
    vendor = _read_text(os.path.join(owner, 'vendor'))
    if vendor != NVIDIA_VENDOR:
        raise InvalidWrite(
            '%s: PCI device %s%s has vendor %s, not NVIDIA (%s); only '
            'NVIDIA GPUs and their VFs may be changed'
            % (request.path, request.address,
               ' (its physical function)' if owner == physfn else '',
               vendor or 'unknown', NVIDIA_VENDOR))
    return request


def validate_device_write(path, value, sysfs_root='/'):
    """:func:`validate_sysfs_write`, then :func:`check_nvidia_target`.

    ``sysfs_root`` is where ``/sys`` lives (``/`` on a real host, the
    simulated host's root in the simulator).
    """
    return check_nvidia_target(validate_sysfs_write(path, value),
                               sysfs_root)


def validate_mig_profile(profile):
    if not isinstance(profile, str) or not _MIG_PROFILE_RE.fullmatch(profile):
        raise InvalidWrite('MIG profile: expected a name like 2g.10gb, got '
                           '%r' % (profile,))
    return profile


def validate_small_int(value, field, high=255):
    if isinstance(value, bool) or not isinstance(value, int) \
            or not 0 <= value <= high:
        raise InvalidWrite('%s: expected an integer from 0 to %d, got %r'
                           % (field, high, value))
    return value


# -- NVML MIG steps, over any pynvml-like module ---------------------------

@contextlib.contextmanager
def _nvml_session(nvml, what):
    """nvmlInit/nvmlShutdown around a block; NVML errors -> HardwareRefused."""
    try:
        nvml.nvmlInit()
        try:
            yield
        finally:
            nvml.nvmlShutdown()
    except nvml.NVMLError as exc:
        raise HardwareRefused('%s: %s' % (what, nvml_error_name(nvml, exc)),
                              nvml_error=exc.value)


def nvml_error_name(nvml, exc):
    """``NVML_ERROR_IN_USE (19)``: the constant's name, as NVML's docs."""
    for name, value in vars(nvml).items():
        if name.startswith('NVML_ERROR_') and value == exc.value:
            return '%s (%d)' % (name, exc.value)
    return 'NVML error %d' % exc.value


def _handle(nvml, address):
    return nvml.nvmlDeviceGetHandleByPciBusId(address)


def _gpu_model(nvml, handle, address):
    name = nvml.nvmlDeviceGetName(handle)
    if isinstance(name, bytes):
        name = name.decode()
    gpu_model = catalog.load().find(name)
    if gpu_model is None:
        raise HardwareRefused('%s: GPU model %r is not in the catalog'
                              % (address, name))
    return gpu_model


def _profile_named(gpu_model, address, name):
    try:
        return gpu_model.mig_profile(name)
    except KeyError as exc:
        raise InvalidWrite('%s: %s' % (address, exc.args[0]))


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value or '')


def _nvml_profiles(nvml, handle):
    """[(profile index, info)] of every GI profile NVML lists on a GPU."""
    found = []
    for index in range(getattr(nvml, 'NVML_GPU_INSTANCE_PROFILE_COUNT', 18)):
        try:
            info = nvml.nvmlDeviceGetGpuInstanceProfileInfo(handle, index)
        except nvml.NVMLError as exc:
            if exc.value in (nvml.NVML_ERROR_NOT_SUPPORTED,
                             nvml.NVML_ERROR_INVALID_ARGUMENT):
                continue
            raise
        found.append((index, info))
    return found


def _nvml_profile_named(nvml, handle, address, name):
    """NVML's profile info for ``name`` (``1g.12gb``), as NVML names it.

    The name NVML prints is the identity (profile info v2 carries it);
    only an NVML that gives no names falls back to the catalog's name for
    the profile index.
    """
    profiles = _nvml_profiles(nvml, handle)
    named = [(model.mig_profile_name(_text(getattr(info, 'name', b''))),
              index, info) for index, info in profiles]
    if named and not any(n for n, _i, _info in named):
        by_index = {p.nvml_id: p.name for p in
                    _gpu_model(nvml, handle, address).mig_profiles}
        named = [(by_index.get(i, ''), i, info) for _n, i, info in named]
    for listed, _index, info in named:
        if listed == name:
            return info
    raise InvalidWrite('%s: NVML lists no MIG profile %r on this GPU: use '
                       'one of %s' % (address, name, ', '.join(
                           n for n, _i, _info in named if n) or 'none'))


def _possible_starts(nvml, handle, profile_id):
    """{start: size} of the placements NVML allows for a GI profile."""
    array = (nvml.c_nvmlGpuInstancePlacement_t * _MAX_PLACEMENTS)()
    count = ctypes.c_uint(_MAX_PLACEMENTS)
    nvml.nvmlDeviceGetGpuInstancePossiblePlacements(
        handle, profile_id, array, ctypes.byref(count))
    return {int(p.start): int(p.size) for p in array[:count.value]}


def nvml_set_mig_mode(nvml, address, enabled):
    """Set MIG mode; True when a GPU reset must still apply it."""
    address = validate_pci_address(address)
    with _nvml_session(nvml, 'set MIG mode on %s' % address):
        handle = _handle(nvml, address)
        nvml.nvmlDeviceSetMigMode(handle, nvml.NVML_DEVICE_MIG_ENABLE
                                  if enabled else
                                  nvml.NVML_DEVICE_MIG_DISABLE)
        current, pending = nvml.nvmlDeviceGetMigMode(handle)
    return current != pending


def nvml_create_gpu_instance(nvml, address, profile, start):
    """Create a GPU instance of ``profile`` at slice ``start``; its id."""
    address = validate_pci_address(address)
    validate_mig_profile(profile)
    validate_small_int(start, 'start', 7)
    what = 'create MIG %s at slice %d on %s' % (profile, start, address)
    with _nvml_session(nvml, what):
        handle = _handle(nvml, address)
        # NOTE: the profile and its placements as this GPU's NVML lists
        # them, never the catalog's: names and ids differ between boards
        # and driver builds.
        info = _nvml_profile_named(nvml, handle, address, profile)
        starts = _possible_starts(nvml, handle, info.id)
        if start not in starts:
            raise InvalidWrite(
                '%s: MIG %s cannot start at memory slice %d: NVML allows '
                'starts %s' % (address, profile, start, ', '.join(
                    str(s) for s in sorted(starts)) or 'none'))
        placement = nvml.c_nvmlGpuInstancePlacement_t()
        placement.start, placement.size = start, starts[start]
        gpu_instance = nvml.nvmlDeviceCreateGpuInstanceWithPlacement(
            handle, info.id, placement)
        return nvml.nvmlGpuInstanceGetInfo(gpu_instance).id


def nvml_destroy_gpu_instance(nvml, address, gpu_instance_id):
    address = validate_pci_address(address)
    validate_small_int(gpu_instance_id, 'gpu_instance_id')
    what = 'destroy GPU instance %d on %s' % (gpu_instance_id, address)
    with _nvml_session(nvml, what):
        handle = _handle(nvml, address)
        nvml.nvmlGpuInstanceDestroy(
            nvml.nvmlDeviceGetGpuInstanceById(handle, gpu_instance_id))


def nvml_create_compute_instance(nvml, address, gpu_instance_id,
                                 profile=None):
    """Create the compute instance that fills a GPU instance; its id.

    ``profile`` (a GPU-instance profile name such as ``2g.10gb``), when
    given, must be the GPU instance's own profile.
    """
    address = validate_pci_address(address)
    validate_small_int(gpu_instance_id, 'gpu_instance_id')
    if profile is not None:
        validate_mig_profile(profile)
    what = 'create a compute instance in GPU instance %d on %s' % (
        gpu_instance_id, address)
    with _nvml_session(nvml, what):
        handle = _handle(nvml, address)
        gpu_model = _gpu_model(nvml, handle, address)
        gpu_instance = nvml.nvmlDeviceGetGpuInstanceById(handle,
                                                         gpu_instance_id)
        profile_id = nvml.nvmlGpuInstanceGetInfo(gpu_instance).profileId
        own = [p for p in gpu_model.mig_profiles
               if nvml.nvmlDeviceGetGpuInstanceProfileInfo(
                   handle, p.nvml_id).id == profile_id]
        if not own or (profile is not None and own[0].name != profile):
            raise InvalidWrite('%s: GPU instance %d is not a %s instance'
                               % (address, gpu_instance_id, profile))
        ci_profile = CI_PROFILE_BY_SLICES[own[0].compute_slices]
        compute_instance = nvml.nvmlGpuInstanceCreateComputeInstance(
            gpu_instance, ci_profile)
        return nvml.nvmlComputeInstanceGetInfo(compute_instance).id


def nvml_destroy_compute_instance(nvml, address, gpu_instance_id,
                                  compute_instance_id):
    address = validate_pci_address(address)
    validate_small_int(gpu_instance_id, 'gpu_instance_id')
    validate_small_int(compute_instance_id, 'compute_instance_id')
    what = 'destroy compute instance %d of GPU instance %d on %s' % (
        compute_instance_id, gpu_instance_id, address)
    with _nvml_session(nvml, what):
        handle = _handle(nvml, address)
        gpu_instance = nvml.nvmlDeviceGetGpuInstanceById(handle,
                                                         gpu_instance_id)
        nvml.nvmlComputeInstanceDestroy(
            nvml.nvmlGpuInstanceGetComputeInstanceById(
                gpu_instance, compute_instance_id))


class HardwareWriter(abc.ABC):
    """What the layout engine and the device manager may change.

    Paths are sysfs paths as on a real host (``/sys/bus/pci/...``); the
    writer maps them under its own root. Every method raises
    ``gpuvirt_nova.exception.GpuvirtError`` (or a subclass) with a
    one-line reason when the hardware refuses.
    """

    @abc.abstractmethod
    def write_sysfs(self, path, value):
        """Write ``value`` (str) to the sysfs attribute ``path``."""

    @abc.abstractmethod
    def set_mig_mode(self, address, enabled):
        """Set MIG mode; return True when a GPU reset is still needed."""

    @abc.abstractmethod
    def reset_gpu(self, address):
        """Reset the GPU so a pending MIG mode takes effect (Ampere)."""

    @abc.abstractmethod
    def create_gpu_instance(self, address, profile, start):
        """Create a GPU instance of MIG ``profile`` at slice ``start``.

        Returns the new GPU instance id.
        """

    @abc.abstractmethod
    def destroy_gpu_instance(self, address, gpu_instance_id):
        """Destroy a GPU instance (and fail if compute instances remain)."""

    @abc.abstractmethod
    def create_compute_instance(self, address, gpu_instance_id, profile):
        """Create a compute instance filling the GPU instance; return id."""

    @abc.abstractmethod
    def destroy_compute_instance(self, address, gpu_instance_id,
                                 compute_instance_id):
        """Destroy one compute instance."""

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

"""Privileged entrypoints: the only code that writes to /sys or sets MIG.

Two oslo.privsep daemons, each with the least it needs, so that a flaw in
one kind of change cannot borrow the other's power:

- :data:`sysfs_pctxt` writes the allowed sysfs attributes (VFs, vGPU
  types, mdevs): root-owned files, so CAP_DAC_OVERRIDE and nothing else;
- :data:`nvml_pctxt` makes the NVML MIG changes and resets GPUs, which
  NVIDIA's driver allows only with CAP_SYS_ADMIN, and nothing else.

Each entrypoint checks its arguments again with the pure
``writers.validate_*`` functions before acting: a daemon trusts no caller.
Operators configure each daemon in its own section, as oslo.privsep
expects (``helper_command``, ``user``, ``group``...):
``[privsep_gpuvirt_sysfs]`` and ``[privsep_gpuvirt_nvml]``. The sudoers
rule that lets a ``nova`` user start them (and nothing else) is
``etc/sudoers.d/gpuvirt-nova``.

:class:`PrivsepWriter` is the production
:class:`~gpuvirt_nova.hardware.writers.HardwareWriter`; it validates on the
caller's side too, so a bad argument fails before the daemon starts.
"""

import os

from oslo_concurrency import processutils
from oslo_log import log as logging
from oslo_privsep import capabilities
from oslo_privsep import priv_context

from gpuvirt_nova.conf import privsep as privsep_conf
from gpuvirt_nova.hardware import writers

LOG = logging.getLogger(__name__)

#: What the sysfs daemon keeps: writing root-owned sysfs files.
SYSFS_CAPABILITIES = (capabilities.CAP_DAC_OVERRIDE,)
#: What the NVML daemon keeps: MIG changes and GPU reset.
NVML_CAPABILITIES = (capabilities.CAP_SYS_ADMIN,)

sysfs_pctxt = priv_context.PrivContext(
    'gpuvirt_nova',
    cfg_section=privsep_conf.SYSFS_GROUP.name,
    pypath=__name__ + '.sysfs_pctxt',
    capabilities=list(SYSFS_CAPABILITIES),
)

nvml_pctxt = priv_context.PrivContext(
    'gpuvirt_nova',
    cfg_section=privsep_conf.NVML_GROUP.name,
    pypath=__name__ + '.nvml_pctxt',
    capabilities=list(NVML_CAPABILITIES),
)


def _pynvml():
    import pynvml
    return pynvml


def _write_file(path, value):
    """Write one sysfs attribute; OSError -> HardwareRefused.

    Only an existing regular file is opened: a sysfs attribute always
    exists, so nothing is ever created, and a link is not followed.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, 'w') as f:
            f.write(value)
    except OSError as exc:
        raise writers.HardwareRefused(
            'write %s to %s failed: [Errno %s] %s'
            % (value, path, exc.errno, exc.strerror), exc.errno)


def checked_write(path, value, sysfs_root='/'):
    """Validate a sysfs write (form and NVIDIA device), then write it.

    ``sysfs_root`` is ``/`` in the daemon; tests point it at a simulated
    host's tree to see what is refused.
    """
    request = writers.validate_device_write(path, value, sysfs_root)
    target = os.path.join(sysfs_root, request.path.lstrip('/'))
    LOG.debug('Writing %s to %s', request.value, target)
    _write_file(target, request.value)


@sysfs_pctxt.entrypoint
def write_sysfs(path, value):
    checked_write(path, value)


@nvml_pctxt.entrypoint
def set_mig_mode(address, enabled):
    return writers.nvml_set_mig_mode(_pynvml(), address, bool(enabled))


@nvml_pctxt.entrypoint
def reset_gpu(address):
    address = writers.validate_pci_address(address)
    try:
        processutils.execute('nvidia-smi', '--gpu-reset', '-i', address)
    except (OSError, processutils.ProcessExecutionError) as exc:
        raise writers.HardwareRefused('reset %s failed: %s' % (
            address, str(exc).strip().splitlines()[0] if str(exc) else exc))


@nvml_pctxt.entrypoint
def create_gpu_instance(address, profile, start):
    return writers.nvml_create_gpu_instance(_pynvml(), address, profile,
                                            start)


@nvml_pctxt.entrypoint
def destroy_gpu_instance(address, gpu_instance_id):
    writers.nvml_destroy_gpu_instance(_pynvml(), address, gpu_instance_id)


@nvml_pctxt.entrypoint
def create_compute_instance(address, gpu_instance_id, profile=None):
    return writers.nvml_create_compute_instance(_pynvml(), address,
                                                gpu_instance_id, profile)


@nvml_pctxt.entrypoint
def destroy_compute_instance(address, gpu_instance_id, compute_instance_id):
    writers.nvml_destroy_compute_instance(
        _pynvml(), address, gpu_instance_id, compute_instance_id)


class PrivsepWriter(writers.HardwareWriter):
    """The production writer: checks here, acts in the privsep daemon."""

    def write_sysfs(self, path, value):
        # NOTE: the form is checked here; whose device it is, in the
        # daemon (checked_write), which trusts no caller.
        request = writers.validate_sysfs_write(path, value)
        write_sysfs(request.path, request.value)

    def set_mig_mode(self, address, enabled):
        return set_mig_mode(writers.validate_pci_address(address),
                            bool(enabled))

    def reset_gpu(self, address):
        reset_gpu(writers.validate_pci_address(address))

    def create_gpu_instance(self, address, profile, start):
        writers.validate_mig_profile(profile)
        writers.validate_small_int(start, 'start', 7)
        return create_gpu_instance(writers.validate_pci_address(address),
                                   profile, start)

    def destroy_gpu_instance(self, address, gpu_instance_id):
        writers.validate_small_int(gpu_instance_id, 'gpu_instance_id')
        destroy_gpu_instance(writers.validate_pci_address(address),
                             gpu_instance_id)

    def create_compute_instance(self, address, gpu_instance_id,
                                profile=None):
        writers.validate_small_int(gpu_instance_id, 'gpu_instance_id')
        if profile is not None:
            writers.validate_mig_profile(profile)
        return create_compute_instance(
            writers.validate_pci_address(address), gpu_instance_id, profile)

    def destroy_compute_instance(self, address, gpu_instance_id,
                                 compute_instance_id):
        writers.validate_small_int(gpu_instance_id, 'gpu_instance_id')
        writers.validate_small_int(compute_instance_id,
                                   'compute_instance_id')
        destroy_compute_instance(writers.validate_pci_address(address),
                                 gpu_instance_id, compute_instance_id)

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

How every daemon of a ``gpuvirt-nova-compute`` starts (Nova's own
``[privsep]`` one included) is decided by :func:`helper_prefix`: as root,
``privsep-helper`` runs directly, with no ``sudo`` (absent from many
containers); otherwise as Nova asks (``sudo nova-rootwrap ...``).
"""

import collections
import os
import shutil
import sys

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


#: The command put before ``privsep-helper``, and why (for the log).
#: ``usable`` is False when the command cannot work here.
HelperChoice = collections.namedtuple('HelperChoice',
                                      ['command', 'reason', 'usable'])


def helper_prefix(euid, requested, helper_dir, path, sudo_found):
    """What starts a privsep daemon as root: a pure decision.

    ``requested``: the prefix nova-compute asks for (``sudo nova-rootwrap
    /etc/nova/rootwrap.conf``, or ``sudo``); ``helper_dir``: where the
    running Python's scripts are (``privsep-helper`` among them); ``path``:
    ``$PATH``. Running as root, sudo and rootwrap add nothing (root may do
    what they would allow), so the helper runs directly: ``env
    PATH=<helper_dir>:$PATH privsep-helper ...`` (oslo.privsep ignores an
    empty prefix, and a virtualenv's ``bin`` is seldom on root's PATH).
    Otherwise the request stands, with a reason naming the fix when
    ``sudo`` is missing. A section's own ``helper_command`` still wins
    over either (oslo.privsep).
    """
    requested = list(requested or ['sudo'])
    if euid == 0:
        dirs = [helper_dir] + [d for d in path.split(os.pathsep)
                               if d and d != helper_dir]
        return HelperChoice(['env', 'PATH=' + os.pathsep.join(dirs)],
                            'running as root: privsep-helper starts '
                            'directly, without sudo or rootwrap', True)
    if requested[0] == 'sudo' and not sudo_found:
        return HelperChoice(requested, (
            'no sudo on PATH: privileged helpers cannot start; run '
            'nova-compute as root, install sudo with '
            'etc/sudoers.d/gpuvirt-nova, or set helper_command in each '
            'privsep section'), False)
    return HelperChoice(requested, 'as requested', True)


def choose_root_helper_at_init():
    """Apply :func:`helper_prefix` to what the service asks ``init`` for.

    nova-compute calls ``priv_context.init(root_helper=...)`` once it has
    read its configuration, before any daemon starts; this wraps that
    call (idempotent), so every context of the process gets the choice.
    """
    original = priv_context.init
    if getattr(original, 'gpuvirt_root_helper', False):
        return

    def init(root_helper=None):
        choice = helper_prefix(
            os.geteuid(), root_helper, os.path.dirname(sys.executable),
            os.environ.get('PATH', os.defpath),
            shutil.which('sudo') is not None)
        (LOG.info if choice.usable else LOG.warning)(
            'privsep helpers start with "%s": %s',
            ' '.join(choice.command), choice.reason)
        return original(root_helper=choice.command)

    init.gpuvirt_root_helper = True
    priv_context.init = init


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

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

"""Options of the two privileged helpers: ``[privsep_gpuvirt_sysfs]``,
``[privsep_gpuvirt_nvml]``.

These are oslo.privsep's own options (``helper_command``, ``user``,
``group``, ``capabilities``, ...), one section per daemon as oslo.privsep
expects: one daemon writes sysfs with CAP_DAC_OVERRIDE only, the other
changes MIG through NVML with CAP_SYS_ADMIN only
(``gpuvirt_nova.privsep``). Each privsep context registers its section
itself when that module is imported; here they are named (privsep.py
takes the names from here) and listed for the sample configuration, so
that reading the configuration does not load oslo.privsep (and eventlet)
in every command.
"""

from oslo_config import cfg

SYSFS_GROUP = cfg.OptGroup(
    'privsep_gpuvirt_sysfs',
    title='gpuvirt-nova sysfs writer daemon',
    help='The oslo.privsep daemon that writes sriov_numvfs, '
         'nvidia/current_vgpu_type and mdev create/remove files. It keeps '
         'only CAP_DAC_OVERRIDE.')

NVML_GROUP = cfg.OptGroup(
    'privsep_gpuvirt_nvml',
    title='gpuvirt-nova NVML daemon',
    help='The oslo.privsep daemon that changes MIG mode, GPU and compute '
         'instances through NVML and resets GPUs. It keeps only '
         'CAP_SYS_ADMIN.')

#: Both sections, in the order the sample lists them.
GROUPS = (SYSFS_GROUP, NVML_GROUP)

#: Empty here: oslo.privsep owns and registers the options (list_opts).
OPTS = []


def register_opts(conf):
    """Nothing to do: gpuvirt_nova.privsep registers the sections."""


def list_opts():
    from oslo_privsep import priv_context
    return {group: priv_context.OPTS for group in GROUPS}

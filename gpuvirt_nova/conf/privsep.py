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

"""Options of the privileged helper, section ``[gpuvirt_privsep]``.

These are oslo.privsep's own options (``helper_command``, ``user``,
``group``, ``capabilities``, ...) for the daemon that performs every
sysfs write and NVML MIG change (``gpuvirt_nova.privsep``). The privsep
context registers them itself when that module is imported; here they
are only listed for the sample configuration, so that reading the
configuration does not load oslo.privsep (and eventlet) in every command.
"""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'gpuvirt_privsep',
    title='gpuvirt-nova privileged helper',
    help='The oslo.privsep daemon that writes sriov_numvfs, '
         'nvidia/current_vgpu_type and mdev create/remove files and changes '
         'MIG through NVML. It keeps only CAP_SYS_ADMIN and '
         'CAP_DAC_OVERRIDE.')

#: Empty here: oslo.privsep owns and registers the options (list_opts).
OPTS = []


def register_opts(conf):
    """Nothing to do: gpuvirt_nova.privsep registers the section."""


def list_opts():
    from oslo_privsep import priv_context
    return {GROUP: priv_context.OPTS}

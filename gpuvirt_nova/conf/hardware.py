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

"""Options for reading the GPU hardware (discovery)."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'gpuvirt',
    title='gpuvirt-nova options',
    help='NVIDIA vGPU and MIG management for Nova. Read by nova-compute '
         'from nova.conf and by the gpuvirt-nova command.')

OPTS = [
    cfg.StrOpt('sysfs_root',
               default='/',
               help='Directory under which sysfs is read and written. '
                    'Only tests and the simulator change it; on a real host '
                    'leave it at "/".'),
    cfg.BoolOpt('use_nvml',
                default=True,
                help='Read GPU facts (UUID, memory, MIG state, driver '
                     'version) through NVML. When NVML is missing, '
                     'discovery falls back to sysfs only and warns.'),
    cfg.StrOpt('simulate',
               help='Simulated host spec, for example '
                    '"2xA100-PCIE-40GB:mig". When set, every hardware read '
                    'and write goes to the built-in simulator instead of '
                    'the real GPUs. For demos and tests only.'),
    cfg.StrOpt('state_dir',
               default='/var/lib/gpuvirt-nova',
               help='Directory for local state: the embedded Placement '
                    'database and simulated hosts.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}

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

"""Options of the Nova driver extension (nova-compute reads them)."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'gpuvirt',
    title='gpuvirt-nova options',
    help='NVIDIA vGPU and MIG management for Nova. Read by nova-compute '
         'from nova.conf and by the gpuvirt-nova command.')

OPTS = [
    cfg.BoolOpt('undefine_unused_mdevs',
                default=True,
                deprecated_for_removal=True,
                deprecated_reason='nova-compute no longer creates or '
                                  'removes mediated devices: the carve '
                                  'has one writer, "gpuvirt-nova layout '
                                  'apply", which removes the mdevs a '
                                  'layout no longer asks for (after a '
                                  'drain). This option has no effect.',
                help='Has no effect (see the deprecation).'),
    cfg.StrOpt('hardware_hostname',
               help='Name of this host in the [gpuvirt] simulate spec and '
                    'under [gpuvirt] state_dir when simulating. Default: '
                    'the hypervisor hostname libvirt reports. Real hosts '
                    'never need it.'),
    cfg.IntOpt('live_migration_claim_timeout',
               default=1800,
               min=60,
               help='Seconds after which vGPU devices claimed on this host '
                    'for an incoming live migration are released when the '
                    'guest never arrived (the conductor gave up after the '
                    'destination check). Checked by the periodic provider '
                    'update.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}

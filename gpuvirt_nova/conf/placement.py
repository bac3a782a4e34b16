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

"""Options of the Placement side: where Placement is, what GPUs offer."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'gpuvirt_placement',
    title='gpuvirt-nova Placement options',
    help='How gpuvirt-nova reports GPUs to Placement and where the '
         'standalone commands find Placement.')

OPTS = [
    cfg.StrOpt('placement_url',
               help='Placement endpoint for the standalone commands '
                    '(placement sync/show/audit, demo), for example '
                    'http://127.0.0.1:8778. Requests carry the token '
                    '"admin" (Placement with auth_strategy = noauth2). '
                    'When neither this nor "cloud" is set, the commands '
                    'use an embedded Placement on SQLite under '
                    '[gpuvirt] state_dir.'),
    cfg.StrOpt('cloud',
               help='Name of a cloud in clouds.yaml (openstacksdk) whose '
                    'Placement and Compute endpoints the standalone '
                    'commands use. Overrides the embedded Placement.'),
    cfg.StrOpt('compute_node',
               help='Name of this host\'s compute node resource provider '
                    '(the hypervisor hostname Nova reports). Default: the '
                    'discovered host name.'),
    cfg.IntOpt('conflict_retries',
               default=5, min=0,
               help='How many times a sync re-reads a provider and retries '
                    'after Placement answers 409 (generation conflict).'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}

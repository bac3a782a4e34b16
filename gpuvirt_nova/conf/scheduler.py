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

"""Options of the Nova scheduler plugins (``[gpuvirt_scheduler]``).

Read by nova-scheduler from nova.conf when the gpuvirt-nova filters and
weigher are enabled in ``[filter_scheduler]``. The layout file's
``scheduler:`` block (``[gpuvirt_layout] file``) supplies the defaults of
``weigher_policy``, ``fair_share`` and ``max_jobs_per_user``; a value set
in nova.conf wins (see :mod:`gpuvirt_nova.scheduler.layout_options`).
"""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'gpuvirt_scheduler',
    title='gpuvirt-nova scheduler options',
    help='GPU-level placement, packing, per-user limits and fair share '
         'for vGPU requests (filters and weigher in '
         'gpuvirt_nova.scheduler).')

OPTS = [
    cfg.StrOpt('weigher_policy',
               default='pack',
               choices=[('pack', 'prefer hosts whose GPUs are already in '
                                 'use, keeping whole GPUs free for large '
                                 'requests'),
                        ('spread', 'prefer the least used hosts')],
               help='What GpuPackingWeigher prefers. Unless set here, '
                    'the layout file\'s scheduler.policy sets it (see '
                    'fair_share).'),
    cfg.FloatOpt('packing_weight_multiplier',
                 default=1.0,
                 help='Multiplier of GpuPackingWeigher. A negative value '
                      'inverts the policy.'),
    cfg.IntOpt('max_jobs_per_user',
               default=0,
               min=0,
               help='Most vGPUs one user may hold at once, counted from '
                    'Placement usages of CUSTOM_VGPU_* classes by user '
                    'and project (a server with two vGPUs counts two). '
                    '0 disables VGPUUserLimitFilter. Unless set here, '
                    'the layout file\'s scheduler.max_jobs_per_user '
                    'applies.'),
    cfg.BoolOpt('fair_share',
                default=True,
                help='Whether VGPUFairShareFilter (when enabled in '
                     '[filter_scheduler] enabled_filters) refuses projects '
                     'over their share. False lets every request through '
                     'it. The layout file\'s scheduler.policy sets this '
                     'and weigher_policy unless they are set here: '
                     'fair-share means fair_share = true and '
                     'weigher_policy = pack; pack or spread mean '
                     'fair_share = false and that weigher_policy.'),
    cfg.FloatOpt('fair_share_threshold',
                 default=0.8,
                 min=0.0,
                 max=1.0,
                 help='Cluster vGPU utilization (share of GPU capacity in '
                      'use) above which VGPUFairShareFilter refuses '
                      'requests of projects already over their share.'),
    cfg.DictOpt('project_weights',
                default={},
                help='Fair-share weight of each project, as '
                     'project_id:weight pairs. A project not listed '
                     'weighs default_project_weight. A project\'s share '
                     'is its weight over the sum of the listed weights '
                     'and its own.'),
    cfg.FloatOpt('default_project_weight',
                 default=1.0,
                 min=0.0,
                 help='Fair-share weight of a project not listed in '
                      'project_weights.'),
    cfg.DictOpt('typical_requests',
                default={},
                help='Typical vGPU request mix used by the fragmentation '
                     'score, as RESOURCE_CLASS:weight pairs (for example '
                     'CUSTOM_VGPU_A100_1_5C:3,CUSTOM_VGPU_A100_3_20C:1). '
                     'A class whose flavors require GPU traits is '
                     'written RESOURCE_CLASS@TRAIT (several traits '
                     'joined by +), for example '
                     'CUSTOM_VGPU_A100_3_20C@CUSTOM_GPU_A100_SXM4_40GB:1: '
                     'it only counts on GPUs with those traits. '
                     'Append /VCPUS to give the vCPUs one request of the '
                     'class takes, for example '
                     'CUSTOM_VGPU_A100_1_5C/8:3: on a host with fewer '
                     'vCPUs left its GPU share counts as fragment, so '
                     'GPUs are not stranded by a host whose vCPUs run '
                     'out first. Append *GPUS for a request of that '
                     'many vGPUs of the class, each on its own GPU '
                     '(CUSTOM_VGPU_A100_7_40C/16*2:1): it counts as '
                     'hostable only where that many GPUs can host it. '
                     'The same class may be listed with several vCPU '
                     'or GPU counts. Without /VCPUS a class is counted '
                     'as needing no vCPU, and the packing term is the '
                     'GPU share alone when no class names vCPUs. '
                     'Weights are taken as written; a class that does '
                     'not parse is left out, with one error in the '
                     'scheduler\'s log naming it. '
                     'Empty: learned from the latest vGPU requests this '
                     'scheduler process has seen, each class named whole '
                     'from its flavor (see recent_requests_window); '
                     'until recent_requests_minimum were seen, or with '
                     'recent_requests_window = 0, from the vGPUs in use '
                     'in the providers Placement returned for the '
                     'request (as unconstrained classes without vCPUs) '
                     'and the request\'s own flavor (with its required '
                     'CUSTOM_GPU_* traits).'),
    cfg.IntOpt('recent_requests_window',
               default=1000,
               min=0,
               help='With typical_requests empty, the weigher learns its '
                    'typical mix from this many of the latest vGPU '
                    'requests this scheduler process has seen: one class '
                    'per kind of request (vGPU type, required '
                    'CUSTOM_GPU_* traits, vCPUs, and the number of '
                    'request groups asking the type, each on its own '
                    'GPU), weighted by '
                    'count, the most common covering 95% of them, as '
                    '"gpuvirt-nova flavor typical-requests" writes it '
                    'from the servers. 0: learn from Placement usage '
                    'only (no vCPUs). Each scheduler process learns '
                    'alone and starts empty after a restart; a move '
                    '(resize, migration) counts as a request. A '
                    'typical_requests whose classes all fail to parse '
                    'counts as empty.'),
    cfg.IntOpt('recent_requests_minimum',
               default=100,
               min=1,
               help='Requests a scheduler process must have seen before '
                    'the mix learned from them replaces the one learned '
                    'from Placement usage (see recent_requests_window; '
                    'at most the window).'),
    cfg.BoolOpt('weigh_cpu_only_requests',
                default=True,
                help='Whether VGPUPlacementFilter and GpuPackingWeigher '
                     'also score requests that ask no GPU (pack policy): '
                     'a host whose vCPUs such a server would take below '
                     'what the typical vGPU requests need strands its '
                     'idle GPUs and weighs less, and equal GPU hosts are '
                     'packed as for vGPU requests, as the benchmark\'s '
                     'policy places CPU-only pods. Hosts without GPUs '
                     'strand none and all weigh the most (Nova\'s other '
                     'weighers choose among them); hosts with dynamic '
                     'GPUs, which the scorer does not model, weigh the '
                     'least. Where no host of the request has GPUs '
                     'nothing is scored. False: such requests weigh 0 on '
                     'every host, and Nova\'s other weighers alone place '
                     'them.'),
    cfg.IntOpt('cluster_usage_cache_seconds',
               default=10,
               min=0,
               help='How long VGPUFairShareFilter reuses the number of '
                    'managed GPU providers (one GET /resource_providers'
                    '?required=CUSTOM_GPUVIRT_MANAGED) across requests. '
                    'The GPUs\' usage comes from the request\'s own '
                    'allocation candidates; a managed GPU absent from '
                    'them counts as used.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}

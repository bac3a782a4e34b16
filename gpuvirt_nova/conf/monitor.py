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

"""Options of the GPU monitor (``gpuvirt-nova monitor``) and the fence."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'gpuvirt_monitor',
    title='gpuvirt-nova GPU monitor options',
    help='GPU telemetry, alert rules, notifications and the Prometheus '
         'endpoint of "gpuvirt-nova monitor"; the fencing of unhealthy '
         'GPUs is done by nova-compute (GpuvirtLibvirtDriver).')

OPTS = [
    cfg.IntOpt('interval', default=15, min=1,
               help='Seconds between two samples of every GPU.'),
    cfg.IntOpt('rediscover_every', default=20, min=1,
               help='Rediscover the host\'s GPUs and carve (sysfs) every '
                    'this many samples; NVML is read every sample.'),
    cfg.StrOpt('libvirt_uri', default='qemu:///system',
               help='libvirt to read domains from (read-only) to attribute '
                    'each vGPU to its Nova instance and project. Empty: '
                    'no attribution.'),
    cfg.BoolOpt('prometheus_enabled', default=True,
                help='Serve the metrics for Prometheus (dcgm-exporter '
                     'names and labels).'),
    cfg.HostAddressOpt('prometheus_host', default='127.0.0.1',
                       help='Address the Prometheus endpoint binds to. '
                            'Localhost unless you set it: the labels name '
                            'instances and projects.'),
    cfg.PortOpt('prometheus_port', default=9835,
                help='Port of the Prometheus endpoint (dcgm-exporter uses '
                     '9400; ours differs so both can run).'),
    cfg.BoolOpt('notifications_enabled', default=True,
                help='Send gpuvirt.gpu.metrics and gpuvirt.gpu.alert '
                     'versioned notifications through oslo.messaging '
                     '([oslo_messaging_notifications] transport_url and '
                     'topics).'),
    cfg.IntOpt('metrics_notification_every', default=4, min=0,
               help='Send gpuvirt.gpu.metrics every this many samples '
                    '(0: never); alerts are sent when they change.'),
    cfg.IntOpt('notification_queue_size', default=100, min=1,
               help='Notifications waiting for the broker; beyond this '
                    'they are dropped and counted '
                    '(gpuvirt_notifications_lost_total), so a stopped '
                    'broker never slows sampling.'),
    cfg.StrOpt('history_file',
               help='File the monitor appends each round\'s GPU '
                    'utilization to, for the utilization-over-time chart of '
                    '"gpuvirt-nova report --plot". Default: '
                    'monitor/history.jsonl under [gpuvirt] state_dir.'),
    cfg.IntOpt('history_keep', default=5760, min=0,
               help='Rounds the history file keeps (5760: a day at the '
                    'default interval); 0 writes no history.'),
    cfg.FloatOpt('fb_used_percent', default=95.0, min=0, max=100,
                 help='Alert when a GPU or vGPU framebuffer is fuller than '
                      'this (memory overflow).'),
    cfg.FloatOpt('gpu_util_percent', default=98.0, min=0, max=100,
                 help='Alert when a GPU is busier than this (compute '
                      'overload).'),
    cfg.FloatOpt('temperature_c', default=85.0,
                 help='Alert when a GPU is hotter than this (Celsius).'),
    cfg.FloatOpt('power_percent', default=98.0, min=0,
                 help='Alert when a GPU draws more than this share of its '
                      'enforced power limit.'),
    cfg.FloatOpt('hysteresis_percent', default=5.0, min=0,
                 help='A threshold alert clears only this far below its '
                      'threshold (same unit), so it does not flap.'),
    cfg.IntOpt('raise_after_samples', default=3, min=1,
               help='Consecutive samples over a threshold before its alert '
                    'is raised.'),
    cfg.IntOpt('clear_after_samples', default=3, min=1,
               help='Consecutive samples back under the clear level before '
                    'an alert clears.'),
    cfg.BoolOpt('fence_unhealthy_gpus', default=True,
                help='nova-compute reserves the whole inventory of a GPU '
                     'NVML reports lost, with uncorrected ECC errors, with '
                     'a critical XID error (fence_xids), or cannot read '
                     '(timeout or another NVML error on that GPU), '
                     'and marks it CUSTOM_GPUVIRT_UNHEALTHY_<REASON>; '
                     'guests on it are never touched.'),
    cfg.ListOpt('fence_xids',
                item_type=cfg.types.Integer(min=0),
                default=[48, 62, 64, 74, 79, 95, 119, 120, 140],
                help='XID errors that fence a GPU when NVML reports one '
                     '(nova-compute watches for them between two provider '
                     'updates): 48 double-bit ECC, 62 internal '
                     'micro-controller halt, 64 ECC page retirement or '
                     'row remapping failure, 74 NVLink error, 79 fallen '
                     'off the bus, 95 uncontained ECC error, 119/120 GSP '
                     'timeout/error, 140 unrecovered ECC error. Empty: '
                     'XIDs never fence.'),
    cfg.IntOpt('fence_release_after', default=300, min=0,
               help='Seconds a fenced GPU must be healthy, without a '
                    'break, before it is offered again.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}

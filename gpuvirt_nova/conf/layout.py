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

"""Options of the declarative GPU layout (``gpuvirt-nova layout ...``)."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'gpuvirt_layout',
    title='GPU layout options',
    help='The declarative GPU layout: which file describes the cluster, '
         'and how apply drains GPUs and restores them at boot.')

OPTS = [
    cfg.StrOpt('file',
               default='/etc/gpuvirt-nova/layout.yaml',
               help='Layout file used when a layout command is given no '
                    'file, and by "layout apply --boot".'),
    cfg.DictOpt('default_vgpu_types',
                default={},
                deprecated_opts=[cfg.DeprecatedOpt(
                    'default_vgpu_types', group='gpuvirt_placement')],
                help='vGPU type "layout apply" carves on each GPU of a '
                     'model that no layout entry selects (or on every GPU '
                     'when there is no layout file), as model:type pairs, '
                     'for example "A100-PCIE-40GB:A100-2-10C,'
                     'H100-SXM5-80GB:H100-1-10C": the most of that type '
                     'the GPU can hold. Placement is told what the GPUs '
                     'are carved into, so nothing is offered until the '
                     'carve is applied.'),
    cfg.StrOpt('select',
               help='Named layout (gpu_cluster.layouts) this host uses '
                    'instead of the one its node entry names.'),
    cfg.IntOpt('drain_timeout',
               default=600, min=0,
               help='Seconds "layout apply --drain" waits for the '
                    'instances on a GPU to leave before giving up on it.'),
    cfg.IntOpt('drain_interval',
               default=5, min=1,
               help='Seconds between two checks of a draining GPU.'),
    cfg.IntOpt('boot_driver_timeout',
               default=300, min=0,
               help='Seconds "layout apply --boot" waits for the NVIDIA '
                    'driver to show every GPU before applying.'),
    cfg.StrOpt('lock_path',
               help='Directory of the per-host lock that lets one "layout '
                    'apply" run at a time (default: <[gpuvirt] '
                    'state_dir>/locks). Must be local to the host.'),
    cfg.IntOpt('lock_timeout',
               default=600, min=0,
               help='Seconds "layout apply" waits for another apply on the '
                    'same host to finish before giving up (exit 1); '
                    '--no-wait gives up at once.'),
    cfg.BoolOpt('create_compute_instances',
                default=True,
                help='Create one compute instance filling each MIG GPU '
                     'instance. Turn off when guests create their own '
                     'compute instances.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}

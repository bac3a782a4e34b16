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

"""``gpuvirt-nova sim create|show|reboot``: simulated hosts by hand.

For trying the tools without GPUs: build a host in a directory, point
``discover --sysfs-root``/``layout apply`` at it, look at what changed, and
reboot it to see what a real reboot would undo.
"""

from gpuvirt_nova.cmd import common
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.sim import host as sim_host
from gpuvirt_nova.sim import spec as sim_spec

_SUMMARY = ('Hostname', 'Directory', 'Driver version', 'GPUs', 'Boot')


def summary(host):
    state = host.store.load()
    gpus = ['%s %s:%s' % (g['address'], g['model'], g['mode'])
            for g in state['spec']['gpus']]
    return _SUMMARY, (state['spec']['hostname'], host.root,
                      state['spec']['driver_version'], gpus, state['boot'])


def _mig(gpu_model, gpu):
    if not gpu_model.mig_capable:
        return '-'
    if gpu['mig_current'] != gpu['mig_pending']:
        return 'pending %s' % ('on' if gpu['mig_pending'] else 'off')
    return 'on' if gpu['mig_current'] else 'off'


def _gpu_instances(gpu_model, gpu):
    names = {p.nvml_id: p.name for p in gpu_model.mig_profiles}
    return ', '.join(
        '%s:%s@%d' % (gi_id, names.get(gi['profile_index'], '?'),
                      gi['start'])
        for gi_id, gi in sorted(gpu['gpu_instances'].items(),
                                key=lambda item: int(item[0]))) or '-'


def _vgpus(gpu_model, gpu):
    ids = [vf['current_vgpu_type'] for vf in gpu['vfs']
           if vf['current_vgpu_type']]
    ids += [m['type_id'] for m in gpu['mdevs'].values()]
    names = []
    for type_id in ids:
        vgpu_type = gpu_model.vgpu_type_by_id(type_id)
        names.append(vgpu_type.name if vgpu_type else str(type_id))
    return ', '.join(sorted(names)) or '-'


class CreateSim(common.ShowOne):
    """Build a simulated host (sysfs tree and NVML state) in a directory."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('directory', help='where to build the host')
        parser.add_argument(
            'spec', help='host spec, for example 2xA100-PCIE-40GB:mig or '
                         '4xT4:mdev@node01 (modes: %s), or a YAML file'
                         % ', '.join(sim_spec.MODES))
        parser.add_argument('--replace', action='store_true',
                            help='replace a host already in the directory')
        return parser

    def take_action(self, parsed_args):
        return summary(sim_host.SimulatedHost.create(
            parsed_args.directory, parsed_args.spec,
            replace=parsed_args.replace))


def _add_directory(parser):
    parser.add_argument('directory', help='the simulated host')
    return parser


class ShowSim(common.Lister):
    """List a simulated host's GPUs and what is carved out of them."""

    def get_parser(self, prog_name):
        return _add_directory(super().get_parser(prog_name))

    def take_action(self, parsed_args):
        host = sim_host.SimulatedHost.open(parsed_args.directory)
        state = host.store.load()
        rows = []
        for gpu_spec in state['spec']['gpus']:
            gpu = state['gpus'][gpu_spec['address']]
            gpu_model = catalog.load().get(gpu_spec['model'])
            used = sum(1 for vf in gpu['vfs'] if vf['current_vgpu_type'])
            used += sum(1 for m in gpu['mdevs'].values()
                        if m['parent'] != gpu_spec['address'])
            rows.append((
                gpu_spec['address'], gpu_spec['model'], gpu_spec['mode'],
                gpu_spec['scheduling'], _mig(gpu_model, gpu),
                used, len(gpu['vfs']), gpu['totalvfs'],
                _gpu_instances(gpu_model, gpu), _vgpus(gpu_model, gpu)))
        return (('Address', 'Model', 'Mode', 'Scheduling', 'MIG',
                 'VFs used', 'VFs enabled',
                 'VFs total', 'GPU instances', 'vGPUs'), rows)


class RebootSim(common.ShowOne):
    """Reboot a simulated host: drop what a real reboot drops."""

    def get_parser(self, prog_name):
        return _add_directory(super().get_parser(prog_name))

    def take_action(self, parsed_args):
        host = sim_host.SimulatedHost.open(parsed_args.directory)
        host.reboot()
        return summary(host)

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

"""``gpuvirt-nova discover``: what GPUs this host has, and how they are cut.

The table is for operators (one row per GPU); ``-f json`` and ``-f yaml``
print the whole hardware model plus, for each GPU, what the catalog says it
can offer (MIG profiles with placements, MIG-backed and time-sliced vGPU
types). Warnings go to stderr so that JSON on stdout stays parseable.
"""

import collections
import os

from gpuvirt_nova.cmd import common
from gpuvirt_nova.conf import backends
from gpuvirt_nova import exception
from gpuvirt_nova.hardware import discover

COLUMNS = ('Address', 'Model', 'NUMA', 'vGPU mode', 'MIG', 'GPU instances',
           'VFs used/total', 'Types offered', 'vGPUs in use')


def mig_cell(gpu):
    if not gpu.mig_capable:
        return 'n/a'
    text = 'on' if gpu.mig_current else 'off'
    if gpu.mig_pending != gpu.mig_current:
        text += ' (pending %s)' % ('on' if gpu.mig_pending else 'off')
    return text


def vfs_cell(gpu):
    if not gpu.vfs:
        return '0/%d' % gpu.sriov_totalvfs if gpu.sriov_totalvfs else '-'
    parents = {m.parent for m in gpu.mdevs}
    used = sum(1 for vf in gpu.vfs
               if vf.current_vgpu_type or vf.address in parents)
    return '%d/%d' % (used, len(gpu.vfs))


def _type_names(gpu):
    """{mdev type dir name: type name} for every mdev parent of ``gpu``."""
    names = {}
    for mdev_type in gpu.mdev_types + [t for vf in gpu.vfs
                                       for t in vf.mdev_types]:
        names[mdev_type.mdev_type] = mdev_type.name
    return names


def types_cell(gpu):
    """vGPU types the GPU can still create.

    mdev types on the physical function count their free instances; a
    type offered on VFs is listed once, because each VF can take one vGPU
    and the GPU-wide limit is not in sysfs.
    """
    offered = []
    for mdev_type in gpu.mdev_types:
        if mdev_type.available_instances:
            offered.append('%s (%d free)' % (mdev_type.name,
                                             mdev_type.available_instances))
    names = []
    for vf in gpu.vfs:
        names.extend(t.name for t in vf.mdev_types if t.available_instances)
        names.extend(vf.creatable_types)
    offered.extend(dict.fromkeys(names))
    return offered


def in_use_cell(gpu):
    names = _type_names(gpu)
    used = collections.Counter(vf.current_vgpu_type for vf in gpu.vfs
                               if vf.current_vgpu_type)
    used.update(names.get(m.mdev_type, m.mdev_type) for m in gpu.mdevs)
    return ['%s x%d' % item for item in sorted(used.items())]


def gpu_row(gpu):
    """One table row for an operator (pure)."""
    instances = ['%s@%s' % (gi.profile, gi.placement)
                 for gi in gpu.gpu_instances]
    return (gpu.address, gpu.model, gpu.numa_node,
            gpu.vgpu_mode.value, mig_cell(gpu), instances, vfs_cell(gpu),
            types_cell(gpu), in_use_cell(gpu))


class Discover(common.Lister):
    """List this host's NVIDIA GPUs: VFs, MIG state, vGPU types, mdevs."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            '--sysfs-root', metavar='DIR',
            help='Directory that contains sys/ (default: [gpuvirt] '
                 'sysfs_root, "/"). With --simulate: an empty directory '
                 'to build the simulated host in.')
        common.add_simulate(
            parser, 'built in a throwaway directory unless --sysfs-root '
                    'names an empty one to keep it in')
        parser.add_argument(
            '--no-nvml', action='store_true',
            help='Do not read NVML, only sysfs (also [gpuvirt] use_nvml).')
        return parser

    def take_action(self, parsed_args):
        host = self.discover(parsed_args)
        for warning in host.warnings:
            self.app.stderr.write('warning: %s\n' % warning)
        if not host.gpus:
            self.app.stderr.write('no NVIDIA GPU found\n')
        self.document = discover.host_to_dict(host)
        return COLUMNS, [gpu_row(gpu) for gpu in host.gpus]

    def discover(self, parsed_args):
        conf = self.app.conf
        use_nvml = not parsed_args.no_nvml and conf.gpuvirt.use_nvml
        if parsed_args.simulate:
            return self.discover_simulated(parsed_args.simulate,
                                           parsed_args.sysfs_root, use_nvml)
        if parsed_args.sysfs_root is None and conf.gpuvirt.simulate:
            return backends.discover_from_conf(conf, use_nvml=use_nvml)
        root, option = parsed_args.sysfs_root, '--sysfs-root'
        if root is None:
            root, option = conf.gpuvirt.sysfs_root, '[gpuvirt] sysfs_root'
        discover.check_sysfs_root(root, option)
        return discover.discover(root, discover.AUTO if use_nvml else None)

    @staticmethod
    def discover_simulated(spec, sysfs_root, use_nvml=True):
        """Build ``spec`` and discover it as a real host is discovered.

        The host lives in a throwaway directory, removed afterwards, unless
        ``sysfs_root`` names an empty directory to keep it in.
        """
        if sysfs_root is None:
            return backends.discover_simulated(spec, use_nvml=use_nvml)
        if not os.path.isdir(sysfs_root):
            raise exception.UsageError(
                '--sysfs-root %s: no such directory; create an empty '
                'directory for the simulated host, or leave the option out '
                'to use a temporary one' % sysfs_root)
        if os.listdir(sysfs_root):
            raise exception.UsageError(
                '--sysfs-root %s: not empty; with --simulate give an empty '
                'directory (or leave the option out)' % sysfs_root)
        return discover.discover_host(
            backends.open_or_create_simulated(spec, sysfs_root),
            use_nvml=use_nvml)

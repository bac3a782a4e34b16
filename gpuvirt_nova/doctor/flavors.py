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

"""GPU flavors against this host's NUMA layout: the ``flavor-numa`` check.

A vGPU guest is fast when its CPUs and memory sit on its GPU's NUMA
node. Nova keeps them together only for a pinned guest on one node
(``hw:cpu_policy=dedicated``, ``hw:numa_nodes=1``), and only if the
host has enough dedicated CPUs (``[compute] cpu_dedicated_set``) on a
node that has a GPU. The flavors come from a file an operator exports
(``openstack flavor list --long -f json``); :func:`load` reads it, the
rest is pure.
"""

import json
import re

import yaml

from gpuvirt_nova.doctor import facts as facts_mod
from gpuvirt_nova import exception

Finding = facts_mod.Finding
CHECK = 'flavor-numa'
FLAVORS_HELP = ('openstack flavor list --long -f json > flavors.json '
                '(or a YAML list of {name, vcpus, properties})')
_GPU_RESOURCE = re.compile(r'^resources[0-9_]*:(CUSTOM_VGPU_\w+|VGPU)$')
_PROPERTY = re.compile(r"""([\w:.-]+)='([^']*)'""")


def _specs(value):
    """Extra specs from a dict, or from older clients' ``k='v'`` text."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, str):
        return dict(_PROPERTY.findall(value))
    return {}


def parse(data, source='--flavors'):
    """[Flavor] from ``flavor list --long`` / ``flavor show`` output.

    :raises exception.UsageError: naming ``source`` and what is wrong.
    """
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise exception.UsageError(
            '%s: expected a list of flavors; make it with %s'
            % (source, FLAVORS_HELP))
    flavors = []
    for i, item in enumerate(data):
        keys = {str(k).lower().replace(' ', '_'): v
                for k, v in (item.items() if isinstance(item, dict) else ())}
        if not keys.get('name'):
            raise exception.UsageError(
                '%s: flavor #%d has no name; make the file with %s'
                % (source, i, FLAVORS_HELP))
        vcpus = keys.get('vcpus')
        try:
            vcpus = int(vcpus) if vcpus is not None else None
        except (TypeError, ValueError):
            raise exception.UsageError(
                '%s: flavor %s: VCPUs %r is not a number'
                % (source, keys['name'], vcpus))
        flavors.append(facts_mod.Flavor(
            name=str(keys['name']), vcpus=vcpus,
            specs=_specs(keys.get('properties', keys.get('extra_specs')))))
    return flavors


def load(path):
    """[Flavor] from a JSON or YAML file; UsageError naming ``--flavors``."""
    try:
        with open(path) as stream:
            text = stream.read()
    except OSError as exc:
        raise exception.UsageError('--flavors %s: %s; make it with %s'
                                   % (path, exc.strerror, FLAVORS_HELP))
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise exception.UsageError('--flavors %s: neither JSON nor YAML '
                                       '(%s)' % (path, exc))
    return parse(data, '--flavors %s' % path)


def is_gpu_flavor(flavor):
    return any(_GPU_RESOURCE.match(key) for key in flavor.specs)


def _gpu_node_room(facts, pinned):
    """{NUMA node with a GPU: dedicated CPUs Nova may use there}."""
    nodes = {g.numa_node for g in facts.host.gpus
             if g.numa_node is not None and g.numa_node >= 0} \
        if facts.host else set()
    return {node: len(pinned & facts.node_cpus.get(node, set()))
            for node in sorted(nodes)}


def _check_one(flavor, facts, pinned):
    numa = flavor.specs.get('hw:numa_nodes')
    dedicated = flavor.specs.get('hw:cpu_policy') == 'dedicated'
    said = 'hw:numa_nodes=%s, hw:cpu_policy=%s' % (
        numa or '(unset)', flavor.specs.get('hw:cpu_policy', '(unset)'))
    if numa is not None and numa.strip() != '1':
        return Finding(
            CHECK, facts_mod.WARNING, flavor.name,
            '%s: the guest spans NUMA nodes, but its vGPU is local to one' %
            said, 'set hw:numa_nodes=1 on this GPU flavor')
    if not dedicated:
        return Finding(
            CHECK, facts_mod.INFO, flavor.name,
            '%s: the guest\'s CPUs are not pinned and may run away from its '
            'GPU\'s node' % said,
            'for GPU-local CPUs set hw:cpu_policy=dedicated and '
            'hw:numa_nodes=1 (the host needs [compute] cpu_dedicated_set)')
    if pinned is None:
        return Finding(
            CHECK, facts_mod.WARNING, flavor.name,
            '%s, but this host has no [compute] cpu_dedicated_set: the '
            'flavor never lands here' % said,
            'set [compute] cpu_dedicated_set to CPUs of the GPUs\' NUMA '
            'nodes')
    room = _gpu_node_room(facts, pinned)
    if flavor.vcpus and room and max(room.values()) < flavor.vcpus:
        return Finding(
            CHECK, facts_mod.WARNING, flavor.name,
            '%s and %d vCPUs, but no GPU\'s NUMA node has that many '
            'dedicated CPUs here (%s)' % (
                said, flavor.vcpus, ', '.join(
                    'node %d: %d' % item for item in room.items())),
            'add CPUs of a GPU\'s node to [compute] cpu_dedicated_set, or '
            'give the flavor fewer vCPUs')
    return Finding(CHECK, facts_mod.OK, flavor.name,
                   '%s: CPUs, memory and vGPU on one node' % said)


def check_flavor_numa(facts):
    """Each GPU flavor keeps its guest on one NUMA node with its GPU."""
    if facts.flavors is None:
        return [Finding(CHECK, facts_mod.SKIPPED, 'host',
                        'no flavors given (--flavors FILE: %s)'
                        % FLAVORS_HELP)]
    gpu_flavors = [f for f in facts.flavors if is_gpu_flavor(f)]
    if not gpu_flavors:
        return [Finding(CHECK, facts_mod.SKIPPED, 'host',
                        'no GPU flavor among the %d given (none asks '
                        'resources:CUSTOM_VGPU_*)' % len(facts.flavors))]
    from gpuvirt_nova.doctor import checks  # the CPU set syntax, pure
    values = facts.nova.cpu_dedicated_set
    try:
        pinned = checks.parse_cpu_set(values[-1]) if values else None
    except ValueError:
        pinned = None  # numa-affinity reports the syntax error
    return [_check_one(f, facts, pinned) for f in gpu_flavors]

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

"""Placement checks: what the GPU providers of many hosts tell together.

Pure over :class:`~gpuvirt_nova.doctor.facts.ClusterFacts`: GPUs left
draining, driver branches that differ between hosts (the
``CUSTOM_NVIDIA_DRIVER_<major>`` traits), flavor pools (one resource
class) mixing GPU models, and the drift a dry-run sync of this host finds.
"""

from gpuvirt_nova.doctor import facts as facts_mod
from gpuvirt_nova.placement import audit
from gpuvirt_nova.placement import naming

Finding = facts_mod.Finding
OK, INFO, SKIPPED = facts_mod.OK, facts_mod.INFO, facts_mod.SKIPPED
WARNING, ERROR = facts_mod.WARNING, facts_mod.ERROR

#: GPU traits that are not the model's (CUSTOM_GPU_ARCH_..., ..._NUMA_...).
_NOT_MODEL = (naming.ARCH_TRAIT_PREFIX, naming.NUMA_TRAIT_PREFIX)


def model_traits(traits):
    return sorted(t for t in traits if t.startswith(naming.GPU_TRAIT_PREFIX)
                  and not t.startswith(_NOT_MODEL))


def driver_branches(traits):
    return sorted(t[len(naming.DRIVER_TRAIT_PREFIX):] for t in traits
                  if t.startswith(naming.DRIVER_TRAIT_PREFIX))


def _in_scope(facts):
    hosts = set(facts.hosts)
    return [p for p in facts.providers if p.host in hosts]


def check_providers(facts):
    """Each host in scope has GPU providers in Placement."""
    findings = []
    for host in facts.hosts:
        count = sum(1 for p in facts.providers if p.host == host)
        if count:
            findings.append(Finding('placement-providers', OK, host,
                                    '%d GPU provider(s) in %s'
                                    % (count, facts.where)))
        else:
            findings.append(Finding(
                'placement-providers', ERROR, host,
                'no GPU provider of %s in %s' % (host, facts.where),
                'start nova-compute with compute_driver = '
                'gpuvirt.GpuvirtLibvirtDriver on %s, or run gpuvirt-nova '
                'placement sync there' % host))
    return findings


def check_drain(facts):
    """No GPU is left draining by an apply that is gone."""
    findings = []
    for provider in _in_scope(facts):
        if naming.DRAINING_TRAIT not in provider.traits:
            continue
        pid = facts.apply_running.get(provider.host)
        if pid:
            findings.append(Finding(
                'drain', INFO, provider.name,
                'draining: layout apply (pid %d) holds %s\'s lock'
                % (pid, provider.host)))
            continue
        findings.append(Finding(
            'drain', ERROR, provider.name,
            'marked %s and fully reserved, and no layout apply holds %s\'s '
            'lock here: a stuck drain (an apply --drain killed, or run '
            'elsewhere); the scheduler sends no server to this GPU'
            % (naming.DRAINING_TRAIT, provider.host),
            'if no layout apply runs on %s, release it: gpuvirt-nova '
            'layout undrain --host %s' % (provider.host, provider.host)))
    return findings or [Finding('drain', OK, ', '.join(facts.hosts) or '-',
                                'no GPU marked draining')]


def check_driver_branches(facts):
    """One NVIDIA driver branch across the hosts (guests' drivers match it)."""
    hosts = {}
    for provider in facts.providers:
        for major in driver_branches(provider.traits):
            hosts.setdefault(major, set()).add(provider.host)
    if len(hosts) <= 1:
        return [Finding('driver-branch', OK, 'cluster',
                        'driver branch %s on %d host(s)' % (
                            ', '.join('R%s' % b for b in hosts) or 'unknown',
                            len({p.host for p in facts.providers})))]
    scope = set(facts.hosts)
    if not any(scope & h for h in hosts.values()):
        return [Finding('driver-branch', SKIPPED, 'cluster',
                        'the hosts in scope report no driver branch')]
    evidence = '; '.join('R%s: %s' % (b, ', '.join(sorted(h)))
                         for b, h in sorted(hosts.items()))
    return [Finding(
        'driver-branch', ERROR, 'cluster',
        'mixed NVIDIA driver branches (%s traits): %s; a guest driver '
        'works only with a matching host branch, and live migration '
        'between branches fails' % (naming.DRIVER_TRAIT_PREFIX + '<major>',
                                    evidence),
        'install the same NVIDIA vGPU manager branch on every compute host '
        '(and the matching guest driver in images); until then keep the '
        'branches apart with trait:%s<major>=required in the flavors'
        % naming.DRIVER_TRAIT_PREFIX)]


def check_pools(facts):
    """A flavor's pool (one resource class) holds one GPU model."""
    pools = {}
    for provider in facts.providers:
        for rc, inv in provider.inventories.items():
            if inv.get('total'):
                for trait in model_traits(provider.traits) or ['unknown']:
                    pools.setdefault(rc, {}).setdefault(trait, set()).add(
                        provider.host)
    mixed = {rc: m for rc, m in pools.items() if len(m) > 1}
    findings = [Finding(
        'pool-model', ERROR, rc,
        'resource class %s is offered by different models: %s' % (
            rc, '; '.join('%s: %s' % (t, ', '.join(sorted(h)))
                          for t, h in sorted(models.items()))),
        'require the model in the flavor (trait:CUSTOM_GPU_<MODEL>='
        'required), or carve the other model into its own types')
        for rc, models in sorted(mixed.items())]
    return findings or [Finding('pool-model', OK, 'cluster',
                                '%d pool(s), one GPU model each'
                                % len(pools))]


def check_drift(facts):
    """Placement holds what this host's hardware is (a dry-run sync)."""
    if facts.drift is None:
        return [Finding('placement-drift', SKIPPED, ', '.join(facts.hosts),
                        'only the host the doctor runs on (or a simulated '
                        'one) is compared with Placement')]
    items = [d for d in facts.drift if d.kind != audit.DRAINING]
    findings = [Finding('placement-drift', WARNING, d.provider,
                        '%s: %s' % (d.kind, d.detail),
                        'gpuvirt-nova placement sync (nova-compute\'s '
                        'periodic update does the same)')
                for d in items]
    return findings or [Finding('placement-drift', OK,
                                ', '.join(facts.hosts),
                                'Placement matches the hardware')]


CLUSTER_CHECKS = (check_providers, check_drain, check_driver_branches,
                  check_pools, check_drift)


def run_cluster(facts):
    """Every Placement check over ``facts``: [Finding]."""
    return [finding for check in CLUSTER_CHECKS for finding in check(facts)]

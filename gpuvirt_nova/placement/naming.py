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

"""Placement names: resource classes, traits and provider names.

DESIGN.md section 3 is the contract; this module is its only
implementation, so the Nova driver, the standalone sync, the flavors and
the scheduler can never spell a name differently.

Resource class and trait names must match Placement's rule
``^CUSTOM_[A-Z0-9_]+$`` and be at most 255 characters; provider names at
most 200. Every generator here validates what it returns and raises
``exception.UsageError`` naming the input when it cannot comply.
"""

import re

import os_traits

from gpuvirt_nova import exception
from gpuvirt_nova.hardware import model

CUSTOM_PREFIX = 'CUSTOM_'
MAX_NAME_LENGTH = 255
MAX_PROVIDER_NAME_LENGTH = 200
_CUSTOM_RE = re.compile(r'^CUSTOM_[A-Z0-9_]+$')

VGPU_RC_PREFIX = 'CUSTOM_VGPU_'
VGPU_TYPE_TRAIT_PREFIX = 'CUSTOM_VGPU_TYPE_'
GPU_TRAIT_PREFIX = 'CUSTOM_GPU_'
ARCH_TRAIT_PREFIX = 'CUSTOM_GPU_ARCH_'
NUMA_TRAIT_PREFIX = 'CUSTOM_GPU_NUMA_'
MIG_TRAIT_PREFIX = 'CUSTOM_MIG_'
DRIVER_TRAIT_PREFIX = 'CUSTOM_NVIDIA_DRIVER_'

#: Set on every GPU provider this package manages.
MANAGED_TRAIT = 'CUSTOM_GPUVIRT_MANAGED'
#: Set on a GPU provider while ``layout apply --drain`` drains it: the
#: driver and the sync then keep its inventory fully reserved, instead of
#: writing back the reserved=0 of an undrained GPU.
DRAINING_TRAIT = 'CUSTOM_GPUVIRT_DRAINING'
#: Set on a GPU provider while the GPU is fenced as unhealthy (see
#: gpuvirt_nova.monitor.fence): kept fully reserved, like a draining GPU,
#: by the driver and the sync; with it one UNHEALTHY_TRAIT_PREFIX trait
#: says why (``CUSTOM_GPUVIRT_UNHEALTHY_GPU_LOST``).
UNHEALTHY_TRAIT = 'CUSTOM_GPUVIRT_UNHEALTHY'
UNHEALTHY_TRAIT_PREFIX = UNHEALTHY_TRAIT + '_'
#: Set on the provider of a dynamic GPU (layout ``owner: dynamic``): it
#: offers MIG slices, carved per guest by the driver, instead of vGPUs.
DYNAMIC_TRAIT = 'CUSTOM_GPUVIRT_DYNAMIC'
#: A dynamic GPU's busy memory slices: ``CUSTOM_GPUVIRT_SLICE_<n>_USED``
#: for each slice a GPU instance holds, so the scheduler can check
#: placement geometry from the provider summaries alone.
SLICE_USED_TRAIT_RE = re.compile(r'^CUSTOM_GPUVIRT_SLICE_([0-9]+)_USED$')
#: A dynamic GPU's capacity: compute and memory slices (MIG's units).
MIG_COMPUTE_SLICE_RC = 'CUSTOM_MIG_COMPUTE_SLICE'
MIG_MEMORY_SLICE_RC = 'CUSTOM_MIG_MEMORY_SLICE'
MIG_SLICE_RCS = (MIG_COMPUTE_SLICE_RC, MIG_MEMORY_SLICE_RC)
#: A dynamic time-sliced GPU's capacity: framebuffer slices (the
#: greatest common divisor of its time-sliced types' framebuffers, see
#: gpuvirt_nova.hardware.ts_placement). Not a CUSTOM_VGPU_* class: a
#: guest holds several slices but one vGPU.
FB_SLICE_RC = 'CUSTOM_FRAMEBUFFER_SLICE'
#: Every slice class of a dynamic GPU (MIG or time-sliced).
SLICE_RCS = MIG_SLICE_RCS + (FB_SLICE_RC,)
#: One unit per guest vGPU on a dynamic GPU (its flavor asks for 1 next
#: to the slices), so per-user limits count guests, not slices.
DYNAMIC_VGPU_RC = 'CUSTOM_GPUVIRT_DYNAMIC_VGPU'
#: Set on a dynamic time-sliced GPU in mixed-size mode (its busy
#: placement slots are SLICE_USED traits); without it, equal-size mode.
MIXED_SIZE_TRAIT = 'CUSTOM_GPUVIRT_MIXED_SIZE'
#: An equal-size dynamic GPU's hosted type:
#: ``CUSTOM_GPUVIRT_HOSTS_<TYPE>`` while a vGPU of it is there, so the
#: scheduler refuses another type from the provider summaries alone.
HOSTS_TRAIT_PREFIX = 'CUSTOM_GPUVIRT_HOSTS_'
#: The owner trait of our GPU providers. Nova 34 sets OWNER_NOVA on every
#: provider nova-compute reports (its own pGPU providers included); our GPU
#: providers are consumed by Nova's scheduler and filled by Nova's driver,
#: so they carry the same owner, whichever path (driver or standalone sync)
#: wrote them. CUSTOM_GPUVIRT_MANAGED tells them apart from upstream's.
OWNER_TRAIT = os_traits.OWNER_NOVA

# Traits this package generates: only names matching these are ever
# removed by a sync. Anything else on a GPU provider (operator tags,
# other services' traits) is left alone.
_OWNED_TRAIT_RES = (
    re.compile(r'^CUSTOM_GPUVIRT_[A-Z0-9_]+$'),
    re.compile(r'^CUSTOM_GPU_ARCH_[A-Z0-9_]+$'),
    re.compile(r'^CUSTOM_GPU_NUMA_[0-9]+$'),
    re.compile(r'^CUSTOM_VGPU_TYPE_[A-Z0-9_]+$'),
    re.compile(r'^CUSTOM_MIG_[0-9]G_[A-Z0-9_]+$'),
    re.compile(r'^CUSTOM_NVIDIA_DRIVER_[0-9]+$'),
)


def validate_custom_name(name, what='name'):
    """Return ``name`` when Placement accepts it as a custom RC or trait.

    :raises exception.UsageError: naming ``what`` and the rule broken.
    """
    if not _CUSTOM_RE.match(name or ''):
        raise exception.UsageError(
            '%s %r is not a valid Placement custom name: it must match '
            '^CUSTOM_[A-Z0-9_]+$' % (what, name))
    if len(name) > MAX_NAME_LENGTH:
        raise exception.UsageError(
            '%s %r is %d characters long: Placement allows at most %d'
            % (what, name, len(name), MAX_NAME_LENGTH))
    return name


def normalize(text):
    """Upper-case ``text``, non-alphanumerics as ``_`` (runs collapsed).

    ``'A100-2-10C'`` -> ``'A100_2_10C'``; ``'2g.10gb'`` -> ``'2G_10GB'``.
    """
    cleaned = re.sub(r'[^A-Z0-9]+', '_', str(text).upper()).strip('_')
    if not cleaned:
        raise exception.UsageError(
            'cannot build a Placement name from %r: it has no letters or '
            'digits' % (text,))
    return cleaned


def vgpu_type_key(type_name):
    """The TYPE part of names: ``'GRID T4-4Q'`` -> ``'T4_4Q'``.

    NVIDIA prefixes some type names with ``GRID`` or ``NVIDIA`` in sysfs
    ``name`` files; the catalog name never has them, so both spellings
    give the same resource class.
    """
    text = re.sub(r'^\s*(NVIDIA|GRID)\s+', '', str(type_name).strip(),
                  flags=re.IGNORECASE)
    text = re.sub(r'^\s*(NVIDIA|GRID)\s+', '', text, flags=re.IGNORECASE)
    return normalize(text)


def resource_class(type_name):
    """``'A100-2-10C'`` -> ``'CUSTOM_VGPU_A100_2_10C'``."""
    return validate_custom_name(VGPU_RC_PREFIX + vgpu_type_key(type_name),
                                'resource class for vGPU type')


def vgpu_type_trait(type_name):
    """``'A100-2-10C'`` -> ``'CUSTOM_VGPU_TYPE_A100_2_10C'``."""
    return validate_custom_name(
        VGPU_TYPE_TRAIT_PREFIX + vgpu_type_key(type_name),
        'trait for vGPU type')


def gpu_model_trait(model_name):
    """``'A100-PCIE-40GB'`` -> ``'CUSTOM_GPU_A100_PCIE_40GB'``."""
    return validate_custom_name(
        GPU_TRAIT_PREFIX + normalize(re.sub(r'(?i)^\s*NVIDIA\s+', '',
                                            str(model_name))),
        'trait for GPU model')


def architecture_trait(architecture):
    """``'ampere'`` (or the enum) -> ``CUSTOM_GPU_ARCH_AMPERE``."""
    value = architecture.value if isinstance(
        architecture, model.Architecture) else architecture
    return validate_custom_name(ARCH_TRAIT_PREFIX + normalize(value),
                                'trait for GPU architecture')


def mig_profile_trait(profile_name):
    """``'2g.10gb'`` -> ``'CUSTOM_MIG_2G_10GB'``."""
    return validate_custom_name(MIG_TRAIT_PREFIX + normalize(profile_name),
                                'trait for MIG profile')


def slice_used_trait(index):
    """``3`` -> ``'CUSTOM_GPUVIRT_SLICE_3_USED'``."""
    return 'CUSTOM_GPUVIRT_SLICE_%d_USED' % int(index)


def used_slices(traits):
    """Memory-slice indexes a dynamic GPU provider's traits mark busy."""
    found = (SLICE_USED_TRAIT_RE.match(t) for t in traits or ())
    return sorted(int(m.group(1)) for m in found if m)


def hosts_type_trait(type_name):
    """``'A100-10C'`` -> ``'CUSTOM_GPUVIRT_HOSTS_A100_10C'``."""
    return validate_custom_name(HOSTS_TRAIT_PREFIX + vgpu_type_key(type_name),
                                'trait for a hosted vGPU type')


def type_of_trait(trait, type_names, prefix=VGPU_TYPE_TRAIT_PREFIX):
    """The name among ``type_names`` whose ``prefix`` trait is ``trait``."""
    for name in type_names:
        if prefix + vgpu_type_key(name) == trait:
            return name
    return None


def mig_profile_of_trait(trait, profile_names):
    """The profile among ``profile_names`` whose trait is ``trait``."""
    for name in profile_names:
        if mig_profile_trait(name) == trait:
            return name
    return None


def numa_trait(numa_node):
    """``1`` -> ``'CUSTOM_GPU_NUMA_1'``."""
    node = int(numa_node)
    if node < 0:
        raise exception.UsageError(
            'NUMA node %r is negative: pass the node number sysfs reports '
            '(0, 1, ...)' % (numa_node,))
    return NUMA_TRAIT_PREFIX + str(node)


def driver_trait(driver_version):
    """``'550.54.14'`` -> ``'CUSTOM_NVIDIA_DRIVER_550'``."""
    match = re.match(r'^\s*(\d+)', str(driver_version or ''))
    if not match:
        raise exception.UsageError(
            'NVIDIA driver version %r has no major number: expected a '
            'version like 550.54.14' % (driver_version,))
    return DRIVER_TRAIT_PREFIX + match.group(1)


def unhealthy_trait(reason):
    """``'gpu-lost'`` -> ``CUSTOM_GPUVIRT_UNHEALTHY_GPU_LOST``."""
    return validate_custom_name(UNHEALTHY_TRAIT_PREFIX + normalize(reason),
                                'unhealthy reason')


def unhealthy_reason(traits):
    """The reason an unhealthy mark gives (``gpu-lost``); None if unmarked.

    ``unknown`` when the provider carries the mark without a reason.
    """
    if UNHEALTHY_TRAIT not in traits:
        return None
    for trait in sorted(traits):
        if trait.startswith(UNHEALTHY_TRAIT_PREFIX):
            return trait[len(UNHEALTHY_TRAIT_PREFIX):].lower().replace(
                '_', '-')
    return 'unknown'


def is_owned_trait(trait):
    """True for traits this package generates (and may therefore remove).

    The model trait (``CUSTOM_GPU_<MODEL>``) is recognised through
    ``known_model_traits`` by the caller, because ``CUSTOM_GPU_`` alone is
    too broad to claim.
    """
    return any(regex.match(trait) for regex in _OWNED_TRAIT_RES)


def gpu_provider_name(compute_node, address):
    """``('cn1', '0000:3b:00.0')`` -> ``'cn1_pci_0000_3b_00_0'``.

    Upstream Nova's pGPU provider naming, so operators and Nova's own
    parent-device lookup recognise it.
    """
    if not compute_node:
        raise exception.UsageError(
            'compute node name is empty: pass the hypervisor hostname '
            'Nova reports (--host)')
    try:
        address = model.normalize_pci_address(address)
    except ValueError as exc:
        raise exception.UsageError(str(exc))
    name = '%s_pci_%s' % (compute_node, re.sub(r'[:.]', '_', address))
    if len(name) > MAX_PROVIDER_NAME_LENGTH:
        raise exception.UsageError(
            'provider name %r is %d characters long: Placement allows at '
            'most %d; use a shorter compute node name'
            % (name, len(name), MAX_PROVIDER_NAME_LENGTH))
    return name


def address_from_provider_name(compute_node, name):
    """The PCI address in a GPU provider name, or None when not ours."""
    prefix = '%s_pci_' % compute_node
    if not name.startswith(prefix):
        return None
    match = re.match(r'^([0-9a-f]{4})_([0-9a-f]{2})_([0-9a-f]{2})_([0-7])$',
                     name[len(prefix):])
    if not match:
        return None
    return '%s:%s:%s.%s' % match.groups()


def known_model_traits():
    """``CUSTOM_GPU_<MODEL>`` for every catalog model name and alias."""
    from gpuvirt_nova.hardware import catalog
    traits = set()
    for gpu_model in catalog.load().models.values():
        for name in (gpu_model.name,) + gpu_model.aliases:
            traits.add(gpu_model_trait(name))
    return frozenset(traits)


def is_package_trait(trait):
    """True when a sync may remove ``trait`` because this package sets it."""
    return is_owned_trait(trait) or trait in known_model_traits()

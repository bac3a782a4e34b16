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

"""Upstream-compatible mode: our traits on the providers Nova creates.

Clouds that keep Nova's own vGPU reporting (``[devices]
enabled_mdev_types``) get one provider per mdev parent from Nova: the
physical GPU on mdev hosts, each SR-IOV VF on Ampere and later. Nova sets
no traits on them; a provider config file (``[compute]
provider_config_location``, schema 1.0) can. This module builds that file
from the same offers and trait rules as the provider tree, matched by
provider name, so those operators get the traits without our driver.

Only ``CUSTOM_`` traits may appear in a provider config; ``OWNER_NOVA``
is set by Nova itself, and ``CUSTOM_GPUVIRT_MANAGED`` is left out because
gpuvirt-nova does not manage these providers.
"""

from gpuvirt_nova.hardware import model
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import tree

SCHEMA_VERSION = '1.0'


def upstream_provider_names(compute_node, gpu):
    """Names of the providers upstream Nova reports for ``gpu``."""
    if gpu.vgpu_mode == model.HostVgpuMode.SRIOV_MDEV:
        return [naming.gpu_provider_name(compute_node, vf.address)
                for vf in sorted(gpu.vfs, key=lambda v: v.address)]
    return [naming.gpu_provider_name(compute_node, gpu.address)]


def build(compute_node, host, offers):
    """(document, warnings): the provider config for ``host``.

    ``offers`` as for :func:`tree.build_provider_tree` (validated the same
    way). Vendor-VFIO GPUs are skipped with a warning: upstream Nova does
    not report them as vGPU providers.
    """
    desired = tree.build_provider_tree(compute_node, host, offers)
    providers = []
    warnings = []
    for spec in desired.providers:
        gpu = host.gpu(spec.address)
        if gpu.vgpu_mode == model.HostVgpuMode.VENDOR_VFIO:
            warnings.append(
                '%s: vendor VFIO vGPUs are not reported by upstream Nova; '
                'use the gpuvirt-nova driver for this GPU' % gpu.address)
            continue
        names = upstream_provider_names(compute_node, gpu)
        if not names:
            warnings.append(
                '%s: no SR-IOV VFs are enabled, so Nova reports no provider '
                'for it yet; enable the VFs (gpuvirt-nova layout apply) and '
                'run this command again' % gpu.address)
            continue
        traits = sorted(t for t in spec.traits
                        if t.startswith(naming.CUSTOM_PREFIX)
                        and t != naming.MANAGED_TRAIT)
        for name in names:
            providers.append({'identification': {'name': name},
                              'traits': {'additional': list(traits)}})
    document = {'meta': {'schema_version': SCHEMA_VERSION},
                'providers': providers}
    return document, warnings

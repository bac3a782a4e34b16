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

"""nova.conf settings that conflict with this driver (pure).

Upstream Nova's own vGPU support (``[devices] enabled_mdev_types``) would
report the same GPUs a second time as VGPU providers and hand out mdevs
behind our back; a ``[pci] device_spec`` matching NVIDIA GPUs would pass
the same VFs through as plain PCI devices. nova-compute refuses to start
with either, naming the option and the fix.
"""

import json

NVIDIA_VENDOR_ID = '10de'


def _specs(device_specs):
    for text in device_specs or ():
        try:
            spec = json.loads(text)
        except (TypeError, ValueError):
            continue
        for item in (spec if isinstance(spec, list) else [spec]):
            if isinstance(item, dict):
                yield item


def conflicts(enabled_mdev_types, pci_device_specs):
    """One line per conflicting option; empty when the config is fine."""
    problems = []
    if enabled_mdev_types:
        problems.append(
            '[devices] enabled_mdev_types = %s: upstream vGPU support '
            'conflicts with the gpuvirt driver, which manages every NVIDIA '
            'vGPU itself; remove the option (and the [mdev_*] groups)'
            % ','.join(enabled_mdev_types))
    for spec in _specs(pci_device_specs):
        if str(spec.get('vendor_id', '')).lower() == NVIDIA_VENDOR_ID:
            problems.append(
                '[pci] device_spec %s: NVIDIA devices passed through by '
                'Nova conflict with the gpuvirt driver, which assigns the '
                'GPUs\' VFs itself; remove that entry'
                % json.dumps(spec, sort_keys=True))
    return problems

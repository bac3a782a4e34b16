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

"""Placement JSON for scheduler tests: provider summaries and candidates.

These are the documents Placement returns (``GET /allocation_candidates``)
written out by hand for small hosts; they describe Placement's view, not
hardware.
"""

from gpuvirt_nova.placement import naming

A100 = 'A100-PCIE-40GB'


def rc(type_name):
    return naming.resource_class(type_name)


def gpu(root, offers, used=None, model=A100):
    """A GPU provider summary: offers = {type name: total}."""
    used = used or {}
    return {
        'resources': {rc(t): {'capacity': n, 'used': used.get(t, 0)}
                      for t, n in offers.items()},
        'traits': [naming.gpu_model_trait(model), naming.MANAGED_TRAIT],
        'parent_provider_uuid': root,
        'root_provider_uuid': root,
    }


def compute(root, vcpus_used=0):
    return {'resources': {'VCPU': {'capacity': 64, 'used': vcpus_used}},
            'traits': [], 'parent_provider_uuid': None,
            'root_provider_uuid': root}


def candidate(root, gpu_uuid, type_name, amount=1):
    return {'allocations': {
        root: {'resources': {'VCPU': 2}},
        gpu_uuid: {'resources': {rc(type_name): amount}}},
        'mappings': {}}

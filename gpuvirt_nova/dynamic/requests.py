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

"""What a guest asks of a dynamic GPU: which GPU, which profile or type.

Pure. A flavor of a dynamic type asks, in one request group, for the
GPU's compute and memory slices its profile takes, with the profile's
trait required (``trait1:CUSTOM_MIG_3G_20GB=required``) and
``CUSTOM_GPUVIRT_DYNAMIC``; Placement picks the GPU, the scheduler's
geometry filter checks a real placement is free on it, and the driver
reads the profile back from the same trait. On a dynamic time-sliced
GPU a flavor asks for the framebuffer slices of one time-sliced type and
requires that type's trait (``trait1:CUSTOM_VGPU_TYPE_A100_10C``).
"""

import re

from gpuvirt_nova import exception
from gpuvirt_nova.placement import flavors
from gpuvirt_nova.placement import naming

_TRAIT_KEY = re.compile(r'^trait(?P<group>[0-9A-Za-z_-]*):(?P<trait>.+)$')


class RequestError(exception.GpuvirtError):
    """A flavor or allocation a dynamic GPU cannot serve; says why."""


def slice_allocations(allocations):
    """``{rp uuid: {slice rc: amount}}`` of an allocation dict."""
    result = {}
    for rp_uuid, alloc in (allocations or {}).items():
        for rc, amount in (alloc.get('resources') or {}).items():
            if rc in naming.SLICE_RCS and amount > 0:
                result.setdefault(rp_uuid, {})[rc] = amount
    return result


def required_profile_traits(extra_specs):
    """The ``CUSTOM_MIG_*`` traits a flavor requires (any group)."""
    found = set()
    for key, value in (extra_specs or {}).items():
        match = _TRAIT_KEY.match(key)
        if not match or value != 'required':
            continue
        trait = match.group('trait')
        if trait.startswith(naming.MIG_TRAIT_PREFIX) and \
                trait not in naming.SLICE_RCS:
            found.add(trait)
    return found


def asks_dynamic(extra_specs):
    """Whether a flavor asks for MIG slices of a dynamic GPU."""
    for key in (extra_specs or {}):
        if key.startswith('resources') and key.split(':', 1)[-1] in \
                naming.SLICE_RCS:
            return True
    return False


def asks_time_sliced(extra_specs):
    """Whether a flavor asks for framebuffer slices of a dynamic GPU."""
    return any(key.startswith('resources') and
               key.split(':', 1)[-1] == naming.FB_SLICE_RC
               for key in (extra_specs or {}))


def type_from_flavor(extra_specs, type_names):
    """The one time-sliced type (among ``type_names``) a flavor requires.

    :raises RequestError: none or several, naming the fix.
    """
    traits = set()
    for key, value in (extra_specs or {}).items():
        match = _TRAIT_KEY.match(key)
        if match and value == 'required' and match.group('trait') \
                .startswith(naming.VGPU_TYPE_TRAIT_PREFIX):
            traits.add(match.group('trait'))
    names = sorted(filter(None, (naming.type_of_trait(t, type_names)
                                 for t in traits)))
    if len(names) != 1:
        raise RequestError(
            'the flavor must require exactly one vGPU type trait of this '
            'GPU (trait1:CUSTOM_VGPU_TYPE_<TYPE>=required, one of %s) to '
            'get a dynamic time-sliced vGPU; it requires %s' % (
                ', '.join(naming.vgpu_type_trait(n) for n in type_names),
                ', '.join(sorted(traits)) or 'none'))
    return names[0]


def profile_from_flavor(extra_specs, profile_names):
    """The one MIG profile (among ``profile_names``) a flavor requires.

    :raises RequestError: none or several, naming the fix.
    """
    traits = required_profile_traits(extra_specs)
    names = sorted(filter(None, (naming.mig_profile_of_trait(t, profile_names)
                                 for t in traits)))
    if len(names) != 1:
        raise RequestError(
            'the flavor must require exactly one MIG profile trait of this '
            'GPU (trait1:CUSTOM_MIG_<PROFILE>=required, one of %s) to get '
            'a dynamic vGPU; it requires %s' % (
                ', '.join(naming.mig_profile_trait(n)
                          for n in profile_names),
                ', '.join(sorted(traits)) or 'none'))
    return names[0]


#: A flavor's extra specs for one dynamic MIG profile (see
#: :func:`gpuvirt_nova.placement.flavors.dynamic_extra_specs`).
flavor_extra_specs = flavors.dynamic_extra_specs
#: ... and for one time-sliced type of a dynamic time-sliced GPU.
ts_flavor_extra_specs = flavors.dynamic_ts_extra_specs

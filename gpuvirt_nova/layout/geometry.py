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

"""MIG geometry of a dynamic GPU: where a new GPU instance can go.

Pure functions over :class:`gpuvirt_nova.hardware.model.MigProfile`
lists (NVML's on the host, the catalog's in the scheduler) and the GPU
instances already there. The scheduler's geometry filter and the
driver's carve call the same :func:`best_placement`, so the placement the
scheduler ranked is the one the driver creates while it is still free,
and a GPU is never offered a profile that no real placement can hold
(Placement's slice counts alone would accept a 4g.20gb next to a 1g.5gb
at slice 0; its only placement overlaps it).
"""

import dataclasses

from gpuvirt_nova.hardware import model


@dataclasses.dataclass(frozen=True)
class Occupied:
    """A GPU instance already on the GPU: its profile and placement."""

    profile: str
    placement: model.Placement
    #: Compute slices it holds; None: its profile's.
    compute: int = None


def compute_total(profiles):
    """Compute slices of the GPU: the largest profile's (7 on A100/H100)."""
    return max((p.compute_slices for p in profiles), default=0)


def memory_total(profiles):
    """Memory slices of the GPU: the end of the last placement (8)."""
    return max((pl.start + pl.size for p in profiles for pl in p.placements),
               default=0)


def _profile(profiles, name):
    for profile in profiles:
        if profile.name == name:
            return profile
    return None


def _compute_used(profiles, occupied):
    used = 0
    for gi in occupied:
        if gi.compute is not None:
            used += gi.compute
            continue
        profile = _profile(profiles, gi.profile)
        # An instance of a profile this list does not know still holds
        # its memory slices; count its compute as that many, never zero.
        used += profile.compute_slices if profile else gi.placement.size
    return used


def free_placements(profiles, occupied, name):
    """The placements of profile ``name`` that a new instance can take.

    Empty when the profile is unknown, when its memory slices overlap
    every free placement, when the GPU's compute slices are spent, or
    when the profile's ``max_instances`` are all there (``+me``).
    """
    profile = _profile(profiles, name)
    if profile is None:
        return []
    if _compute_used(profiles, occupied) + profile.compute_slices > \
            compute_total(profiles):
        return []
    if sum(1 for gi in occupied if gi.profile == name) >= \
            profile.max_instances:
        return []
    used = set()
    for gi in occupied:
        used |= gi.placement.slices
    return [p for p in profile.placements if not p.slices & used]


def room(profiles, occupied):
    """How useful the free space is: bigger is better, comparable.

    (compute slices of the largest profile that still fits, number of
    profile placements that still fit): keeping the largest instance
    possible first, then the most ways to place smaller ones.
    """
    largest = 0
    ways = 0
    for profile in profiles:
        fits = free_placements(profiles, occupied, profile.name)
        if fits:
            largest = max(largest, profile.compute_slices)
            ways += len(fits)
    return largest, ways


def ranked_placements(profiles, occupied, name):
    """Free placements of ``name``, best first (most room left after)."""
    profile = _profile(profiles, name)
    found = free_placements(profiles, occupied, name)
    occupied = list(occupied)

    def key(placement):
        largest, ways = room(profiles,
                             occupied + [Occupied(profile.name, placement)])
        return (-largest, -ways, placement.start)
    return sorted(found, key=key)


def best_placement(profiles, occupied, name, prefer=None):
    """Where a new instance of ``name`` should go, or None: none fits.

    ``prefer``: a start slice to take when it is free (the instance's
    placement before a host reboot), so a restored guest lands where it
    was.
    """
    ranked = ranked_placements(profiles, occupied, name)
    for placement in ranked:
        if prefer is not None and placement.start == prefer:
            return placement
    return ranked[0] if ranked else None


def occupied_of(gpu):
    """The Occupied list of a discovered model.PhysicalGpu."""
    return [Occupied(gi.profile, gi.placement) for gi in gpu.gpu_instances]


def used_slices(occupied):
    """Sorted memory-slice indexes the instances hold."""
    used = set()
    for gi in occupied:
        used |= gi.placement.slices
    return sorted(used)


def occupied_from_slices(profiles, used):
    """Occupied stand-ins for busy memory slices, one per slice.

    The scheduler sees which slices are busy (provider traits), not which
    profile holds them; one 1-slice stand-in per busy slice gives the
    same overlaps. Compute use is Placement's to count (its inventory of
    the compute-slice class), so the stand-ins hold none.
    """
    return [Occupied('', model.Placement(i, 1), compute=0)
            for i in sorted(set(used))]

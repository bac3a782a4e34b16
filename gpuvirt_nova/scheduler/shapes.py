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

"""GPU shapes: the states one physical GPU can be in, as lookup tables.

A shape turns "what can still go on this GPU" into small integer tables
so that the scorer can evaluate thousands of GPUs at once with numpy and
the Nova filter can evaluate one host with the very same code:

- ``free[s]``: capacity left in state ``s``, in milli-GPU (1000 = a GPU);
- ``options[s, r, i]``: the states reachable by placing request class
  ``r`` on a GPU in state ``s`` (-1 pads); for MIG each option is one
  placement of the profile, in the catalog's placement order.

Three shapes exist: fractional (FGD's model: any share, 0..1000), MIG
(the catalog's profiles and placements, memory slices out of 8, plus the
compute-slice budget) and time-sliced vGPU in equal-size mode (one type
per GPU, at most ``max_instances`` of it). MIG geometry always comes from
:mod:`gpuvirt_nova.hardware.catalog`; nothing here re-types it.

Request classes are shares in milli-GPU. A shape rounds each one up to
the smallest profile or type that covers it both in memory and compute
share (e.g. 470 -> 4g on an A100: 3g gives only 3/7 of the compute).
"""

import dataclasses

import numpy as np

MILLI = 1000


@dataclasses.dataclass(frozen=True)
class Shape:
    """State tables of one GPU model; see the module docstring."""

    name: str
    free: np.ndarray
    options: np.ndarray
    #: Index of the pristine (nothing allocated) state.
    empty: int = 0
    #: Human-readable label of each state (for tests and reports).
    labels: tuple = ()
    #: Profile/type name each request class is rounded to ('' = none).
    rounded_to: tuple = ()

    @property
    def num_states(self):
        return len(self.free)

    @property
    def can_host(self):
        return self.options[:, :, 0] >= 0


def _pad(option_lists, num_requests):
    width = max([1] + [len(o) for row in option_lists for o in row])
    table = np.full((len(option_lists), num_requests, width), -1,
                    dtype=np.int32)
    for s, row in enumerate(option_lists):
        for r, opts in enumerate(row):
            table[s, r, :len(opts)] = opts
    return table


def fractional(requests, name='fractional'):
    """FGD's model: a GPU is 1000 milli; a request takes exactly its share.

    State ``s`` has ``s`` milli free, so ``empty`` is state 1000.
    """
    requests = [int(r) for r in requests]
    options = [[(s - r,) if 0 < r <= s else () for r in requests]
               for s in range(MILLI + 1)]
    return Shape(name=name, free=np.arange(MILLI + 1, dtype=np.float64),
                 options=_pad(options, len(requests)), empty=MILLI,
                 labels=tuple(str(s) for s in range(MILLI + 1)),
                 rounded_to=tuple(str(r) for r in requests))


def absent(requests):
    """A GPU slot that does not exist (pads nodes to the same width)."""
    return Shape(name='absent', free=np.zeros(1),
                 options=np.full((1, len(requests), 1), -1, dtype=np.int32),
                 labels=('absent',), rounded_to=('',) * len(requests))


def covers(milli, compute_share, memory_share):
    """True when a slice gives at least ``milli`` of compute and memory."""
    need = milli / float(MILLI)
    return compute_share + 1e-9 >= need and memory_share + 1e-9 >= need


def mig_profiles_for(gpu_model):
    """The MIG profiles the scorer plays with (no ``+me`` media profiles)."""
    return tuple(p for p in gpu_model.mig_profiles if '+me' not in p.name)


def round_to_mig(gpu_model, milli):
    """The smallest MIG profile of ``gpu_model`` covering ``milli``."""
    slices = gpu_model.memory_slices
    compute = gpu_model.compute_slices
    fitting = [p for p in mig_profiles_for(gpu_model)
               if covers(milli, p.compute_slices / compute,
                         p.memory_slices / slices)]
    if not fitting:
        return None
    return min(fitting, key=lambda p: (p.memory_slices, p.compute_slices))


def mig(gpu_model, requests):
    """MIG shape of a catalog GpuModel for milli-GPU request classes."""
    return mig_for_profiles(
        gpu_model, [round_to_mig(gpu_model, r) for r in requests])


def mig_for_profiles(gpu_model, profiles):
    """MIG shape whose request classes are MIG profiles (None: no fit).

    States are (memory-slice mask, compute slices used); only states
    reachable from the empty GPU are built (a few hundred).
    """
    slices = gpu_model.memory_slices
    compute = gpu_model.compute_slices
    requests = profiles
    index = {(0, 0): 0}
    order = [(0, 0)]
    edges = {}
    queue = [(0, 0)]
    usable = mig_profiles_for(gpu_model)
    while queue:
        mask, used = queue.pop()
        for profile in usable:
            for pl in profile.placements:
                bits = sum(1 << i for i in pl.slices)
                if mask & bits or used + profile.compute_slices > compute:
                    continue
                nxt = (mask | bits, used + profile.compute_slices)
                if nxt not in index:
                    index[nxt] = len(order)
                    order.append(nxt)
                    queue.append(nxt)
                edges.setdefault((mask, used, profile.name), []).append(
                    index[nxt])
    free = np.array([(slices - bin(m).count('1')) * MILLI / slices
                     for m, _ in order])
    options = [[tuple(edges.get((m, u, p.name), ())) if p else ()
                for p in profiles] for m, u in order]
    labels = tuple('%s/%dc' % (format(m, '0%db' % slices)[::-1], u)
                   for m, u in order)
    return Shape(name=gpu_model.name + ':mig', free=free,
                 options=_pad(options, len(requests)), empty=0,
                 labels=labels,
                 rounded_to=tuple(p.name if p else '' for p in profiles))


def timesliced_types(gpu_model):
    """Time-sliced types of a model, C-series first (compute workloads)."""
    for series in ('C', 'Q', 'B', 'A'):
        types = gpu_model.time_sliced_types(series)
        if types:
            return tuple(sorted(types, key=lambda t: -t.max_instances))
    return ()


def round_to_type(types, milli):
    """The smallest equal-size type whose 1/max_instances covers milli."""
    fitting = [t for t in types
               if covers(milli, 1.0 / t.max_instances,
                         1.0 / t.max_instances)]
    if not fitting:
        return None
    return max(fitting, key=lambda t: t.max_instances)


def timesliced(gpu_model, requests):
    """Equal-size time-sliced shape for milli-GPU request classes."""
    types = timesliced_types(gpu_model)
    return timesliced_for_types(
        gpu_model, [round_to_type(types, r) for r in requests], types)


def timesliced_for_types(gpu_model, chosen, types=None):
    """Equal-size shape whose request classes are vGPU types (or None).

    State = (type, instances) or empty; ``types`` defaults to the model's
    time-sliced types.
    """
    types = types or timesliced_types(gpu_model)
    types = tuple(types) + tuple(t for t in chosen
                                 if t is not None and t not in types)
    states = [(None, 0)] + [(t.name, c) for t in types
                            for c in range(1, t.max_instances + 1)]
    index = {s: i for i, s in enumerate(states)}
    maxima = {t.name: t.max_instances for t in types}
    free = np.array([MILLI if name is None else
                     (maxima[name] - count) * MILLI / maxima[name]
                     for name, count in states])
    requests = chosen
    options = []
    for name, count in states:
        row = []
        for vgpu_type in chosen:
            if vgpu_type is None or (name not in (None, vgpu_type.name)) \
                    or count >= vgpu_type.max_instances:
                row.append(())
            else:
                row.append((index[(vgpu_type.name, count + 1)],))
        options.append(row)
    labels = tuple('empty' if n is None else '%sx%d' % (n, c)
                   for n, c in states)
    return Shape(name=gpu_model.name + ':equal-size', free=free,
                 options=_pad(options, len(requests)), empty=0,
                 labels=labels,
                 rounded_to=tuple(t.name if t else '' for t in chosen))


@dataclasses.dataclass(frozen=True)
class StateSpace:
    """Several shapes side by side, so one array holds a mixed cluster."""

    shapes: tuple
    offsets: tuple
    free: np.ndarray
    options: np.ndarray

    @property
    def can_host(self):
        return self.options[:, :, 0] >= 0

    def empty(self, shape_index):
        return self.offsets[shape_index] + self.shapes[shape_index].empty

    def label(self, state):
        for i in reversed(range(len(self.shapes))):
            if state >= self.offsets[i]:
                shape = self.shapes[i]
                return '%s %s' % (shape.name,
                                  shape.labels[state - self.offsets[i]])
        raise IndexError(state)


def combine(shapes):
    """Concatenate shapes into one StateSpace (option indexes shifted)."""
    offsets, free, tables = [], [], []
    width = max(s.options.shape[2] for s in shapes)
    base = 0
    for shape in shapes:
        offsets.append(base)
        table = np.full(shape.options.shape[:2] + (width,), -1,
                        dtype=np.int32)
        opts = shape.options
        table[:, :, :opts.shape[2]] = np.where(opts >= 0, opts + base, -1)
        tables.append(table)
        free.append(shape.free)
        base += shape.num_states
    return StateSpace(shapes=tuple(shapes), offsets=tuple(offsets),
                      free=np.concatenate(free),
                      options=np.concatenate(tables))


def taken(space, state, new_state):
    """Capacity a move consumed (milli), rounding waste included."""
    return space.free[state] - space.free[new_state]

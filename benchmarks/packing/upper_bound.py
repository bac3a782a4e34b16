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

"""Offline upper bound on the GPU share a policy can allocate (LP, HiGHS).

Given every pod that arrived by a demand point (order forgotten, any pod
may be left out), a linear program over per-GPU configurations bounds the
requested GPU that any placement could serve:

- variables ``y[m, c]``: GPUs of model group ``m`` set up as configuration
  ``c`` (a multiset of profiles that fits one GPU, from the shape tables;
  in fractional mode one "configuration" per GPU with 1000 milli to share);
- ``x[m, k]``: pods of kind ``k`` (GPU share, CPU, memory) put on ``m``;
- GPUs of each group, profile slots of the configurations, pods of each
  kind, and the group's total CPU and memory bound them.

It relaxes integrality and per-node CPU/memory (only each model group's
totals count), so it is an upper bound, not a schedule. Multi-GPU pods
count as that many whole-GPU pods.
"""

import numpy as np


def compositions(shape, classes):
    """Configurations of one GPU: {tuple(count per profile name)}."""
    names = sorted({shape.rounded_to[r] for r in classes
                    if shape.rounded_to[r]})
    seen, stack, found = set(), [(shape.empty, (0,) * len(names))], set()
    while stack:
        state, vec = stack.pop()
        if (state, vec) in seen:
            continue
        seen.add((state, vec))
        found.add(vec)
        for r in classes:
            name = shape.rounded_to[r]
            for nxt in shape.options[state, r]:
                if nxt < 0 or not name:
                    continue
                bumped = list(vec)
                bumped[names.index(name)] += 1
                stack.append((nxt, tuple(bumped)))
    return names, sorted(found)


def bound(groups, kinds, fractional):
    """Max requested milli-GPU servable; see the module docstring.

    ``groups``: [(shape, gpus, cpu, memory)] per model group;
    ``kinds``: [(request class, milli, count, cpu, memory)] single-GPU
    pod kinds (multi-GPU pods already split into whole-GPU ones).
    """
    cols, bounds_, obj = [], [], []
    rhs = []

    def var(lo, hi, c):
        cols.append(len(cols))
        bounds_.append((lo, hi))
        obj.append(-c)
        return len(cols) - 1

    coeffs = []
    x = {}
    for g, (shape, gpus, cpu, mem) in enumerate(groups):
        for k, (r, milli, count, kcpu, kmem) in enumerate(kinds):
            if shape.can_host[shape.empty, r]:
                x[g, k] = var(0, count, milli)
    for g, (shape, gpus, cpu, mem) in enumerate(groups):
        mine = [(k, x[g, k]) for k in range(len(kinds)) if (g, k) in x]
        if fractional:
            coeffs.append({v: kinds[k][1] for k, v in mine})
            rhs.append(1000.0 * gpus)
        else:
            classes = sorted({kinds[k][0] for k, _ in mine})
            names, configs = compositions(shape, classes)
            y = [var(0, gpus, 0) for _ in configs]
            coeffs.append({v: 1.0 for v in y})
            rhs.append(float(gpus))
            for p, name in enumerate(names):
                row = {v: 1.0 for k, v in mine
                       if shape.rounded_to[kinds[k][0]] == name}
                for v, config in zip(y, configs):
                    row[v] = -float(config[p])
                coeffs.append(row)
                rhs.append(0.0)
        coeffs.append({v: kinds[k][3] for k, v in mine})
        rhs.append(float(cpu))
        coeffs.append({v: kinds[k][4] for k, v in mine})
        rhs.append(float(mem))
    for k in range(len(kinds)):
        coeffs.append({x[g, k]: 1.0 for g in range(len(groups))
                       if (g, k) in x})
        rhs.append(float(kinds[k][2]))
    a = np.zeros((len(coeffs), len(cols)))
    for i, row in enumerate(coeffs):
        for v, c in row.items():
            a[i, v] = c
    from scipy import optimize  # benchmarks/requirements.txt
    res = optimize.linprog(np.array(obj), A_ub=a, b_ub=np.array(rhs),
                           bounds=bounds_, method='highs')
    if res.status != 0:
        raise RuntimeError('upper-bound LP failed: %s' % res.message)
    return -res.fun

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

"""A synthetic pod and node list shaped like openb, for the Nova replay.

The openb trace is read where it lies and never copied into the project,
so a clean clone has none; the replay
(``tests/functional/scheduler/test_packing_replay.py``) then runs on
this seeded stand-in, which has the trace's form (:class:`trace.Pods`,
:class:`trace.Nodes`) and the traits the replay exercises:

- GPU shares drawn with openb's weights among its most common 1-GPU
  shares (1000, 810, 470, 320, 650, 230, 460, 590, 160, 550, 220, 370,
  110: counts of ``openb_pod_list_gpuspec20.csv``);
- some 2-GPU pods (whole GPUs) and some CPU-only pods; with
  ``gpu_counts=MULTI_GPU_COUNTS``, 4- and 8-GPU pods as well (sized as
  ``openb_pod_list_multigpu40.csv``'s, more often than there);
- ``gpu_spec`` mixing '' (any model), 'G2', 'G3', 'G2|G3' and 'T4',
  more of the constrained kinds than openb has, so that MIG-backed A100
  flavors pinned to one model trait and T4 time-sliced flavors occur in
  a short slice;
- CPU and memory pairs among openb's most common ones of each kind;
- nodes of the trace's shapes: G2 96 cores/384 GiB/8 GPUs, G3 128
  cores/768 GiB/8 GPUs, T4 one in three of 96 cores/384 GiB/4 GPUs and
  the others of 104 cores/512 GiB/2 GPUs (the first 8 T4 nodes of the
  trace have two of the former, this has three).

The same ``seed`` and ``size`` always give the same list.
"""

import numpy as np

from benchmarks.packing import trace
from gpuvirt_nova import exception

#: openb 1-GPU shares and how many pods ask each (gpuspec20).
SHARES = ((1000, 3911), (810, 1078), (470, 750), (320, 328), (650, 253),
          (230, 140), (460, 128), (590, 75), (160, 74), (550, 72),
          (220, 62), (370, 47), (110, 24))
#: (cpu_milli, memory_mib) of GPU pods and how many ask it (1-GPU pods).
GPU_POD_SIZES = (((3152, 5600), 1592), ((11300, 49152), 857),
                 ((11908, 47104), 778), ((11400, 48128), 534),
                 ((8000, 30517), 486), ((18708, 64512), 255),
                 ((9810, 41560), 195), ((4000, 22888), 189),
                 ((4000, 15258), 182), ((12000, 24576), 158))
#: the same for 2-GPU pods.
MULTI_POD_SIZES = (((16200, 66560), 7), ((6000, 65536), 3),
                   ((30200, 160768), 3))
#: the same for 4- and 8-GPU pods (multigpu40, the most common).
LARGE_POD_SIZES = {
    4: (((32200, 132096), 86), ((60200, 320512), 35),
        ((32000, 131072), 33)),
    8: (((88000, 327680), 151), ((64200, 263168), 147),
        ((64000, 262144), 27), ((120200, 640000), 18)),
}
#: the same for CPU-only pods.
CPU_POD_SIZES = (((12500, 57344), 364), ((32000, 49152), 284),
                 ((8000, 30517), 163), ((15400, 51200), 120),
                 ((16500, 51200), 95))
#: gpu_spec of GPU pods and its weight.
SPECS = (('', 55), ('T4', 15), ('G2', 12), ('G3', 8), ('G2|G3', 10))
#: num_gpu and its weight.
GPU_COUNTS = ((1, 82), (2, 6), (0, 12))
#: num_gpu and its weight with larger pods: more 4- and 8-GPU pods than
#: multigpu40 has (1.9% and 4.4%), so that a short slice holds some.
MULTI_GPU_COUNTS = ((1, 70), (2, 6), (4, 6), (8, 6), (0, 12))
#: (cpu_milli, memory_mib, gpus) of each model's nodes, cycled.
NODE_SHAPES = {
    'G2': ((96000, 393216, 8),),
    'G3': ((128000, 786432, 8),),
    'T4': ((96000, 393216, 4), (104000, 524288, 2), (104000, 524288, 2)),
}
SIZE = 8000


def _draw(rng, table, size):
    """``size`` draws of the values of ``((value, weight), ...)``."""
    weights = np.array([w for _, w in table], dtype=float)
    index = rng.choice(len(table), size=size, p=weights / weights.sum())
    return [table[i][0] for i in index]


def pods(size=SIZE, seed=0, gpu_counts=GPU_COUNTS):
    """A :class:`trace.Pods` of ``size`` pods shaped like openb.

    ``gpu_counts``: ``((num_gpu, weight), ...)``; with the default the
    list is the same as before larger pods could be drawn.
    """
    unknown = sorted({k for k, _ in gpu_counts} - {0, 1, 2} -
                     set(LARGE_POD_SIZES))
    if unknown:
        raise exception.UsageError(
            'gpu_counts: no pod sizes for %s GPUs; use 0, 1, 2 or one of '
            '%s (LARGE_POD_SIZES)' % (', '.join(map(str, unknown)),
                                      sorted(LARGE_POD_SIZES)))
    rng = np.random.default_rng(seed)
    gpus = np.array(_draw(rng, gpu_counts, size))
    milli = np.array(_draw(rng, SHARES, size))
    specs = _draw(rng, SPECS, size)
    single = _draw(rng, GPU_POD_SIZES, size)
    multi = _draw(rng, MULTI_POD_SIZES, size)
    cpu_only = _draw(rng, CPU_POD_SIZES, size)
    large = ({k: _draw(rng, table, size)
              for k, table in sorted(LARGE_POD_SIZES.items())}
             if any(k > 2 for k, _ in gpu_counts) else {})
    sizes = [cpu_only[i] if gpus[i] == 0 else
             large[gpus[i]][i] if gpus[i] > 2 else
             multi[i] if gpus[i] > 1 else single[i] for i in range(size)]
    return trace.Pods(
        cpu=np.array([s[0] for s in sizes], float),
        memory=np.array([s[1] for s in sizes], float),
        gpus=gpus,
        milli=np.where(gpus == 0, 0, np.where(gpus > 1, 1000, milli)),
        spec=tuple(specs[i] if gpus[i] else '' for i in range(size)))


def nodes(hosts):
    """A :class:`trace.Nodes` of ``hosts`` ((model, count), ...), in order.

    Each model's nodes cycle through its ``NODE_SHAPES``.
    """
    rows = []
    for model, count in hosts:
        shapes = NODE_SHAPES[model]
        rows.extend((model, shapes[i % len(shapes)]) for i in range(count))
    return trace.Nodes(
        names=tuple('synthetic-node-%04d' % i for i in range(len(rows))),
        cpu=np.array([shape[0] for _, shape in rows], float),
        memory=np.array([shape[1] for _, shape in rows], float),
        gpus=np.array([shape[2] for _, shape in rows]),
        models=tuple(model for model, _ in rows))

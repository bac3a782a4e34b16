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

"""Hand-made nodes and pods for the packing benchmark's tests."""

import numpy as np

from benchmarks.packing import trace


def nodes(models=('T4', 'T4'), gpus=(2, 2), cpu=32000.):
    """Nodes of ``models`` with ``gpus`` GPUs each, ``cpu`` milli-CPU.

    ``cpu``: one value for every node, or one per node.
    """
    n = len(models)
    return trace.Nodes(names=tuple('node-%d' % i for i in range(n)),
                       cpu=np.broadcast_to(np.asarray(cpu, float),
                                           (n,)).copy(),
                       memory=np.full(n, 65536.),
                       gpus=np.array(gpus), models=tuple(models))


def pods(rows, spec=()):
    """Pods of ``rows``: (cpu, gpus, milli) per pod, 1 GiB each."""
    rows = np.array(rows, dtype=float).reshape(-1, 3)
    return trace.Pods(cpu=rows[:, 0], memory=np.full(len(rows), 1024.),
                      gpus=rows[:, 1].astype(int),
                      milli=rows[:, 2].astype(int), spec=tuple(spec))

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

"""Read the openb trace (Alibaba GPU-sharing cluster, FGD's workload).

The trace is read where it lies, never copied into the project. Its
directory is ``--trace-dir``, else ``$GPUVIRT_OPENB_DIR``, else
``../shared/data/openb`` relative to the repository root.
"""

import csv
import dataclasses
import os

import numpy as np

from gpuvirt_nova import exception

ENV_VAR = 'GPUVIRT_OPENB_DIR'
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DEFAULT_DIR = os.path.join(REPO_ROOT, '..', 'shared', 'data', 'openb')
NODE_FILE = 'openb_node_list_gpu_node.csv'
POD_FILE = 'openb_pod_list_default.csv'


@dataclasses.dataclass(frozen=True)
class Nodes:
    names: tuple
    cpu: np.ndarray
    memory: np.ndarray
    gpus: np.ndarray
    models: tuple

    @property
    def capacity(self):
        """GPU capacity in milli-GPU."""
        return int(self.gpus.sum()) * 1000

    def subset(self, keep):
        """The nodes for which ``keep[i]`` is true, in trace order."""
        idx = np.flatnonzero(keep)
        return Nodes(names=tuple(self.names[i] for i in idx),
                     cpu=self.cpu[idx], memory=self.memory[idx],
                     gpus=self.gpus[idx],
                     models=tuple(self.models[i] for i in idx))


@dataclasses.dataclass(frozen=True)
class Pods:
    cpu: np.ndarray
    memory: np.ndarray
    gpus: np.ndarray
    milli: np.ndarray

    def __len__(self):
        return len(self.cpu)

    @property
    def demand(self):
        """GPU each pod asks, in milli-GPU."""
        return self.gpus * self.milli

    def take(self, index):
        return Pods(cpu=self.cpu[index], memory=self.memory[index],
                    gpus=self.gpus[index], milli=self.milli[index])


def trace_dir(path=None):
    path = path or os.environ.get(ENV_VAR) or DEFAULT_DIR
    if not os.path.exists(os.path.join(path, NODE_FILE)):
        raise exception.UsageError(
            'trace directory %s has no %s: pass --trace-dir or set %s to '
            'the openb folder of alibaba/clusterdata' % (path, NODE_FILE,
                                                         ENV_VAR))
    return path


def _rows(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def load_nodes(path=None):
    rows = _rows(os.path.join(trace_dir(path), NODE_FILE))
    return Nodes(names=tuple(r['sn'] for r in rows),
                 cpu=np.array([int(r['cpu_milli']) for r in rows], float),
                 memory=np.array([int(r['memory_mib']) for r in rows],
                                 float),
                 gpus=np.array([int(r['gpu']) for r in rows]),
                 models=tuple(r['model'] for r in rows))


def load_pods(path=None, name=POD_FILE):
    rows = _rows(os.path.join(trace_dir(path), name))
    gpus = np.array([int(r['num_gpu']) for r in rows])
    milli = np.array([int(r['gpu_milli']) for r in rows])
    # NOTE: multi-GPU pods take whole GPUs; the trace writes 1000 for them.
    milli = np.where(gpus > 1, 1000, milli)
    return Pods(cpu=np.array([int(r['cpu_milli']) for r in rows], float),
                memory=np.array([int(r['memory_mib']) for r in rows],
                                float),
                gpus=gpus, milli=np.where(gpus == 0, 0, milli))


def sample(pods, capacity, seed, inflation=1.3):
    """FGD's protocol: pods drawn with replacement, in arrival order.

    Draws until the GPU the pods ask reaches ``inflation`` x capacity.
    """
    rng = np.random.default_rng(seed)
    mean = max(pods.demand.mean(), 1.0)
    draw = int(inflation * capacity / mean * 1.2) + 16
    index = rng.integers(0, len(pods), size=draw)
    cum = np.cumsum(pods.demand[index])
    while cum[-1] < inflation * capacity:
        more = rng.integers(0, len(pods), size=draw)
        index = np.concatenate([index, more])
        cum = np.cumsum(pods.demand[index])
    last = int(np.searchsorted(cum, inflation * capacity)) + 1
    return pods.take(index[:last])

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


def models_of(spec):
    """The GPU models a ``gpu_spec`` names (``|``-separated; empty: any)."""
    return frozenset(s for s in (spec or '').split('|') if s)


@dataclasses.dataclass(frozen=True)
class Pods:
    cpu: np.ndarray
    memory: np.ndarray
    gpus: np.ndarray
    milli: np.ndarray
    #: Allowed GPU models of each pod (``gpu_spec``, ``|``-separated;
    #: '' = any model). Empty tuple: no pod is constrained.
    spec: tuple = ()

    def __len__(self):
        return len(self.cpu)

    @property
    def specs(self):
        """``spec`` with one entry per pod ('' where unconstrained)."""
        return self.spec if len(self.spec) == len(self) else \
            ('',) * len(self)

    @property
    def gpu_specs(self):
        """Each GPU pod's ``gpu_spec``, as :func:`models_of` reads it."""
        return [models_of(spec) for spec, g in zip(self.specs, self.gpus)
                if g > 0]

    def allowed(self, models):
        """[pods, nodes] True where the pod may use a node's GPU model.

        A GPU pod whose ``gpu_spec`` names models may only use nodes of
        those models; CPU-only and unconstrained pods may use any node.
        """
        models = tuple(models)
        out = np.ones((len(self), len(models)), dtype=bool)
        for i, spec in enumerate(self.specs):
            if spec and self.gpus[i] > 0:
                names = models_of(spec)
                out[i] = [m in names for m in models]
        return out

    @property
    def demand(self):
        """GPU each pod asks, in milli-GPU."""
        return self.gpus * self.milli

    def take(self, index):
        index = np.asarray(index, dtype=np.int64)
        spec = tuple(self.specs[i] for i in index) if self.spec else ()
        return Pods(cpu=self.cpu[index], memory=self.memory[index],
                    gpus=self.gpus[index], milli=self.milli[index],
                    spec=spec)


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


def pod_files(path=None):
    """The trace variants of the folder: {variant: file name}, sorted.

    ``openb_pod_list_default.csv`` is variant ``default``.
    """
    found = {}
    for name in sorted(os.listdir(trace_dir(path))):
        if name.startswith('openb_pod_list_') and name.endswith('.csv'):
            found[name[len('openb_pod_list_'):-len('.csv')]] = name
    return found


def load_pods(path=None, name=POD_FILE):
    """Pods of one trace file.

    ``name`` may also be a path to any file with the same columns
    (``--pods FILE``).
    """
    if os.sep in name or os.path.exists(name):
        rows = _rows(name)
    else:
        rows = _rows(os.path.join(trace_dir(path), name))
    gpus = np.array([int(r['num_gpu']) for r in rows])
    milli = np.array([int(r['gpu_milli']) for r in rows])
    # NOTE: multi-GPU pods take whole GPUs; the trace writes 1000 for them.
    milli = np.where(gpus > 1, 1000, milli)
    return Pods(cpu=np.array([int(r['cpu_milli']) for r in rows], float),
                memory=np.array([int(r['memory_mib']) for r in rows],
                                float),
                gpus=gpus, milli=np.where(gpus == 0, 0, milli),
                spec=tuple((r.get('gpu_spec') or '').strip() for r in rows)
                if any(r.get('gpu_spec') for r in rows) else ())


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


def fgd_arrival(pods, capacity, seed, inflation=1.3):
    """The FGD authors' arrival order (their simulator's workload tuning).

    The whole pod list (in name order, i.e. file order) is shuffled; then,
    while the GPU it asks is below ``inflation`` x capacity, pods drawn
    with replacement from the list are appended (the loop stops before a
    pod whose *per-GPU* share would cross the target, as theirs does), or,
    while above, random pods are removed. Returns the arrival list.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pods))
    target = inflation * capacity
    demand = pods.demand
    total = int(demand.sum())
    if total > target:
        keep = list(order)
        while total > target and keep:
            i = int(rng.integers(len(keep)))
            total -= int(demand[keep[i]])
            del keep[i]
        return pods.take(np.array(keep, dtype=np.int64))
    extra = []
    while True:
        j = int(rng.integers(len(pods)))
        if total + int(pods.milli[j]) > target:
            break
        total += int(demand[j])
        extra.append(j)
    return pods.take(np.concatenate([order, np.array(extra, np.int64)]))


def arrival(pods, capacity, seed, protocol='ours', inflation=1.3):
    """Arrival list of one seed under ``protocol`` ('ours' or 'fgd')."""
    if protocol == 'fgd':
        return fgd_arrival(pods, capacity, seed, inflation)
    if protocol == 'ours':
        return sample(pods, capacity, seed, inflation)
    raise ValueError('unknown protocol %r: use fgd or ours' % protocol)

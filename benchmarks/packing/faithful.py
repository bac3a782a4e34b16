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

"""The FGD authors' baselines, rule for rule, on the benchmark's arrays.

What their simulator (``hkust-adsl/kubernetes-scheduler-simulator``, a
patched Kubernetes 1.20 scheduler) does, and this module reproduces:

- **Tie-break**: the node with the highest integer score wins; equal
  scores go to the lexicographically smallest node name (their patched
  ``selectHost``). Before scheduling, their simulator renames every node
  to ``'%04d-' % perm[i] + name`` with ``perm = rand.Perm(n)`` (their
  ``syncClusterResourceList``), so the smallest name is a node drawn at
  random once per run, not the first node of the file: ``tie_rank``
  draws that order per seed and ``pick_node`` follows it.
- **FGD score** (``fgd_scores``): ``int(sigmoid((F_before - F_after) /
  1000) * 100)`` per node, no normalisation; inside a node a shared pod
  goes to the first GPU with the highest such score.
- **Typical pods** (``typical_pods``): pod shapes ``(cpu, gpu share, GPU
  count, gpu_spec)`` of the whole trace, CPU-only pods included, most
  popular first, taken one at a time until they cover 95% of the pods,
  weights renormalised to sum to 1.
- **Fragmentation** of a node (``Frag``): for each typical pod with weight
  p, ``p x`` the node's idle GPU share if the pod cannot run there (CPU or
  GPUs lacking, or its ``gpu_spec`` excludes the node's model, or it is a
  CPU-only pod), else ``p x`` the idle share of the GPUs too small for it.
- **Best-fit**: ``int((1 - (cpu_left_after / 128000 + gpu_left_after /
  8000) / 2) * 100)``, min-max normalised to 0-100 over the feasible
  nodes with integer division; a shared pod takes the tightest GPU.
- **Random**: a uniformly random feasible node, a random fitting GPU.

Whole-GPU pods take the first fully free GPUs of the node in every
policy. The cluster must be in fractional mode (a GPU state is its free
milli-GPU), FGD's model.
"""

import dataclasses

import numpy as np

MAX_SCORE = 100
#: Best-fit normalisers of the authors' simulator (MaxSpecCpu, MaxSpecGpu).
MAX_SPEC_CPU = 128000.0
MAX_SPEC_GPU = 8000.0
MILLI = 1000
#: Policies this module decides; 'ours' and 'fgd-ours' go through
#: gpuvirt_nova.scheduler.scoring (benchmarks.packing.simulate.place).
POLICIES = ('fgd', 'best-fit', 'random', 'first-fit')
#: Second seed word of ``tie_rank``'s generator (apart from the others).
TIE_SALT = 1213


@dataclasses.dataclass(frozen=True)
class Typical:
    """The typical-pod mix ("target workload"); ``weight`` sums to 1."""

    cpu: np.ndarray
    milli: np.ndarray       # per-GPU share; 0 for CPU-only pods
    gpus: np.ndarray
    spec: tuple             # gpu_spec of each shape ('' = any model)
    weight: np.ndarray

    def __len__(self):
        return len(self.cpu)

    def access(self, models):
        """[T, N] True where typical pod t may use a node of that model."""
        out = np.ones((len(self), len(models)), dtype=bool)
        for t, spec in enumerate(self.spec):
            names = {s for s in spec.split('|') if s}
            if names:
                out[t] = [m in names for m in models]
        return out


def typical_pods(pods, threshold=95, step=1, cpu_pods=True):
    """The authors' ``GetTypicalPods`` (threshold 95, step 1, CPU pods in).

    Shapes are counted over the pod list, sorted by count, then by shape
    (both descending, their ``sort.Reverse``); ``step`` shapes at a time
    are taken until the count covered reaches ``threshold`` % of the pods.
    """
    counts = {}
    specs = pods.specs
    for i in range(len(pods)):
        k = int(pods.gpus[i])
        if k == 0 and not cpu_pods:
            continue
        key = (int(pods.cpu[i]), int(pods.milli[i]) if k else 0, k,
               specs[i] if k else '')
        counts[key] = counts.get(key, 0) + 1
    total = float(sum(counts.values()))
    ranked = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]),
                    reverse=True)
    expected = threshold * total / 100.0
    i = n = 0
    covered = 0.0
    while covered < expected and i < len(ranked):
        n += step
        while i < n and i < len(ranked):
            covered += ranked[i][1]
            i += 1
    keep = ranked[:i]
    return Typical(cpu=np.array([k[0] for k, _ in keep], float),
                   milli=np.array([k[1] for k, _ in keep], float),
                   gpus=np.array([k[2] for k, _ in keep], np.int64),
                   spec=tuple(k[3] for k, _ in keep),
                   weight=np.array([c for _, c in keep], float) / covered)


class Frag:
    """FGD's per-node fragmentation, kept up to date move by move.

    Per node and GPU typical pod t: ``S`` the idle share on GPUs smaller
    than t's share, ``C`` the GPUs that can host t, ``total`` the idle
    share; ``F`` the node's fragmentation (milli-GPU).
    """

    def __init__(self, typical, left, cpu_left, models):
        gpu = typical.milli > 0
        self.m = typical.milli[gpu]
        self.k = typical.gpus[gpu]
        self.cpu = typical.cpu[gpu]
        self.w = typical.weight[gpu]
        #: CPU-only typical pods count every idle GPU share, whatever the
        #: node (their XL/XR classes are "not satisfied" as well).
        self.w_cpu = float(typical.weight[~gpu].sum())
        self.access = typical.access(models)[gpu].T        # [N, T]
        self.S, self.C = self.terms(left)
        self.total = left.sum(axis=1).astype(float)
        self.F = self.frag(self.S, self.C, self.total, cpu_left,
                           self.access)

    def terms(self, left):
        left = np.asarray(left, float)[..., None]
        small = left < self.m
        return (left * small).sum(axis=-2), (~small).sum(axis=-2)

    def frag(self, S, C, total, cpu_left, access):
        fits = access & (np.asarray(cpu_left)[..., None] >= self.cpu) & \
            (C >= self.k)
        return (self.w * np.where(fits, S, total[..., None])).sum(-1) + \
            self.w_cpu * total

    def after(self, nodes, old, new, cpu_left_after):
        """F of each candidate's node after the move (old -> new GPUs)."""
        old = np.asarray(old, float)[..., None]
        new = np.asarray(new, float)[..., None]
        S = self.S[nodes] - (old * (old < self.m)).sum(1) + \
            (new * (new < self.m)).sum(1)
        C = self.C[nodes] - (old >= self.m).sum(1) + (new >= self.m).sum(1)
        total = self.total[nodes] - (old - new).sum(axis=(1, 2))
        return self.frag(S, C, total, cpu_left_after, self.access[nodes])

    def update(self, n, left_row, cpu_left):
        S, C = self.terms(left_row[None, :])
        self.S[n], self.C[n] = S[0], C[0]
        self.total[n] = float(left_row.sum())
        self.F[n] = self.frag(self.S[n:n + 1], self.C[n:n + 1],
                              self.total[n:n + 1], cpu_left[n:n + 1],
                              self.access[n:n + 1])[0]

    def ratio(self):
        """Fragmented / idle GPU share of the cluster (FGD's frag ratio)."""
        idle = self.total.sum()
        return float(self.F.sum() / idle) if idle else 0.0


def fgd_scores(before, after):
    """The authors' integer FGD score: int(sigmoid(-increase/1000)*100)."""
    x = (np.asarray(before, float) - np.asarray(after, float)) / 1000.0
    with np.errstate(over='ignore'):
        return np.floor(MAX_SCORE / (1.0 + np.exp(-x))).astype(np.int64)


def best_fit_scores(cpu_after, gpu_after):
    """The authors' best-fit node score, then their min-max normalisation.

    ``cpu_after``/``gpu_after``: CPU and total GPU share left on each
    feasible node after the pod. Integer arithmetic as in Go.
    """
    raw = np.floor((1.0 - (np.asarray(cpu_after) / MAX_SPEC_CPU * 0.5 +
                           np.asarray(gpu_after) / MAX_SPEC_GPU * 0.5)) *
                   MAX_SCORE).astype(np.int64)
    lo, hi = raw.min(), raw.max()
    if hi == lo:
        return np.zeros_like(raw)
    return (raw - lo) * MAX_SCORE // (hi - lo)


def tie_rank(n_nodes, seed):
    """The rank of each node's name in one run of the authors' simulator.

    Their nodes are renamed ``'%04d-' % perm[i] + name`` (a random
    permutation, drawn after the workload) before any pod is scheduled,
    so "smallest name" means smallest ``perm[i]``: equal scores go to a
    random node, the same one for the whole run. Without it every tie
    falls on the first nodes of the file (P100 nodes in openb), which
    starves the pods constrained to them (``gpu_spec``).
    """
    return np.random.default_rng([int(seed), TIE_SALT]).permutation(
        int(n_nodes))


def pick_node(scores, nodes=None, rank=None):
    """Index of the highest score; ties to the node of smallest rank.

    ``nodes[i]``: the node of candidate ``i``; ``rank``: ``tie_rank``
    of the run. Without a rank, ties go to the first candidate (lowest
    node index). Candidates of one node come in GPU order, so the first
    of them wins inside the node.
    """
    scores = np.asarray(scores)
    if rank is None:
        return int(np.argmax(scores))
    top = np.flatnonzero(scores == scores.max())
    return int(top[np.argmin(np.asarray(rank)[np.asarray(nodes)[top]])])


def candidates(left, node_ok, k, milli):
    """Feasible moves in (node, GPU) order: nodes[M], gpus[M, j], old, new.

    Shared pods: every GPU with enough idle share (one column). Whole-GPU
    pods: the node's first ``k`` fully idle GPUs. CPU-only pods: every
    node, no GPU (zero columns).
    """
    if k == 0:
        nodes = np.flatnonzero(node_ok)
        empty = np.zeros((len(nodes), 0))
        return nodes, empty.astype(np.int64), empty, empty
    if k == 1 and milli < MILLI:
        nodes, gpus = np.nonzero((left >= milli) & node_ok[:, None])
        old = left[nodes, gpus][:, None].astype(float)
        return nodes, gpus[:, None], old, old - milli
    full = left >= MILLI
    nodes = np.flatnonzero(node_ok & (full.sum(axis=1) >= k))
    gpus = np.argsort(~full[nodes], axis=1, kind='stable')[:, :k]
    old = np.full(gpus.shape, float(MILLI))
    return nodes, gpus, old, np.zeros(gpus.shape)


def choose(policy, frag, nodes, gpus, old, new, cpu, cpu_left, gpu_left,
           rng, rank=None):
    """Index of the winning candidate under the authors' ``policy``.

    ``rank``: the run's ``tie_rank`` (ties to the lowest index if None).
    """
    if policy == 'first-fit':
        return 0
    if policy == 'fgd':
        after = frag.after(nodes, old, new, cpu_left[nodes] - cpu)
        return pick_node(fgd_scores(frag.F[nodes], after), nodes, rank)
    # node-level policies: one score per node, then the GPU inside it
    uniq, first = np.unique(nodes, return_index=True)
    if policy == 'random':
        node = uniq[int(rng.integers(len(uniq)))]
    elif policy == 'best-fit':
        asked = (old - new).sum(axis=1)[first]
        scores = best_fit_scores(cpu_left[uniq] - cpu,
                                 gpu_left[uniq] - asked)
        node = uniq[pick_node(scores, uniq, rank)]
    else:
        raise ValueError('unknown policy %r: use one of %s'
                         % (policy, ', '.join(POLICIES)))
    mine = np.flatnonzero(nodes == node)
    if old.shape[1] != 1 or old[mine[0], 0] >= MILLI and \
            new[mine[0], 0] == 0:
        return int(mine[0])            # whole GPUs / CPU only: first GPUs
    if policy == 'random':
        return int(mine[int(rng.integers(len(mine)))])
    return int(mine[np.argmin(old[mine, 0])])  # tightest, first on ties

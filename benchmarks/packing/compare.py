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

"""Ours against the FGD authors' baselines, per trace variant, per seed.

    python -m benchmarks.packing.compare [--traces all|default,gpuspec20]
        [--pods FILE] [--seeds 42-51] [--protocol fgd|ours]
        [--baseline fgd-faithful|fgd-ours] [--policies ...] [--jobs 2]
        [--no-baseline] [--from-json a/results.json,b/results.json]
        [--out benchmarks/packing/results/compare]

Fractional mode (FGD's model) on the openb cluster. Every policy sees the
same arrival list per (trace, seed) and honours the trace's ``gpu_spec``
(GPU-model constraint). ``fgd``, ``best-fit``, ``random`` and
``first-fit`` follow the authors' simulator rule for rule
(:mod:`benchmarks.packing.faithful`); ``ours`` and ``fgd-ours`` (our
earlier FGD: random ties, GPU pods only in the mix), ``ours-nomodel``
(ours with a mix blind to GPU-model constraints) and ``ours-gpuview``
(what Nova's weigher sees when ``typical_requests`` names no vCPUs: a
mix without CPU needs, and the dominant share left of GPU alone; with
vCPUs it sees ours' own mix, ``modes.configured_mix``) and
``ours-recent`` (``typical_requests`` empty: the mix learned from the
latest requests, ``modes.RecentMix``, ours-gpuview's before the first
100) are decided by
:mod:`gpuvirt_nova.scheduler.scoring`, the code Nova's filter runs.
Metrics are the authors': allocation at X% arrived demand is the mean of
the per-pod allocation over the pods whose arrived demand rounds to X%;
the fragmentation ratio is fragmented / idle GPU share under their
typical-pod mix. Writes ``results.json`` and ``table.md`` under ``--out``.
"""

import argparse
import csv
import json
import multiprocessing
import os
import sys
import time

import numpy as np

from benchmarks.packing import faithful
from benchmarks.packing import modes
from benchmarks.packing import simulate
from benchmarks.packing import trace
from gpuvirt_nova.scheduler import scoring

PUBLISHED = 'fgd_published_summary.csv'
#: Published policy names of the authors' summary, by our policy name.
PUBLISHED_NAMES = {'fgd': '06-FGD', 'best-fit': '05-BestFit',
                   'random': '01-Random'}
ALL_POLICIES = ('ours', 'fgd', 'best-fit', 'random', 'first-fit',
                'fgd-ours', 'ours-nomodel', 'ours-gpuview', 'ours-recent')
ALLOC_POINTS = (50, 70, 90, 100, 130)
FRAG_POINTS = (50, 70, 90, 100)
_STATE = {}


def parse_seeds(text):
    """'42-51' -> 42..51; '3' -> 0..2; '1,5,9' -> those."""
    seeds = []
    for part in str(text).split(','):
        if '-' in part:
            lo, hi = part.split('-')
            seeds += list(range(int(lo), int(hi) + 1))
        elif ',' in str(text):
            seeds.append(int(part))
        else:
            seeds += list(range(int(part)))
    return seeds


def setup(variant, trace_dir):
    """Cluster pieces of one trace variant (cached per worker process)."""
    if variant in _STATE:
        return _STATE[variant]
    nodes = trace.load_nodes(trace_dir)
    name = variant if os.sep in variant or variant.endswith('.csv') \
        else 'openb_pod_list_%s.csv' % variant
    _STATE[variant] = state_for(nodes, trace.load_pods(trace_dir, name))
    return _STATE[variant]


def state_for(nodes, pods):
    """What every replay of ``pods`` on ``nodes`` shares (fractional)."""
    values, index = modes.request_classes(pods)
    space, _ = modes.fractional_space(values)
    mix = modes.mix_from(pods, index)
    # ours: the mix keeps each class's GPU-model constraint (gpu_spec),
    # learned from the most common shapes (modes.TYPICAL_COVER)
    model_mix, groups = modes.mix_from(pods, index, by_model=True,
                                       top_share=modes.TYPICAL_COVER)
    # ours-gpuview: the same classes without their CPU needs
    blind_mix, _ = modes.mix_from(pods, index, by_model=True,
                                  cpu_blind=True,
                                  top_share=modes.TYPICAL_COVER)
    return dict(nodes=nodes, pods=pods, values=values, space=space, mix=mix,
                model_mix=model_mix, blind_mix=blind_mix,
                access=scoring.access_matrix(model_mix, groups,
                                             nodes.models),
                blind_access=scoring.access_matrix(blind_mix, groups,
                                                   nodes.models),
                groups=groups, tables=modes.tables(space, mix),
                typical=faithful.typical_pods(pods))


def window_mean(arrived, values, capacity, point):
    """The authors' reading: mean over pods whose arrived % rounds to it."""
    pct = np.round(arrived / capacity * 100.0)
    sel = pct == point
    if not sel.any():
        sel = np.abs(pct - point) <= 1
    return float(values[sel].mean()) if sel.any() else None


def replay(st, arrived, policy, seed):
    """Replay one arrival list.

    Returns per pod (arrived demand, allocated, frag ratio), the mean
    decision time and the final cluster.
    """
    nodes, space = st['nodes'], st['space']
    cluster = simulate.Cluster.build(space, nodes, [0] * len(nodes.names),
                                     len(space.shapes) - 1)
    rng = np.random.default_rng(seed + 7919)
    # the authors' simulator renames its nodes at random before a run:
    # their "smallest name" tie-break follows this order. ours ties by
    # the same order: in Nova its ties go to the smallest compute node
    # uuid, a random order of the hosts as well
    rank = faithful.tie_rank(len(nodes.names), seed)
    frag = faithful.Frag(st['typical'], space.free[cluster.states],
                         cluster.cpu_left, nodes.models)
    requests = np.searchsorted(st['values'], np.where(
        arrived.gpus > 0, arrived.milli, 1000))
    # 'ours:0.03': ours with PACK_BLEND 0.03; 'ours:0.07:0': and TIE_STEP
    # 0, 'ours:0.07:points' FGD's points (tuning runs)
    policy, _, tuned = policy.partition(':')
    blend, _, step = tuned.partition(':')
    blend = float(blend) if blend else None
    step = None if not step else (
        scoring.POINTS if step == scoring.POINTS else float(step))
    scored = policy in ('ours', 'fgd-ours', 'ours-nomodel', 'ours-gpuview',
                        'ours-recent')
    mix, access, dims = st['mix'], None, simulate.DIMS
    recent = None
    if policy == 'ours':
        mix, access = st['model_mix'], st['access']
    elif policy in ('ours-gpuview', 'ours-recent'):
        mix, access, dims = st['blind_mix'], st['blind_access'], 1
    if policy == 'ours-recent':
        recent = modes.RecentMix(st['groups'])
    if scored:
        terms = [np.array(t, dtype=float) for t in scoring.node_terms(
            space, cluster.states, mix)]
    masks = {}
    specs = arrived.specs
    n_pods = len(arrived)
    alloc = np.zeros(n_pods)
    ratio = np.zeros(n_pods)
    got = 0.0
    spent = 0.0
    for i in range(n_pods):
        cpu, mem = arrived.cpu[i], arrived.memory[i]
        k, milli = int(arrived.gpus[i]), int(arrived.milli[i])
        spec = specs[i] if k else ''
        if spec not in masks:
            names = {s for s in spec.split('|') if s}
            masks[spec] = None if not names else np.array(
                [m in names for m in nodes.models])
        allowed = masks[spec]
        start = time.perf_counter()
        n = None
        learning = recent is not None and k
        if learning:
            before = mix, access, dims, terms
        due = learning and recent.record(requests[i], k, cpu, spec)
        if due:
            mix = recent.mix()
            access = scoring.access_matrix(mix, st['groups'], nodes.models)
            dims = simulate.DIMS if mix.grid.any() else 1
            terms = [np.array(t, dtype=float) for t in scoring.node_terms(
                space, cluster.states, mix)]
        if scored:
            placed = simulate.place(
                cluster, mix, terms,
                'fgd' if policy == 'fgd-ours' else 'ours', (cpu, mem, k),
                requests[i], st['tables'], rng, allowed=allowed,
                access=access, blend=blend, step=step, dims=dims,
                node_rank=rank)
            if placed is not None:
                n = placed[1]
            elif learning:
                # no node could take it: Nova fails it before any filter
                # runs, so the scheduler never counts it
                recent.forget_last()
                mix, access, dims, terms = before
        else:
            node_ok = (cluster.cpu_left >= cpu) & (cluster.mem_left >= mem)
            if allowed is not None:
                node_ok &= allowed
            left = space.free[cluster.states]
            cand, gpus, old, new = faithful.candidates(left, node_ok, k,
                                                       milli)
            if len(cand) and policy == 'fgd' and k == 1 and milli < 1000:
                # GPUs of one node with the same idle share score the
                # same; the first of them is the one FGD would take
                key = cand * 1001 + old[:, 0].astype(np.int64)
                _, first = np.unique(key, return_index=True)
                first.sort()
                cand, gpus, old, new = cand[first], gpus[first], \
                    old[first], new[first]
            if len(cand):
                pick = faithful.choose(policy, frag, cand, gpus, old, new,
                                       cpu, cluster.cpu_left, frag.total,
                                       rng, rank=rank)
                n = cand[pick]
                if k:
                    cluster.states[n, gpus[pick]] = new[pick].astype(
                        np.int64)
                cluster.cpu_left[n] -= cpu
                cluster.mem_left[n] -= mem
        spent += time.perf_counter() - start
        if n is not None:
            got += k * milli
            frag.update(n, space.free[cluster.states[n]], cluster.cpu_left)
        alloc[i] = got
        ratio[i] = frag.ratio()
    return np.cumsum(arrived.demand).astype(float), alloc, ratio, \
        spent / max(n_pods, 1), cluster


def run_one(job):
    variant, policy, seed, protocol, trace_dir = job
    st = setup(variant, trace_dir)
    cap = float(st['nodes'].capacity)
    arrived = trace.arrival(st['pods'], cap, seed, protocol)
    demand, alloc, ratio, per_pod, _ = replay(st, arrived, policy, seed)
    return {
        'trace': variant, 'policy': policy, 'seed': seed,
        'protocol': protocol,
        'alloc': {str(p): window_mean(demand, alloc / cap, cap, p)
                  for p in ALLOC_POINTS},
        'frag_ratio': {str(p): window_mean(demand, ratio, cap, p)
                       for p in FRAG_POINTS},
        'curve': [window_mean(demand, alloc / cap, cap, p)
                  for p in range(40, 131, 2)],
        'decision_ms': per_pod * 1e3,
    }


def _rounded(value):
    """Floats to 5 decimals, so results.json stays small and diffable."""
    if isinstance(value, float):
        return round(value, 5)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


def published(trace_dir):
    path = os.path.join(trace_dir, PUBLISHED)
    out = {}
    if os.path.exists(path):
        with open(path, newline='') as f:
            for row in csv.DictReader(f):
                out[(row['trace'], row['policy'])] = row
    return out


def _stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    a = np.array(values) * 100
    return {'mean': float(a.mean()), 'sd': float(a.std(ddof=1))
            if len(a) > 1 else 0.0, 'min': float(a.min()),
            'max': float(a.max()), 'n': len(a)}


def _paired_stats(values):
    """Paired differences (fractions): _stats plus a t interval and signs.

    ``ci95``: half-width of the 95% t interval of the mean (points);
    ``ahead``/``behind``: seeds above/below zero; ``sign_p``: two-sided
    sign-test p-value (ties dropped).
    """
    out = _stats(values)
    if not out:
        return out
    from scipy import stats as sstats
    a = np.array([v for v in values if v is not None]) * 100
    n = len(a)
    out['ci95'] = float(sstats.t.ppf(0.975, n - 1) * a.std(ddof=1)
                        / np.sqrt(n)) if n > 1 else float('inf')
    out['ahead'] = int((a > 1e-9).sum())
    out['behind'] = int((a < -1e-9).sum())
    signs = out['ahead'] + out['behind']
    out['sign_p'] = float(sstats.binomtest(out['ahead'], signs).pvalue) \
        if signs else 1.0
    return out


def summarize(runs, baseline):
    """Per (trace, policy): means; per trace: paired ours - baseline."""
    table = {}
    for run in runs:
        table.setdefault(run['trace'], {}).setdefault(
            run['policy'], []).append(run)
    out = {}
    for variant, by_policy in sorted(table.items()):
        row = {}
        for policy, rs in by_policy.items():
            row[policy] = {
                'seeds': sorted(r['seed'] for r in rs),
                'alloc': {p: _stats([r['alloc'][p] for r in rs])
                          for p in rs[0]['alloc']},
                'frag_ratio': {p: _stats([r['frag_ratio'][p] for r in rs])
                               for p in rs[0]['frag_ratio']},
                'decision_ms': float(np.mean([r['decision_ms']
                                              for r in rs])),
                'curve': np.mean([[c if c is not None else np.nan
                                   for c in r['curve']] for r in rs],
                                 axis=0).tolist(),
            }
        base = {r['seed']: r for r in by_policy.get(baseline, [])}
        for policy, rs in by_policy.items():
            pairs = [(r['alloc'], base[r['seed']]['alloc']) for r in rs
                     if r['seed'] in base and policy != baseline]
            if pairs:
                row[policy]['vs_baseline'] = {
                    p: _paired_stats([a[p] - b[p] for a, b in pairs
                                      if a[p] is not None and
                                      b[p] is not None])
                    for p in ('100', '130')}
        out[variant] = row
    return out


def _cell(stats, sd=True):
    if not stats:
        return '-'
    if sd:
        return '%.2f (sd %.2f)' % (stats['mean'], stats['sd'])
    return '%.2f' % stats['mean']


def _diff(stats):
    if not stats:
        return '-'
    if 'ci95' not in stats:
        return '%+.2f (sd %.2f, %+.2f..%+.2f)' % (
            stats['mean'], stats['sd'], stats['min'], stats['max'])
    return '%+.2f (95%% CI %+.2f..%+.2f; %d/%d seeds ahead, sign p=%.3f)' % (
        stats['mean'], stats['mean'] - stats['ci95'],
        stats['mean'] + stats['ci95'], stats['ahead'], stats['n'],
        stats['sign_p'])


def _paired_columns(policies):
    """ours and its tuned variants (ours:B:S) get a paired column."""
    return ['ours'] + [p for p in policies if p.startswith('ours:')]


def markdown(summary, pub, baseline, policies):
    lines = []
    for point in ('100', '130'):
        head = ['trace', 'seeds'] + [
            'published ' + p for p in ('fgd', 'best-fit', 'random')] + \
            list(policies) + ['%s - %s (paired)' % (p, baseline)
                              for p in _paired_columns(policies)]
        lines += ['GPU allocated (%%) at %s%% arrived demand:' % point, '',
                  '| ' + ' | '.join(head) + ' |',
                  '|' + '---|' * len(head)]
        for variant, row in summary.items():
            # the seeds of ours (the paired column's n), else the most
            seeds = len(row['ours']['seeds']) if 'ours' in row else max(
                (len(r['seeds']) for r in row.values()), default=0)
            cells = [variant, str(seeds)]
            for policy in ('fgd', 'best-fit', 'random'):
                p = pub.get((variant, PUBLISHED_NAMES[policy]))
                cells.append(p['alloc_pct_at_%s_demand' % point]
                             if p else '-')
            for policy in policies:
                r = row.get(policy)
                cells.append(_cell(r['alloc'][point]) if r else '-')
            for policy in _paired_columns(policies):
                cells.append(_diff(row.get(policy, {}).get(
                    'vs_baseline', {}).get(point)))
            lines.append('| ' + ' | '.join(cells) + ' |')
        lines.append('')
    head = ['trace', 'published fgd @70'] + \
        ['%s @%s' % (p, x) for p in policies for x in ('50', '70', '90')]
    lines += ['Fragmentation ratio (%, fragmented / idle GPU, authors\' '
              'typical-pod measure):', '',
              '| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for variant, row in summary.items():
        p = pub.get((variant, '06-FGD'))
        cells = [variant, p['frag_ratio_pct_at_70_demand'] if p else '-']
        for policy in policies:
            r = row.get(policy)
            for x in ('50', '70', '90'):
                cells.append(_cell(r['frag_ratio'][x], sd=False)
                             if r else '-')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def plot(summary, baseline, out):
    """allocation_by_trace.png (curves) and paired_difference.png."""
    try:
        import matplotlib
    except ImportError:
        sys.stderr.write('matplotlib is not installed: no plots '
                         '(benchmarks/requirements.txt)\n')
        return
    matplotlib.use('Agg')
    from matplotlib import pyplot
    variants = list(summary)
    cols = min(4, len(variants))
    rows = (len(variants) + cols - 1) // cols
    fig, axes = pyplot.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows),
                                squeeze=False)
    xs = list(range(40, 131, 2))
    for ax, variant in zip(axes.flat, variants):
        for policy in ALL_POLICIES:
            row = summary[variant].get(policy)
            if row:
                ax.plot(xs, [100 * v for v in row['curve']], label=policy)
        ax.set_title(os.path.basename(variant))
        ax.set_xlim(80, 130)
        ax.set_ylim(80, 98)
        ax.set_xlabel('arrived GPU demand (%)')
        ax.set_ylabel('GPU allocated (%)')
    for ax in list(axes.flat)[len(variants):]:
        ax.axis('off')
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, 'allocation_by_trace.png'), dpi=90)
    pyplot.close(fig)
    fig, ax = pyplot.subplots(figsize=(8, 3.5))
    for j, point in enumerate(('100', '130')):
        means, sds = [], []
        for variant in variants:
            d = summary[variant].get('ours', {}).get(
                'vs_baseline', {}).get(point) or {'mean': 0, 'sd': 0}
            means.append(d['mean'])
            sds.append(d['sd'])
        ax.bar(np.arange(len(variants)) + 0.4 * j - 0.2, means, 0.4,
               yerr=sds, label='at %s%% demand' % point)
    ax.axhline(0, c='grey', lw=0.8)
    ax.set_xticks(range(len(variants)))
    ax.set_xticklabels([os.path.basename(v) for v in variants],
                       rotation=20, fontsize=8)
    ax.set_ylabel('ours - %s (points, paired)' % baseline)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, 'paired_difference.png'), dpi=90)
    pyplot.close(fig)


def repro_markdown(summary, pub):
    """Published vs our replay of the authors' baselines, per trace."""
    head = ['trace']
    for policy in ('fgd', 'best-fit', 'random'):
        head += ['%s published' % policy, '%s replayed' % policy, 'diff']
    lines = ['The authors\' baselines, published vs replayed here (GPU '
             'allocated %, at 100% / 130% arrived demand):', '',
             '| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for variant, row in summary.items():
        cells = [os.path.basename(variant)]
        for policy in ('fgd', 'best-fit', 'random'):
            p = pub.get((variant, PUBLISHED_NAMES[policy]))
            r = row.get(policy)
            if not p or not r:
                cells += ['-', '-', '-']
                continue
            vals = [(float(p['alloc_pct_at_%s_demand' % x]),
                     r['alloc'][x]['mean']) for x in ('100', '130')]
            cells += [' / '.join('%.2f' % a for a, _ in vals),
                      ' / '.join('%.2f' % b for _, b in vals),
                      ' / '.join('%+.2f' % (b - a) for a, b in vals)]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--trace-dir')
    parser.add_argument('--traces', default='all',
                        help="'all' (every openb_pod_list_*.csv of the "
                             "folder) or comma-separated variant names")
    parser.add_argument('--pods', help='replay this pod list (same '
                        'columns as the openb pod lists) instead')
    parser.add_argument('--seeds', default='42-51',
                        help="'42-51', '1,2,3' or a count (0..N-1)")
    parser.add_argument('--protocol', default='fgd', choices=('fgd', 'ours'))
    parser.add_argument('--baseline', default='fgd-faithful',
                        choices=('fgd-faithful', 'fgd-ours'))
    parser.add_argument('--policies', default=','.join(ALL_POLICIES[:5]))
    parser.add_argument('--jobs', type=int, default=2)
    parser.add_argument('--no-baseline', action='store_true',
                        help='replay only --policies; merge the result '
                        'with a run that holds the baseline (--from-json)')
    parser.add_argument('--from-json', help='comma-separated results.json '
                        'files of earlier runs: merge their runs and '
                        'write the table, without replaying')
    parser.add_argument('--out', default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), 'results', 'compare'))
    args = parser.parse_args(argv)
    trace_dir = trace.trace_dir(args.trace_dir)
    if args.pods:
        variants = [os.path.abspath(args.pods)]
    elif args.traces == 'all':
        variants = list(trace.pod_files(trace_dir))
    else:
        variants = args.traces.split(',')
    baseline = 'fgd' if args.baseline == 'fgd-faithful' else 'fgd-ours'
    policies = args.policies.split(',')
    if baseline not in policies and not args.no_baseline:
        policies.append(baseline)
    jobs = [(v, p, s, args.protocol, trace_dir) for v in variants
            for s in parse_seeds(args.seeds) for p in policies]
    start = time.time()
    runs = []
    if args.from_json:
        merged = {}
        for path in args.from_json.split(','):
            with open(path) as f:
                for r in json.load(f)['runs']:
                    # a later file replaces the same (trace, policy, seed)
                    merged[(r['trace'], r['policy'], r['seed'])] = r
        runs = list(merged.values())
        seen = {r['policy'] for r in runs}
        policies = [p for p in ALL_POLICIES if p in seen] + \
            sorted(seen - set(ALL_POLICIES))
        jobs = []
    os.makedirs(args.out, exist_ok=True)
    partial = os.path.join(args.out, 'results.partial.json')
    with multiprocessing.Pool(args.jobs) as pool:
        for i, run in enumerate(pool.imap_unordered(run_one, jobs)):
            runs.append(run)
            sys.stderr.write('\r%d/%d runs, %.0f s' % (
                i + 1, len(jobs), time.time() - start))
            # NOTE: every finished run is kept, so a long sweep that is
            # stopped still gives its runs to --from-json.
            with open(partial, 'w') as f:
                json.dump(_rounded({'args': vars(args), 'runs': runs}), f)
    sys.stderr.write('\n')
    summary = summarize(runs, baseline)
    pub = published(trace_dir)
    text = repro_markdown(summary, pub) + '\n' + \
        markdown(summary, pub, baseline, policies)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, 'results.json'), 'w') as f:
        json.dump(_rounded({'args': vars(args), 'summary': summary,
                            'runs': runs,
                            'wall_seconds': time.time() - start}), f)
    with open(os.path.join(args.out, 'table.md'), 'w') as f:
        f.write(text)
    plot(summary, baseline, args.out)
    print(text)
    print('wall time: %.0f s' % (time.time() - start))


if __name__ == '__main__':
    main()

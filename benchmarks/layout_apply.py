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

"""Cost of ``layout apply`` read-backs, whole host vs one GPU, side by side.

    python -m benchmarks.layout_apply [--repeat 3] [EXAMPLE.yaml ...]

For each shipped example layout (default: every file under
``etc/gpuvirt-nova/layouts``) builds the simulated host its
``# simulate:`` line names, twice, and applies the layout to each fresh
host:

- **whole host**: every read (before and after each step) is a full
  discovery of the host, as ``layout apply`` did before per-GPU reads;
- **one GPU**: each step is read back with ``discover.discover_gpu`` (only
  the GPU it touched), and the state a step needs before writing comes
  from the latest read-back.

It counts files opened for reading (sysfs files and the simulator's NVML
state) and wall time, and checks that both runs end in the same state.
"""

import argparse
import builtins
import glob
import os
import shutil
import statistics
import tempfile
import time

from gpuvirt_nova.hardware import discover
from gpuvirt_nova.hardware import model
from gpuvirt_nova.layout import apply as apply_mod
from gpuvirt_nova.layout import spec as spec_mod
from gpuvirt_nova.layout import target as target_mod
from gpuvirt_nova import sim
from gpuvirt_nova.sim import scratch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(REPO, 'etc', 'gpuvirt-nova', 'layouts')


class ReadCounter:
    """Counts ``open()`` calls for reading while active."""

    def __init__(self):
        self.reads = 0
        self._open = builtins.open

    def __enter__(self):
        def counting_open(file, mode='r', *args, **kwargs):
            if not any(c in mode for c in 'wax+'):
                self.reads += 1
            return self._open(file, mode, *args, **kwargs)
        builtins.open = counting_open
        return self

    def __exit__(self, *exc):
        builtins.open = self._open


def example_spec(path):
    with open(path) as stream:
        for line in stream:
            if line.startswith('# simulate:'):
                return line.split(':', 1)[1].strip()
    raise SystemExit('%s has no "# simulate:" line' % path)


def run_once(path, whole_host):
    """(steps, file reads, seconds, final state) of one apply."""
    layout = spec_mod.load_file(path)
    root = tempfile.mkdtemp(dir=scratch.scratch_dir())
    try:
        host = sim.SimulatedHost.create(root, example_spec(path))
        node = layout.hosts()[0] if len(layout.hosts()) == 1 else \
            host.hostname
        targets = target_mod.resolve_node(layout.node(node),
                                          discover.discover_host(host))
        read_gpu = None if whole_host else (
            lambda address: discover.discover_host_gpu(host, address))
        last = apply_mod._Gpu.last
        if whole_host:
            # NOTE: the old behaviour: every read is a real, whole-host one.
            apply_mod._Gpu.last = apply_mod._Gpu.read
        try:
            with ReadCounter() as counter:
                start = time.perf_counter()
                results = apply_mod.apply(
                    targets, lambda: discover.discover_host(host),
                    host.writer(), node, apply_mod.Options(force=True),
                    read_gpu=read_gpu)
                seconds = time.perf_counter() - start
        finally:
            apply_mod._Gpu.last = last
        bad = [r for r in results if r.status != apply_mod.APPLIED]
        if bad:
            raise SystemExit('%s: apply failed: %s' % (path, bad[0].message))
        state = model.to_dict(discover.discover_host(host).gpus)
        for gpu in state:
            gpu.pop('uuid')
            for mdev in gpu['mdevs']:
                mdev.pop('uuid')
        return (sum(len(r.done) for r in results), counter.reads, seconds,
                state)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def measure(path, repeat):
    rows = {}
    for whole_host in (True, False):
        runs = [run_once(path, whole_host) for _ in range(repeat)]
        rows[whole_host] = (runs[0][0], runs[0][1],
                            statistics.median(r[2] for r in runs),
                            runs[0][3])
    if rows[True][3] != rows[False][3]:
        raise SystemExit('%s: the two runs ended in different states'
                         % path)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('examples', nargs='*', metavar='EXAMPLE',
                        help='Layout files (default: the shipped ones).')
    parser.add_argument('--repeat', type=int, default=3,
                        help='Applies per mode; the median time is shown.')
    args = parser.parse_args(argv)
    paths = args.examples or sorted(glob.glob(os.path.join(EXAMPLES,
                                                           '*.yaml')))
    print('| example | host | steps | file reads: whole host | one GPU | '
          'ratio | time: whole host | one GPU | ratio |')
    print('|---|---|---|---|---|---|---|---|---|')
    for path in paths:
        rows = measure(path, args.repeat)
        old, new = rows[True], rows[False]
        print('| %s | %s | %d | %d | %d | %.1fx | %.2f s | %.2f s | %.1fx |'
              % (os.path.basename(path), example_spec(path), old[0],
                 old[1], new[1], old[1] / max(new[1], 1), old[2], new[2],
                 old[2] / max(new[2], 1e-9)))


if __name__ == '__main__':
    main()

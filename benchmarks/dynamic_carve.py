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

"""Dynamic GPUs: spawn time added by carving, and the race's reschedules.

    python -m benchmarks.dynamic_carve [--repeat 20] [--streams 200]

1. **Carving cost.** On a simulated A100-PCIE-40GB (vendor VFIO), side by
   side in one run: what the driver does for a guest on a static GPU
   (``assign.assign`` of a carved VF) and on a dynamic one
   (:func:`gpuvirt_nova.dynamic.carve.carve`: GPU instance, compute
   instance and VF type, each read back; then ``uncarve`` when it
   leaves), per guest, for each profile.
2. **The race.** A boot lands on a GPU the scheduler saw with the busy
   slices of its last provider update; boots that come before the next
   update see the same marks. Placement counts slices exactly (its claim
   is atomic), the geometry filter ranks on the stale marks, and the
   driver carves in arrival order at the best placement still free
   (:func:`gpuvirt_nova.layout.geometry.best_placement`, the scheduler's
   and the driver's one function). A carve with no free placement is a
   lost race: Nova reschedules it. For ``--streams`` random streams of
   profile requests on 8 dynamic GPUs, with ``k`` boots between two
   provider updates, it counts those reschedules per boot.
3. **Time-sliced, mixed-size.** The same two on a dynamic time-sliced
   A100 (vendor VFIO, R580): the cost of
   :func:`gpuvirt_nova.dynamic.ts_carve.carve` (a VF's type, read back)
   per type, and the race with the busy placement slots of the last
   provider update (framebuffer slices counted exactly by Placement; the
   host driver puts a vGPU at its type's lowest free placement).
"""

import argparse
import random
import statistics
import tempfile
import time

from gpuvirt_nova.dynamic import carve as carve_mod
from gpuvirt_nova.dynamic import ts_carve
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import discover
from gpuvirt_nova.hardware import model
from gpuvirt_nova.hardware import ts_placement
from gpuvirt_nova.layout import geometry
from gpuvirt_nova.placement import naming
from gpuvirt_nova import sim
from gpuvirt_nova.virt import assign

MODEL = 'A100-PCIE-40GB'
PROFILES = ('1g.5gb', '2g.10gb', '3g.20gb', '4g.20gb', '7g.40gb')


def _host(directory, mode):
    return sim.SimulatedHost.create(directory, '1x%s:%s' % (MODEL, mode))


def _time_carves(host, names, repeat, carve):
    """{name: (static assign ms, dynamic carve ms, uncarve ms)}, medians.

    ``carve(writer, read_gpu, address, name)`` carves one guest's device
    on the host's first GPU; the static path hands the carved VF to a
    guest, as the driver does for a static GPU.
    """
    writer = host.writer()
    address = discover.discover_host(host).gpus[0].address

    def read_gpu(addr):
        return discover.discover_host_gpu(host, addr)
    results = {}
    for name in names:
        carve_ms, uncarve_ms, assign_ms = [], [], []
        for _ in range(repeat):
            start = time.perf_counter()
            carved = carve(writer, read_gpu, address, name)
            carve_ms.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            assign.assign([assign.Request(
                address, naming.resource_class(carved.vgpu_type))],
                discover.discover_host(host))
            assign_ms.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            carve_mod.uncarve(writer, read_gpu, carved)
            uncarve_ms.append((time.perf_counter() - start) * 1000)
        results[name] = tuple(statistics.median(v) for v in (
            assign_ms, carve_ms, uncarve_ms))
    return results


def carving_cost(repeat):
    """{profile: (static assign ms, dynamic carve ms, uncarve ms)}."""
    with tempfile.TemporaryDirectory() as tmp:
        host = _host(tmp + '/dyn', 'mig')
        host.writer().set_mig_mode(
            discover.discover_host(host).gpus[0].address, True)
        return _time_carves(host, PROFILES, repeat, carve_mod.carve)


TS_TYPES = ('A100-4C', 'A100-5C', 'A100-8C', 'A100-10C', 'A100-20C',
            'A100-40C')
TS_HOST = {'hostname': 'bench', 'driver_version': '580.65.06',
           'gpus': [{'model': MODEL, 'mode': 'vfio',
                     'scheduling': 'mixed-size'}]}


def ts_carving_cost(repeat):
    """{type: (static assign ms, dynamic create ms, uncarve ms)}."""
    import os
    import yaml
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'host.yaml')
        with open(path, 'w') as handle:
            yaml.safe_dump(TS_HOST, handle)
        host = sim.SimulatedHost.create(tmp + '/dyn', sim.parse_spec(path))

        def carve(writer, read_gpu, address, type_name):
            return ts_carve.carve(writer, read_gpu, address, type_name,
                                  ts_placement.MIXED)
        return _time_carves(host, TS_TYPES, repeat, carve)


def _race(streams, window, names, capacity, size, stale_view, refused,
          place, gpus=8, length=60, seed=0):
    """(boots, lost races) over ``streams`` random streams on ``gpus``.

    ``window``: boots between two provider updates of a GPU. Placement
    counts each GPU's capacity exactly (``size(name)`` of ``capacity``);
    the scheduler judges geometry on the last update
    (``refused(stale_view(hosted), name)``); the driver then takes
    ``place(hosted, name)``, the entry of the placement it carves, or
    None when none is free: a lost race, rescheduled by Nova. The busiest
    GPU (as Placement's view says) is packed first; some guests leave.
    """
    rng = random.Random(seed)
    boots = lost = 0
    for _ in range(streams):
        hosted = [[] for _ in range(gpus)]
        used = [0] * gpus
        stale = [stale_view([]) for _ in range(gpus)]
        for index in range(length):
            if index % window == 0:
                stale = [stale_view([e for _, e in h]) for h in hosted]
            name = rng.choice(names)
            fits = [g for g in range(gpus)
                    if used[g] + size(name) <= capacity and
                    not refused(stale[g], name)]
            if not fits:
                continue  # refused by the scheduler: not a race
            chosen = max(fits, key=lambda g: (used[g], -g))
            boots += 1
            entry = place([e for _, e in hosted[chosen]], name)
            if entry is None:
                lost += 1
                continue
            used[chosen] += size(name)
            hosted[chosen].append((name, entry))
            if rng.random() < 0.3:
                g = rng.randrange(gpus)
                if hosted[g]:
                    gone, _ = hosted[g].pop(rng.randrange(len(hosted[g])))
                    used[g] -= size(gone)
    return boots, lost


def ts_race(streams, window, gpus=8, length=60, seed=0):
    """(boots, lost races) on dynamic time-sliced GPUs (mixed-size)."""
    gpu_model = catalog.load().get(MODEL)
    types = {t: gpu_model.vgpu_type(t) for t in TS_TYPES}

    def stale_view(hosted):
        # The provider update: busy slots as traits (anonymous).
        return [ts_placement.Hosted('', model.Placement(s, 1))
                for s in ts_placement.busy_slots(gpu_model, hosted)]

    def place(hosted, name):
        where = ts_placement.next_placement(gpu_model, hosted, name)
        return None if where is None else ts_placement.Hosted(name, where)
    return _race(
        streams, window, TS_TYPES, ts_placement.total_slices(gpu_model),
        lambda name: ts_placement.type_slices(gpu_model, types[name]),
        stale_view,
        lambda view, name: bool(ts_placement.mixed_size_refusal(
            gpu_model, view, name)),
        place, gpus, length, seed)


def race(streams, window, gpus=8, length=60, seed=0):
    """(boots, lost races) on dynamic MIG GPUs.

    ``window``: boots between two provider updates of a GPU.
    """
    profiles = {p.name: p for p in catalog.load().get(MODEL).mig_profiles}
    every = list(profiles.values())

    def stale_view(occupied):
        # Busy-slice marks: where, not whose.
        return [geometry.Occupied('', o.placement, compute=0)
                for o in occupied]

    def place(occupied, name):
        best = geometry.best_placement(every, occupied, name)
        return None if best is None else geometry.Occupied(name, best)
    return _race(
        streams, window, PROFILES, 7,
        lambda name: profiles[name].compute_slices, stale_view,
        lambda view, name: not geometry.free_placements(every, view, name),
        place, gpus, length, seed)


def _print_races(title, race_of, streams):
    """One table of lost races per boot, by boots between updates."""
    print(title)
    print('| boots between provider updates | boots | lost races | rate |')
    print('|---|---|---|---|')
    for window in (1, 2, 4, 8, 16):
        boots, lost = race_of(streams, window)
        print('| %d | %d | %d | %.2f%% |' % (
            window, boots, lost, 100.0 * lost / boots if boots else 0))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=int, default=20)
    parser.add_argument('--streams', type=int, default=200)
    args = parser.parse_args(argv)
    print('carving cost on a simulated %s (median of %d, ms per guest)'
          % (MODEL, args.repeat))
    print('| profile | static: assign | dynamic: carve | dynamic: uncarve '
          '| added at spawn |')
    print('|---|---|---|---|---|')
    for profile, (assign_ms, carve_ms, uncarve_ms) in carving_cost(
            args.repeat).items():
        print('| %s | %.1f | %.1f | %.1f | %.1f |' % (
            profile, assign_ms, carve_ms, uncarve_ms, carve_ms))
    print()
    _print_races('lost races (reschedules) per boot, %d streams x 60 '
                 'requests on 8 dynamic GPUs' % args.streams,
                 race, args.streams)
    print()
    print('time-sliced (mixed-size) carving cost on a simulated %s '
          '(median of %d, ms per guest)' % (MODEL, args.repeat))
    print('| type | static: assign | dynamic: create | dynamic: remove |')
    print('|---|---|---|---|')
    for type_name, (assign_ms, carve_ms, uncarve_ms) in ts_carving_cost(
            args.repeat).items():
        print('| %s | %.1f | %.1f | %.1f |' % (
            type_name, assign_ms, carve_ms, uncarve_ms))
    print()
    _print_races('time-sliced lost races per boot, %d streams x 60 '
                 'requests on 8 dynamic mixed-size GPUs' % args.streams,
                 ts_race, args.streams)


if __name__ == '__main__':
    main()

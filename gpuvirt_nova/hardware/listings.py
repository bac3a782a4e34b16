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

"""Real published outputs (``nvidia-smi mig -lgip``), and the catalog
checked against them.

The catalog's MIG tables are a planning reference; this module is how we
know whether they hold on real hosts. Each shipped listing under
``catalog/listings/`` is a public capture whose header names its source;
:func:`check` compares every catalog MIG table with them and says, per
model: matches, differs (which profile, which field), or no listing.
"""

import dataclasses
import functools
import importlib.resources
import re

from gpuvirt_nova.hardware import catalog as catalog_mod

#: NVML GPU-instance profile index (NVML_GPU_INSTANCE_PROFILE_*, what the
#: catalog's ``nvml_id`` holds) -> the profile id NVML reports and
#: ``nvidia-smi mig -lgip`` prints in its ID column, on 7-slice GPUs; a
#: catalog profile's own ``profile_id`` wins (A30 and RTX PRO 6000 differ).
GI_PROFILE_ID_BY_INDEX = {0: 19, 7: 20, 9: 15, 1: 14, 2: 9, 3: 5, 4: 0}

_ROW_RE = re.compile(
    r'^\|\s*(?P<gpu>\d+)\s+MIG\s+(?P<name>\S+)\s+(?P<id>\d+)\s+'
    r'(?P<free>\d+)/(?P<total>\d+)\s+(?P<memory>[\d.]+)\s+'
    r'(?P<p2p>Yes|No|N/A)\s+(?P<sm>\d+)\s+(?P<dec>\d+)\s+(?P<enc>\d+)\s*\|$')
_ENGINES_RE = re.compile(r'^\|\s+(?P<ce>\d+)\s+(?P<jpeg>\d+)\s+'
                         r'(?P<ofa>\d+)\s*\|$')
#: nvidia-smi prints GiB with two decimals: this much apart is the same.
MEMORY_TOLERANCE_GIB = 0.006


@dataclasses.dataclass
class LgipRow:
    """One GPU-instance profile of ``nvidia-smi mig -lgip``."""

    gpu: int
    name: str
    profile_id: int
    free: int
    total: int
    memory_gib: float
    sm: int
    decoders: int
    encoders: int
    copy_engines: int = None
    jpeg: int = None
    ofa: int = None


@dataclasses.dataclass
class Listing:
    """A published listing: its header facts and its rows."""

    name: str
    model: str
    sources: list
    catalog_model: str = None
    rows: list = dataclasses.field(default_factory=list)


def parse_lgip(text, name='<listing>'):
    """A Listing from ``nvidia-smi mig -lgip`` text with a ``# `` header.

    Header lines: ``# model: ...``, ``# source: <url>`` (continued on
    indented ``#`` lines), optionally ``# catalog: <model name>``. Table
    widths differ between driver releases; only the row shape matters.
    Raises ValueError naming the file when no row or no source is found.
    """
    header = {}
    key = None
    rows = []
    for line in text.splitlines():
        if line.startswith('#'):
            body = line[1:].strip()
            match = re.match(r'^(model|source|catalog|excerpt):\s*(.*)$',
                             body)
            if match:
                key = match.group(1)
                header.setdefault(key, []).append(match.group(2))
            elif key is not None and body:
                header[key][-1] += ' ' + body
            continue
        row = _ROW_RE.match(line.strip())
        if row:
            rows.append(LgipRow(
                gpu=int(row.group('gpu')), name=row.group('name'),
                profile_id=int(row.group('id')),
                free=int(row.group('free')), total=int(row.group('total')),
                memory_gib=float(row.group('memory')),
                sm=int(row.group('sm')), decoders=int(row.group('dec')),
                encoders=int(row.group('enc'))))
            continue
        engines = _ENGINES_RE.match(line.strip())
        if engines and rows and rows[-1].copy_engines is None:
            rows[-1].copy_engines = int(engines.group('ce'))
            rows[-1].jpeg = int(engines.group('jpeg'))
            rows[-1].ofa = int(engines.group('ofa'))
    if not rows:
        raise ValueError('%s: no "MIG <profile>" row of nvidia-smi mig '
                         '-lgip found' % name)
    urls = re.findall(r'https?://\S+', ' '.join(header.get('source', [])))
    if not urls:
        raise ValueError('%s: the header names no public source URL '
                         '("# source: https://...")' % name)
    return Listing(name=name, model=' '.join(header.get('model', [name])),
                   sources=urls,
                   catalog_model=(header.get('catalog') or [None])[0],
                   rows=rows)


def load_listings():
    """Every shipped ``*.lgip.txt`` listing, parsed, by file name."""
    folder = importlib.resources.files(catalog_mod.__name__).joinpath(
        'listings')
    return [parse_lgip(entry.read_text(), entry.name)
            for entry in sorted(folder.iterdir(), key=lambda e: e.name)
            if entry.name.endswith('.lgip.txt')]


@functools.lru_cache(maxsize=None)
def published_rows(model_name):
    """{profile name: LgipRow} a shipped listing shows for a catalog model.

    The first listing (by file name) wins for a profile several show;
    empty when no listing of the model is shipped.
    """
    gpu_catalog = catalog_mod.load()
    rows = {}
    for listing in load_listings():
        found = match_model(listing, gpu_catalog)
        if found is not None and found.name == model_name:
            for row in listing.rows:
                rows.setdefault(row.name, row)
    return rows


def match_model(listing, gpu_catalog):
    """The catalog model a listing is of, or None."""
    if listing.catalog_model:
        return gpu_catalog.find(listing.catalog_model)
    return gpu_catalog.find(listing.model.split('(')[0].strip())


def compare(gpu_model, listing):
    """[(profile, field, catalog value, listing value)] that disagree.

    A profile the (excerpt) listing does not show is not a difference;
    a listed profile the catalog lacks is (field ``profile``).
    """
    differences = []
    by_name = {p.name: p for p in gpu_model.mig_profiles}
    for row in listing.rows:
        profile = by_name.get(row.name)
        if profile is None:
            differences.append((row.name, 'profile', None, 'listed'))
            continue
        listed_id = (profile.profile_id if profile.profile_id is not None
                     else GI_PROFILE_ID_BY_INDEX.get(profile.nvml_id))
        if listed_id != row.profile_id:
            differences.append((row.name, 'id', listed_id, row.profile_id))
        if profile.max_instances != row.total:
            differences.append((row.name, 'instances',
                                profile.max_instances, row.total))
        catalog_gib = profile.memory_mib / 1024.0
        if abs(catalog_gib - row.memory_gib) > MEMORY_TOLERANCE_GIB:
            differences.append((row.name, 'memory_gib',
                                round(catalog_gib, 2), row.memory_gib))
    return differences


MATCHES = 'matches'
DIFFERS = 'differs'
NO_LISTING = 'no public listing found'
NOT_IN_CATALOG = 'not in the catalog'


def check(gpu_catalog=None, listings=None):
    """Rows ``{model, status, details, sources}`` for every MIG model.

    One row per catalog model with MIG profiles (matched against every
    listing of it), and one per listing of a model the catalog lacks.
    """
    gpu_catalog = gpu_catalog or catalog_mod.load()
    listings = load_listings() if listings is None else listings
    by_model = {}
    orphans = []
    for listing in listings:
        gpu_model = match_model(listing, gpu_catalog)
        if gpu_model is None:
            orphans.append(listing)
        else:
            by_model.setdefault(gpu_model.name, []).append(listing)
    results = []
    for name in gpu_catalog.names():
        gpu_model = gpu_catalog.models[name]
        if not gpu_model.mig_profiles:
            continue
        found = by_model.get(name, [])
        if not found:
            results.append({'model': name, 'status': NO_LISTING,
                            'details': [], 'sources': []})
            continue
        details = []
        for listing in found:
            details.extend('%s %s: catalog %s, listing %s' % d
                           for d in compare(gpu_model, listing))
        results.append({
            'model': name, 'status': DIFFERS if details else MATCHES,
            'details': details,
            'sources': [u for listing in found for u in listing.sources]})
    for listing in orphans:
        results.append({
            'model': listing.model, 'status': NOT_IN_CATALOG,
            'details': ['%s (id %d, %d/%d, %.2f GiB)' % (
                r.name, r.profile_id, r.free, r.total, r.memory_gib)
                for r in listing.rows],
            'sources': listing.sources})
    return results

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

"""The GPU catalog: what each supported GPU model can be sliced into.

The facts (MIG profiles with their exact placements, vGPU types with
framebuffer and maxima) are data, one YAML file per model under ``data/``,
each naming the NVIDIA document it was taken from. This module only loads
and validates them, so a new GPU model or driver release is a data change.
"""

import dataclasses
import functools
import importlib.resources
import re

import jsonschema
import yaml

from gpuvirt_nova.hardware import model


_PLACEMENTS_RE = re.compile(r'^\s*(?P<starts>\d+(\s*,\s*\d+)*)\s*:\s*'
                            r'(?P<size>\d+)\s*$')

#: Every MIG profile-name form NVIDIA uses: ``1g.10gb``, media extensions
#: ``+me``, all media engines ``+me.all``, graphics ``+gfx``, no media
#: engines ``-me`` (RTX PRO 6000 Blackwell).
MIG_NAME_PATTERN = r'^[1-8]g\.[0-9]+gb(\+me|\+me\.all|\+gfx|-me)?$'

SCHEMA = {
    'type': 'object',
    'additionalProperties': False,
    'required': ['model', 'architecture', 'memory_mib', 'sources',
                 'vgpu_modes'],
    'properties': {
        'model': {'type': 'string', 'pattern': '^[A-Z0-9][A-Z0-9-]*$'},
        'aliases': {'type': 'array', 'items': {'type': 'string'}},
        'nvml_names': {'type': 'array', 'items': {'type': 'string'}},
        'pci_device_ids': {'type': 'array',
                           'items': {'type': 'string',
                                     'pattern': '^[0-9a-f]{4}$'}},
        # Subsystem device ids (sysfs ``subsystem_device``) of this model,
        # where boards share a device id (A2 and A16: 10de:25b6).
        'pci_subsystem_ids': {'type': 'array',
                              'items': {'type': 'string',
                                        'pattern': '^[0-9a-f]{4}$'}},
        # False when only some of the driver's types are listed (those a
        # published listing shows with their ids).
        'vgpu_types_complete': {'type': 'boolean'},
        'architecture': {'enum': [a.value for a in model.Architecture]},
        'memory_mib': {'type': 'integer', 'minimum': 1},
        'sriov_totalvfs': {'type': 'integer', 'minimum': 0},
        # The first VF's function offset (``sriov_offset``) where it is
        # not 4: VFs of 0001:04:00.0 at 0001:04:00.2 on RTX PRO 6000.
        'sriov_vf_offset': {'type': 'integer', 'minimum': 1},
        'vgpu_modes': {'type': 'array',
                       'items': {'enum': [m.value
                                          for m in model.HostVgpuMode]}},
        'sources': {'type': 'object',
                    'additionalProperties': {'type': 'string'}},
        'notes': {'type': 'string'},
        'mig_profiles': {
            'type': 'array',
            'items': {
                'type': 'object', 'additionalProperties': False,
                'required': ['name', 'nvml_id', 'compute_slices',
                             'memory_mib', 'placements'],
                'properties': {
                    'name': {'type': 'string',
                             'pattern': MIG_NAME_PATTERN},
                    'nvml_id': {'type': 'integer', 'minimum': 0},
                    'compute_slices': {'type': 'integer', 'minimum': 1,
                                       'maximum': 8},
                    'memory_mib': {'type': 'integer', 'minimum': 1},
                    'placements': {'type': 'string'},
                    'max_instances': {'type': 'integer', 'minimum': 1},
                    # The id NVML reports and ``nvidia-smi mig -lgip``
                    # prints (19 for 1g.10gb on H100, 14 for 1g.24gb on
                    # RTX PRO 6000): it differs between models.
                    'profile_id': {'type': 'integer', 'minimum': 0},
                }}},
        'vgpu_types': {
            'type': 'array',
            'items': {
                'type': 'object', 'additionalProperties': False,
                'required': ['name', 'type_id', 'framebuffer_mib', 'max'],
                'properties': {
                    'name': {'type': 'string'},
                    'type_id': {'type': 'integer', 'minimum': 1},
                    'framebuffer_mib': {'type': 'integer', 'minimum': 1},
                    'max': {'type': 'integer', 'minimum': 1},
                    'max_mixed': {'type': 'integer', 'minimum': 1},
                    'mig_profile': {'type': 'string'},
                }}},
    },
}


class CatalogError(Exception):
    """A catalog data file is wrong; names the file and the field."""


class UnknownModel(LookupError):
    def __init__(self, name, known):
        super().__init__(
            'unknown GPU model %r: use one of %s' % (name, ', '.join(known)))
        self.name = name


@dataclasses.dataclass(frozen=True)
class GpuModel:
    """Catalog entry: what one GPU model can offer."""

    name: str
    architecture: model.Architecture
    memory_mib: int
    vgpu_modes: tuple
    aliases: tuple = ()
    nvml_names: tuple = ()
    pci_device_ids: tuple = ()
    pci_subsystem_ids: tuple = ()
    sriov_totalvfs: int = 0
    #: ``sriov_offset`` where the board's is known and not 4.
    sriov_vf_offset: int = None
    mig_profiles: tuple = ()
    vgpu_types: tuple = ()
    sources: tuple = ()
    #: Whether :attr:`vgpu_types` lists every type the driver offers.
    vgpu_types_complete: bool = True

    @property
    def mig_capable(self):
        return bool(self.mig_profiles)

    @property
    def memory_slices(self):
        """Memory slices a MIG GPU is cut into (8; 4 on A30/RTX PRO)."""
        return max((p.start + p.size for m in self.mig_profiles
                    for p in m.placements), default=0)

    @property
    def compute_slices(self):
        """Compute slices of a full MIG GPU (7 on A100/H100; 4 on A30)."""
        return max((m.compute_slices for m in self.mig_profiles), default=0)

    def mig_profile(self, name):
        for profile in self.mig_profiles:
            if profile.name == name:
                return profile
        raise KeyError('GPU model %s has no MIG profile %r: use one of %s'
                       % (self.name, name,
                          ', '.join(p.name for p in self.mig_profiles)))

    def vgpu_type(self, name):
        for vgpu_type in self.vgpu_types:
            if vgpu_type.name == name:
                return vgpu_type
        raise KeyError('GPU model %s has no vGPU type %r: use one of %s'
                       % (self.name, name,
                          ', '.join(t.name for t in self.vgpu_types)))

    def vgpu_type_by_id(self, type_id):
        for vgpu_type in self.vgpu_types:
            if vgpu_type.type_id == type_id:
                return vgpu_type
        return None

    def mig_backed_types(self):
        return tuple(t for t in self.vgpu_types if t.mig_backed)

    def time_sliced_types(self, series=None):
        return tuple(t for t in self.vgpu_types
                     if not t.mig_backed
                     and (series is None or t.series.value == series))


def parse_placements(text):
    """``"0,2,4:2"`` -> (Placement(0, 2), Placement(2, 2), Placement(4, 2)).

    The ``starts:size`` notation is how NVIDIA's MIG user guide and
    ``nvidia-smi mig -lgipp`` print placements.
    """
    match = _PLACEMENTS_RE.match(str(text))
    if not match:
        raise ValueError('expected placements like "0,2,4:2", got %r'
                         % (text,))
    size = int(match.group('size'))
    starts = [int(s) for s in match.group('starts').split(',')]
    return tuple(model.Placement(start, size) for start in starts)


def series_of(type_name):
    """The series letter a vGPU type name ends with (``A100-2-10C`` -> C).

    A type on a ``+me`` MIG profile carries ``ME`` after its series letter
    (``A100-1-5CME`` -> C).
    """
    letter = type_name[-3:-2] if type_name.endswith('ME') else type_name[-1:]
    try:
        return model.VgpuSeries(letter)
    except ValueError:
        raise ValueError('vGPU type name %r does not end with a series '
                         'letter (C, Q, B or A, then ME for a media-'
                         'extension type)' % type_name)


def build_model(data, source='<data>'):
    """Validate one catalog document and build its GpuModel."""
    try:
        jsonschema.validate(data, SCHEMA)
    except jsonschema.ValidationError as exc:
        path = '.'.join(str(p) for p in exc.absolute_path) or '<top>'
        raise CatalogError('%s: %s: %s' % (source, path, exc.message))
    try:
        profiles = tuple(
            model.MigProfile(name=p['name'], nvml_id=p['nvml_id'],
                             compute_slices=p['compute_slices'],
                             memory_mib=p['memory_mib'],
                             placements=parse_placements(p['placements']),
                             max_instances=p.get('max_instances'),
                             profile_id=p.get('profile_id'))
            for p in data.get('mig_profiles', ()))
        by_name = {p.name: p for p in profiles}
        types = []
        for t in data.get('vgpu_types', ()):
            if t.get('mig_profile') and t['mig_profile'] not in by_name:
                raise ValueError('vGPU type %s names unknown MIG profile %s'
                                 % (t['name'], t['mig_profile']))
            if t.get('mig_profile') and \
                    t['max'] > by_name[t['mig_profile']].max_instances:
                raise ValueError(
                    'vGPU type %s: max %d is more than the %d instances '
                    'its MIG profile %s allows' % (
                        t['name'], t['max'],
                        by_name[t['mig_profile']].max_instances,
                        t['mig_profile']))
            types.append(model.VgpuType(
                name=t['name'], type_id=t['type_id'],
                framebuffer_mib=t['framebuffer_mib'],
                max_instances=t['max'], series=series_of(t['name']),
                max_instances_mixed=t.get('max_mixed'),
                mig_profile=t.get('mig_profile')))
    except ValueError as exc:
        raise CatalogError('%s: %s' % (source, exc))
    return GpuModel(
        name=data['model'],
        architecture=model.Architecture(data['architecture']),
        memory_mib=data['memory_mib'],
        vgpu_modes=tuple(model.HostVgpuMode(m) for m in data['vgpu_modes']),
        aliases=tuple(data.get('aliases', ())),
        nvml_names=tuple(data.get('nvml_names', ())),
        pci_device_ids=tuple(data.get('pci_device_ids', ())),
        pci_subsystem_ids=tuple(data.get('pci_subsystem_ids', ())),
        vgpu_types_complete=data.get('vgpu_types_complete', True),
        sriov_totalvfs=data.get('sriov_totalvfs', 0),
        sriov_vf_offset=data.get('sriov_vf_offset'),
        mig_profiles=profiles,
        vgpu_types=tuple(types),
        sources=tuple(sorted(data['sources'].items())))


class Catalog:
    """All known GPU models, looked up by name, alias, NVML name or PCI id."""

    def __init__(self, models):
        self.models = {m.name: m for m in models}
        self._index = {}
        for gpu_model in models:
            for key in (gpu_model.name,) + gpu_model.aliases \
                    + gpu_model.nvml_names:
                self._index[self._key(key)] = gpu_model

    @staticmethod
    def _key(name):
        return re.sub(r'[^A-Z0-9]', '', name.upper().replace('NVIDIA', ''))

    def names(self):
        return sorted(self.models)

    def get(self, name):
        """The model named ``name`` (any alias or NVML name), or raise."""
        found = self._index.get(self._key(name))
        if found is None:
            raise UnknownModel(name, self.names())
        return found

    def find(self, name):
        """Like get() but returns None for an unknown model."""
        return self._index.get(self._key(name or ''))

    def by_pci_device_id(self, device_id, subsystem_id=None):
        """The model with this PCI device id, or None.

        Where several models share the device id (A2 and A16: 25b6), the
        subsystem id (sysfs ``subsystem_device``) picks one; without it,
        or with one no sharing model lists, the answer is None rather
        than a guess.
        """
        device_id = _hex4(device_id)
        found = [m for m in self.models.values()
                 if device_id in m.pci_device_ids]
        if len(found) <= 1:
            return found[0] if found else None
        subsystem_id = _hex4(subsystem_id) if subsystem_id else None
        for gpu_model in found:
            if subsystem_id in gpu_model.pci_subsystem_ids:
                return gpu_model
        return None


def _hex4(text):
    """``'0x157E'`` -> ``'157e'``."""
    return str(text).strip().lower().replace('0x', '')


def load_data_files():
    """Yield (file name, parsed YAML) for every shipped catalog file."""
    data_dir = importlib.resources.files(__name__).joinpath('data')
    for entry in sorted(data_dir.iterdir(), key=lambda e: e.name):
        if entry.name.endswith('.yaml'):
            yield entry.name, yaml.safe_load(entry.read_text())


@functools.lru_cache(maxsize=1)
def load():
    """The shipped catalog (parsed once per process)."""
    return Catalog([build_model(data, name)
                    for name, data in load_data_files()])

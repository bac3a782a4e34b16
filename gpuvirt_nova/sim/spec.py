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

"""Host specs: which GPUs a simulated host has, and how they are set up.

Two spellings of the same data. A short string, groups ``NxMODEL:MODE``
joined by ``+`` with an optional ``@hostname`` at the end::

    2xA100-PCIE-40GB:mig
    8xH100-SXM5-80GB:vfio@node07
    2xA100-PCIE-40GB:sriov-mdev+1xT4:mdev

or the path of a YAML file, which adds per-group options::

    hostname: node01
    driver_version: "550.127.06"
    iommu: false                      # VT-d/AMD-Vi off (default: on)
    gpus:
      - model: A100-PCIE-40GB
        count: 2
        mode: mig
        numa_node: 0                  # default: from the PCI bus
        scheduling: mixed-size        # time-sliced vGPU mode
        vfs_enabled: false            # as after a reboot
        addresses: ["0000:3b:00.0", "0000:5e:00.0"]

Model names resolve through the hardware catalog, so aliases work.
"""

import dataclasses
import os
import re

import jsonschema
import yaml

from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import model

#: What each mode sets up on a GPU (the word after ``:`` in a spec).
MODES = {
    'mig': 'MIG mode on; SR-IOV VFs with vendor-specific VFIO '
           '(nvidia/current_vgpu_type); MIG-backed vGPU types',
    'mig-mdev': 'MIG mode on; SR-IOV VFs, each an mdev parent; '
                'MIG-backed vGPU types',
    'vfio': 'SR-IOV VFs with vendor-specific VFIO (vGPU 17+, no mdev bus); '
            'time-sliced vGPU types',
    'sriov-mdev': 'SR-IOV VFs, each an mdev parent (Ampere+, vGPU <= 16); '
                  'time-sliced vGPU types',
    'mdev': 'mdev types on the physical function (pre-Ampere)',
    'none': 'no vGPU manager: the GPU is bound to vfio-pci for passthrough',
}

_MODE_VGPU = {
    'mig': model.HostVgpuMode.VENDOR_VFIO,
    'mig-mdev': model.HostVgpuMode.SRIOV_MDEV,
    'vfio': model.HostVgpuMode.VENDOR_VFIO,
    'sriov-mdev': model.HostVgpuMode.SRIOV_MDEV,
    'mdev': model.HostVgpuMode.MDEV,
    'none': model.HostVgpuMode.NONE,
}

#: NVIDIA vGPU 17.5 host driver (vendor-specific VFIO needs vGPU 17+).
DEFAULT_DRIVER_VERSION = '550.127.06'
DEFAULT_HOSTNAME = 'sim-host'
#: A GPU per PCI bus, in the order a 2-socket server numbers its slots.
PCI_BUSES = ('3b', '5e', '86', 'af', '18', 'd8', '3d', '60',
             '88', 'b1', '1a', '4e', '9a', 'c3', '27', 'ea')
MAX_GPUS = len(PCI_BUSES)

_GROUP_RE = re.compile(r'^(?:(?P<count>\d+)\s*[xX]\s*)?'
                       r'(?P<model>[A-Za-z0-9][A-Za-z0-9._-]*)'
                       r'(?::(?P<mode>[A-Za-z-]+))?$')
_HOSTNAME_RE = re.compile(r'^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$')
_EXAMPLE = 'expected NxMODEL:MODE groups joined by "+", for example ' \
           '2xA100-PCIE-40GB:mig or 4xT4:mdev@node01'

YAML_SCHEMA = {
    'type': 'object',
    'additionalProperties': False,
    'required': ['gpus'],
    'properties': {
        'hostname': {'type': 'string', 'pattern': _HOSTNAME_RE.pattern},
        'driver_version': {'type': 'string',
                           'pattern': r'^\d+\.\d+(\.\d+)?$'},
        'iommu': {'type': 'boolean'},
        'gpus': {
            'type': 'array', 'minItems': 1,
            'items': {
                'type': 'object', 'additionalProperties': False,
                'required': ['model'],
                'properties': {
                    'model': {'type': 'string'},
                    'count': {'type': 'integer', 'minimum': 1,
                              'maximum': MAX_GPUS},
                    'mode': {'enum': sorted(MODES)},
                    'numa_node': {'type': 'integer', 'minimum': -1},
                    'scheduling': {'enum': [m.value for m in
                                            model.SchedulingMode]},
                    'vfs_enabled': {'type': 'boolean'},
                    'addresses': {'type': 'array',
                                  'items': {'type': 'string'}},
                }}},
    },
}


@dataclasses.dataclass(frozen=True)
class GpuSpec:
    """One simulated physical GPU."""

    model: str
    mode: str
    address: str
    numa_node: int
    scheduling: str = model.SchedulingMode.EQUAL_SIZE.value
    vfs_enabled: bool = True

    @property
    def vgpu_mode(self):
        return _MODE_VGPU[self.mode]

    @property
    def mig_enabled(self):
        return self.mode in ('mig', 'mig-mdev')


@dataclasses.dataclass(frozen=True)
class HostSpec:
    """A simulated host: its name, driver version and GPUs."""

    hostname: str
    driver_version: str
    gpus: tuple
    #: Whether the IOMMU (VT-d / AMD-Vi) is on: groups, kernel command line.
    iommu: bool = True

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data):
        return cls(hostname=data['hostname'],
                   driver_version=data['driver_version'],
                   gpus=tuple(GpuSpec(**g) for g in data['gpus']),
                   iommu=data.get('iommu', True))


def _fail(text, reason):
    raise exception.UsageError('host spec %r: %s' % (text, reason))


def default_mode(gpu_model):
    """The vGPU mode a model gets when the spec names none."""
    for mode in ('vfio', 'sriov-mdev', 'mdev'):
        if model.HostVgpuMode(mode) in gpu_model.vgpu_modes:
            return mode
    return 'none'


def check_mode(gpu_model, mode):
    """Return None if ``gpu_model`` can run in ``mode``, else the reason."""
    if mode not in MODES:
        return 'unknown mode %r: use one of %s' % (mode, ', '.join(MODES))
    if mode == 'none':
        return None
    if mode.startswith('mig') and not gpu_model.mig_capable:
        return '%s has no MIG: use one of %s' % (
            gpu_model.name, ', '.join(valid_modes(gpu_model)))
    if _MODE_VGPU[mode] not in gpu_model.vgpu_modes:
        return '%s does not support mode %s: use one of %s' % (
            gpu_model.name, mode, ', '.join(valid_modes(gpu_model)))
    return None


def valid_modes(gpu_model):
    return [m for m in MODES if m == 'none' or (
        _MODE_VGPU[m] in gpu_model.vgpu_modes
        and (gpu_model.mig_capable or not m.startswith('mig')))]


def default_address(index):
    return '0000:%s:00.0' % PCI_BUSES[index]


def default_numa_node(address):
    """Buses below 0x80 hang off socket 0 on the usual 2-socket server."""
    return 0 if int(address.split(':')[1], 16) < 0x80 else 1


def _resolve_model(text, name):
    try:
        return catalog.load().get(name)
    except catalog.UnknownModel as exc:
        _fail(text, '%s; %s' % (exc, _EXAMPLE))


def _expand(text, groups, hostname, driver_version):
    """[(model, count, mode, options)] -> HostSpec with addresses set."""
    gpus = []
    total = sum(g[1] for g in groups)
    if total > MAX_GPUS:
        _fail(text, 'at most %d GPUs per host, got %d' % (MAX_GPUS, total))
    used = set()
    for gpu_model, count, mode, options in groups:
        addresses = options.get('addresses') or []
        if addresses and len(addresses) != count:
            _fail(text, '%s: %d addresses for %d GPUs: give one address '
                  'per GPU' % (gpu_model.name, len(addresses), count))
        for i in range(count):
            if addresses:
                try:
                    address = model.normalize_pci_address(addresses[i])
                except ValueError as exc:
                    _fail(text, 'addresses: %s' % exc)
                if not address.endswith('.0'):
                    _fail(text, 'addresses: %s is not function 0: give the '
                          'physical function of each GPU' % address)
            else:
                address = next(default_address(n) for n in range(MAX_GPUS)
                               if default_address(n) not in used)
            if address in used:
                _fail(text, 'addresses: %s is used twice' % address)
            used.add(address)
            numa = options.get('numa_node')
            gpus.append(GpuSpec(
                model=gpu_model.name, mode=mode, address=address,
                numa_node=default_numa_node(address) if numa is None
                else numa,
                scheduling=options.get(
                    'scheduling', model.SchedulingMode.EQUAL_SIZE.value),
                vfs_enabled=options.get('vfs_enabled', True)))
    return HostSpec(hostname=hostname, driver_version=driver_version,
                    gpus=tuple(sorted(gpus, key=lambda g: g.address)))


def parse_string(text):
    """``'2xA100-PCIE-40GB:mig@node01'`` -> HostSpec."""
    body, _sep, hostname = text.strip().partition('@')
    hostname = hostname.strip() or DEFAULT_HOSTNAME
    if not _HOSTNAME_RE.match(hostname):
        _fail(text, 'bad hostname %r after "@": use letters, digits, "-" '
              'and "."' % hostname)
    groups = []
    for part in body.split('+'):
        match = _GROUP_RE.match(part.strip())
        if not match:
            _fail(text, 'cannot read %r: %s' % (part.strip(), _EXAMPLE))
        gpu_model = _resolve_model(text, match.group('model'))
        count = int(match.group('count') or 1)
        if count < 1:
            _fail(text, '%r: the GPU count must be at least 1' % part)
        mode = (match.group('mode') or default_mode(gpu_model)).lower()
        problem = check_mode(gpu_model, mode)
        if problem:
            _fail(text, problem)
        groups.append((gpu_model, count, mode, {}))
    return _expand(text, groups, hostname, DEFAULT_DRIVER_VERSION)


def parse_yaml(path):
    """A YAML host file (see the module docstring) -> HostSpec."""
    try:
        with open(path, encoding='utf-8') as f:
            data = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as exc:
        _fail(path, 'cannot read the YAML file: %s' % str(exc).splitlines()[0])
    try:
        jsonschema.validate(data, YAML_SCHEMA)
    except jsonschema.ValidationError as exc:
        field = '.'.join(str(p) for p in exc.absolute_path) or '<top>'
        message = exc.message
        if exc.validator == 'type':
            # NOTE: jsonschema's message quotes the whole value (a whole
            # file when the top level is not a mapping); keep one line.
            message = 'expected %s, got %s' % (
                exc.validator_value, type(exc.instance).__name__)
        _fail(path, '%s: %s' % (field, message))
    groups = []
    for index, entry in enumerate(data['gpus']):
        gpu_model = _resolve_model(path, entry['model'])
        mode = entry.get('mode', default_mode(gpu_model))
        problem = check_mode(gpu_model, mode)
        if problem:
            _fail(path, 'gpus.%d.mode: %s' % (index, problem))
        if entry.get('scheduling') == model.SchedulingMode.MIXED_SIZE.value \
                and not any(t.max_instances_mixed
                            for t in gpu_model.time_sliced_types()):
            _fail(path, 'gpus.%d.scheduling: %s has no mixed-size mode: use '
                  'equal-size' % (index, gpu_model.name))
        groups.append((gpu_model, entry.get('count', 1), mode, entry))
    return dataclasses.replace(
        _expand(path, groups, data.get('hostname', DEFAULT_HOSTNAME),
                data.get('driver_version', DEFAULT_DRIVER_VERSION)),
        iommu=data.get('iommu', True))


def parse_spec(text):
    """A spec string, a YAML file path or a HostSpec -> HostSpec.

    Raises ``exception.UsageError`` with one line naming the bad part.
    """
    if isinstance(text, HostSpec):
        return text
    if not isinstance(text, str) or not text.strip():
        _fail(text, 'empty: %s' % _EXAMPLE)
    if text.endswith(('.yaml', '.yml')) or os.path.isfile(text):
        return parse_yaml(text)
    return parse_string(text)

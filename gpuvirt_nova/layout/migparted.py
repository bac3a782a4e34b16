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

"""Import an NVIDIA mig-parted config file as named layouts.

mig-parted (``version: v1``, ``mig-configs: {name: [entries]}``) selects
GPUs by ``devices: all`` or a list of indexes, optionally narrowed by
``device-filter`` (PCI device and vendor id, ``0x20B010DE``), and gives
each a ``mig-enabled`` flag and ``mig-devices: {profile: count}``. Each
config becomes an entry of ``gpu_cluster.layouts`` with the same name; a
node picks one with ``layout: <name>``. Pure: dict in, dict out.
"""

from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog

_ENTRY_KEYS = {'devices', 'device-filter', 'mig-enabled', 'mig-devices'}


def _fail(path, message):
    raise exception.UsageError('%s: %s' % (path, message))


def _models(filters, path):
    """Catalog model names for mig-parted device filters."""
    if filters is None:
        return [None]
    if isinstance(filters, str):
        filters = [filters]
    names = []
    for i, text in enumerate(filters):
        text = str(text).lower()
        device_id = text[2:6] if text.startswith('0x') else text[:4]
        gpu_model = catalog.load().by_pci_device_id(device_id)
        if gpu_model is None:
            _fail('%s[%d]' % (path, i), 'no GPU model in the catalog has '
                  'PCI device id %s; use a filter like 0x20F110DE for a '
                  'catalog model' % device_id)
        names.append(gpu_model.name)
    return names


def _entry(item, path):
    if not isinstance(item, dict):
        _fail(path, 'expected a mapping with devices: and mig-enabled:')
    unknown = set(item) - _ENTRY_KEYS
    if unknown:
        _fail('%s.%s' % (path, sorted(unknown)[0]), 'unknown key; use one '
              'of %s' % ', '.join(sorted(_ENTRY_KEYS)))
    devices = item.get('devices', 'all')
    if 'mig-enabled' not in item or not isinstance(item['mig-enabled'],
                                                   bool):
        _fail(path + '.mig-enabled', 'missing or not true/false; add '
              'mig-enabled: true or false')
    gpu = {}
    if devices != 'all':
        if not isinstance(devices, list) or not devices or \
                not all(isinstance(d, int) and d >= 0 for d in devices):
            _fail(path + '.devices', 'expected all or a list of GPU '
                  'indexes, got %r' % (devices,))
        gpu['index'] = list(devices)
    if not item['mig-enabled']:
        if item.get('mig-devices'):
            _fail(path + '.mig-devices', 'MIG devices given while '
                  'mig-enabled is false; remove them or enable MIG')
        gpu['mode'] = 'none'
        return gpu
    gpu['mode'] = 'mig'
    vgpus = []
    for profile, count in sorted((item.get('mig-devices') or {}).items()):
        if not isinstance(count, int) or count < 1:
            _fail('%s.mig-devices.%s' % (path, profile), 'expected a '
                  'count of at least 1, got %r' % (count,))
        name = str(profile).replace('+', '-')
        vgpus.append({'name': name, 'mig': profile, 'count': count}
                     if count > 1 else {'name': name, 'mig': profile})
    gpu['vgpus'] = vgpus
    return gpu


def convert(data, source='mig-parted config'):
    """A parsed mig-parted file -> ``{name: [gpus[] entries]}``."""
    if not isinstance(data, dict) or data.get('version') != 'v1':
        _fail('%s: version' % source, 'expected version: v1 (a mig-parted '
              'config file)')
    configs = data.get('mig-configs')
    if not isinstance(configs, dict) or not configs:
        _fail('%s: mig-configs' % source, 'missing or empty; a mig-parted '
              'file lists its layouts under mig-configs:')
    layouts = {}
    for name, items in configs.items():
        path = 'mig-configs.%s' % name
        if not isinstance(items, list):
            _fail(path, 'expected a list of device entries')
        gpus = []
        for i, item in enumerate(items):
            entry_path = '%s[%d]' % (path, i)
            base = _entry(item, entry_path)
            for model_name in _models(item.get('device-filter'),
                                      entry_path + '.device-filter'):
                gpu = dict(base)
                gpu['type'] = model_name or 'all'
                gpus.append(gpu)
        layouts[name] = gpus
    return layouts


def to_layout(data, hostname=None, select=None, source='mig-parted config'):
    """A whole layout document from a mig-parted file.

    With ``hostname`` and ``select``, the node ``hostname`` uses layout
    ``select``; otherwise ``nodes`` is empty for the operator to fill.
    """
    layouts = convert(data, source)
    nodes = []
    if hostname:
        if select is None or select not in layouts:
            raise exception.UsageError(
                '--select %s: the mig-parted file has no config %s; use one '
                'of %s' % (select, select, ', '.join(sorted(layouts))))
        nodes.append({'host': hostname, 'layout': select})
    return {'gpu_cluster': {'layouts': layouts, 'nodes': nodes}}

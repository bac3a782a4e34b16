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

"""The driver's record of what it carved for whom on dynamic GPUs.

The hardware says which GPU instances and vGPUs exist; it cannot say
which guest each belongs to, nor where a guest's instance was before a
host reboot wiped MIG instances. This record, written only by the Nova
driver under its device lock, keeps ``instance uuid -> [Carved]``:
delete takes back exactly the guest's own instance, and a reboot puts
each guest's instance back at its placement, with the same VF, so the
guest's definition still holds.
"""

import dataclasses
import json
import os
import tempfile

from gpuvirt_nova import exception

FILE_NAME = 'dynamic-carves.json'
TIME_SLICED = 'time-sliced'


@dataclasses.dataclass(frozen=True)
class Carved:
    """One guest's MIG instance and the vGPU on it, or its vGPU.

    With ``mode`` time-sliced: no profile, ``start`` the vGPU's placement
    slot in mixed-size mode (None in equal-size mode).
    """

    gpu: str
    profile: str
    start: int
    vgpu_type: str
    #: Device key of the vGPU: ('vf', VF address) or ('mdev', uuid).
    kind: str
    ident: str
    #: mig or time-sliced (records written before time-sliced: mig).
    mode: str = 'mig'

    @property
    def time_sliced(self):
        return self.mode == TIME_SLICED

    @property
    def key(self):
        return (self.kind, self.ident)


def path_in(directory):
    return os.path.join(directory, FILE_NAME)


class Records:
    """``{instance uuid: [Carved]}`` kept in one JSON file."""

    def __init__(self, path):
        self.path = path

    def load(self):
        try:
            with open(self.path) as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise exception.GpuvirtError(
                '%s: cannot read the dynamic GPU record (%s); move it '
                'aside, and check every guest on dynamic GPUs with '
                'gpuvirt-nova placement audit' % (self.path, exc))
        return {uuid: [Carved(**entry) for entry in entries]
                for uuid, entries in (data.get('instances') or {}).items()}

    def save(self, records):
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix='.dynamic-carves-', dir=directory)
        try:
            with os.fdopen(fd, 'w') as handle:
                json.dump({'instances': {
                    uuid: [dataclasses.asdict(c) for c in carved]
                    for uuid, carved in sorted(records.items()) if carved}},
                    handle, indent=2, sort_keys=True)
                handle.write('\n')
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def of(self, instance_uuid):
        return list(self.load().get(instance_uuid, ()))

    def add(self, instance_uuid, carved):
        records = self.load()
        records.setdefault(instance_uuid, []).append(carved)
        self.save(records)

    def replace(self, instance_uuid, old, new):
        records = self.load()
        entries = records.get(instance_uuid, [])
        records[instance_uuid] = [new if c == old else c for c in entries]
        self.save(records)

    def remove(self, instance_uuid, carved=None):
        records = self.load()
        if carved is None:
            records.pop(instance_uuid, None)
        else:
            records[instance_uuid] = [c for c in records.get(
                instance_uuid, []) if c != carved]
        self.save(records)

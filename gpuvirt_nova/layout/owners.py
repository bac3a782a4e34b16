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

"""Which GPUs of a host are dynamic: the hand-over from layout to driver.

``gpuvirt-nova layout apply`` is the one writer of this record: after it
has set a dynamic GPU up (MIG mode, SR-IOV VFs) it records the GPU here,
and it removes the GPU once it has carved it statically again. The Nova
driver and the standalone sync only read it: a GPU is the driver's to
carve per guest exactly while this record says so. The file lives on the
host (``[gpuvirt] state_dir``, or the simulated host's directory), so it
survives a reboot with the MIG mode it describes.

Format (JSON): ``{"gpus": {"0000:3b:00.0": {"owner": "dynamic",
"series": "C"}, "0000:5e:00.0": {"owner": "dynamic", "series": "C",
"mode": "time-sliced", "scheduling": "mixed-size"}}}``: a MIG GPU
(the default mode) gets a MIG instance per guest, a time-sliced one a
time-sliced vGPU in the recorded vGPU scheduling mode.
"""

import json
import os
import tempfile

from gpuvirt_nova import exception

FILE_NAME = 'gpu-owners.json'
DYNAMIC = 'dynamic'
STATIC = 'static'
MIG = 'mig'
TIME_SLICED = 'time-sliced'


def path_in(directory):
    return os.path.join(directory, FILE_NAME)


def read(path):
    """``{address: {'owner': 'dynamic', 'series': 'C'}}``; {} if none.

    :raises exception.GpuvirtError: the file is there but unreadable,
        naming it and the fix (a wrong guess would hand a static GPU's
        instances to guests, or the reverse).
    """
    try:
        with open(path) as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise exception.GpuvirtError(
            '%s: cannot read the GPU owner record (%s); run gpuvirt-nova '
            'layout apply on this host to write it again' % (path, exc))
    gpus = data.get('gpus') if isinstance(data, dict) else None
    if not isinstance(gpus, dict):
        raise exception.GpuvirtError(
            '%s: the GPU owner record has no "gpus" mapping; run '
            'gpuvirt-nova layout apply on this host to write it again'
            % path)
    return {address: dict(entry) for address, entry in gpus.items()
            if isinstance(entry, dict) and entry.get('owner') == DYNAMIC}


def dynamic_series(path):
    """``{address: vGPU series}`` of the dynamic GPUs; {} without a path."""
    if not path:
        return {}
    return {address: entry.get('series') or 'C'
            for address, entry in read(path).items()}


def dynamic_time_sliced(path):
    """``{address: scheduling mode}`` of the dynamic time-sliced GPUs."""
    if not path:
        return {}
    return {address: entry.get('scheduling') or 'equal-size'
            for address, entry in read(path).items()
            if entry.get('mode') == TIME_SLICED}


def dynamic_addresses(path):
    return frozenset(read(path))


def update(path, dynamic=None, static=(), time_sliced=None):
    """Mark ``dynamic`` ({address: series}) dynamic and ``static`` not.

    ``time_sliced``: ``{address: scheduling mode}`` of the ``dynamic``
    GPUs that give time-sliced vGPUs (the others give MIG instances).

    Written atomically (a new file renamed over the old), so a crash
    leaves the old record or the new one, never half of one.
    """
    gpus = read(path)
    for address in static:
        gpus.pop(address, None)
    for address, series in (dynamic or {}).items():
        gpus[address] = {'owner': DYNAMIC, 'series': series or 'C'}
        if address in (time_sliced or {}):
            gpus[address].update(mode=TIME_SLICED,
                                 scheduling=time_sliced[address])
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.gpu-owners-', dir=directory)
    try:
        with os.fdopen(fd, 'w') as handle:
            json.dump({'gpus': gpus}, handle, indent=2, sort_keys=True)
            handle.write('\n')
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return gpus

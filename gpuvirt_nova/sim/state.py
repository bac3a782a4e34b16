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

"""The simulated host's state: one JSON file in the simulator root.

The sysfs tree and the fake NVML are two views of this one state, so a
second process (``SimulatedHost.open``) sees what the first one did. Every
change runs in :meth:`StateStore.transaction`, which holds an exclusive
``flock`` on a lock file, reads the latest state, and replaces the file
atomically when the change succeeds; a change that raises leaves the file
untouched, so nothing is half-applied.
"""

import contextlib
import copy
import fcntl
import json
import os
import threading
import uuid

from gpuvirt_nova.sim import spec as spec_mod

STATE_FILE = 'gpuvirt-sim.json'
LOCK_FILE = 'gpuvirt-sim.lock'
FORMAT_VERSION = 1

#: First VF routing-id offset and stride, as most NVIDIA GPUs report them
#: in ``sriov_offset``/``sriov_stride``: VFs of 0000:3b:00.0 start at
#: 3b:00.4. Some boards start at 2 (the catalog's ``sriov_vf_offset``).
VF_OFFSET = 4
VF_STRIDE = 1

_UUID_NAMESPACE = uuid.UUID('9a1e4c1c-7c1b-4a55-9d43-51d7a9f4c0de')


def vf_address(pf_address, index, offset=VF_OFFSET):
    """Address of VF ``index`` (0-based) of the physical function."""
    domain, bus, _rest = pf_address.split(':')
    devfn = offset + index * VF_STRIDE
    return '%s:%s:%02x.%d' % (domain, bus, devfn // 8, devfn % 8)


def vf_index(pf_address, address, offset=VF_OFFSET):
    """Inverse of :func:`vf_address`; None when not a VF of that PF."""
    domain, bus, _rest = pf_address.split(':')
    parts = address.split(':')
    if parts[:2] != [domain, bus]:
        return None
    slot, _dot, function = parts[2].partition('.')
    devfn = int(slot, 16) * 8 + int(function)
    if devfn < offset or (devfn - offset) % VF_STRIDE:
        return None
    return (devfn - offset) // VF_STRIDE


def gpu_vf_offset(state, pf_address):
    """The VF offset of one simulated GPU (4 unless its board says)."""
    return state['gpus'][pf_address].get('vf_offset', VF_OFFSET)


def gpu_vf_address(state, pf_address, index):
    """:func:`vf_address` with the GPU's own offset."""
    return vf_address(pf_address, index, gpu_vf_offset(state, pf_address))


def gpu_uuid(hostname, address):
    """A stable ``GPU-...`` UUID, as NVML prints it."""
    name = '%s/%s' % (hostname, address)
    return 'GPU-%s' % uuid.uuid5(_UUID_NAMESPACE, name)


def empty_vf():
    return {'current_vgpu_type': 0, 'gpu_instance': None, 'placement': None}


def initial_state(host_spec, totalvfs_of, vf_offset_of=None):
    """The state of a freshly booted and configured host."""
    gpus = {}
    for gpu in host_spec.gpus:
        totalvfs = totalvfs_of(gpu)
        numvfs = totalvfs if gpu.vfs_enabled and gpu.vgpu_mode.uses_vfs \
            else 0
        gpus[gpu.address] = {
            'uuid': gpu_uuid(host_spec.hostname, gpu.address),
            'mig_current': gpu.mig_enabled,
            'mig_pending': gpu.mig_enabled,
            'totalvfs': totalvfs,
            'vfs': [empty_vf() for _ in range(numvfs)],
            'mdevs': {},
            'gpu_instances': {},
        }
        if vf_offset_of is not None and vf_offset_of(gpu) != VF_OFFSET:
            gpus[gpu.address]['vf_offset'] = vf_offset_of(gpu)
    return {'version': FORMAT_VERSION, 'spec': host_spec.to_dict(),
            'boot': 1, 'gpus': gpus, 'failures': [], 'journal': []}


class StateStore:
    """Load and change the state file of one simulator root."""

    def __init__(self, root):
        self.root = root
        self.path = os.path.join(root, STATE_FILE)
        self._lock_path = os.path.join(root, LOCK_FILE)
        self._cache = None
        self._cache_key = None
        self._local = threading.local()

    def exists(self):
        return os.path.exists(self.path)

    def _key(self):
        st = os.stat(self.path)
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def load(self):
        """The current state, read-only: change it only in transaction()."""
        current = getattr(self._local, 'state', None)
        if current is not None:
            return current
        key = self._key()
        if key != self._cache_key:
            with open(self.path, encoding='utf-8') as f:
                self._cache = json.load(f)
            self._cache_key = key
        return self._cache

    def save(self, state):
        tmp = '%s.%d.tmp' % (self.path, os.getpid())
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump(state, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    @contextlib.contextmanager
    def transaction(self):
        """Yield the state for changing; save it if the block succeeds.

        Re-entrant within a thread: an inner transaction shares the outer
        one's state and the outer one saves.
        """
        current = getattr(self._local, 'state', None)
        if current is not None:
            yield current
            return
        with open(self._lock_path, 'a') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._cache_key = None
                state = copy.deepcopy(self.load())
                self._local.state = state
                self._local.hooks = []
                try:
                    yield state
                finally:
                    self._local.state = None
                self.save(state)
                self._cache, self._cache_key = state, self._key()
                for hook in self._local.hooks:
                    hook()
            finally:
                self._local.hooks = []
                fcntl.flock(lock, fcntl.LOCK_UN)

    def on_commit(self, hook):
        """Run ``hook()`` after the running transaction saves.

        The hook still holds the lock, so the sysfs view redrawn there
        never lags behind a state another process saved.
        """
        if getattr(self._local, 'state', None) is None:
            raise RuntimeError('on_commit outside a transaction')
        self._local.hooks.append(hook)

    def host_spec(self):
        return spec_mod.HostSpec.from_dict(self.load()['spec'])

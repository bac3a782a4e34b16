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

"""SimulatedHost: one simulated host in a directory, and what writes do.

``SimulatedHost.create(root, '2xA100-PCIE-40GB:mig')`` builds the state
file and the sysfs tree under ``root``; ``SimulatedHost.open(root)`` picks
them up again (in this or another process). Reads go straight to the tree
(discovery uses ``host.sysfs_root``) or the fake NVML (``host.nvml()``);
changes go through ``host.writer()``, which validates each argument like
the production writer and then applies the kernel's and the driver's
rules:

- ``sriov_numvfs``: N > ``sriov_totalvfs`` fails with ERANGE, N > 0 while
  VFs exist fails with EBUSY (drivers/pci/iov.c ``sriov_numvfs_store``);
  0 removes the VFs (EBUSY while one holds a vGPU).
- ``nvidia/current_vgpu_type``: a type not in ``creatable_vgpu_types``
  fails with EINVAL, a second type on a VF with EBUSY; 0 releases the VF.
  In equal-size mode the first type narrows every sibling VF to it.
- ``mdev_supported_types/<type>/create``: a duplicate UUID fails with
  EEXIST, a type with ``available_instances`` 0 with EINVAL (what NVIDIA's
  driver returns); ``remove`` of an mdev that a VM uses fails with EBUSY.
- MIG changes go through the fake NVML (:mod:`gpuvirt_nova.sim.fake_nvml`).
- ``reboot()`` drops what a real reboot drops (DESIGN section 9): VFs and
  their types, MIG GPU/compute instances, mdevs not defined persistently
  (a persistent mdev comes back only if its parent exists, so one on a VF
  does not); MIG mode survives on Ampere and is cleared on Hopper+.
"""

import errno
import fnmatch
import os
import shutil

from oslo_log import log as logging
import pynvml

from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import writers
from gpuvirt_nova.sim import fake_nvml
from gpuvirt_nova.sim import rules
from gpuvirt_nova.sim import spec as spec_mod
from gpuvirt_nova.sim import state as state_mod
from gpuvirt_nova.sim import sysfs_tree

LOG = logging.getLogger(__name__)

_JOURNAL_MAX = 1000


class SimulatedWriteError(writers.HardwareRefused, exception.SimulatorError):
    """The simulated kernel or driver refused a write, as the real one."""


def _refuse(path, code, reason):
    raise SimulatedWriteError('write to %s failed: [Errno %d] %s: %s'
                              % (path, code, os.strerror(code), reason),
                              code)


class SimulatedHost:
    """A simulated host rooted at a directory (see the module docstring)."""

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.store = state_mod.StateStore(self.root)
        self._nvml = None

    @classmethod
    def create(cls, root_dir, spec, replace=False):
        """Build a new simulated host in ``root_dir`` from ``spec``.

        ``spec`` is a spec string, a YAML path or a HostSpec. A directory
        that already holds a host is refused unless ``replace`` is set.
        """
        host_spec = spec_mod.parse_spec(spec)
        host = cls(root_dir)
        if host.store.exists() and not replace:
            raise exception.UsageError(
                'simulator root %s already holds a simulated host: open it, '
                'or replace it (--replace)' % root_dir)
        try:
            os.makedirs(host.root, exist_ok=True)
        except OSError as exc:
            raise exception.UsageError(
                'simulator root %s: %s; give a writable directory'
                % (root_dir, exc.strerror))
        shutil.rmtree(os.path.join(host.root, 'sys'), ignore_errors=True)
        state = state_mod.initial_state(
            host_spec,
            lambda g: catalog.load().get(g.model).sriov_totalvfs,
            lambda g: (catalog.load().get(g.model).sriov_vf_offset
                       or state_mod.VF_OFFSET))
        host.store.save(state)
        sysfs_tree.render(host.root, state)
        LOG.debug('Created simulated host %s in %s', host_spec.hostname,
                  host.root)
        return host

    @classmethod
    def open(cls, root_dir):
        """Reopen the simulated host that ``create`` left in root_dir."""
        host = cls(root_dir)
        if not host.store.exists():
            raise exception.UsageError(
                'simulator root %s holds no simulated host: create one '
                'first (gpuvirt-nova sim create DIR SPEC)' % root_dir)
        return host

    @classmethod
    def open_or_create(cls, root_dir, spec):
        """Open the host in root_dir, creating it from spec if absent."""
        if state_mod.StateStore(root_dir).exists():
            return cls.open(root_dir)
        return cls.create(root_dir, spec)

    # -- what other code reads ------------------------------------------

    @property
    def sysfs_root(self):
        """The directory to pass as sysfs root (it holds ``sys/``)."""
        return self.root

    @property
    def spec(self):
        return self.store.host_spec()

    @property
    def hostname(self):
        return self.store.load()['spec']['hostname']

    def nvml(self):
        """A pynvml-compatible module bound to this host."""
        if self._nvml is None:
            self._nvml = fake_nvml.build(self)
        return self._nvml

    def writer(self):
        from gpuvirt_nova.sim import writer
        return writer.SimulatedWriter(self)

    def journal_entries(self):
        """Every change applied so far, oldest first: lists of words."""
        return list(self.store.load()['journal'])

    # -- helpers for the fake NVML and the tree -------------------------

    def gpu_spec(self, address):
        for gpu in self.store.load()['spec']['gpus']:
            if gpu['address'] == address:
                return gpu
        raise KeyError(address)

    def gpu_model(self, address):
        return catalog.load().get(self.gpu_spec(address)['model'])

    def vf_address(self, pf_address, index):
        """Address of VF ``index`` of a GPU, with its board's offset."""
        return state_mod.gpu_vf_address(self.store.load(), pf_address,
                                        index)

    def nvml_addresses(self):
        """GPUs NVML sees: those bound to nvidia, in PCI order."""
        return sorted(g['address'] for g in self.store.load()['spec']['gpus']
                      if g['mode'] != 'none')

    def refresh(self, address):
        sysfs_tree.render_gpu(self.root, self.store.load(), address)

    def touch(self, address):
        """Redraw a GPU's sysfs files when the running transaction saves."""
        self.store.on_commit(lambda: self.refresh(address))

    def journal(self, state, *words):
        state['journal'] = (state['journal'] + [
            [str(w) for w in words]])[-_JOURNAL_MAX:]

    # -- failure injection -------------------------------------------------

    def inject_failure(self, target, errno_code=None, nvml_error=None,
                       count=1):
        """Make the next ``count`` matching operations fail.

        ``target`` is a sysfs path glob (``'*/current_vgpu_type'``; fails
        with ``errno_code``, default EIO) or an NVML function name
        (``'nvmlDeviceCreateGpuInstanceWithPlacement'``; fails with
        ``nvml_error``, default NVML_ERROR_UNKNOWN). ``count=None``
        fails forever. Nothing changes when an injected failure fires.
        """
        if target.startswith('/') or '*' in target:
            entry = {'target': target, 'errno': errno_code or errno.EIO}
        elif target in fake_nvml.SIMULATED:
            entry = {'target': target,
                     'nvml_error': nvml_error or
                     pynvml.NVML_ERROR_UNKNOWN}
        else:
            raise exception.UsageError(
                'inject_failure target %r: give a sysfs path glob or one '
                'of the simulated NVML functions' % target)
        entry['remaining'] = count
        with self.store.transaction() as state:
            state['failures'].append(entry)

    def clear_failures(self):
        with self.store.transaction() as state:
            state['failures'] = []

    def take_failure(self, target):
        """The error code of an injected failure for target, or None."""
        if not self.store.load()['failures']:
            return None
        with self.store.transaction() as state:
            for entry in state['failures']:
                if entry['target'] == target or (
                        target.startswith('/') and
                        fnmatch.fnmatch(target, entry['target'])):
                    if entry['remaining'] is not None:
                        entry['remaining'] -= 1
                    state['failures'] = [
                        f for f in state['failures']
                        if f['remaining'] is None or f['remaining'] > 0]
                    return entry.get('errno') or entry.get('nvml_error')
        return None

    # -- test conveniences that are not hardware writes ----------------------

    def set_telemetry(self, address, **values):
        """Set what NVML reports for a GPU (temperature_c, power_w, ...)."""
        unknown = set(values) - set(fake_nvml.DEFAULT_TELEMETRY)
        if unknown:
            raise exception.UsageError(
                'set_telemetry: unknown field(s) %s: use %s' % (
                    ', '.join(sorted(unknown)),
                    ', '.join(sorted(fake_nvml.DEFAULT_TELEMETRY))))
        with self.store.transaction() as state:
            state['gpus'][self._pf(address)].setdefault(
                'telemetry', {}).update(values)

    def attach_guest(self, device, vm_uuid, load=0.5, fb_fraction=0.5):
        """A VM runs on a carved vGPU device (VF address or mdev UUID).

        What a guest does moves the GPU's telemetry: ``load`` (0..1) is
        how busy the guest keeps its vGPU, ``fb_fraction`` how much of its
        framebuffer it fills. NVML then lists the vGPU as active, with
        ``vm_uuid`` as its VM id (libvirt's domain UUID, Nova's instance
        UUID on KVM).
        """
        if not 0 <= load <= 1 or not 0 <= fb_fraction <= 1:
            raise exception.UsageError(
                'attach_guest: load and fb_fraction are fractions (0..1)')
        with self.store.transaction() as state:
            pf, type_id = self._guest_device(state, device)
            if not type_id:
                raise exception.UsageError(
                    'attach_guest: %s carries no vGPU type: carve it first'
                    % device)
            state['gpus'][pf].setdefault('guests', {})[device] = {
                'vm': str(vm_uuid), 'type_id': type_id, 'load': load,
                'fb_fraction': fb_fraction}

    def detach_guest(self, device):
        """The VM on ``device`` is gone; its load leaves the GPU."""
        with self.store.transaction() as state:
            pf, _type = self._guest_device(state, device)
            state['gpus'][pf].get('guests', {}).pop(device, None)

    def set_gpu_lost(self, address, lost=True):
        """The GPU fell off the bus: every NVML call on it fails.

        NVML answers ``NVML_ERROR_GPU_IS_LOST`` until ``lost=False`` (a
        reset or the GPU coming back); sysfs still lists the device.
        """
        with self.store.transaction() as state:
            state['gpus'][self._pf(address)]['lost'] = bool(lost)

    def set_gpu_nvml_error(self, address, code=None):
        """Every NVML call on this GPU's handle fails with ``code``.

        An NVML error code (``pynvml.NVML_ERROR_TIMEOUT``...) on one GPU,
        the others unaffected, until ``code=None``.
        """
        with self.store.transaction() as state:
            state['gpus'][self._pf(address)]['nvml_error'] = code

    def inject_xid(self, address, xid):
        """An XID error on the GPU, delivered to registered event sets."""
        with self.store.transaction() as state:
            gpu = state['gpus'][self._pf(address)]
            gpu['xid_seq'] = gpu.get('xid_seq', 0) + 1
            gpu['xid_events'] = (gpu.get('xid_events', []) + [
                [gpu['xid_seq'], int(xid)]])[-_JOURNAL_MAX:]

    def _guest_device(self, state, device):
        """(PF address, vGPU type id) of a VF address or an mdev UUID."""
        for pf, gpu in state['gpus'].items():
            if device in gpu['mdevs']:
                return pf, gpu['mdevs'][device]['type_id']
        try:
            pf, index = self._owner(state, writers.validate_pci_address(
                device))
        except exception.UsageError:
            pf, index = None, None
        if pf is None or index is None:
            raise exception.UsageError(
                'no VF or mdev %s on simulated host %s'
                % (device, state['spec']['hostname']))
        return pf, state['gpus'][pf]['vfs'][index]['current_vgpu_type']

    def set_mdev_persistent(self, mdev_uuid, persistent=True):
        """Mark an mdev as defined with autostart (mdevctl / libvirt)."""
        with self.store.transaction() as state:
            self._find_mdev(state, mdev_uuid)[1]['persistent'] = persistent

    def set_mdev_in_use(self, mdev_uuid, domain=None):
        """Record that a VM uses an mdev (its remove then fails)."""
        with self.store.transaction() as state:
            self._find_mdev(state, mdev_uuid)[1]['domain'] = domain

    def force_vf_type_id(self, vf_address, type_id):
        """Give a VF a type id that no rule checks.

        As a hand, or an NVIDIA driver newer than the catalog, would set
        it: discovery then sees a fact our catalog cannot explain.
        """
        with self.store.transaction() as state:
            pf, index = self._owner(state, vf_address)
            if index is None:
                raise exception.UsageError('no VF %s on simulated host %s'
                                           % (vf_address, self.hostname))
            state['gpus'][pf]['vfs'][index]['current_vgpu_type'] = \
                int(type_id)
            self.touch(pf)

    def _find_mdev(self, state, mdev_uuid):
        for address, gpu in state['gpus'].items():
            if mdev_uuid in gpu['mdevs']:
                return address, gpu['mdevs'][mdev_uuid]
        raise exception.UsageError('no mdev %s on simulated host %s'
                                   % (mdev_uuid, state['spec']['hostname']))

    def _pf(self, address):
        address = writers.validate_pci_address(address)
        if address not in self.store.load()['gpus']:
            raise exception.UsageError('no GPU %s on simulated host %s' % (
                address, self.hostname))
        return address

    # -- writes ---------------------------------------------------------------

    def apply_sysfs(self, request):
        """Apply a validated writers.SysfsWrite with the kernel's rules."""
        code = self.take_failure(request.path)
        if code is not None:
            _refuse(request.path, code, 'injected failure')
        with self.store.transaction() as state:
            handler = getattr(self, '_write_%s' % request.kind)
            address = handler(state, request)
            self.journal(state, 'sysfs', request.path, request.value)
            self.touch(address)

    @staticmethod
    def _owner(state, address):
        """(PF address, VF index or None) of an existing PCI function."""
        if address in state['gpus']:
            return address, None
        for pf, gpu in state['gpus'].items():
            index = state_mod.vf_index(
                pf, address, state_mod.gpu_vf_offset(state, pf))
            if index is not None and index < len(gpu['vfs']):
                return pf, index
        return None, None

    def _write_sriov_numvfs(self, state, request):
        pf, index = self._owner(state, request.address)
        gpu = state['gpus'].get(pf)
        if gpu is None or index is not None or not gpu['totalvfs']:
            _refuse(request.path, errno.ENOENT, 'no such SR-IOV device')
        wanted, current = int(request.value), len(gpu['vfs'])
        if wanted > gpu['totalvfs']:
            _refuse(request.path, errno.ERANGE, 'sriov_totalvfs is %d'
                    % gpu['totalvfs'])
        if wanted == current:
            return pf
        if wanted and current:
            _refuse(request.path, errno.EBUSY, '%d VFs already enabled: '
                    'write 0 first' % current)
        if not wanted and (any(vf['current_vgpu_type'] for vf in gpu['vfs'])
                           or any(m['parent'] != pf
                                  for m in gpu['mdevs'].values())):
            _refuse(request.path, errno.EBUSY, 'a VF still holds a vGPU')
        gpu['vfs'] = [state_mod.empty_vf() for _ in range(wanted)]
        return pf

    def _write_current_vgpu_type(self, state, request):
        pf, index = self._owner(state, request.address)
        gpu_spec = pf and self.gpu_spec(pf)
        if index is None or gpu_spec['mode'] not in ('vfio', 'mig'):
            _refuse(request.path, errno.ENOENT,
                    'no vendor-specific VFIO VF %s' % request.address)
        gpu, gpu_model = state['gpus'][pf], self.gpu_model(pf)
        vf = gpu['vfs'][index]
        type_id = int(request.value)
        if not type_id:
            vf.update(state_mod.empty_vf())
            return pf
        if vf['current_vgpu_type']:
            _refuse(request.path, errno.EBUSY, 'the VF already has type %d: '
                    'write 0 first' % vf['current_vgpu_type'])
        if type_id not in rules.vf_creatable(gpu_model, gpu,
                                             gpu_spec['scheduling'], index):
            _refuse(request.path, errno.EINVAL, 'type %d is not in '
                    'creatable_vgpu_types' % type_id)
        vf['placement'] = rules.placement_for(
            gpu_model, gpu, gpu_spec['scheduling'], type_id)
        vf['current_vgpu_type'] = type_id
        vf['gpu_instance'] = self._bind_gi(gpu_model, gpu, type_id)
        return pf

    @staticmethod
    def _bind_gi(gpu_model, gpu, type_id):
        vgpu_type = gpu_model.vgpu_type_by_id(type_id)
        if not vgpu_type.mig_backed:
            return None
        return rules.free_gpu_instances(gpu_model, gpu, vgpu_type)[0]

    def _write_mdev_create(self, state, request):
        pf, index = self._owner(state, request.address)
        mode = pf and self.gpu_spec(pf)['mode']
        is_parent = (mode == 'mdev' and index is None) or (
            mode in ('sriov-mdev', 'mig-mdev') and index is not None)
        gpu_model = pf and self.gpu_model(pf)
        if not is_parent or not gpu_model.vgpu_type_by_id(request.type_id):
            _refuse(request.path, errno.ENOENT, 'no such mdev type')
        for gpu in state['gpus'].values():
            if request.mdev_uuid in gpu['mdevs']:
                _refuse(request.path, errno.EEXIST, 'mdev %s exists'
                        % request.mdev_uuid)
        gpu = state['gpus'][pf]
        available = rules.mdev_available(gpu_model, gpu,
                                         self.gpu_spec(pf)['scheduling'],
                                         request.address, pf)
        if not available[request.type_id]:
            _refuse(request.path, errno.EINVAL, 'available_instances is 0')
        gpu['mdevs'][request.mdev_uuid] = {
            'parent': request.address, 'type_id': request.type_id,
            'gpu_instance': self._bind_gi(gpu_model, gpu, request.type_id),
            'placement': rules.placement_for(
                gpu_model, gpu, self.gpu_spec(pf)['scheduling'],
                request.type_id),
            'persistent': False, 'domain': None}
        return pf

    def _write_mdev_remove(self, state, request):
        for pf, gpu in state['gpus'].items():
            mdev = gpu['mdevs'].get(request.mdev_uuid)
            if mdev is None:
                continue
            if mdev.get('domain'):
                _refuse(request.path, errno.EBUSY, 'in use by %s'
                        % mdev['domain'])
            del gpu['mdevs'][request.mdev_uuid]
            return pf
        _refuse(request.path, errno.ENOENT, 'no such mdev')

    def reset_gpu(self, address):
        """A GPU reset: applies a pending MIG mode, drops MIG instances.

        Refused (NVML_ERROR_IN_USE) while a vGPU exists on the GPU.
        """
        address = self._pf(address)
        if self.take_failure('reset_gpu') is not None:
            raise SimulatedWriteError('reset %s: injected failure' % address,
                                      errno.EIO)
        with self.store.transaction() as state:
            gpu = state['gpus'][address]
            if rules.used_type_ids(gpu):
                raise SimulatedWriteError(
                    'reset %s: the GPU is in use by vGPUs' % address,
                    nvml_error=pynvml.NVML_ERROR_IN_USE)
            gpu['mig_current'] = gpu['mig_pending']
            gpu['gpu_instances'] = {}
            self.journal(state, 'reset', address)
            self.touch(address)

    def reboot(self):
        """Power-cycle: drop what a reboot drops (module docstring)."""
        with self.store.transaction() as state:
            for address, gpu in state['gpus'].items():
                gpu_model = self.gpu_model(address)
                gpu['vfs'] = []
                gpu['gpu_instances'] = {}
                gpu['mdevs'] = {
                    mdev_uuid: dict(mdev, gpu_instance=None, domain=None)
                    for mdev_uuid, mdev in gpu['mdevs'].items()
                    if mdev.get('persistent') and mdev['parent'] == address}
                if gpu_model.architecture.mig_change_needs_reset:
                    gpu['mig_current'] = gpu['mig_pending']
                else:
                    gpu['mig_current'] = gpu['mig_pending'] = False
            state['boot'] += 1
            self.journal(state, 'reboot', state['boot'])
            self.store.on_commit(
                lambda: sysfs_tree.render(self.root, self.store.load()))

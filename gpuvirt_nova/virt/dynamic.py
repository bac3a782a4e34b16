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

"""The driver's side of dynamic GPUs: carve at spawn, uncarve when gone.

On a GPU the layout marks ``owner: dynamic`` the driver is the one writer
of MIG instances and vGPUs (:mod:`gpuvirt_nova.dynamic`). A guest whose
allocation holds MIG slices of such a GPU gets, while its definition is
built, a GPU instance at the best free placement (the one the
scheduler's geometry filter ranked first, computed the same way), a
compute instance and a vGPU on it; the driver records what it made for
whom (:mod:`gpuvirt_nova.dynamic.records`). Once no defined domain and no
claim refers to an instance any more (deleted, moved away, a failed
boot), its carve is taken back by :meth:`_dynamic_collect`, which runs
with every provider update, so the slices' busy marks follow at once.
After a host reboot wiped MIG instances, :meth:`_dynamic_restore` puts
each guest's instance back at its placement with the same VF before any
guest starts.

A dynamic time-sliced GPU (framebuffer slices in the allocation) gets a
time-sliced vGPU of the flavor's type instead
(:mod:`gpuvirt_nova.dynamic.ts_carve`), taken back and restored the
same way; restores run in the order of the recorded placements, so
each vGPU gets its old placement or a lower one and every guest fits.
"""

from nova import exception as nova_exception
from oslo_log import log as logging

from gpuvirt_nova.dynamic import carve as carve_mod
from gpuvirt_nova.dynamic import records as records_mod
from gpuvirt_nova.dynamic import requests as requests_mod
from gpuvirt_nova.dynamic import ts_carve
from gpuvirt_nova import exception
from gpuvirt_nova.layout import owners
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import tree
from gpuvirt_nova.virt import assign

LOG = logging.getLogger(__name__)


def _describe(carved):
    if carved.time_sliced:
        return 'time-sliced vGPU %s %s' % (carved.vgpu_type, carved.ident)
    return 'MIG instance %s at slice %d' % (carved.profile, carved.start)


class DynamicGpuMixin(object):
    """Mixed into GpuvirtLibvirtDriver; uses its lock, claims, hardware."""

    def _dynamic_gpus(self):
        """``{address: series}`` of this host's dynamic GPUs."""
        path = getattr(self._gpu_hardware(), 'owners_path', None)
        if not path:
            return {}
        try:
            return owners.dynamic_series(path)
        except exception.GpuvirtError as exc:
            LOG.warning('%s; dynamic GPUs are not offered until it is '
                        'fixed', exc)
            return {}

    def _dynamic_time_sliced(self):
        """``{address: scheduling mode}`` of the dynamic time-sliced GPUs."""
        path = getattr(self._gpu_hardware(), 'owners_path', None)
        try:
            return owners.dynamic_time_sliced(path)
        except exception.GpuvirtError:
            return {}  # warned by _dynamic_gpus

    def _dynamic_restore_order(self, items):
        """``items`` ((owner, keys) pairs) in the order restores run.

        Time-sliced vGPUs go back in the order of their recorded
        placements: the host driver gives each the lowest free
        placement, so each lands at its old one or lower and the later
        ones still find theirs free.
        """
        try:
            held = self._dynamic_records().load()
        except (assign.AssignmentError, exception.GpuvirtError):
            held = {}

        def first(item):
            starts = [c.start for c in held.get(item[0], ())
                      if c.time_sliced and c.start is not None]
            return (min(starts) if starts else -1, item[0])
        return sorted(items, key=first)

    def _dynamic_records(self):
        path = getattr(self._gpu_hardware(), 'records_path', None)
        if not path:
            raise assign.AssignmentError(
                'dynamic GPUs need [gpuvirt] state_dir for the driver\'s '
                'record of what it carved')
        return records_mod.Records(path)

    def _dynamic_addresses(self, context, allocations):
        """GPU addresses of this host holding the allocation's slices."""
        slices = requests_mod.slice_allocations(allocations)
        if not slices:
            return []
        known, elsewhere = self._locate_providers(context, slices)
        missing = set(slices) - set(known) - elsewhere
        if missing:
            raise assign.AssignmentError(
                'allocation of GPU slices is on resource provider %s, '
                'which is not a GPU of this host: refusing to start the '
                'guest without its vGPU' % ', '.join(sorted(missing)))
        return sorted({known[rp] for rp in slices if rp in known})

    def _dynamic_devices(self, context, instance_uuid, extra_specs,
                         allocations, used):
        """Carve (or find) the instance's dynamic vGPUs; hold the lock.

        :returns: [assign.Device], one per dynamic GPU of the allocation.
        :raises assign.AssignmentError: naming the GPU and why; nothing
            this call carved is left behind.
        """
        addresses = self._dynamic_addresses(context, allocations)
        if not addresses:
            return []
        dynamic = self._dynamic_gpus()
        scheduling = self._dynamic_time_sliced()
        hardware = self._gpu_hardware()
        store = self._dynamic_records()
        mine = store.of(instance_uuid)
        devices = []
        for address in addresses:
            if address not in dynamic:
                raise assign.AssignmentError(
                    'GPU %s holds slices of this instance but is not '
                    'dynamic on this host; run gpuvirt-nova layout apply '
                    'with owner: dynamic for it' % address)
            gpu = hardware.read_gpu(address)
            if gpu is None:
                raise assign.AssignmentError(
                    'GPU %s of the allocation is not present on this '
                    'host' % address)
            carved = next((c for c in mine if c.gpu == address), None)
            try:
                if carved is None:
                    carved = self._dynamic_first_carve(
                        instance_uuid, gpu, extra_specs, dynamic[address],
                        scheduling.get(address))
                    store.add(instance_uuid, carved)
                elif not self._dynamic_present(gpu, carved):
                    new = self._dynamic_carve(
                        instance_uuid, address, carved.profile,
                        dynamic[address], prefer=carved,
                        scheduling=scheduling.get(address))
                    store.replace(instance_uuid, carved, new)
                    carved = new
            except exception.GpuvirtError as exc:
                raise assign.AssignmentError(
                    'cannot carve a %s for this guest on dynamic GPU %s: '
                    '%s' % ('time-sliced vGPU' if address in scheduling
                            else 'MIG instance', address, exc)) from exc
            devices.extend(assign.assign(
                [assign.Request(address,
                                naming.resource_class(carved.vgpu_type))],
                hardware.discover(), used=used, previous={carved.key}))
        return devices

    @staticmethod
    def _dynamic_present(gpu, carved):
        if carved.time_sliced:
            return ts_carve.present(gpu, carved)
        return carve_mod.present(gpu, carved)

    def _dynamic_first_carve(self, instance_uuid, gpu, extra_specs, series,
                             scheduling):
        """The first carve for a guest: the flavor names what to make."""
        if scheduling is not None:
            names = [t.name for t in tree.dynamic_time_sliced_types(
                ts_carve.gpu_model_of(gpu), scheduling, series)]
            return self._dynamic_carve(
                instance_uuid, gpu.address,
                requests_mod.type_from_flavor(extra_specs, names), series,
                scheduling=scheduling)
        profile = requests_mod.profile_from_flavor(
            extra_specs, [p.name for p in tree.mig_profiles_of(gpu)])
        return self._dynamic_carve(instance_uuid, gpu.address, profile,
                                   series)

    def _dynamic_carve(self, instance_uuid, address, what, series,
                       prefer=None, scheduling=None):
        """Carve ``what``: a MIG profile, or a type with ``scheduling``.

        On a restore ``prefer`` (the guest's record) says what and where.
        """
        hardware = self._gpu_hardware()
        prefer_vf = prefer.ident if prefer and prefer.kind == 'vf' \
            else None
        if scheduling is not None:
            carved = ts_carve.carve(
                hardware.writer(), hardware.read_gpu, address,
                prefer.vgpu_type if prefer else what, scheduling,
                owner=instance_uuid, prefer_vf=prefer_vf,
                mdevs=hardware.mdevs())
            LOG.info('created time-sliced vGPU %s %s at placement %s on '
                     'dynamic GPU %s', carved.vgpu_type, carved.ident,
                     carved.start, address, instance_uuid=instance_uuid)
            return carved
        carved = carve_mod.carve(
            hardware.writer(), hardware.read_gpu, address, what,
            series, owner=instance_uuid,
            prefer_start=prefer.start if prefer else None,
            prefer_vf=prefer_vf, mdevs=hardware.mdevs())
        LOG.info('carved MIG instance %s at slice %d on dynamic GPU %s '
                 '(%s %s)', carved.profile, carved.start, address,
                 carved.vgpu_type, carved.ident, instance_uuid=instance_uuid)
        return carved

    def _refuse_dynamic_live_migration(self, instance):
        """Live migration of a guest on a dynamic GPU is not built yet.

        The destination would need its MIG instance carved before the
        guest arrives; refusing in the source's pre-check leaves the
        guest running where it is, with the reason in the migration.
        """
        path = getattr(self._gpu_hardware(), 'records_path', None)
        if not path:
            return
        try:
            carved = records_mod.Records(path).of(instance.uuid)
        except exception.GpuvirtError:
            carved = []
        if carved:
            raise nova_exception.MigrationPreCheckError(reason=(
                'the guest has a vGPU carved on dynamic GPU %s; '
                'live migration of guests on dynamic GPUs is not '
                'supported yet: cold migrate it instead' % carved[0].gpu))

    def _dynamic_collect(self):
        """Uncarve what no defined domain and no claim refers to.

        Called with every provider update (and so after every delete),
        under the device lock, so it never races a carve.
        """
        path = getattr(self._gpu_hardware(), 'records_path', None)
        if not path:
            return
        store = records_mod.Records(path)
        with self._gpuvirt_lock:
            try:
                held = store.load()
            except exception.GpuvirtError as exc:
                LOG.warning('%s', exc)
                return
            if not held:
                return
            live = set(self._domain_keys()) | set(self._gpuvirt_claims) | \
                set(self._gpuvirt_scopes)
            hardware = self._gpu_hardware()
            for owner, carved_list in sorted(held.items()):
                if owner in live:
                    continue
                for carved in carved_list:
                    try:
                        carve_mod.uncarve(hardware.writer(),
                                          hardware.read_gpu, carved,
                                          mdevs=hardware.mdevs())
                    except Exception as exc:
                        LOG.warning('instance %s is gone but its %s on '
                                    'GPU %s could not be removed (tried '
                                    'again with the next update): %s',
                                    owner, _describe(carved), carved.gpu,
                                    exc)
                        continue
                    store.remove(owner, carved)
                    LOG.info('removed %s on dynamic GPU %s: instance %s '
                             'is gone', _describe(carved), carved.gpu,
                             owner)

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

"""The live-migration half of GpuvirtLibvirtDriver (a mixin).

Servers live-migrate with their vGPUs, VF-backed (vendor-specific VFIO)
and mdev-backed (time-sliced and MIG-backed) alike. The destination checks
that the vGPU types and the NVIDIA driver branch match the source, and
claims its own carved devices: VFs are handed to the source as
placeholders resolved there (see :mod:`gpuvirt_nova.virt.livemig`), mdevs
through Nova's own ``target_mdevs`` map, with which Nova rewrites the
guest's mdev hostdevs. The libvirt/QEMU minimums for mdev migration are
Nova's own checks of both hosts (``dst_supports_mdev_live_migration``).
Uses the driver's device plumbing (``_gpuvirt_devices``, claims). No
device is ever written here: the source device keeps its carve once the
guest has left (it is simply free again), and a rollback at either end
only drops the claim.
"""

import collections
import time

from nova import context as nova_context
from nova import exception as nova_exception
from nova import objects
from oslo_log import log as logging

from gpuvirt_nova import conf as gpuvirt_conf
from gpuvirt_nova import exception
from gpuvirt_nova.placement import naming
from gpuvirt_nova.virt import assign
from gpuvirt_nova.virt import livemig

LOG = logging.getLogger(__name__)

CONF = gpuvirt_conf.CONF


class LiveMigrationMixin(object):
    """Overrides of LiveMigration-related LibvirtDriver methods."""

    def check_can_live_migrate_source(self, context, instance,
                                      dest_check_data,
                                      block_device_info=None):
        self._refuse_dynamic_live_migration(instance)
        data = super().check_can_live_migrate_source(
            context, instance, dest_check_data,
            block_device_info=block_device_info)
        mdevs = self._own_mdev_types(instance)
        if mdevs:
            # Nova names the types from [devices] enabled_mdev_types, which
            # a gpuvirt host leaves empty: ours come from the carve.
            data.source_mdev_types = mdevs
        return data

    def _own_mdev_types(self, instance):
        """``{mdev UUID: vGPU type name}`` of the guest's mdevs here."""
        uuids = {ident for kind, ident in self._current_keys(instance)
                 if kind == assign.KIND_MDEV}
        if not uuids:
            return {}
        result = {}
        for gpu in self._gpu_hardware().discover().gpus:
            names = assign.mdev_type_names(gpu)
            for mdev in gpu.mdevs:
                if mdev.uuid in uuids:
                    result[mdev.uuid] = names.get(mdev.mdev_type,
                                                  mdev.mdev_type)
        return result

    def _provider_traits(self, context, rp_uuids):
        traits = set()
        for rp_uuid in rp_uuids:
            resp = self.virtapi.reportclient.get(
                '/resource_providers/%s/traits' % rp_uuid, version='1.6',
                global_request_id=getattr(context, 'global_id', None))
            if resp:
                traits |= set(resp.json()['traits'])
        return traits

    def check_source_migrate_data_at_dest(self, ctxt, instance, migrate_data,
                                          migration, limits, allocs):
        source_mdevs = {}
        if 'source_mdev_types' in migrate_data and \
                migrate_data.source_mdev_types:
            # Ours, not [devices] types: Nova's own mapping would refuse
            # them (and allocate from classes it does not serve).
            source_mdevs = dict(migrate_data.source_mdev_types)
            migrate_data.source_mdev_types = {}
        data = super().check_source_migrate_data_at_dest(
            ctxt, instance, migrate_data, migration, limits, allocs)
        dest = assign.vgpu_resource_classes(allocs)
        if not dest:
            return data
        source = assign.vgpu_resource_classes(
            self.virtapi.reportclient.get_allocations_for_consumer(
                ctxt, migration.uuid))
        problems = livemig.precheck_problems(
            _units(source), _units(dest),
            self._provider_traits(ctxt, source),
            self._provider_traits(ctxt, dest))
        if problems:
            raise nova_exception.MigrationPreCheckError(
                reason='; '.join(problems))
        self._gpuvirt_allocations[instance.uuid] = allocs
        try:
            # Held past this call: until the guest arrives, the rollback,
            # or expire_dest_claims.
            devices = self._gpuvirt_devices(ctxt, instance, hold=True)
            self._gpuvirt_held[instance.uuid] = time.monotonic()
            self._gpuvirt_held_migrations[instance.uuid] = migration.uuid
        except exception.GpuvirtError as exc:
            raise nova_exception.MigrationPreCheckError(reason=str(exc))
        finally:
            self._gpuvirt_allocations.pop(instance.uuid, None)
        try:
            target_mdevs = livemig.pair_mdevs(source_mdevs, devices)
        except ValueError as exc:
            self._end_claim(instance)
            raise nova_exception.MigrationPreCheckError(reason=str(exc))
        pci_map = dict(data.pci_dev_map_src_dst) \
            if 'pci_dev_map_src_dst' in data else {}
        pci_map.update(livemig.placeholders(
            [d for d in devices if d.kind == assign.KIND_VF]))
        data.pci_dev_map_src_dst = pci_map
        if target_mdevs:
            # Nova rewrites the guest's mdev hostdevs with this map.
            data.target_mdevs = target_mdevs
        if 'target_mdevs' not in data:
            # Nova rolls the destination back (and so ends this claim)
            # only when it holds something to clean up: with a shared
            # instance path it would not, and the devices would stay
            # claimed after a failed or aborted migration. target_mdevs
            # is Nova's sign for "devices held at the destination"; empty,
            # it rewrites no hostdev (see hooks.LIVE_MIGRATION_HANDOFF).
            data.target_mdevs = {}
        # The devices stay claimed until the guest arrives (or rollback).
        return data

    def _end_claim(self, instance):
        self._end_claim_of(instance.uuid)

    def _end_claim_of(self, instance_uuid):
        with self._gpuvirt_lock:
            self._gpuvirt_held.pop(instance_uuid, None)
            self._gpuvirt_held_migrations.pop(instance_uuid, None)
            self._gpuvirt_claims.pop(instance_uuid, None)

    def expire_dest_claims(self, now=None):
        """Drop destination claims whose migration never came.

        The conductor can give up after ``check_source_migrate_data_at_
        dest`` (source pre-check failed, RPC timeout) without telling
        this host, and a migration aborted while queued at the source is
        cancelled there alone; the devices would stay claimed for good.
        A claim goes when its migration has ended, or at the latest after
        ``live_migration_claim_timeout``.
        """
        now = time.monotonic() if now is None else now
        expired = livemig.expired_claims(
            dict(self._gpuvirt_held), now,
            CONF.gpuvirt.live_migration_claim_timeout,
            set(self._domain_keys()))
        ended = self._ended_migration_claims()
        for instance_uuid in sorted(set(expired) | set(ended)):
            LOG.warning('instance %s: dropping the vGPU devices claimed for '
                        'a live migration that %s', instance_uuid,
                        'ended (%s)' % ended[instance_uuid]
                        if instance_uuid in ended else 'never arrived')
            self._end_claim_of(instance_uuid)
        return sorted(set(expired) | set(ended))

    def _ended_migration_claims(self):
        """{instance uuid: status} of held claims whose migration ended."""
        context = nova_context.get_admin_context()
        ended = {}
        for instance_uuid, migration_uuid in sorted(
                self._gpuvirt_held_migrations.items()):
            try:
                status = objects.Migration.get_by_uuid(
                    context, migration_uuid).status
            except Exception as exc:
                # Unreadable now: the claim timeout still applies.
                LOG.debug('live migration %s: status unreadable: %s',
                          migration_uuid, exc)
                continue
            if status in livemig.ENDED_MIGRATION_STATUSES:
                ended[instance_uuid] = status
        return ended

    def live_migration(self, context, instance, dest, post_method,
                       recover_method, block_migration=False,
                       migrate_data=None):
        pci_map = getattr(migrate_data, 'pci_dev_map_src_dst', None) \
            if migrate_data is not None and \
            'pci_dev_map_src_dst' in migrate_data else None
        if pci_map and any(k.startswith(livemig.PLACEHOLDER_PREFIX)
                           for k in pci_map):
            host = self._gpu_hardware().discover()
            keys = self._current_keys(instance)
            source_vfs = {vf.address: naming.resource_class(
                vf.current_vgpu_type) for g in host.gpus for vf in g.vfs
                if vf.current_vgpu_type and
                (assign.KIND_VF, vf.address) in keys}
            try:
                migrate_data.pci_dev_map_src_dst = livemig.resolve(
                    pci_map, source_vfs)
            except ValueError as exc:
                raise nova_exception.MigrationError(reason=str(exc))
        return super().live_migration(
            context, instance, dest, post_method, recover_method,
            block_migration=block_migration, migrate_data=migrate_data)

    def post_live_migration_at_destination(self, context, instance,
                                           network_info,
                                           block_migration=False,
                                           block_device_info=None):
        try:
            return super().post_live_migration_at_destination(
                context, instance, network_info,
                block_migration=block_migration,
                block_device_info=block_device_info)
        finally:
            self._end_claim(instance)

    def rollback_live_migration_at_destination(self, context, instance,
                                               network_info,
                                               block_device_info,
                                               destroy_disks=True,
                                               migrate_data=None):
        try:
            return super().rollback_live_migration_at_destination(
                context, instance, network_info, block_device_info,
                destroy_disks=destroy_disks, migrate_data=migrate_data)
        finally:
            self._end_claim(instance)


def _units(classes_by_provider):
    """Counter of vGPU units over providers."""
    counts = collections.Counter()
    for classes in classes_by_provider.values():
        counts.update(classes)
    return counts

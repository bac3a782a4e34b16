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

"""GpuvirtLibvirtDriver: Nova's libvirt driver, plus our GPUs.

Load it in nova.conf with ``compute_driver = gpuvirt.GpuvirtLibvirtDriver``
(see :mod:`gpuvirt_nova.virt.shim` for how ``nova.virt.gpuvirt`` is
found). Thin on purpose: what to report comes from
:mod:`gpuvirt_nova.placement.tree`, which device a guest gets from
:mod:`gpuvirt_nova.virt.assign`, the libvirt/sysfs work from
:mod:`gpuvirt_nova.virt.mdev`; live migration is in
:mod:`gpuvirt_nova.virt.migrate`. The methods overridden are listed and
pinned in :mod:`gpuvirt_nova.virt.hooks`.

Device life cycle: a device is chosen and made ready while a host-wide
lock is held, and stays *claimed* by its instance until the guest that
uses it is defined, so two concurrent boots can never pick the same one
(the upstream race). Afterwards a device is in use exactly when a defined
domain references it. If no device can be found or made ready, the guest
is not started at all: an instance never runs without the vGPU Placement
allocated to it.
"""

import contextlib
import os
import threading

from nova import context as nova_context
from nova import exception as nova_exception
from nova.virt.libvirt import config as vconfig
from nova.virt.libvirt import driver as libvirt_driver
from oslo_config import cfg
from oslo_log import log as logging

import gpuvirt_nova.conf  # noqa: F401  (registers [gpuvirt] options)
from gpuvirt_nova import exception
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import tree
from gpuvirt_nova.virt import assign
from gpuvirt_nova.virt import checks
from gpuvirt_nova.virt import hardware
from gpuvirt_nova.virt import mdev
from gpuvirt_nova.virt import migrate
from gpuvirt_nova.virt import provider
from gpuvirt_nova.virt import xml as vxml

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


def _config_keys(guest_config):
    """Device keys of a parsed LibvirtConfigGuest (None: empty set)."""
    keys = set()
    for device in getattr(guest_config, 'devices', None) or ():
        if isinstance(device, vconfig.LibvirtConfigGuestHostdevMDEV):
            keys.add((assign.KIND_MDEV, device.uuid))
        elif isinstance(device, vconfig.LibvirtConfigGuestHostdevPCI):
            keys.add((assign.KIND_VF, '%04x:%02x:%02x.%x' % tuple(
                int(str(v), 16) for v in (device.domain, device.bus,
                                          device.slot, device.function))))
    return keys


def _configured_layout():
    """The parsed ``[gpuvirt_layout] file``, or None when there is none.

    :raises exception.UsageError: the file does not parse.
    """
    path = CONF.gpuvirt_layout.file
    if not path or not os.path.isfile(path):
        return None
    from gpuvirt_nova.layout import spec as layout_spec
    return layout_spec.load_file(path)


class GpuvirtLibvirtDriver(migrate.LiveMigrationMixin,
                           libvirt_driver.LibvirtDriver):
    """LibvirtDriver that reports, assigns and restores NVIDIA vGPUs."""

    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi, read_only)
        self._gpuvirt_lock = threading.RLock()
        #: instance uuid -> set of device keys claimed, not yet defined.
        self._gpuvirt_claims = {}
        #: instance uuid -> depth of the claim scopes open for it.
        self._gpuvirt_scopes = {}
        #: instance uuid -> when a claim held past its call was made
        #: (live-migration destination), see migrate.expire_dest_claims.
        self._gpuvirt_held = {}
        #: instance uuid -> allocations passed to spawn/finish_migration.
        self._gpuvirt_allocations = {}
        #: GPU provider uuid -> GPU PCI address (from update_provider_tree).
        self._gpuvirt_provider_gpus = {}
        #: uuid of this compute node's root provider.
        self._gpuvirt_root_uuid = None
        self._gpuvirt_hardware = None
        #: instance uuid -> source VF keys of a live migration under way.
        self._gpuvirt_leaving = {}

    # -- plumbing ---------------------------------------------------------

    def _gpu_hardware(self):
        if self._gpuvirt_hardware is None:
            hostname = (CONF.gpuvirt.hardware_hostname or
                        self._host.get_hostname())
            self._gpuvirt_hardware = hardware.from_conf(CONF, hostname)
        return self._gpuvirt_hardware

    def _device_manager(self):
        return mdev.DeviceManager(self._gpu_hardware().writer(),
                                  self._host.get_connection)

    def _domain_keys(self):
        """{instance uuid: set of device keys} of every defined domain."""
        result = {}
        for guest in self._host.list_guests(only_running=False):
            result[guest.uuid] = vxml.hostdev_keys(guest.get_xml_desc())
        return result

    def _keys_used_by_others(self, instance_uuid):
        used = set()
        for owner, keys in self._domain_keys().items():
            if owner != instance_uuid:
                used |= keys
        for owner, keys in self._gpuvirt_claims.items():
            if owner != instance_uuid:
                used |= keys
        return used

    @contextlib.contextmanager
    def _claim_scope(self, instance, keep=()):
        """Hold ``instance``'s claim until the wrapped call returns.

        ``keep`` pre-claims devices the instance already has (reboots),
        so nobody takes them while its domain is being redefined. On
        failure, VF types set for the call and not referenced by any
        domain are released again.
        """
        with self._gpuvirt_lock:
            self._gpuvirt_scopes[instance.uuid] = \
                self._gpuvirt_scopes.get(instance.uuid, 0) + 1
            self._gpuvirt_claims.setdefault(instance.uuid, set()).update(
                keep)
        ok = False
        try:
            yield
            ok = True
        finally:
            with self._gpuvirt_lock:
                depth = self._gpuvirt_scopes.pop(instance.uuid) - 1
                if depth:
                    # An inner scope: the outermost one releases.
                    self._gpuvirt_scopes[instance.uuid] = depth
                else:
                    claimed = self._gpuvirt_claims.pop(instance.uuid, set())
                    self._gpuvirt_allocations.pop(instance.uuid, None)
                    if not ok:
                        self._release_unreferenced(claimed)

    def _release_unreferenced(self, keys, departed=None):
        """Clear the type of our GPU VFs in ``keys`` that nobody uses.

        ``departed``: an instance that has left this host (live
        migration); its stale domain here does not count as a user.
        """
        keys = {k for k in keys if k[0] == assign.KIND_VF}
        if not keys:
            return
        gpu_vfs = {vf.address for g in self._gpu_hardware().discover().gpus
                   for vf in g.vfs if vf.current_vgpu_type}
        in_domains = set()
        for owner, domain_keys in self._domain_keys().items():
            if owner != departed:
                in_domains |= domain_keys
        for other in self._gpuvirt_claims.values():
            in_domains |= other
        for kind, ident in sorted(keys):
            # Other PCI hostdevs (SR-IOV NICs...) are not ours to touch.
            if ident not in gpu_vfs or (kind, ident) in in_domains:
                continue
            try:
                self._device_manager().release_vf(ident)
            except Exception as exc:
                LOG.warning('could not release VF %s: %s', ident, exc)

    def _current_keys(self, instance):
        return self._domain_keys().get(instance.uuid, set())

    def _allocations_for(self, context, instance):
        allocations = self._gpuvirt_allocations.get(instance.uuid)
        if allocations is None:
            allocations = self.virtapi.reportclient \
                .get_allocations_for_consumer(context, instance.uuid)
        return allocations or {}

    def _vgpu_requests(self, context, allocations):
        """Requests for this host's share of an instance's allocations."""
        known = dict(self._gpuvirt_provider_gpus)
        elsewhere = set()
        nodename = self._host.get_hostname()
        for rp_uuid in assign.vgpu_resource_classes(allocations):
            if rp_uuid in known:
                continue
            resp = self.virtapi.reportclient.get(
                '/resource_providers/%s' % rp_uuid, version='1.14',
                global_request_id=getattr(context, 'global_id', None))
            if not resp:
                continue
            data = resp.json()
            address = naming.address_from_provider_name(nodename,
                                                        data['name'])
            if address:
                known[rp_uuid] = address
            elif data.get('root_provider_uuid') != self._gpuvirt_root_uuid:
                # Another node's GPU (evacuation keeps the source's).
                elsewhere.add(rp_uuid)
        return assign.requests_from_allocations(allocations, known,
                                                elsewhere)

    # -- devices ----------------------------------------------------------

    def _gpuvirt_devices(self, context, instance, old_guest=None,
                         hold=False):
        """Choose and prepare this instance's devices; claim them.

        The claim is made inside a claim scope, or with ``hold`` when the
        caller ends it itself (live-migration destination).

        :raises assign.AssignmentError, mdev.DeviceError: nothing claimed.
        """
        allocations = self._allocations_for(context, instance)
        if not assign.vgpu_resource_classes(allocations):
            return []
        requests = self._vgpu_requests(context, allocations)
        if not requests:
            raise assign.AssignmentError(
                'the vGPU allocations of this instance are all on other '
                'compute nodes: refusing to start the guest here without '
                'its vGPU')
        previous = set(self._gpuvirt_claims.get(instance.uuid, ()))
        previous |= _config_keys(old_guest)
        with self._gpuvirt_lock:
            host = self._gpu_hardware().discover()
            devices = assign.assign(
                requests, host, used=self._keys_used_by_others(instance.uuid),
                previous=previous)
            self._device_manager().prepare(devices, host)
            if hold or instance.uuid in self._gpuvirt_scopes:
                self._gpuvirt_claims.setdefault(instance.uuid, set()).update(
                    d.key for d in devices)
            else:
                # NOTE: a claim outside a scope would never be dropped
                # (and would pin the device after the guest is gone): a
                # Nova path not wrapped in hooks.OVERRIDDEN got here.
                LOG.warning('vGPU devices chosen outside a claim scope; not '
                            'claimed', instance=instance)
        LOG.info('vGPU devices: %s', ', '.join(
            '%s %s on GPU %s' % (d.vgpu_type, d.key[1], d.gpu_address)
            for d in devices), instance=instance)
        return devices

    def _check_restorable(self, context, instance):
        """Raise before a restart tears the guest down if its vGPU is gone.

        Hard reboot, power on and resume after a host reboot undefine the
        domain before building the new one; checking first keeps the
        domain (and its record of the devices) when they cannot come
        back, and says so in the log.
        """
        allocations = self._allocations_for(context, instance)
        if not assign.vgpu_resource_classes(allocations):
            return
        try:
            requests = self._vgpu_requests(context, allocations)
            with self._gpuvirt_lock:
                assign.assign(
                    requests, self._gpu_hardware().discover(),
                    used=self._keys_used_by_others(instance.uuid),
                    previous=self._current_keys(instance))
        except assign.AssignmentError as exc:
            LOG.error('the vGPU device(s) of this instance cannot be '
                      'restored, so it is not started: %s', exc,
                      instance=instance)
            raise

    def _get_guest_xml(self, context, instance, network_info, disk_info,
                       image_meta, rescue=None, block_device_info=None,
                       mdevs=None, accel_info=None, share_info=None,
                       old_guest=None):
        devices = self._gpuvirt_devices(context, instance, old_guest)
        ours = {d.mdev_uuid for d in devices if d.mdev_uuid}
        ours |= {ident for kind, ident in _config_keys(old_guest)
                 if kind == assign.KIND_MDEV}
        # Nova passes the mdevs of the old domain on hard reboot: ours
        # are re-added below with the devices chosen now.
        mdevs = [m for m in (mdevs or []) if m not in ours]
        xml = super()._get_guest_xml(
            context, instance, network_info, disk_info, image_meta,
            rescue=rescue, block_device_info=block_device_info,
            mdevs=mdevs, accel_info=accel_info, share_info=share_info,
            old_guest=old_guest)
        return vxml.add_hostdevs(xml, devices)

    # -- life cycle -------------------------------------------------------

    def init_host(self, host):
        problems = checks.conflicts(CONF.devices.enabled_mdev_types,
                                    CONF.pci.device_spec)
        if problems:
            for problem in problems:
                LOG.error('%s', problem)
            raise exception.ConfigError(problems[0])
        super().init_host(host)
        self._restore_devices()

    def _restore_devices(self):
        """Recreate lost devices (host reboot) before any guest resumes.

        For each defined domain whose instance holds vGPU allocations, the
        devices its definition names are made ready again: the same VF
        gets its type back, a lost mdev is recreated with the same UUID.
        A guest whose device cannot be restored is logged as an error; it
        is not started later without it (see _check_restorable).
        """
        context = nova_context.get_admin_context()
        #: devices chosen for the domains before this one (not claimed).
        chosen = set()
        for owner, keys in sorted(self._domain_keys().items()):
            try:
                allocations = self.virtapi.reportclient \
                    .get_allocations_for_consumer(context, owner)
                if not assign.vgpu_resource_classes(allocations):
                    continue
                requests = self._vgpu_requests(context, allocations)
                with self._gpuvirt_lock:
                    host = self._gpu_hardware().discover()
                    devices = assign.assign(
                        requests, host,
                        used=self._keys_used_by_others(owner) | chosen,
                        previous=keys)
                    self._device_manager().prepare(devices, host)
                    chosen |= {d.key for d in devices}
            except Exception as exc:
                LOG.error('instance %s: its vGPU device(s) cannot be '
                          'restored, so it will not be started: %s',
                          owner, exc)
                continue
            moved = {d.key for d in devices} - keys
            if moved:
                LOG.warning('instance %s: vGPU device(s) %s replace lost '
                            'ones; its guest definition is updated when it '
                            'starts', owner, ', '.join(k[1] for k in moved))

    def spawn(self, context, instance, image_meta, injected_files,
              admin_password, allocations, network_info=None,
              block_device_info=None, power_on=True, accel_info=None):
        self._gpuvirt_allocations[instance.uuid] = allocations
        with self._claim_scope(instance):
            return super().spawn(
                context, instance, image_meta, injected_files,
                admin_password, allocations, network_info=network_info,
                block_device_info=block_device_info, power_on=power_on,
                accel_info=accel_info)

    def reboot(self, context, instance, network_info, reboot_type,
               block_device_info=None, bad_volumes_callback=None,
               accel_info=None, share_info=None):
        # Even a soft reboot: Nova falls back to a hard one (which tears
        # the domain down first) when the guest does not shut down.
        self._check_restorable(context, instance)
        with self._claim_scope(instance, self._current_keys(instance)):
            return super().reboot(
                context, instance, network_info, reboot_type,
                block_device_info=block_device_info,
                bad_volumes_callback=bad_volumes_callback,
                accel_info=accel_info, share_info=share_info)

    def power_on(self, context, instance, network_info,
                 block_device_info=None, accel_info=None, share_info=None):
        self._check_restorable(context, instance)
        with self._claim_scope(instance, self._current_keys(instance)):
            return super().power_on(
                context, instance, network_info,
                block_device_info=block_device_info,
                accel_info=accel_info, share_info=share_info)

    def resume_state_on_host_boot(self, context, instance, network_info,
                                  share_info, block_device_info=None):
        try:
            active = self._host.get_guest(instance).is_active()
        except nova_exception.InstanceNotFound:
            active = False
        if not active:
            self._check_restorable(context, instance)
        with self._claim_scope(instance, self._current_keys(instance)):
            return super().resume_state_on_host_boot(
                context, instance, network_info, share_info,
                block_device_info=block_device_info)

    def rescue(self, context, instance, network_info, image_meta,
               rescue_password, block_device_info, share_info):
        with self._claim_scope(instance, self._current_keys(instance)):
            return super().rescue(context, instance, network_info,
                                  image_meta, rescue_password,
                                  block_device_info, share_info)

    def unrescue(self, context, instance):
        with self._claim_scope(instance, self._current_keys(instance)):
            return super().unrescue(context, instance)

    def resume(self, context, instance, network_info, block_device_info=None,
               share_info=None):
        with self._claim_scope(instance, self._current_keys(instance)):
            return super().resume(context, instance, network_info,
                                  block_device_info=block_device_info,
                                  share_info=share_info)

    def finish_migration(self, context, migration, instance, disk_info,
                         network_info, image_meta, resize_instance,
                         allocations, block_device_info=None,
                         power_on=True, share_info=None):
        self._gpuvirt_allocations[instance.uuid] = allocations
        with self._claim_scope(instance):
            return super().finish_migration(
                context, migration, instance, disk_info, network_info,
                image_meta, resize_instance, allocations,
                block_device_info=block_device_info, power_on=power_on,
                share_info=share_info)

    def finish_revert_migration(self, context, instance, network_info,
                                migration, block_device_info=None,
                                power_on=True, share_info=None):
        with self._claim_scope(instance, self._current_keys(instance)):
            return super().finish_revert_migration(
                context, instance, network_info, migration,
                block_device_info=block_device_info, power_on=power_on,
                share_info=share_info)

    def cleanup(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, migrate_data=None, destroy_vifs=True,
                destroy_secrets=True):
        keys = self._current_keys(instance)
        try:
            return super().cleanup(
                context, instance, network_info,
                block_device_info=block_device_info,
                destroy_disks=destroy_disks, migrate_data=migrate_data,
                destroy_vifs=destroy_vifs, destroy_secrets=destroy_secrets)
        finally:
            with self._gpuvirt_lock:
                # A reboot in progress keeps its devices (claimed).
                keys -= self._gpuvirt_claims.get(instance.uuid, set())
                self._release_unreferenced(keys)

    def confirm_migration(self, context, migration, instance, network_info):
        keys = self._current_keys(instance)
        try:
            return super().confirm_migration(context, migration, instance,
                                             network_info)
        finally:
            with self._gpuvirt_lock:
                self._release_unreferenced(keys)

    # -- Placement ----------------------------------------------------------

    def update_provider_tree(self, provider_tree, nodename, allocations=None):
        super().update_provider_tree(provider_tree, nodename,
                                     allocations=allocations)
        self.expire_dest_claims()
        host = self._gpu_hardware().discover()
        try:
            offers = provider.driver_offers(
                host, CONF.gpuvirt_placement.default_vgpu_types,
                node_name=nodename, layout=_configured_layout(),
                select=CONF.gpuvirt_layout.select)
        except exception.UsageError as exc:
            # Keep the GPU providers as they are rather than guess.
            LOG.error('GPU providers not updated: %s', exc)
            return
        desired = tree.build_provider_tree(
            nodename, host, offers,
            draining=provider.draining_gpus(provider_tree, nodename))
        self._gpuvirt_provider_gpus = provider.apply_desired(provider_tree,
                                                             desired)
        self._gpuvirt_root_uuid = provider_tree.data(nodename).uuid
        if CONF.gpuvirt.undefine_unused_mdevs:
            self._undefine_stale_mdevs(host, desired)

    def _undefine_stale_mdevs(self, host, desired):
        """Upstream keeps mdevs of dropped types forever; we do not."""
        offered = {p.address: set(p.inventories) for p in desired.providers}
        with self._gpuvirt_lock:
            used = self._keys_used_by_others(None)
            for stale in assign.stale_mdevs(host, offered, used):
                try:
                    self._device_manager().remove_mdev(stale.uuid,
                                                       stale.parent)
                except Exception as exc:
                    LOG.warning('could not undefine unused mdev %s of type '
                                '%s: %s', stale.uuid, stale.mdev_type, exc)

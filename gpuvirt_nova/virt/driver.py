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

Device ownership: the driver never changes a device's type or
existence. The carve (MIG instances, SR-IOV VFs and their vGPU types,
mdevs) has one writer, ``gpuvirt-nova layout apply``; the driver only
hands carved devices to guests and takes them back, so a guest's life
never changes what the host offers. Placement is told the carve as the
hardware holds it now, through the one reconcile rule the standalone sync
uses (never below usage), and a GPU-side surprise reserves that GPU and
warns: it never fails the periodic update, so the rest of the host keeps
working.

Device life cycle: a device is chosen while a host-wide lock is held, and
stays *claimed* by its instance until the guest that uses it is defined,
so two concurrent boots can never pick the same one (the upstream race).
Afterwards a device is in use exactly when a defined domain references
it. If no device can be found, the guest is not started at all: an
instance never runs without the vGPU Placement allocated to it.
"""

import contextlib
import threading
import time

from nova import context as nova_context
from nova import exception as nova_exception
from nova.virt.libvirt import config as vconfig
from nova.virt.libvirt import driver as libvirt_driver
from oslo_config import cfg
from oslo_log import log as logging

import gpuvirt_nova.conf  # noqa: F401  (registers [gpuvirt] options)
from gpuvirt_nova.dynamic import requests as dynamic_requests
from gpuvirt_nova import exception
from gpuvirt_nova.monitor import fence
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import offers as offers_mod
from gpuvirt_nova.placement import tree
from gpuvirt_nova.virt import assign
from gpuvirt_nova.virt import checks
from gpuvirt_nova.virt import dynamic
from gpuvirt_nova.virt import hardware
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


class GpuvirtLibvirtDriver(dynamic.DynamicGpuMixin,
                           migrate.LiveMigrationMixin,
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
        #: instance uuid -> uuid of the live migration a held claim is for.
        self._gpuvirt_held_migrations = {}
        #: instance uuid -> allocations passed to spawn/finish_migration.
        self._gpuvirt_allocations = {}
        #: GPU provider uuid -> GPU PCI address (from update_provider_tree).
        self._gpuvirt_provider_gpus = {}
        #: uuid of this compute node's root provider.
        self._gpuvirt_root_uuid = None
        self._gpuvirt_hardware = None
        #: GPUs fenced as unhealthy (see _gpuvirt_fenced).
        self._gpuvirt_fence = fence.Fence(time.monotonic)
        #: NVML kept open between health checks, to see XID events.
        self._gpuvirt_health = None

    # -- plumbing ---------------------------------------------------------

    def _gpu_hardware(self):
        if self._gpuvirt_hardware is None:
            hostname = (CONF.gpuvirt.hardware_hostname or
                        self._host.get_hostname())
            self._gpuvirt_hardware = hardware.from_conf(CONF, hostname)
        return self._gpuvirt_hardware

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
        so nobody takes them while its domain is being redefined. Ending
        the claim is all a failure needs: no device was changed.
        """
        with self._gpuvirt_lock:
            self._gpuvirt_scopes[instance.uuid] = \
                self._gpuvirt_scopes.get(instance.uuid, 0) + 1
            self._gpuvirt_claims.setdefault(instance.uuid, set()).update(
                keep)
        try:
            yield
        finally:
            with self._gpuvirt_lock:
                depth = self._gpuvirt_scopes.pop(instance.uuid) - 1
                if depth:
                    # An inner scope: the outermost one releases.
                    self._gpuvirt_scopes[instance.uuid] = depth
                else:
                    self._gpuvirt_claims.pop(instance.uuid, None)
                    self._gpuvirt_allocations.pop(instance.uuid, None)

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
        known, elsewhere = self._locate_providers(
            context, assign.vgpu_resource_classes(allocations))
        return assign.requests_from_allocations(allocations, known,
                                                elsewhere)

    def _locate_providers(self, context, rp_uuids):
        """({rp uuid: GPU address} of this host, {rp uuid elsewhere})."""
        known = dict(self._gpuvirt_provider_gpus)
        elsewhere = set()
        nodename = self._host.get_hostname()
        for rp_uuid in rp_uuids:
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
        return known, elsewhere

    # -- devices ----------------------------------------------------------

    def _gpuvirt_devices(self, context, instance, old_guest=None,
                         hold=False):
        """Choose this instance's carved devices; claim them.

        The claim is made inside a claim scope, or with ``hold`` when the
        caller ends it itself (live-migration destination).

        :raises assign.AssignmentError: nothing claimed.
        """
        allocations = self._allocations_for(context, instance)
        slices = dynamic_requests.slice_allocations(allocations)
        if not assign.vgpu_resource_classes(allocations) and not slices:
            return []
        requests = self._vgpu_requests(context, allocations)
        if not requests and not slices:
            raise assign.AssignmentError(
                'the vGPU allocations of this instance are all on other '
                'compute nodes: refusing to start the guest here without '
                'its vGPU')
        previous = set(self._gpuvirt_claims.get(instance.uuid, ()))
        previous |= _config_keys(old_guest)
        with self._gpuvirt_lock:
            used = self._keys_used_by_others(instance.uuid)
            devices = assign.assign(
                requests, self._gpu_hardware().discover(), used=used,
                previous=previous) if requests else []
            devices += self._dynamic_devices(
                context, instance.uuid,
                getattr(instance.flavor, 'extra_specs', None),
                allocations, used | {d.key for d in devices})
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
        """Check, before any guest resumes, that every guest has a device.

        After a host reboot ``layout apply --boot`` restores the carve
        (VFs, their types, MIG instances) and libvirt's autostart the
        mdevs, before nova-compute starts. For each defined domain whose
        instance holds vGPU allocations, the devices its definition names
        are found again (the same VF, the same mdev UUID) or, failing
        that, free devices of the same type and GPU. A guest for which
        neither exists is logged as an error; it is not started later
        without it (see _check_restorable).
        """
        context = nova_context.get_admin_context()
        #: devices chosen for the domains before this one (not claimed).
        chosen = set()
        for owner, keys in self._dynamic_restore_order(
                self._domain_keys().items()):
            try:
                allocations = self.virtapi.reportclient \
                    .get_allocations_for_consumer(context, owner)
                slices = dynamic_requests.slice_allocations(allocations)
                if not assign.vgpu_resource_classes(allocations) and \
                        not slices:
                    continue
                requests = self._vgpu_requests(context, allocations)
                with self._gpuvirt_lock:
                    used = self._keys_used_by_others(owner) | chosen
                    devices = assign.assign(
                        requests, self._gpu_hardware().discover(),
                        used=used, previous=keys) if requests else []
                    # A dynamic guest's MIG instance is put back where
                    # it was (a reboot wiped it), before any guest starts.
                    devices += self._dynamic_devices(
                        context, owner, None, allocations,
                        used | {d.key for d in devices})
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

    # -- Placement ----------------------------------------------------------

    def update_provider_tree(self, provider_tree, nodename, allocations=None):
        super().update_provider_tree(provider_tree, nodename,
                                     allocations=allocations)
        self.expire_dest_claims()
        self._gpuvirt_root_uuid = provider_tree.data(nodename).uuid
        try:
            self._dynamic_collect()
        except Exception as exc:
            LOG.warning('taking back the MIG instances of departed guests '
                        'failed (tried again with the next update): %s', exc)
        dynamic_gpus = self._dynamic_gpus()
        try:
            host = self._gpu_hardware().discover()
        except Exception as exc:
            # Never fail the node over its GPUs: leave their providers as
            # Placement holds them (allocations stay valid, Nova's own
            # inventory is reported) and say what to look at.
            LOG.warning('GPU discovery failed, GPU providers left as they '
                        'are until it works again: %s; check the NVIDIA '
                        'driver with gpuvirt-nova discover', exc)
            return
        desired = tree.build_provider_tree(
            nodename, host,
            offers_mod.offers_from_hardware(host, dynamic_gpus),
            draining=provider.draining_gpus(provider_tree, nodename),
            unhealthy=self._gpuvirt_fenced(provider_tree, nodename, host),
            isolate=True, dynamic=dynamic_gpus,
            time_sliced=self._dynamic_time_sliced())
        for address, problem in desired.problems:
            LOG.warning('GPU %s is not offered (its provider, if any, is '
                        'fully reserved): %s; fix the carve with '
                        'gpuvirt-nova layout apply, or update the catalog',
                        address, problem)
        self._gpuvirt_provider_gpus, notes = provider.apply_desired(
            provider_tree, desired, self._provider_usages)
        for note in notes:
            LOG.warning('%s', note)

    def _gpuvirt_fenced(self, provider_tree, nodename, host):
        """``{address: reason}`` of the GPUs to fence (monitor.fence)."""
        group = CONF.gpuvirt_monitor
        if not group.fence_unhealthy_gpus:
            return {}
        marked = provider.unhealthy_gpus(provider_tree, nodename)
        try:
            if self._gpuvirt_health is None:
                self._gpuvirt_health = fence.HealthProbe(
                    self._gpu_hardware().nvml(), group.fence_xids)
            found = self._gpuvirt_health.check(
                [g.address for g in host.gpus])
        except Exception as exc:
            LOG.warning('GPU health check failed, fences kept as they '
                        'are: %s', exc)
            return marked
        fenced = self._gpuvirt_fence.update(marked, found,
                                            group.fence_release_after)
        for address, reason in sorted(fenced.items()):
            LOG.warning('GPU %s is fenced (%s): nothing new lands on it; '
                        'guests on it keep running. Released after %ds '
                        'healthy', address, reason,
                        group.fence_release_after)
        return fenced

    def _provider_usages(self, rp_uuid):
        """``{rc: used}`` of a provider, read from Placement.

        :raises exception.GpuvirtError: Placement did not answer.
        """
        resp = self.virtapi.reportclient.get(
            '/resource_providers/%s/usages' % rp_uuid, version='1.9')
        if not resp:
            raise exception.GpuvirtError(
                'GET /resource_providers/%s/usages: %s'
                % (rp_uuid, getattr(resp, 'status_code', 'no answer')))
        return resp.json()['usages']

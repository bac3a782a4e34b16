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

"""Every LibvirtDriver method our driver overrides, in one place.

Nova's libvirt driver has no plugin seam for vGPU devices, so the driver
wraps a few methods. Each entry names the method and the parameters this
package relies on; ``tests/unit/virt/test_hooks.py`` compares them with
the installed Nova so an upgrade that changes one fails loudly instead of
booting guests without their GPU.

``CALLED`` lists the Nova internals the driver calls without
overriding them (the libvirt Host, its Guest objects, the report
client), pinned the same way.

Only one override is private: ``_get_guest_xml`` is the single place every path
that (re)creates a guest goes through (spawn, hard reboot, power on,
resume after host boot, rescue, finish_migration, revert), so adding our
hostdevs there covers them all.
"""

#: method name -> parameter names (after ``self``) as in Nova 34.0.0.
OVERRIDDEN = {
    # private: adds our hostdevs to every guest definition.
    '_get_guest_xml': (
        'context', 'instance', 'network_info', 'disk_info', 'image_meta',
        'rescue', 'block_device_info', 'mdevs', 'accel_info', 'share_info',
        'old_guest'),
    # public: hold the device claim until the guest is defined.
    'spawn': (
        'context', 'instance', 'image_meta', 'injected_files',
        'admin_password', 'allocations', 'network_info',
        'block_device_info', 'power_on', 'accel_info'),
    'reboot': (
        'context', 'instance', 'network_info', 'reboot_type',
        'block_device_info', 'bad_volumes_callback', 'accel_info',
        'share_info'),
    'power_on': (
        'context', 'instance', 'network_info', 'block_device_info',
        'accel_info', 'share_info'),
    'resume_state_on_host_boot': (
        'context', 'instance', 'network_info', 'share_info',
        'block_device_info'),
    'rescue': (
        'context', 'instance', 'network_info', 'image_meta',
        'rescue_password', 'block_device_info', 'share_info'),
    'unrescue': ('context', 'instance'),
    'resume': (
        'context', 'instance', 'network_info', 'block_device_info',
        'share_info'),
    'finish_migration': (
        'context', 'migration', 'instance', 'disk_info', 'network_info',
        'image_meta', 'resize_instance', 'allocations',
        'block_device_info', 'power_on', 'share_info'),
    'finish_revert_migration': (
        'context', 'instance', 'network_info', 'migration',
        'block_device_info', 'power_on', 'share_info'),
    # public: report GPUs, check config, restore devices.
    'init_host': ('host',),
    'update_provider_tree': ('provider_tree', 'nodename', 'allocations'),
    # public: vGPU live migration (see virt/livemig.py).
    'check_can_live_migrate_source': (
        'context', 'instance', 'dest_check_data', 'block_device_info'),
    'check_source_migrate_data_at_dest': (
        'ctxt', 'instance', 'migrate_data', 'migration', 'limits',
        'allocs'),
    'live_migration': (
        'context', 'instance', 'dest', 'post_method', 'recover_method',
        'block_migration', 'migrate_data'),
    'post_live_migration_at_destination': (
        'context', 'instance', 'network_info', 'block_migration',
        'block_device_info'),
    'rollback_live_migration_at_destination': (
        'context', 'instance', 'network_info', 'block_device_info',
        'destroy_disks', 'migrate_data'),
}

#: Public methods that (re)build a guest definition, directly or through
#: ``_get_existing_domain_xml`` / ``_hard_reboot``: each holds the device
#: claim in a scope, so a claim never outlives the call that made it.
CLAIM_SCOPED = (
    'spawn', 'reboot', 'power_on', 'resume_state_on_host_boot', 'rescue',
    'unrescue', 'resume', 'finish_migration', 'finish_revert_migration')

#: Private Nova helpers that reach ``_get_guest_xml``: the scan in the
#: tests follows them to find every public caller.
GUEST_XML_PATHS = ('_get_guest_xml', '_get_existing_domain_xml',
                   '_hard_reboot')

#: Nova internals the driver calls (not overrides), ``module:Class`` ->
#: {method: parameter names after ``self``} as in Nova 34.0.0: the
#: libvirt Host of ``self._host``, the Guest objects it returns and the
#: report client of ``self.virtapi.reportclient``.
CALLED = {
    'nova.virt.libvirt.host:Host': {
        'list_guests': ('only_running',),
        'get_hostname': (),
        'get_guest': ('instance',),
    },
    'nova.virt.libvirt.guest:Guest': {
        'get_xml_desc': ('dump_inactive', 'dump_sensitive',
                         'dump_migratable'),
        'is_active': (),
    },
    'nova.scheduler.client.report:SchedulerReportClient': {
        'get': ('url', 'version', 'global_request_id'),
        'get_allocations_for_consumer': ('context', 'consumer'),
    },
}

#: Attributes the driver reads: ``module:Class`` -> attribute names.
ATTRIBUTES = {
    'nova.virt.libvirt.guest:Guest': ('uuid',),
    'nova.virt.libvirt.driver:LibvirtDriver': ('_host',),
}

#: The live-migration hand-off (virt/migrate.py, virt/livemig.py) and the
#: Nova internals it relies on, as in Nova 34.0.0. The destination adds
#: its VFs to ``migrate_data.pci_dev_map_src_dst`` under placeholder keys
#: in ``check_source_migrate_data_at_dest``; the source swaps in its own
#: VF addresses in ``live_migration``; Nova's XML update then moves each
#: PCI hostdev to its destination VF.
LIVE_MIGRATION_HANDOFF = {
    # Nova fills the map (flavor-based PCI claims) *before* it calls our
    # override, so ours adds to it and nothing overwrites it afterwards:
    # (method, the assignment, the call that reaches our override).
    'map_set_before_hook': (
        'nova.compute.manager:ComputeManager.'
        'check_can_live_migrate_destination',
        'migrate_data.pci_dev_map_src_dst = ',
        'self.driver.check_source_migrate_data_at_dest('),
    # The fields of the migrate_data object we read and write.
    'fields': ('nova.objects.migrate_data:LibvirtLiveMigrateData',
               ('pci_dev_map_src_dst', 'target_mdevs')),
    # Nova's XML update of the PCI hostdevs: function and parameters, and
    # where it is called (only when the map is set; whitespace aside).
    'xml_update': ('nova.virt.libvirt.migration:_update_pci_dev_xml',
                   ('xml_doc', 'pci_dev_map_src_dst')),
    'xml_update_caller': (
        'nova.virt.libvirt.migration:get_updated_guest_xml',
        '"pci_dev_map_src_dst" in migrate_data',
        '_update_pci_dev_xml(xml_doc, migrate_data.pci_dev_map_src_dst)'),
    # Nova rolls the destination back (our claim ends there) whenever
    # target_mdevs is set, even with a shared instance path.
    'rollback_sign': (
        'nova.compute.manager:ComputeManager._live_migration_cleanup_flags',
        "'target_mdevs' in migrate_data"),
    # A migration aborted while queued is cancelled at the source alone:
    # the destination reads its status (migrate.expire_dest_claims).
    'migration_status': ('nova.objects.migration:Migration.get_by_uuid',
                         ('context', 'migration_uuid'), 'status'),
}

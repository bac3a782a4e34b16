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

"""The final audit of the fault suite, on Nova's functional fixtures.

After each injected fault a host must be consistent: no claim left in
the driver, no device named by two domains, every device a domain names
carved on the host, Placement's vGPU usage on each GPU equal to the
devices in use there, and a dry-run ``placement sync`` finding nothing
to change. :meth:`FaultAuditMixin.leaks` lists every breach, so a test
asserts it is empty and the failure message says what leaked.
"""

import collections

from keystoneauth1 import adapter as ka_adapter
from keystoneauth1 import session as ka_session

from gpuvirt_nova.placement import client as placement_client
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import offers as offers_mod
from gpuvirt_nova.placement import sync as sync_mod
from gpuvirt_nova.placement import tree as tree_mod
from gpuvirt_nova.virt import assign
from gpuvirt_nova.virt import xml as vxml


class FaultAuditMixin:
    """For :class:`gpuvirt_nova.demo.nova.GpuvirtNovaTestBase` tests."""

    def placement_client(self):
        """Our Placement client on the fixture's Placement."""
        adapter = ka_adapter.Adapter(
            ka_session.Session(auth=None), service_type='placement',
            endpoint_override=self.placement_fixture.endpoint,
            additional_headers={'x-auth-token': self.placement_fixture.token},
            raise_exc=False)
        return placement_client.PlacementClient(adapter)

    def device_gpus(self, hostname):
        """{device key: GPU address} of every carved device."""
        result = {}
        for gpu in self.hardware(hostname).gpus:
            for vf in gpu.vfs:
                if vf.current_vgpu_type:
                    result[(assign.KIND_VF, vf.address)] = gpu.address
            for mdev in gpu.mdevs:
                result[(assign.KIND_MDEV, mdev.uuid)] = gpu.address
        return result

    def gpu_usages(self, hostname):
        """{GPU address: vGPU units used} as Placement counts them."""
        root = self._get_provider_uuid_by_name(hostname)
        result = {}
        for rp in self.placement.get(
                '/resource_providers?in_tree=%s' % root,
                version='1.14').body['resource_providers']:
            address = naming.address_from_provider_name(hostname, rp['name'])
            if not address:
                continue
            usages = self.placement.get(
                '/resource_providers/%s/usages' % rp['uuid']).body['usages']
            result[address] = sum(
                n for rc, n in usages.items()
                if rc.startswith(naming.VGPU_RC_PREFIX))
        return result

    def leaks(self, *hostnames):
        """Every breach of consistency on these hosts ([] when clean)."""
        found = []
        for hostname in hostnames:
            found += self._host_leaks(hostname)
        return found

    def _host_leaks(self, hostname):
        found = []
        driver = self.computes[hostname].driver
        claims = {u: k for u, k in driver._gpuvirt_claims.items() if k}
        if claims or driver._gpuvirt_held:
            found.append('%s: claims left %s, held %s'
                         % (hostname, claims, driver._gpuvirt_held))
        gpus = self.device_gpus(hostname)
        conn = driver._host.get_connection()
        owners = collections.defaultdict(list)
        for dom in list(conn._vms.values()):
            for key in vxml.hostdev_keys(dom.XMLDesc(0)):
                owners[key].append(dom.UUIDString())
        in_use = collections.Counter()
        for key, doms in owners.items():
            if len(doms) > 1:
                found.append('%s: device %s in %d domains %s'
                             % (hostname, key[1], len(doms), doms))
            if key not in gpus:
                found.append('%s: domain %s names %s, not carved'
                             % (hostname, doms, key[1]))
            else:
                in_use[gpus[key]] += len(doms)
        usages = self.gpu_usages(hostname)
        for address in sorted(set(usages) | set(in_use)):
            if usages.get(address, 0) != in_use.get(address, 0):
                found.append(
                    '%s: GPU %s: Placement counts %d vGPUs used, %d devices '
                    'in use' % (hostname, address, usages.get(address, 0),
                                in_use.get(address, 0)))
        host = self.hardware(hostname)
        desired = tree_mod.build_provider_tree(
            hostname, host, offers_mod.offers_from_hardware(host),
            isolate=True)
        report = sync_mod.sync(self.placement_client(), desired,
                               dry_run=True)
        for change in report.changes:
            found.append('%s: drift: %s %s %s' % (
                hostname, change.provider, change.action, change.detail))
        for note in report.protected:
            found.append('%s: drift: %s' % (hostname, note))
        return found

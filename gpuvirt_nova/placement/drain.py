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

"""Draining a GPU through Placement (the layout engine's Drainer seam).

``layout apply --drain`` reserves the GPU's provider so the scheduler
sends nothing new there, waits until its allocations are gone, and
releases it afterwards. While it drains, the provider carries
``CUSTOM_GPUVIRT_DRAINING``, so the other writers of that provider (the
Nova driver, ``placement sync``) keep it reserved too.
:class:`PlacementDrainer` is that seam over a
:class:`gpuvirt_nova.placement.client.PlacementClient`.
"""

from gpuvirt_nova import exception
from gpuvirt_nova.layout import drain
from gpuvirt_nova.placement import client as placement_client
from gpuvirt_nova.placement import naming

RETRIES = 5


class PlacementDrainer(drain.Drainer):
    """Reserve/release a GPU provider and watch its usage."""

    def __init__(self, client, retries=RETRIES):
        self.client = client
        self.retries = retries

    def _provider(self, host, gpu_address):
        name = naming.gpu_provider_name(host, gpu_address)
        provider = self.client.provider_by_name(name)
        if provider is None:
            raise exception.UsageError(
                '--drain: Placement has no provider %s for GPU %s on %s; run '
                'gpuvirt-nova placement sync first' % (name, gpu_address,
                                                       host))
        return provider

    def set_reserved(self, host, gpu_address, reserved):
        """Reserve (or release) the GPU and mark (or unmark) it draining.

        The mark, ``naming.DRAINING_TRAIT``, goes on first and comes off
        first: nova-compute's periodic report and ``placement sync`` keep
        a marked GPU fully reserved instead of writing reserved=0 back.
        """
        uuid = self._provider(host, gpu_address)['uuid']
        self._set_mark(uuid, reserved)
        for attempt in range(self.retries + 1):
            generation, inventories = self.client.inventories(uuid)
            wanted = {rc: dict(inv, reserved=inv['total'] if reserved else 0)
                      for rc, inv in inventories.items()}
            if wanted == inventories:
                return
            try:
                self.client.set_inventories(uuid, generation, wanted)
                return
            except placement_client.Conflict:
                if attempt == self.retries:
                    raise

    def _set_mark(self, uuid, draining):
        trait = naming.DRAINING_TRAIT
        if draining and not self.client.existing_traits([trait]):
            self.client.create_trait(trait)
        for attempt in range(self.retries + 1):
            generation, traits = self.client.traits(uuid)
            wanted = traits | {trait} if draining else traits - {trait}
            if wanted == traits:
                return
            try:
                self.client.set_traits(uuid, generation, wanted)
                return
            except placement_client.Conflict:
                if attempt == self.retries:
                    raise

    def draining(self, host):
        """GPU addresses of ``host`` whose provider is marked draining."""
        addresses = (naming.address_from_provider_name(host, p['name'])
                     for p in self.client.providers_with_trait(
                         naming.DRAINING_TRAIT))
        return sorted(a for a in addresses if a)

    def has_allocations(self, host, gpu_address):
        uuid = self._provider(host, gpu_address)['uuid']
        return any(self.client.usages(uuid).values())

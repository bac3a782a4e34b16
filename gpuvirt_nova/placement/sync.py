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

"""Reconcile one compute node's GPU providers in a real Placement.

``sync(client, tree)`` makes Placement hold what
:func:`gpuvirt_nova.placement.tree.build_provider_tree` says, through a
:class:`gpuvirt_nova.placement.client.PlacementClient`:

* custom resource classes and traits are created when missing;
* GPU providers are created under the compute node provider, their
  inventories and traits written only when they differ (a second run
  with nothing changed makes no write);
* a write answered with 409 (another writer bumped the generation) is
  retried on freshly read state, ``retries`` times;
* providers this package created (``CUSTOM_GPUVIRT_MANAGED``) that the
  tree no longer has are deleted, unless servers still hold allocations
  there: then they are kept, fully reserved, and reported;
* inventories are never lowered below their usage (see
  :mod:`gpuvirt_nova.placement.diff`);
* a GPU provider marked ``CUSTOM_GPUVIRT_DRAINING`` (``layout apply
  --drain``) keeps the mark and stays fully reserved.

With ``dry_run`` it reads only and reports what it would change: that
report is also the drift that ``placement audit`` shows.
"""

import dataclasses

from oslo_log import log as logging

from gpuvirt_nova import exception
from gpuvirt_nova.placement import client as placement_client
from gpuvirt_nova.placement import diff
from gpuvirt_nova.placement import naming
from gpuvirt_nova.placement import tree as tree_mod

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class Change:
    """One thing a sync changed (or would change)."""

    provider: str
    action: str
    detail: str = ''


@dataclasses.dataclass
class SyncReport:
    compute_node: str
    dry_run: bool
    changes: list = dataclasses.field(default_factory=list)
    #: Things left as they are on purpose (allocations present), one line.
    protected: list = dataclasses.field(default_factory=list)
    conflicts: int = 0
    reads: int = 0
    writes: int = 0

    @property
    def calls(self):
        return self.reads + self.writes

    def add(self, provider, action, detail=''):
        change = Change(provider, action, detail)
        if change not in self.changes:
            self.changes.append(change)

    def protect(self, note):
        if note not in self.protected:
            self.protected.append(note)


class _Sync:

    def __init__(self, client, tree, report, dry_run, retries, create_root):
        self.client = client
        self.tree = tree
        self.report = report
        self.dry_run = dry_run
        self.retries = retries
        self.create_root = create_root

    def root(self):
        name = self.tree.compute_node
        root = self.client.provider_by_name(name)
        if root is not None:
            return root
        if not self.create_root:
            raise exception.UsageError(
                'compute node provider %r is not in Placement: start '
                'nova-compute on that host first, or check --host' % name)
        self.report.add(name, 'create compute node provider')
        if self.dry_run:
            return None
        return self.client.create_provider(name)

    def ensure_names(self):
        classes = sorted(self.tree.resource_classes)
        traits = sorted(self.tree.custom_traits)
        missing_rcs = []
        if classes:
            missing_rcs = sorted(set(classes) - self.client.resource_classes())
        missing_traits = []
        if traits:
            missing_traits = sorted(
                set(traits) - self.client.existing_traits(traits))
        for name in missing_rcs:
            self.report.add('-', 'create resource class', name)
            if not self.dry_run:
                self.client.create_resource_class(name)
        for name in missing_traits:
            self.report.add('-', 'create trait', name)
            if not self.dry_run:
                self.client.create_trait(name)

    def with_retries(self, func, *args):
        """``func(*args, retry=False)``, then with ``retry=True`` on 409."""
        for attempt in range(self.retries + 1):
            try:
                return func(*args, retry=attempt > 0)
            except placement_client.Conflict as exc:
                self.report.conflicts += 1
                if attempt == self.retries:
                    raise
                LOG.info('generation conflict (%s); re-reading, retry %d '
                         'of %d', exc, attempt + 1, self.retries)

    def create(self, spec, root_uuid, retry=False):
        """Create the provider of ``spec`` and write it.

        The first try knows the provider is absent (the tree was just
        listed), and a provider just created has no inventory and no
        trait: it is written from the POST's answer, without reading it
        back. A retry first looks the name up: an earlier POST may have
        landed (its answer lost) or another writer may have created it.
        """
        existing = self.client.provider_by_name(spec.name) if retry \
            else None
        if existing is not None:
            self.update(spec, existing, record=False)
            return
        created = self.client.create_provider(spec.name, root_uuid)
        self.write(spec, created['uuid'], created['generation'], {}, set(),
                   record=False)

    def update(self, spec, provider, record=True, retry=False):
        uuid = provider['uuid']
        traits_generation, traits = self.client.traits(uuid)
        generation, current = self.client.inventories(uuid)
        if generation != traits_generation:
            # Changed between the two reads: work on fresh state.
            raise placement_client.Conflict(
                'GET', '/resource_providers/%s' % uuid, 409,
                'changed while being read')
        self.write(spec, uuid, generation, current, traits, record)

    def write(self, spec, uuid, generation, current, traits, record=True):
        """Write what differs from ``current`` inventories and ``traits``."""
        if naming.DRAINING_TRAIT in traits:
            # layout apply --drain is draining this GPU: keep it reserved.
            spec = tree_mod.draining_spec(spec)
        if naming.unhealthy_reason(traits):
            # nova-compute fenced this GPU (gpuvirt_nova.monitor.fence):
            # the driver releases it, the sync keeps it as it is.
            spec = tree_mod.unhealthy_spec(spec,
                                           naming.unhealthy_reason(traits))
        usages = {}
        if diff.needs_usages(spec, current):
            usages = self.client.usages(uuid)
        wanted, notes = diff.merge_inventories(spec, current, usages)
        for note in notes:
            self.report.protect(note)
        if not diff.inventories_equal(wanted, current):
            if record:
                self.report.add(spec.name, 'update inventory', ', '.join(
                    '%s=%d/%d reserved' % (rc, inv['total'], inv['reserved'])
                    for rc, inv in sorted(wanted.items())) or 'none')
            if not self.dry_run:
                generation = self.client.set_inventories(
                    uuid, generation, wanted)
        wanted_traits = diff.merge_traits(spec.traits, traits)
        if wanted_traits != traits:
            if record:
                added = sorted(wanted_traits - traits)
                removed = sorted(traits - wanted_traits)
                self.report.add(spec.name, 'update traits', '; '.join(
                    part for part in (
                        '+' + ' +'.join(added) if added else '',
                        '-' + ' -'.join(removed) if removed else '')
                    if part))
            if not self.dry_run:
                self.client.set_traits(uuid, generation, wanted_traits)

    def retire(self, provider, retry=False):
        """Delete a stale provider of ours, or drain it when in use."""
        uuid = provider['uuid']
        usages = {rc: n for rc, n in self.client.usages(uuid).items() if n}
        if not usages:
            self.report.add(provider['name'], 'delete provider',
                            'GPU no longer offered or gone')
            if not self.dry_run:
                self.client.delete_provider(uuid)
            return
        self.report.protect(
            '%s: GPU no longer offered or gone, but %s allocated; provider '
            'kept and fully reserved until they are freed' % (
                provider['name'], ', '.join(
                    '%d %s' % (n, rc) for rc, n in sorted(usages.items()))))
        generation, current = self.client.inventories(uuid)
        wanted = diff.drained(current)
        if not diff.inventories_equal(wanted, current):
            self.report.add(provider['name'], 'reserve inventory',
                            'stale provider still in use')
            if not self.dry_run:
                self.client.set_inventories(uuid, generation, wanted)

    def is_ours(self, provider):
        _, traits = self.client.traits(provider['uuid'])
        return naming.MANAGED_TRAIT in traits

    def run(self):
        root = self.root()
        existing = {}
        if root is not None:
            existing = {p['name']: p for p in self.client.providers(
                in_tree=root['uuid']) if p['uuid'] != root['uuid']}
        self.ensure_names()
        for spec in self.tree.providers:
            provider = existing.get(spec.name)
            if provider is None:
                self.report.add(spec.name, 'create provider', '%s %s' % (
                    spec.model, ', '.join(
                        '%s=%d' % (rc, inv.total)
                        for rc, inv in sorted(spec.inventories.items()))))
                if not self.dry_run:
                    self.with_retries(self.create, spec, root['uuid'])
            else:
                self.with_retries(self.update, spec, provider)
        wanted = {spec.name for spec in self.tree.providers}
        for name, provider in sorted(existing.items()):
            if name in wanted or naming.address_from_provider_name(
                    self.tree.compute_node, name) is None:
                continue
            if self.is_ours(provider):
                self.with_retries(self.retire, provider)


def sync(client, tree, dry_run=False, retries=5, create_root=False):
    """Reconcile ``tree`` into Placement; returns a :class:`SyncReport`.

    :param client: a PlacementClient (its counts feed the report).
    :param tree: a DesiredTree.
    :param create_root: create the compute node provider when missing
        (embedded Placement and the demo; on a cloud nova-compute owns it).
    :raises exception.UsageError: the compute node provider is missing.
    :raises client.PlacementError: Placement refused a call, or conflicts
        outlasted ``retries``.
    """
    report = SyncReport(compute_node=tree.compute_node, dry_run=dry_run)
    reads, writes = client.reads, client.writes
    runner = _Sync(client, tree, report, dry_run, retries, create_root)
    try:
        runner.run()
    finally:
        report.reads = client.reads - reads
        report.writes = client.writes - writes
    return report

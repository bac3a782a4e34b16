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

"""Placement reads of the scheduler plugins, cached per request.

Nova's HostState does not carry the provider summaries of the allocation
candidates. Nova's scheduler fetched them a moment before the filters run
(``SchedulerReportClient.get_allocation_candidates``, called by
``SchedulerManager.select_destinations``); :func:`install_tap` keeps a
copy of that answer per request id, so the plugins read no second
``GET /allocation_candidates`` (a request the tap did not see falls back
to one read of its own). Usages by user/project are read once per
request. The summaries are read once per request
(:meth:`PlacementReads.request_gpus`). Fair share's cluster view is the
request's own provider summaries plus the number of managed GPUs (one
``GET /resource_providers?required=CUSTOM_GPUVIRT_MANAGED`` kept
``cluster_usage_cache_seconds``): no read grows with the number of GPUs.

The Placement client is Nova's own report client, built lazily so that
importing this module never needs a keystone configuration.
"""

import functools
import threading
import time
import weakref

from oslo_log import log as logging

from gpuvirt_nova.placement import naming
from gpuvirt_nova.scheduler import fleet

LOG = logging.getLogger(__name__)

USAGES_VERSION = '1.9'
#: Migration statuses of a move still on its way (the migration record
#: holds the instance's source allocation from before scheduling on).
MOVING = ('accepted', 'pre-migrating', 'queued', 'preparing', 'running',
          'post-migrating', 'migrating')
TRAITS_FILTER_VERSION = '1.18'
#: Requests whose answers are kept at most; a scheduler handles a few at
#: a time, and an answer goes as soon as its request is over.
MAX_REQUESTS = 32


def request_key(spec_obj):
    """A key for one scheduling request (falls back to the object id)."""
    context = getattr(spec_obj, '_context', None)
    request_id = getattr(context, 'request_id', None)
    instance = spec_obj.instance_uuid \
        if spec_obj.obj_attr_is_set('instance_uuid') else None
    return (request_id or id(spec_obj), instance)


def _context_key(context):
    return getattr(context, 'request_id', None)


def _owner_ref(owner):
    try:
        return weakref.ref(owner)
    except TypeError:
        return None


def _gone(ref):
    return ref is not None and ref() is None


class _Kept:
    """Values kept while their owner object lives, at most MAX_REQUESTS.

    Why: an answer at 1,000 hosts is some 50,000 Python objects; kept
    after its request (the spec or context gone) they would only make
    every garbage collection of the scheduler slower.
    """

    def __init__(self):
        self._items = {}

    def get(self, key):
        item = self._items.get(key)
        return None if item is None or _gone(item[0]) else item[1]

    def setdefault(self, key, owner, value):
        """The value kept under ``key``, else ``value`` kept now.

        A value whose owner is gone is not returned (a rescheduled
        request reuses its request id with a new context).
        """
        item = self._items.get(key)
        if item is not None and not _gone(item[0]):
            return item[1]
        for k in [k for k, (ref, _) in self._items.items() if _gone(ref)]:
            del self._items[k]
        while len(self._items) >= MAX_REQUESTS:
            self._items.pop(next(iter(self._items)))
        self._items[key] = (_owner_ref(owner), value)
        return value

    def __len__(self):
        return len(self._items)


def install_tap(reads):
    """Keep Nova's own allocation-candidate answers for ``reads``.

    Wraps ``SchedulerReportClient.get_allocation_candidates`` (the
    scheduler's one call per request, pinned by
    tests/unit/scheduler/test_nova_seams.py) once per process; the answer
    is returned unchanged. Idempotent.
    """
    from nova.scheduler.client import report
    cls = report.SchedulerReportClient
    original = cls.get_allocation_candidates
    if getattr(original, '_gpuvirt_tap', None) is not None:
        original._gpuvirt_tap.append(reads)
        return
    taps = [reads]

    @functools.wraps(original)
    def get_allocation_candidates(self, context, resources):
        res = original(self, context, resources)
        try:
            if res and res[1] is not None:
                for each in taps:
                    each.remember_summaries(context, res[1])
        except Exception:
            LOG.exception('Could not keep the provider summaries')
        return res

    get_allocation_candidates._gpuvirt_tap = taps
    cls.get_allocation_candidates = get_allocation_candidates


def moving_migrations(context, instance_uuid):
    """UUIDs of the instance's migrations in flight, from Nova's cell DB.

    Nova's conductor moves the instance's allocation to the migration
    record's consumer (its uuid) before it asks the scheduler for a
    destination (cold migrate, resize, live migrate), so what the
    instance holds is found there. A new server has no cell yet: [].
    """
    from nova import context as nova_context
    from nova import exception as nova_exception
    from nova import objects
    if context is None:
        return []
    admin = context.elevated()
    try:
        mapping = objects.InstanceMapping.get_by_instance_uuid(
            admin, instance_uuid)
    except nova_exception.InstanceMappingNotFound:
        return []
    if not mapping.cell_mapping:
        return []
    with nova_context.target_cell(admin, mapping.cell_mapping) as cctxt:
        found = objects.MigrationList.get_by_filters(
            cctxt, {'instance_uuid': instance_uuid, 'status': list(MOVING)})
    return [m.uuid for m in found if 'uuid' in m and m.uuid]


class PlacementReads:
    """The reads the filters and the weigher need, with their caches.

    ``migrations(context, instance_uuid)`` lists the consumer uuids of
    the instance's moves in flight (default: :func:`moving_migrations`).
    """

    def __init__(self, client=None, clock=time.monotonic, migrations=None):
        self._client = client
        self._clock = clock
        self._migrations = migrations or moving_migrations
        self._lock = threading.Lock()
        self._per_request = _Kept()
        self._cluster = None
        self._seen = _Kept()
        self.calls = 0

    def remember_summaries(self, context, summaries):
        """Nova's answer for the request of ``context`` (see install_tap).

        A request that asks twice (Nova's PCPU fallback query) gets both
        answers merged, as Nova merges them.
        """
        key = _context_key(context)
        if key is None:
            return
        with self._lock:
            self._seen.setdefault(key, context, {}).update(summaries)

    @property
    def client(self):
        if self._client is not None:
            return self._client
        # NOTE: Nova keeps its report client as a process singleton (and
        # its tests replace it); ask for it each time rather than keep one.
        from nova.scheduler.client import report
        return report.report_client_singleton()

    def _get_json(self, url, version):
        self.calls += 1
        resp = self.client.get(url, version=version)
        if not resp:
            LOG.warning('Placement GET %s failed with %s', url,
                        getattr(resp, 'status_code', '?'))
            return None
        return resp.json()

    def _cached(self, spec_obj, name, load):
        with self._lock:
            entry = self._per_request.setdefault(request_key(spec_obj),
                                                 spec_obj, {})
            if name in entry:
                return entry[name]
        value = load()
        with self._lock:
            entry[name] = value
        return value

    def provider_summaries(self, spec_obj):
        """Provider summaries of the request's allocation candidates."""
        def load():
            from nova.scheduler import utils
            context = getattr(spec_obj, '_context', None)
            with self._lock:
                seen = self._seen.get(_context_key(context))
            if seen is not None:
                return seen
            resources = utils.ResourceRequest.from_request_spec(spec_obj)
            self.calls += 1
            res = self.client.get_allocation_candidates(context, resources)
            return (res[1] or {}) if res else {}
        return self._cached(spec_obj, 'summaries', load)

    def request_view(self, spec_obj):
        """The request's summaries grouped by root provider, once.

        {root uuid: {provider uuid: summary}}: each host's GPUs without a
        scan of every provider per host.
        """
        def load():
            by_root = {}
            for uuid, summary in self.provider_summaries(spec_obj).items():
                root = summary.get('root_provider_uuid') or uuid
                by_root.setdefault(root, {})[uuid] = summary
            return by_root
        return self._cached(spec_obj, 'by_root', load)

    def request_gpus(self, spec_obj):
        """The request's GPU providers, read once (fleet.RequestGpus)."""
        return self._cached(spec_obj, 'gpus', lambda: (
            fleet.RequestGpus(self.provider_summaries(spec_obj))))

    def per_request(self, spec_obj, name, load):
        """Anything derived once per request (the mix, host scores)."""
        return self._cached(spec_obj, name, load)

    def put(self, spec_obj, name, value):
        with self._lock:
            self._per_request.setdefault(request_key(spec_obj), spec_obj,
                                         {})[name] = value

    def peek(self, spec_obj, name):
        """What ``put`` kept for this request, or None."""
        with self._lock:
            return (self._per_request.get(request_key(spec_obj))
                    or {}).get(name)

    def user_usages(self, spec_obj):
        """{resource class: used} of the request's user in its project."""
        def load():
            url = '/usages?project_id=%s&user_id=%s' % (
                spec_obj.project_id, spec_obj.user_id)
            data = self._get_json(url, USAGES_VERSION)
            return (data or {}).get('usages', {})
        return self._cached(spec_obj, 'user', load)

    def project_usages(self, spec_obj):
        def load():
            data = self._get_json('/usages?project_id=%s'
                                  % spec_obj.project_id, USAGES_VERSION)
            return (data or {}).get('usages', {})
        return self._cached(spec_obj, 'project', load)

    def consumer_usages(self, spec_obj):
        """{resource class: amount} the instance already holds (moves).

        The instance's own allocation (evacuate, rebuild) plus those of
        its migrations in flight (cold migrate, resize, live migrate:
        Nova moved the allocation there before scheduling).
        """
        def load():
            if not spec_obj.obj_attr_is_set('instance_uuid'):
                return {}
            instance = spec_obj.instance_uuid
            consumers = [instance]
            try:
                consumers += self._migrations(
                    getattr(spec_obj, '_context', None), instance)
            except Exception:
                # NOTE: without the lookup a move is counted as new; the
                # limit is still kept, so log and go on.
                LOG.exception('Could not read the migrations of instance '
                              '%s', instance)
            held = {}
            for consumer in consumers:
                data = self._get_json('/allocations/%s' % consumer,
                                      USAGES_VERSION)
                for alloc in (data or {}).get('allocations', {}).values():
                    for rc, amount in alloc.get('resources', {}).items():
                        held[rc] = held.get(rc, 0) + amount
            return held
        return self._cached(spec_obj, 'consumer', load)

    def holds_allocation(self, consumer):
        """Whether Placement shows an allocation of ``consumer``.

        A read each time: the answer changes when Nova claims.
        """
        data = self._get_json('/allocations/%s' % consumer, USAGES_VERSION)
        return bool((data or {}).get('allocations'))

    def managed_gpus(self, max_age):
        """How many managed GPU providers Placement has (None: unknown).

        One ``GET /resource_providers?required=CUSTOM_GPUVIRT_MANAGED``,
        kept ``max_age`` seconds across requests.
        """
        now = self._clock()
        cached = self._cluster
        if cached is not None and now - cached[0] < max_age:
            return cached[1]
        data = self._get_json('/resource_providers?required=%s'
                              % naming.MANAGED_TRAIT, TRAITS_FILTER_VERSION)
        count = None if data is None else \
            len(data.get('resource_providers', []))
        self._cluster = (now, count)
        return count

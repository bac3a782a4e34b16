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


"""A thin Placement HTTP client that counts every request it makes.

It wraps any keystoneauth-style adapter: ``openstack.connect(...).
placement`` (openstacksdk), a keystoneauth ``Adapter``, or the one
:func:`gpuvirt_nova.placement.connect.connect` builds for the embedded
Placement. The counts (``reads``, ``writes``) are what ``placement sync``
reports and what the tests assert: a sync with nothing to change makes no
write.

A Placement that answers 5xx (500, 502, 503, 504), or that stops
answering after this client has reached it once, is retried with
exponential backoff for at most ``retry_total`` seconds, then the call
fails with :class:`Unavailable`. A Placement never reached fails at once
(a wrong address is not worth waiting for). Retrying a write is safe:
every write is guarded by a generation or a unique name, so a write that
landed before its answer was lost comes back as a 409 that the caller
already handles (the sync re-reads; no provider is created twice).
"""

import time
import urllib.parse

from keystoneauth1 import exceptions as ks_exceptions
from oslo_log import log as logging

from gpuvirt_nova import exception

LOG = logging.getLogger(__name__)

#: Placement 16 (2026.2) speaks up to 1.39; 1.39 is the oldest version
#: with everything used here (consumer types in allocations: 1.38).
MICROVERSION = '1.39'

_WRITE_METHODS = frozenset(('POST', 'PUT', 'PATCH', 'DELETE'))

#: Statuses that mean Placement (or a proxy before it) fails for now.
RETRY_STATUSES = frozenset((500, 502, 503, 504))
#: Seconds: first wait, longest wait, and the most spent on one call.
BACKOFF = 0.5
BACKOFF_MAX = 8.0
RETRY_TOTAL = 60.0


class PlacementError(exception.GpuvirtError):
    """Placement answered with an error; the message says which call."""

    def __init__(self, method, path, status, detail):
        super().__init__('Placement %s %s failed with HTTP %s: %s'
                         % (method, path, status, detail))
        self.status = status


class Conflict(PlacementError):
    """HTTP 409: a generation changed under us (or a name is taken)."""


class Unavailable(PlacementError):
    """Placement kept failing (5xx or unreachable) past the retry bound."""

    def __init__(self, method, path, attempts, waited, last):
        exception.GpuvirtError.__init__(
            self, 'Placement %s %s still failing after %d attempts over '
            '%.1f s (last: %s); check that Placement is up, then rerun'
            % (method, path, attempts, waited, last))
        self.status = None


def _detail(response):
    try:
        errors = response.json().get('errors') or []
        return '; '.join(e.get('detail', '').strip() for e in errors) \
            or response.text[:200]
    except ValueError:
        return (response.text or '')[:200]


class PlacementClient:
    """JSON calls to Placement, counted by kind."""

    def __init__(self, adapter, microversion=MICROVERSION,
                 retry_total=RETRY_TOTAL, sleep=time.sleep,
                 clock=time.monotonic):
        self.adapter = adapter
        self.microversion = microversion
        self.reads = 0
        self.writes = 0
        #: Retries of calls that failed with 5xx or a lost connection.
        self.retries = 0
        self.retry_total = retry_total
        self.sleep = sleep
        self.clock = clock
        #: Placement answered once: a lost connection is worth a retry.
        self._reached = False

    @property
    def calls(self):
        return self.reads + self.writes

    def reset_counts(self):
        self.reads = self.writes = 0

    def request(self, method, path, body=None, ok=(200,)):
        """One request; the decoded JSON body (or None) when ``ok``.

        :raises Conflict: on HTTP 409.
        :raises PlacementError: on any other status not in ``ok``.
        """
        kwargs = {'microversion': self.microversion, 'raise_exc': False,
                  'headers': {'Accept': 'application/json'}}
        if body is not None:
            kwargs['json'] = body
        response = self._send(method, path, kwargs)
        status = response.status_code
        LOG.debug('placement %s %s -> %s', method, path, status)
        if status in ok:
            if status == 204 or not response.content:
                return None
            return response.json()
        error = Conflict if status == 409 else PlacementError
        raise error(method, path, status, _detail(response))

    def _send(self, method, path, kwargs):
        """The response, retrying 5xx and lost connections (bounded)."""
        started = self.clock()
        delay = BACKOFF
        attempts = 0
        while True:
            attempts += 1
            if method in _WRITE_METHODS:
                self.writes += 1
            else:
                self.reads += 1
            try:
                response = self.adapter.request(path, method, **kwargs)
            except ks_exceptions.ConnectionError as exc:
                if not self._reached:
                    raise
                last = 'no answer: %s' % exc
            else:
                self._reached = True
                if response.status_code not in RETRY_STATUSES:
                    return response
                last = 'HTTP %s: %s' % (response.status_code,
                                        _detail(response))
            waited = self.clock() - started
            if waited + delay > self.retry_total:
                raise Unavailable(method, path, attempts, waited, last)
            LOG.warning('Placement %s %s failed (%s); retry %d in %.1f s',
                        method, path, last, attempts, delay)
            self.retries += 1
            self.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    # Resource providers.

    def providers(self, **query):
        """GET /resource_providers with ``query`` (name, in_tree, ...)."""
        path = '/resource_providers'
        if query:
            path += '?' + urllib.parse.urlencode(query)
        return self.request('GET', path)['resource_providers']

    def providers_with_trait(self, trait):
        """Providers that have ``trait`` ([] when Placement lacks it)."""
        if not self.existing_traits([trait]):
            return []
        return self.providers(required=trait)

    def provider_by_name(self, name):
        found = self.providers(name=name)
        return found[0] if found else None

    def create_provider(self, name, parent_uuid=None):
        body = {'name': name}
        if parent_uuid:
            body['parent_provider_uuid'] = parent_uuid
        return self.request('POST', '/resource_providers', body, ok=(200,))

    def delete_provider(self, uuid):
        self.request('DELETE', '/resource_providers/%s' % uuid, ok=(204,))

    def inventories(self, uuid):
        """(generation, {rc: {total, reserved, ...}})."""
        data = self.request('GET', '/resource_providers/%s/inventories'
                            % uuid)
        return (data['resource_provider_generation'], data['inventories'])

    def set_inventories(self, uuid, generation, inventories):
        data = self.request(
            'PUT', '/resource_providers/%s/inventories' % uuid,
            {'resource_provider_generation': generation,
             'inventories': inventories})
        return data['resource_provider_generation']

    def traits(self, uuid):
        """(generation, set of trait names)."""
        data = self.request('GET', '/resource_providers/%s/traits' % uuid)
        return (data['resource_provider_generation'], set(data['traits']))

    def set_traits(self, uuid, generation, traits):
        data = self.request(
            'PUT', '/resource_providers/%s/traits' % uuid,
            {'resource_provider_generation': generation,
             'traits': sorted(traits)})
        return data['resource_provider_generation']

    def usages(self, uuid):
        return self.request('GET', '/resource_providers/%s/usages'
                            % uuid)['usages']

    def provider_allocations(self, uuid):
        return self.request('GET', '/resource_providers/%s/allocations'
                            % uuid)['allocations']

    def add_to_aggregate(self, uuid, aggregate):
        """Put a provider in ``aggregate`` (keeps its other aggregates)."""
        data = self.request('GET', '/resource_providers/%s/aggregates'
                            % uuid)
        if aggregate in data['aggregates']:
            return
        self.request('PUT', '/resource_providers/%s/aggregates' % uuid, {
            'aggregates': data['aggregates'] + [aggregate],
            'resource_provider_generation':
                data['resource_provider_generation']})

    # Resource classes and traits.

    def resource_classes(self):
        return {rc['name'] for rc in
                self.request('GET', '/resource_classes')['resource_classes']}

    def create_resource_class(self, name):
        self.request('PUT', '/resource_classes/%s' % name, ok=(201, 204))

    def existing_traits(self, names):
        """The subset of ``names`` that Placement knows."""
        if not names:
            return set()
        path = '/traits?' + urllib.parse.urlencode(
            {'name': 'in:' + ','.join(sorted(names))})
        return set(self.request('GET', path)['traits'])

    def create_trait(self, name):
        self.request('PUT', '/traits/%s' % name, ok=(201, 204))

    # Allocations.

    def allocation_candidates(self, query):
        """GET /allocation_candidates; ``query`` is a list of pairs."""
        return self.request('GET', '/allocation_candidates?'
                            + urllib.parse.urlencode(query))

    def put_allocations(self, consumer, allocations, project_id, user_id,
                        consumer_generation=None, consumer_type='INSTANCE'):
        self.request('PUT', '/allocations/%s' % consumer, {
            'allocations': allocations,
            'project_id': project_id, 'user_id': user_id,
            'consumer_generation': consumer_generation,
            'consumer_type': consumer_type}, ok=(204,))

    def delete_allocations(self, consumer):
        self.request('DELETE', '/allocations/%s' % consumer, ok=(204,))

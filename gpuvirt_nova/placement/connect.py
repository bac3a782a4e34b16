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


"""Find Placement: a URL, a clouds.yaml cloud, or the embedded one.

Order: an explicit URL (``--os-placement-url`` / ``[gpuvirt_placement]
placement_url`` / ``OS_PLACEMENT_URL``), then a cloud (``--os-cloud`` /
``[gpuvirt_placement] cloud`` / ``OS_CLOUD``). The embedded Placement (the
real Placement code on SQLite in the state directory) is only for what
cannot touch a real cloud: the demo and simulated hosts. A command acting
on a real host with no Placement configured is refused, never pointed at
a private Placement where it would find no guests to protect.
"""

import contextlib
import dataclasses
import os
import tempfile

from oslo_log import log as logging

from gpuvirt_nova import exception
from gpuvirt_nova.placement import client as placement_client
from gpuvirt_nova.placement import embedded

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class Connection:
    """What a command talks to."""

    client: placement_client.PlacementClient
    #: ``openstack.connection.Connection`` (flavors need Compute too).
    sdk: object
    #: Human-readable: the URL, ``cloud <name>`` or ``embedded (<path>)``.
    where: str
    embedded: bool = False


def _writable_dir(path):
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def state_dir(configured=None):
    """The directory for local state, created when needed.

    The configured ``[gpuvirt] state_dir`` when writable, else
    ``$XDG_STATE_HOME/gpuvirt-nova`` (``~/.local/state/gpuvirt-nova``),
    else a new temporary directory.
    """
    candidates = []
    if configured:
        candidates.append(configured)
    xdg = os.environ.get('XDG_STATE_HOME') or os.path.join(
        os.path.expanduser('~'), '.local', 'state')
    candidates.append(os.path.join(xdg, 'gpuvirt-nova'))
    for candidate in candidates:
        if _writable_dir(candidate):
            return candidate
    path = tempfile.mkdtemp(prefix='gpuvirt-nova-')
    LOG.warning('no writable state directory among %s; using %s',
                ', '.join(candidates), path)
    return path


def sdk_for_url(url, token=embedded.TOKEN):
    """An openstacksdk connection to a noauth2 Placement at ``url``."""
    import openstack

    return openstack.connection.Connection(
        auth_type='admin_token', auth={'endpoint': url, 'token': token})


def sdk_for_cloud(cloud):
    import openstack
    from openstack import exceptions as sdk_exceptions

    try:
        return openstack.connect(cloud=cloud)
    except sdk_exceptions.ConfigException as exc:
        raise exception.UsageError(
            '--os-cloud %s: %s; name a cloud from clouds.yaml' % (cloud, exc))


@contextlib.contextmanager
def _explain_unreachable(field):
    """Turn "cannot reach Placement" into one line naming ``field``."""
    from keystoneauth1 import exceptions as ks_exceptions

    try:
        yield
    except (ks_exceptions.DiscoveryFailure,
            ks_exceptions.ConnectionError) as exc:
        raise exception.GpuvirtError(
            '%s: cannot reach Placement (%s); check the address and that '
            'Placement runs there' % (field, exc))


#: The one line a refused command prints (``%s``: what it was doing).
NOT_CONFIGURED = (
    '%s needs the cloud\'s Placement and none is configured: set '
    '[gpuvirt_placement] cloud (a clouds.yaml entry) or placement_url, or '
    'pass --os-cloud NAME or --os-placement-url URL (the embedded '
    'Placement is only for the demo and simulated hosts)')


@contextlib.contextmanager
def connect(placement_url=None, cloud=None, state_directory=None,
            url_option='--os-placement-url', embedded_for=None):
    """Yield a :class:`Connection`; stops the embedded Placement after.

    ``url_option`` is how the caller's command line spells the Placement
    URL option, for error messages. ``embedded_for``: None when the
    embedded Placement may not stand in (a real host or cloud: then an
    unconfigured Placement is a UsageError); else why it may (logged).
    """
    placement_url = placement_url or os.environ.get('OS_PLACEMENT_URL')
    cloud = cloud or os.environ.get('OS_CLOUD')
    if not placement_url and not cloud and not embedded_for:
        raise exception.UsageError(NOT_CONFIGURED % 'this command')
    if placement_url:
        if not placement_url.startswith(('http://', 'https://')):
            raise exception.UsageError(
                '%s %r is not a URL: use for example '
                'http://127.0.0.1:8778' % (url_option, placement_url))
        sdk = sdk_for_url(placement_url.rstrip('/'))
        with _explain_unreachable('%s %s' % (url_option, placement_url)):
            yield Connection(placement_client.PlacementClient(
                sdk.placement), sdk, placement_url)
        return
    if cloud:
        sdk = sdk_for_cloud(cloud)
        with _explain_unreachable('--os-cloud %s' % cloud):
            yield Connection(placement_client.PlacementClient(
                sdk.placement), sdk, 'cloud %s' % cloud)
        return
    LOG.info('using the embedded Placement: %s', embedded_for)
    directory = state_dir(state_directory)
    service = embedded.EmbeddedPlacement(embedded.sqlite_url(directory))
    with service:
        sdk = sdk_for_url(service.url)
        yield Connection(placement_client.PlacementClient(sdk.placement),
                         sdk, 'embedded Placement (%s)' % os.path.join(
                             directory, 'placement.sqlite'),
                         embedded=True)

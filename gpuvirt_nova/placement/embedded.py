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

"""The real Placement service, in process, for the demo and the tests.

When no cloud is configured the standalone commands still talk HTTP to the
real ``openstack-placement`` code: its WSGI app is loaded in this process
on a database URL (SQLite in the state directory by default) and served
either through ``wsgi-intercept`` (no socket) or on a loopback port (for
other processes such as the ``openstack`` CLI). Authentication is
``noauth2``: the token is ``admin``.
"""

import os
import threading
import uuid

from oslo_config import cfg
from oslo_db.sqlalchemy import engines
from oslo_log import log as logging

from gpuvirt_nova import loopback

LOG = logging.getLogger(__name__)

TOKEN = 'admin'
_LOCK = threading.Lock()
#: Loggers of the embedded service that would drown a command's output.
QUIET_LOGGERS = ('alembic', 'placement', 'placement.requestlog',
                 'keystoneauth', 'openstack')


def sqlite_url(state_dir):
    """The SQLite URL of the embedded Placement under ``state_dir``."""
    return 'sqlite:///%s' % os.path.join(os.path.abspath(state_dir),
                                         'placement.sqlite')


def _placement_conf(connection, options=None):
    # NOTE: imported here so that importing this module (for example by
    # the CLI's command table) does not load the whole Placement service.
    from placement import conf as placement_conf

    conf = cfg.ConfigOpts()
    placement_conf.register_opts(conf)
    conf.set_override('connection', connection, group='placement_database')
    conf.set_override('sync_on_startup', False, group='placement_database')
    if connection.startswith('sqlite'):
        # A local, disposable database: do not wait for fsync per commit.
        conf.set_override('sqlite_synchronous', False,
                          group='placement_database')
    conf.set_override('auth_strategy', 'noauth2', group='api')
    for (group, name), value in sorted((options or {}).items()):
        conf.set_override(name, value, group=group)
    conf([], project='placement', default_config_files=[],
         default_config_dirs=[])
    return conf


class EmbeddedPlacement:
    """Placement's WSGI app on ``connection`` (an SQLAlchemy URL).

    ``options``: Placement configuration set on top of the defaults,
    ``{(group, name): value}``, for example ``{('placement',
    'max_allocation_candidates'): 1000}``.

    Placement keeps its database engine process-global, so one embedded
    Placement is active per process at a time; ``start()`` switches the
    process to this one's database and ``stop()`` switches back.
    """

    def __init__(self, connection, options=None):
        self.connection = connection
        self.options = dict(options or {})
        self.url = None
        self.app = None
        self._engine = None
        self._reset_engine = None
        self._intercept = None
        self._server = None
        self._thread = None

    def _load(self):
        import logging as std_logging
        for name in QUIET_LOGGERS:
            logger = std_logging.getLogger(name)
            if logger.level == std_logging.NOTSET \
                    or logger.level < std_logging.WARNING:
                logger.setLevel(std_logging.WARNING)
        from placement.db.sqlalchemy import migration
        from placement import db_api
        from placement import deploy
        from placement.objects import resource_class
        from placement.objects import trait

        conf = _placement_conf(self.connection, self.options)
        # NOTE: no fsync per commit on the local SQLite file, and no
        # sleep(0) per connection check-in (that is for eventlet servers).
        self._engine = engines.create_engine(
            self.connection, thread_checkin=False,
            sqlite_synchronous=not self.connection.startswith('sqlite'))
        migration.create_schema(self._engine)
        with _LOCK:
            factory = db_api.placement_context_manager._factory
            if not factory._started:
                db_api.configure(conf)
            self._reset_engine = \
                db_api.placement_context_manager.patch_engine(self._engine)
        # Placement syncs standard traits and classes once per process;
        # a new database needs them again.
        trait._TRAITS_SYNCED = False
        resource_class._RESOURCE_CLASSES_SYNCED = False
        self.app = deploy.loadapp(conf)

    def start(self):
        """Serve in process through wsgi-intercept; returns the URL."""
        from wsgi_intercept import interceptor

        self._load()
        self.url = 'http://placement-%s.embedded' % uuid.uuid4().hex[:12]
        app = self.app
        self._intercept = interceptor.RequestsInterceptor(
            lambda: app, url=self.url)
        self._intercept.__enter__()
        return self.url

    def serve(self, host='127.0.0.1', port=0, threaded=False):
        """Serve on a loopback socket in a thread; returns the URL.

        ``threaded``: a thread per connection, for concurrent clients.
        """
        self._load()
        self._server = loopback.serve(self.app, host, port, threaded)
        self._thread = self._server.thread
        self.url = 'http://%s:%d' % (host, self._server.server_port)
        return self.url

    @property
    def engine(self):
        """The SQLAlchemy engine of this Placement's database."""
        return self._engine

    def stop(self):
        if self._intercept is not None:
            self._intercept.__exit__(None, None, None)
            self._intercept = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None
        if self._reset_engine is not None:
            self._reset_engine()
            self._reset_engine = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self):
        if self.url is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

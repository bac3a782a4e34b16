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

"""Real Placement for integration tests: SQLite, or MariaDB when set.

``GPUVIRT_TEST_DB_URL`` (for example ``mysql+pymysql://root@127.0.0.1:
3306/``) makes each test class run on a fresh, uniquely named database on
that server, dropped afterwards; without it each class gets an SQLite file
in a temporary directory.
"""

import os
import shutil
import tempfile
import uuid

import fixtures
from oslotest import base
import sqlalchemy

from gpuvirt_nova.conf import backends
from gpuvirt_nova.placement import client as placement_client
from gpuvirt_nova.placement import connect
from gpuvirt_nova.placement import embedded
from tests import sim_fixture
from tests.unit.cmd import cli as cli_fixture

DB_URL_ENV = 'GPUVIRT_TEST_DB_URL'


class Database:
    """A fresh Placement database URL, removed by ``drop()``."""

    def __init__(self):
        self.server_url = os.environ.get(DB_URL_ENV)
        self._tmp = None
        self._name = None
        if self.server_url:
            self._name = 'gpuvirt_test_%s' % uuid.uuid4().hex[:12]
            engine = sqlalchemy.create_engine(self.server_url)
            with engine.connect() as conn:
                conn.execute(sqlalchemy.text(
                    'CREATE DATABASE %s CHARACTER SET utf8mb4' % self._name))
            engine.dispose()
            url = sqlalchemy.engine.make_url(self.server_url)
            self.url = url.set(database=self._name).render_as_string(
                hide_password=False)
        else:
            self._tmp = tempfile.mkdtemp(prefix='gpuvirt-placement-',
                                         dir=sim_fixture.scratch_dir())
            self.url = embedded.sqlite_url(self._tmp)

    @property
    def backend(self):
        return 'mysql' if self.server_url else 'sqlite'

    def drop(self):
        if self._name:
            engine = sqlalchemy.create_engine(self.server_url)
            with engine.connect() as conn:
                conn.execute(sqlalchemy.text(
                    'DROP DATABASE IF EXISTS %s' % self._name))
            engine.dispose()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


def simulated_host(spec):
    """A model.Host discovered from the simulator (plain data)."""
    return backends.discover_simulated(spec)


def scratch_tmp(test):
    """A temporary directory for ``test`` where simulated hosts build fast."""
    return test.useFixture(fixtures.TempDir(
        rootdir=sim_fixture.scratch_dir())).path


def isolated_cli(test):
    """(scratch dir, ``cli(*argv)``, state dir) for a command-line test.

    The CLI reads no host configuration and no Placement address from
    the environment, so each test talks to the Placement it names.
    """
    tmp = scratch_tmp(test)
    test.useFixture(fixtures.EnvironmentVariable('OS_PLACEMENT_URL'))
    test.useFixture(fixtures.EnvironmentVariable('OS_CLOUD'))
    cli = test.useFixture(cli_fixture.CliFixture()).cli
    return tmp, cli, os.path.join(tmp, 'state')


def write_file(directory, name, text):
    """Write ``text`` to ``directory/name``; return the path."""
    path = os.path.join(directory, name)
    with open(path, 'w') as stream:
        stream.write(text)
    return path


class PlacementTestCase(base.BaseTestCase):
    """One real Placement per class; a fresh compute node name per test."""

    #: 'intercept' (in process, no socket) or 'socket' (loopback port).
    serve = 'intercept'

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.database = Database()
        cls.service = embedded.EmbeddedPlacement(cls.database.url)
        try:
            if cls.serve == 'socket':
                cls.service.serve()
            else:
                cls.service.start()
        except Exception:
            cls.database.drop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.service.stop()
        cls.database.drop()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.sdk = connect.sdk_for_url(self.service.url)
        self.client = placement_client.PlacementClient(self.sdk.placement)
        self.compute_node = 'cn-%s' % uuid.uuid4().hex[:8]

    def new_client(self):
        """A second, independent client (another writer)."""
        return placement_client.PlacementClient(
            connect.sdk_for_url(self.service.url).placement)

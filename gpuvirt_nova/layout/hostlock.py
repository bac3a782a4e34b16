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

"""One ``layout apply`` at a time per host.

Two applies that interleave on one GPU would each read back the other's
writes and roll them back as failures. :func:`apply_lock` takes an
oslo.concurrency external (inter-process, ``lockf``) lock named after the
host, plus the in-process semaphore of the same name (a POSIX file lock
does not exclude two threads of one process). The holder writes its pid
next to the lock file (``<lock>.pid``, a separate file: closing any
descriptor of the lock file itself would drop the holder's lock), so a
refused run can say who holds it.
"""

import contextlib
import os
import time

from oslo_concurrency import lockutils
from oslo_log import log as logging

from gpuvirt_nova import exception

LOG = logging.getLogger(__name__)

PREFIX = 'gpuvirt-layout-apply-'


class LockBusy(exception.GpuvirtError):
    """Another ``layout apply`` holds the host's lock (exit code 1)."""

    exit_code = 1


def lock_name(hostname):
    """The lock's name for one host: safe as a file name."""
    return ''.join(c if c.isalnum() or c in '.-_' else '_'
                   for c in hostname or 'localhost')


def lock_file(lock_path, hostname):
    """Path of the host's lock file under ``lock_path``."""
    return os.path.join(lock_path, PREFIX + lock_name(hostname))


def holder_pid(path):
    """The pid the holder wrote next to ``path``, or None if unknown."""
    try:
        with open(path + '.pid') as stream:
            return int(stream.read().strip())
    except (OSError, ValueError):
        return None


def _write_pid(path):
    tmp = '%s.pid.%d' % (path, os.getpid())
    with open(tmp, 'w') as stream:
        stream.write('%d\n' % os.getpid())
    os.replace(tmp, path + '.pid')


def _clear_pid(path):
    try:
        if holder_pid(path) == os.getpid():
            os.unlink(path + '.pid')
    except OSError as exc:
        LOG.debug('could not remove %s.pid: %s', path, exc)


def busy_message(path, waited=None):
    """The one line a refused run prints."""
    pid = holder_pid(path)
    holder = 'pid %d' % pid if pid else 'pid unknown'
    if waited is None:
        how = '--no-wait was given'
    else:
        how = 'waited %ds ([gpuvirt_layout] lock_timeout)' % waited
    return ('another "layout apply" holds %s (%s); %s: try again when it '
            'has finished' % (path, holder, how))


def _make_dir(lock_path, field):
    try:
        os.makedirs(lock_path, exist_ok=True)
    except OSError as exc:
        raise exception.UsageError(
            '%s %s: cannot create it (%s); give a writable directory'
            % (field, lock_path, exc.strerror))


@contextlib.contextmanager
def apply_lock(lock_path, hostname, wait=True, timeout=600,
               field='[gpuvirt_layout] lock_path'):
    """Hold the host's apply lock for the block; yield the lock file path.

    ``wait=False`` fails at once when the lock is held; otherwise it waits
    up to ``timeout`` seconds. Raises LockBusy (one line naming the lock
    file and the holder's pid when known), or UsageError when
    ``lock_path`` cannot be created (``field`` names the option).
    """
    _make_dir(lock_path, field)
    path = lock_file(lock_path, hostname)
    deadline = time.monotonic() + timeout
    internal = lockutils.internal_lock(path)
    got = internal.acquire(timeout=timeout) if wait \
        else internal.acquire(blocking=False)
    if not got:
        raise LockBusy(busy_message(path, timeout if wait else None))
    try:
        external = lockutils.external_lock(os.path.basename(path),
                                           lock_path=lock_path)
        remaining = max(0.0, deadline - time.monotonic())
        got = external.acquire(timeout=remaining) if wait \
            else external.acquire(blocking=False)
        if not got:
            raise LockBusy(busy_message(path, timeout if wait else None))
        try:
            _write_pid(path)
            LOG.debug('holding %s', path)
            yield path
        finally:
            _clear_pid(path)
            external.release()
    finally:
        internal.release()

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

"""Start, find and stop the mini cloud's processes, by PID.

Each started process is recorded in ``<state_dir>/processes.json`` (name,
PID, start time, command, configuration files, log); ``stop_all`` ends
exactly those PIDs, and only while ``/proc/<pid>/stat`` shows the
recorded start time, so a PID the kernel reused is left alone.
"""

import json
import os
import signal
import subprocess
import time

RECORD = 'processes.json'


def load(state_dir):
    """The recorded processes, ``[{name, pid, argv, configs, log}, ...]``."""
    try:
        with open(os.path.join(state_dir, RECORD)) as f:
            return json.load(f)
    except FileNotFoundError:
        return []


def _save(state_dir, records):
    path = os.path.join(state_dir, RECORD)
    with open(path + '.tmp', 'w') as f:
        json.dump(records, f, indent=1)
    os.replace(path + '.tmp', path)


def start(state_dir, name, argv, configs, cwd=None, env=None):
    """Start ``argv`` in its own session, logging to ``logs/<name>.log``."""
    log = os.path.join(state_dir, 'logs', '%s.log' % name)
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, 'ab') as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL,
                                start_new_session=True)
    records = load(state_dir)
    records.append({'name': name, 'pid': proc.pid,
                    'start': start_time(proc.pid), 'argv': argv,
                    'configs': configs, 'log': log})
    _save(state_dir, records)
    return proc.pid


def start_time(pid):
    """The process's start time in clock ticks since boot, or None."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rsplit(')', 1)[1].split()
    if fields[0] == 'Z':
        return None
    return int(fields[19])


def alive(record):
    """Whether the recorded PID is still the process we started.

    By start time, not command line: gunicorn retitles its processes.
    """
    return start_time(record['pid']) == record.get('start')


def rss_kib(pid):
    """Resident memory of ``pid`` and all its descendants, in KiB."""
    total = 0
    for p in [pid] + _descendants(pid):
        try:
            with open('/proc/%d/status' % p) as f:
                for line in f:
                    if line.startswith('VmRSS:'):
                        total += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def _descendants(pid):
    out = []
    try:
        with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
            children = [int(c) for c in f.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        return out
    for child in children:
        out += [child] + _descendants(child)
    return out


def _stop(records, timeout):
    """SIGTERM each live record, then SIGKILL what remains; their PIDs."""
    records = [r for r in records if alive(r)]
    for record in reversed(records):
        _signal(record['pid'], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(r) for r in records):
        time.sleep(0.2)
    for record in records:
        if alive(record):
            for pid in _descendants(record['pid']) + [record['pid']]:
                _signal(pid, signal.SIGKILL)
    return [r['pid'] for r in records]


def stop_all(state_dir, timeout=30):
    """Stop every recorded process; the names of those that were running."""
    records = load(state_dir)
    names = [r['name'] for r in records if alive(r)]
    _stop(records, timeout)
    _save(state_dir, [])
    return names


def stop(state_dir, name, timeout=30):
    """Stop the processes recorded under ``name``; their PIDs."""
    records = load(state_dir)
    pids = _stop([r for r in records if r['name'] == name], timeout)
    _save(state_dir, [r for r in records if r['name'] != name])
    return pids


def _signal(pid, signum):
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def wait_http(port, name, record, timeout=180):
    """Wait until 127.0.0.1:port answers HTTP; RuntimeError naming the log.

    Any HTTP status will do (401 included): gunicorn listens before its
    worker has loaded the application, so a bare connect is not enough.
    """
    from urllib import error
    from urllib import request
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(record):
            raise RuntimeError('%s exited; see %s' % (name, record['log']))
        try:
            request.urlopen('http://127.0.0.1:%d/' % port, timeout=10)
            return
        except error.HTTPError:
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError('%s did not answer on port %d within %ds; see %s'
                       % (name, port, timeout, record['log']))

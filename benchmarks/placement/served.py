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

"""The real Placement on 127.0.0.1, in a process of its own.

    python -m benchmarks.placement.served DB_URL [GROUP.NAME=VALUE ...]

Loads Placement's WSGI app on ``DB_URL`` (the schema is created when
missing) with the given configuration options on top of the defaults,
serves it on a free loopback port with a thread per connection, prints
the URL on one line and serves until its standard input closes (so it
never outlives the benchmark that started it). :class:`Served` is that
process as the benchmarks see it, with its CPU time.
"""

import os
import subprocess
import sys

from gpuvirt_nova.placement import embedded

#: Placement 16's options for large, wide trees, as its own help
#: recommends them: candidates generated at most (Nova's default
#: ``max_placement_results``) and hosts visited in turn...
LIMITED = {
    ('placement', 'max_allocation_candidates'): 1000,
    ('placement', 'allocation_candidates_generation_strategy'):
        'breadth-first',
}
#: ... and also the product generator that prunes combinations over
#: capacity as it goes.
TUNED = {**LIMITED,
         ('workarounds', 'optimize_for_wide_provider_trees'): True}


def parse_options(items):
    """``['group.name=value', ...]`` -> ``{(group, name): value}``."""
    options = {}
    for item in items:
        key, sep, value = item.partition('=')
        group, dot, name = key.partition('.')
        if not sep or not dot:
            raise SystemExit('expected GROUP.NAME=VALUE, got %r' % item)
        options[(group, name)] = value
    return options


def format_options(options):
    return ['%s.%s=%s' % (group, name, value)
            for (group, name), value in sorted(options.items())]


class Served:
    """Placement served by a child process on ``url``; ``stop()`` ends it."""

    def __init__(self, db_url, options=None):
        self.process = subprocess.Popen(
            [sys.executable, '-m', __name__, db_url]
            + format_options(options or {}),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith('http://'):
            self.stop()
            raise RuntimeError('Placement did not start on %s' % db_url)

    def cpu(self):
        """CPU seconds (user + system) the Placement process has used."""
        with open('/proc/%d/stat' % self.process.pid) as stat:
            fields = stat.read().rpartition(')')[2].split()
        return (int(fields[11]) + int(fields[12])) \
            / os.sysconf('SC_CLK_TCK')

    def stop(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        raise SystemExit(__doc__.split('\n\n')[1])
    service = embedded.EmbeddedPlacement(argv[0], parse_options(argv[1:]))
    print(service.serve(threaded=True), flush=True)
    sys.stdin.read()
    service.stop()


if __name__ == '__main__':
    main()

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

"""The typical mix learned from the requests this scheduler has seen.

Why: with ``typical_requests`` empty the weigher learned its mix from
Placement's usage, which has no vCPUs and counts a multi-vGPU server as
single vGPUs; on the openb traces that places 0.7 to 1.5 points of GPU
allocation below a mix that names each kind of request whole
(benchmarks/README.md, "The weigher counts vCPUs"). Every request the
scheduler sees names its kind whole: its flavor's vGPU type, required
``CUSTOM_GPU_*`` traits, vCPUs and GPUs (:func:`typical.request_classes`,
the classes ``flavor typical-requests`` writes from the servers). So the
latest ``window`` requests give the mix the operator would write, the
most common kinds covering :data:`typical.COVER` of them, weighted by
count, as FGD learns its typical pods from the requests.

Each scheduler process learns alone (every process sees a random share
of the requests: the same mix, with more noise) and starts empty after a
restart, using the usage mix until ``minimum`` requests were seen.
"""

import collections
import threading

from gpuvirt_nova.scheduler import scoring
from gpuvirt_nova.scheduler import typical


#: Requests between two rebuilds of the learned mix. The scorer's tables
#: are cached per mix (``candidates._gpu_found``, ``_host_space``); a new
#: mix rebuilds them once, about 10 ms for MIG GPUs at 100 hosts and
#: nothing measurable at 1,000 (benchmarks/mix_change_cost.py). Ten
#: requests move a share by at most 10 / window (1% at the default).
REFRESH = 10


class RecentRequests:
    """The classes of the latest vGPU requests, counted (thread-safe)."""

    def __init__(self, refresh=REFRESH):
        self.refresh = refresh
        #: ``(request key, classes)`` of the requests in the window
        self._seen = collections.deque()
        self._counts = collections.Counter()
        self._keys = collections.Counter()
        self._lock = threading.Lock()
        self._mix = None
        self._since = 0
        self._cover = None

    def __len__(self):
        with self._lock:
            return len(self._seen)

    def record(self, classes, window, key=None):
        """Count one request's ``classes``; keep the latest ``window``.

        ``key`` names the request (``reads.request_key``: request id and
        server): a request already counted in the window is not counted
        again, whoever asks (the filter and the weigher, a per-request
        cache that dropped it, a reschedule of the same server). Returns
        whether it was counted.
        """
        classes = tuple(classes)
        if not classes or window <= 0:
            return False
        with self._lock:
            if key is not None and self._keys[key]:
                return False
            self._seen.append((key, classes))
            self._counts.update(classes)
            self._keys[key] += 1
            while len(self._seen) > window:
                old_key, old = self._seen.popleft()
                self._counts.subtract(old)
                self._keys[old_key] -= 1
                if not self._keys[old_key]:
                    del self._keys[old_key]
            for name in [k for k, n in self._counts.items() if n <= 0]:
                del self._counts[name]
            self._since += 1
            return True

    def mix(self, minimum, cover=typical.COVER):
        """``{class: requests}`` covering ``cover``, or None below minimum.

        The most common classes first, then by name (as
        :func:`typical.mix_of`), so equal counts give the same mix in
        every process. Rebuilt when the minimum is first reached, then
        once every ``refresh`` requests recorded (:data:`REFRESH`).
        """
        with self._lock:
            if len(self._seen) < max(minimum, 1):
                self._mix = None
                return None
            if self._mix is None or self._since >= self.refresh or \
                    cover != self._cover:
                counts = dict(sorted(self._counts.items()))
                self._mix = dict(scoring.most_common(counts, cover))
                self._since, self._cover = 0, cover
            return dict(self._mix)

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

"""vGPUs a scheduler admitted that Placement does not show yet.

Why: VGPUUserLimitFilter reads the user's Placement usage, and Nova
claims only after every filter and weigher has run; boots of one user
that arrive together would all see the old usage and all pass
(``benchmarks/user_limit_race.py``). The filter records what it admits
here and counts the user's other admitted requests as in use until
Placement shows their claim. That bounds the overshoot to one request
per scheduler process (processes do not share this ledger).

A record goes when its request is over (the spec object is gone: Nova
claimed, or gave up), when Placement shows an allocation of its instance
(counted there now), or after ``MAX_AGE`` seconds.
"""

import threading
import time
import weakref

#: Seconds a record counts at most (a request lasts a few at most).
MAX_AGE = 60.0
#: Locks that make one user's read-check-record atomic (users share a
#: lock by hash; a decision holds it for a read or two).
LOCKS = 64


class Admitted:
    """Requests admitted by this process, per user, not yet claimed."""

    def __init__(self, clock=time.monotonic, max_age=MAX_AGE):
        self._clock = clock
        self._max_age = max_age
        self._lock = threading.Lock()
        self._records = {}
        self._users = [threading.Lock() for _ in range(LOCKS)]

    def deciding(self, user_id, project_id):
        """The lock to hold from reading a user's use to recording them.

        Two requests of one user deciding at once would both miss the
        other's record.
        """
        return self._users[hash((user_id, project_id)) % LOCKS]

    def add(self, key, spec_obj, user_id, project_id, asked, instance):
        """Record request ``key`` admitted with ``asked`` ({rc: units})."""
        try:
            owner = weakref.ref(spec_obj)
        except TypeError:
            owner = None
        with self._lock:
            self._prune()
            self._records[key] = (owner, self._clock(), user_id,
                                  project_id, dict(asked), instance)

    def others(self, key, user_id, project_id):
        """[(instance, {rc: units})] of the user's other live records."""
        with self._lock:
            self._prune()
            return [(r[5], r[4]) for k, r in self._records.items()
                    if k != key and r[2] == user_id and r[3] == project_id]

    def forget(self, instance):
        """Placement shows ``instance``'s claim: stop counting it here."""
        with self._lock:
            for key in [k for k, r in self._records.items()
                        if r[5] == instance]:
                del self._records[key]

    def _prune(self):
        now = self._clock()
        for key in [k for k, r in self._records.items()
                    if (r[0] is not None and r[0]() is None)
                    or now - r[1] > self._max_age]:
            del self._records[key]

    def __len__(self):
        return len(self._records)


def unclaimed(admitted, key, user_id, project_id, is_claimed):
    """{rc: units} the user's other admitted requests hold, unclaimed.

    ``is_claimed(instance)`` says whether Placement shows the instance's
    allocation (one read per other request of this user in flight); a
    claimed one is forgotten, as Placement's usage counts it now.
    """
    held = {}
    # NOTE: called before the user's Placement usage is read: a claim
    # landing in between is then counted twice (a refusal on the safe
    # side), never missed.
    for instance, asked in admitted.others(key, user_id, project_id):
        if instance and is_claimed(instance):
            admitted.forget(instance)
            continue
        for rc, units in asked.items():
            held[rc] = held.get(rc, 0) + units
    return held

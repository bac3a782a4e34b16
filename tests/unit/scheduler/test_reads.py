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

"""What the plugins keep per request goes with the request.

An answer at 1,000 hosts is some 50,000 Python objects: kept after its
request it only slows every garbage collection of the scheduler. A
rescheduled request (same request id, new context) gets its new answer,
not the old one.
"""

import gc

from oslotest import base

from gpuvirt_nova.scheduler import reads


class _Context:
    def __init__(self, request_id):
        self.request_id = request_id


class _Spec:
    def __init__(self, context, instance='i1'):
        self._context = context
        self.instance_uuid = instance

    def obj_attr_is_set(self, name):
        return name == 'instance_uuid'


class KeptPerRequestTest(base.BaseTestCase):

    def test_answers_go_when_their_request_is_over(self):
        kept = reads.PlacementReads(client=object())
        for i in range(5):
            context = _Context('req-%d' % i)
            kept.remember_summaries(context, {'rp': {'n': i}})
            spec = _Spec(context)
            self.assertEqual({'rp': {'n': i}}, kept.provider_summaries(spec))
            kept.put(spec, 'weights', {'h': i})
            del spec, context
            gc.collect()
        # Only the request being made when the last one was kept.
        self.assertEqual(1, len(kept._seen))
        self.assertEqual(1, len(kept._per_request))

    def test_a_rescheduled_request_gets_its_new_answer(self):
        kept = reads.PlacementReads(client=object())
        first = _Context('req-1')
        kept.remember_summaries(first, {'old': {}})
        self.assertEqual({'old': {}},
                         kept.provider_summaries(_Spec(first)))
        del first
        gc.collect()
        second = _Context('req-1')
        kept.remember_summaries(second, {'new': {}})
        self.assertEqual({'new': {}},
                         kept.provider_summaries(_Spec(second)))

    def test_live_requests_are_kept_up_to_the_bound(self):
        kept = reads.PlacementReads(client=object())
        contexts = [_Context('req-%d' % i)
                    for i in range(reads.MAX_REQUESTS + 3)]
        for context in contexts:
            kept.remember_summaries(context, {})
        self.assertEqual(reads.MAX_REQUESTS, len(kept._seen))
        self.assertIsNone(kept._seen.get('req-0'))
        self.assertEqual({}, kept._seen.get('req-%d' % reads.MAX_REQUESTS))

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

"""typical_requests written from the servers' flavors."""

from oslotest import base

from gpuvirt_nova.scheduler import candidates
from gpuvirt_nova.scheduler import typical

SMALL = 'CUSTOM_VGPU_A100_1_5C'
WHOLE = 'CUSTOM_VGPU_A100_7_40C'
SXM = 'CUSTOM_GPU_A100_SXM4_40GB'

ONE_SMALL = {'resources:%s' % SMALL: '1',
             'trait:CUSTOM_GPUVIRT_MANAGED': 'required'}
TWO_WHOLE_ON_SXM = {'resources1:%s' % WHOLE: '1',
                    'resources2:%s' % WHOLE: '1',
                    'trait1:%s' % SXM: 'required',
                    'trait2:%s' % SXM: 'required',
                    'group_policy': 'isolate'}


class RequestClassesTest(base.BaseTestCase):

    def test_one_class_per_kind_with_vcpus_traits_and_gpus(self):
        self.assertEqual([SMALL + '/4'],
                         typical.request_classes(4, ONE_SMALL))
        self.assertEqual(['%s@%s/32*2' % (WHOLE, SXM)],
                         typical.request_classes(32, TWO_WHOLE_ON_SXM))
        self.assertEqual([], typical.request_classes(8, {}))
        # pinned CPUs take PCPU, which the weigher does not count
        self.assertEqual([SMALL], typical.request_classes(
            4, dict(ONE_SMALL, **{'hw:cpu_policy': 'dedicated'})))
        self.assertEqual([SMALL], typical.request_classes(
            4, dict(ONE_SMALL, **{'resources:PCPU': '4'})))
        # a flavor's resources:VCPU overrides its vCPUs, as in Nova
        self.assertEqual([SMALL + '/6'], typical.request_classes(
            4, dict(ONE_SMALL, **{'resources:VCPU': '6'})))
        # and the weigher reads them back
        self.assertEqual((WHOLE, frozenset([SXM]), 32.0, 2),
                         candidates.parse_mix_key(typical.request_classes(
                             32, TWO_WHOLE_ON_SXM)[0]))


class MixOfTest(base.BaseTestCase):

    def test_most_common_kinds_covering_the_share(self):
        servers = ([(4, ONE_SMALL)] * 16 + [(32, TWO_WHOLE_ON_SXM)] * 3 +
                   [(8, ONE_SMALL)] + [(2, {})] * 5)
        mix, counted, left = typical.mix_of(servers, cover=0.95)
        # 20 vGPU servers: 16 + 3 reach 95%; the one 8-vCPU server is
        # left out; CPU-only servers are not counted at all
        self.assertEqual({SMALL + '/4': 16,
                          '%s@%s/32*2' % (WHOLE, SXM): 3}, mix)
        self.assertEqual((19, 1), (counted, left))
        mix, counted, left = typical.mix_of(servers, cover=1.0)
        self.assertEqual(3, len(mix))
        self.assertEqual((20, 0), (counted, left))
        self.assertEqual(
            'CUSTOM_VGPU_A100_1_5C/4:16,'
            'CUSTOM_VGPU_A100_7_40C@CUSTOM_GPU_A100_SXM4_40GB/32*2:3,'
            'CUSTOM_VGPU_A100_1_5C/8:1', typical.option_value(mix))

    def test_bad_cover_names_the_field_and_the_fix(self):
        for bad in (0, 1.5, -0.1):
            exc = self.assertRaises(ValueError, typical.mix_of, [], bad)
            self.assertIn('cover', str(exc))
            self.assertIn('(0, 1]', str(exc))

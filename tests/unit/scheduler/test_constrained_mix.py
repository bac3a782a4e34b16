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

"""The typical mix per GPU model: classes constrained to GPU traits.

Two A100 40GB models offer the same MIG-backed types (the same resource
classes) and differ only in their model trait. A mix class required on
one model (``RC@CUSTOM_GPU_<MODEL>``) may only use that model's GPUs;
on the other it counts all the idle share as fragment (FGD's "no
access"), so unconstrained requests are steered off the model it needs.
"""

from oslotest import base

from gpuvirt_nova.placement import naming
from gpuvirt_nova.scheduler import candidates
from gpuvirt_nova.scheduler import fleet
from gpuvirt_nova.scheduler import scoring
from tests.unit.scheduler import fixtures as fx

SXM = 'A100-SXM4-40GB'
PCIE = 'A100-PCIE-40GB'
OFFER = {'A100-1-5C': 7, 'A100-3-20C': 2}
SMALL, BIG = fx.rc('A100-1-5C'), fx.rc('A100-3-20C')
BIG_ON_SXM = candidates.mix_key(BIG, [naming.gpu_model_trait(SXM)])


def _hosts(used=None):
    summaries, listed = {}, []
    for root, model in (('cnA', SXM), ('cnB', PCIE)):
        summaries[root] = fx.compute(root)
        uuid = root + '-g0'
        summaries[uuid] = fx.gpu(root, OFFER, used=used, model=model)
        listed.append((root, [fx.candidate(root, uuid, 'A100-1-5C')]))
    return summaries, listed


class ConstrainedMixTest(base.BaseTestCase):

    def _packs(self, mix, used=None):
        summaries, listed = _hosts(used)
        scored = fleet.score_hosts(fleet.RequestGpus(summaries), listed,
                                   mix)
        return scored['cnA'][1], scored['cnB'][1]

    def test_unconstrained_request_spares_the_model_others_need(self):
        on_sxm, on_pcie = self._packs({SMALL: 1, BIG_ON_SXM: 1})
        self.assertGreater(on_pcie, on_sxm)
        # blind to the constraint, the two hosts score alike: only the
        # uuid order of candidates.stable_ties (under half a step) parts
        # them
        on_sxm, on_pcie = self._packs({SMALL: 1, BIG: 1})
        self.assertGreaterEqual(on_sxm, on_pcie)
        self.assertLess(on_sxm - on_pcie, scoring.resolution() / 2.0)

    def test_no_access_counts_all_idle_share(self):
        summaries, _ = _hosts()
        mix = {SMALL: 1, BIG_ON_SXM: 1}
        frag = {}
        for root in ('cnA', 'cnB'):
            gpus = candidates.host_gpus(summaries, root, mix)
            frag[root] = float(scoring.fragmentation(
                gpus.space, gpus.states[None, :], 0, gpus.mix)[0])
        # half the mix may not use the PCIe GPU: half its 1000 milli idle
        self.assertEqual({'cnA': 0.0, 'cnB': 500.0}, frag)

    def test_usage_counted_once_per_resource_class(self):
        summaries, _ = _hosts(used={'A100-3-20C': 1})
        plain = candidates.host_gpus(summaries, 'cnA', {SMALL: 1, BIG: 1})
        both = candidates.host_gpus(summaries, 'cnA',
                                    {SMALL: 1, BIG: 1, BIG_ON_SXM: 1})
        self.assertEqual(500.0, float(plain.space.free[plain.states][0]))
        self.assertEqual(500.0, float(both.space.free[both.states][0]))

    def test_flavor_traits_make_the_request_class(self):
        extra = {'resources:%s' % BIG: '1',
                 'trait:%s' % naming.gpu_model_trait(SXM): 'required',
                 'trait:CUSTOM_GPUVIRT_MANAGED': 'required',
                 'trait:HW_CPU_X86_AVX2': 'required'}
        self.assertEqual({BIG_ON_SXM: 1}, fleet.requested_mix(extra))
        self.assertEqual({BIG: 2}, fleet.requested_mix(
            {'resources1:%s' % BIG: '1', 'resources2:%s' % BIG: '1'}))
        self.assertEqual(
            'CUSTOM_VGPU_A100_3_20C@CUSTOM_GPU_A100_SXM4_40GB',
            BIG_ON_SXM)
        self.assertEqual((BIG, frozenset([naming.gpu_model_trait(SXM)])),
                         candidates.split_mix_key(BIG_ON_SXM))

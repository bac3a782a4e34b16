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

"""A guest's time-sliced vGPU on a simulated dynamic GPU (mixed-size)."""

import os

import fixtures
from oslotest import base

from gpuvirt_nova.dynamic import carve as carve_mod
from gpuvirt_nova.dynamic import ts_carve
from gpuvirt_nova.hardware import discover
from gpuvirt_nova.hardware import ts_placement
from gpuvirt_nova import sim
from tests import sim_fixture

HOST = '''hostname: node01
driver_version: "580.65.06"
gpus:
  - model: A100-PCIE-40GB
    mode: vfio
    scheduling: mixed-size
'''


class TestTimeSlicedCarve(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        tmp = self.useFixture(fixtures.TempDir(
            rootdir=sim_fixture.scratch_dir())).path
        path = os.path.join(tmp, 'host.yaml')
        with open(path, 'w') as handle:
            handle.write(HOST)
        self.sim = sim.SimulatedHost.create(os.path.join(tmp, 'sim'),
                                            sim.parse_spec(path))
        self.writer = self.sim.writer()
        self.address = self.gpu().address

    def gpu(self):
        return discover.discover_host(self.sim).gpus[0]

    def read_gpu(self, address):
        return discover.discover_host_gpu(self.sim, address)

    def carve(self, type_name, **kwargs):
        return ts_carve.carve(self.writer, self.read_gpu, self.address,
                              type_name, ts_placement.MIXED, **kwargs)

    def test_records_the_placement_the_vf_reports(self):
        first = self.carve('A100-10C')
        second = self.carve('A100-20C')
        self.assertEqual((0, 4), (first.start, second.start))
        self.assertTrue(first.time_sliced)
        self.assertTrue(ts_carve.present(self.gpu(), second))
        carve_mod.uncarve(self.writer, self.read_gpu, first)
        self.assertFalse(ts_carve.present(self.gpu(), first))
        # The freed placement is the lowest free one again.
        self.assertEqual(0, self.carve('A100-8C').start)

    def test_no_free_placement_is_refused_before_any_write(self):
        for _ in range(4):
            self.carve('A100-8C')
        before = {vf.address for vf in self.gpu().vfs
                  if vf.current_vgpu_type}
        exc = self.assertRaises(carve_mod.NoRoom, self.carve, 'A100-5C')
        self.assertIn('no free placement of A100-5C', str(exc))
        self.assertEqual(before, {vf.address for vf in self.gpu().vfs
                                  if vf.current_vgpu_type})

    def test_a_restore_takes_the_vf_it_is_given(self):
        vf = self.gpu().vfs[5].address
        carved = self.carve('A100-4C', prefer_vf=vf)
        self.assertEqual(('vf', vf), carved.key)

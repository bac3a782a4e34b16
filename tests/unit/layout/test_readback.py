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

"""Apply reads back only the GPU a step touched, and still really reads.

``discover.discover_gpu`` must see exactly what whole-host discovery sees
for that GPU (VFs, their types, mdevs, MIG instances), without opening
another GPU's files; apply must verify each step with it and catch a write
that reported success but changed nothing.
"""

import builtins

import fixtures

from gpuvirt_nova.hardware import discover
from gpuvirt_nova.hardware import model
from gpuvirt_nova.layout import apply
from gpuvirt_nova.sim import writer as sim_writer
from tests.unit.layout import base

MIG = '''
gpu_cluster:
  nodes:
    - host: node01
      gpus:
        - type: all
          vgpus:
            - {name: a, memory: 10GB, compute: 25%}
            - {name: b, mig: 1g.5gb, count: 2}
'''

TIME_SLICED = '''
gpu_cluster:
  nodes:
    - host: node01
      gpus:
        - type: all
          mode: time-sliced
          vgpus:
            - {name: v, count: 2, memory: 4GB}
'''

#: (simulator spec, layout): one of each way a host exposes vGPUs.
HOSTS = [
    ('2xA100-PCIE-40GB:mig@node01', MIG),
    ('2xA100-PCIE-40GB:vfio@node01', MIG),
    ('2xA100-PCIE-40GB:sriov-mdev@node01', TIME_SLICED),
    ('2xT4:mdev@node01', TIME_SLICED),
]


class LyingWriter(sim_writer.SimulatedWriter):
    """Drops ``sriov_numvfs`` writes that enable VFs, and says "done".

    NVIDIA's ``sriov-manage -e`` has been seen to do exactly this.
    """

    def write_sysfs(self, path, value):
        if path.endswith('/sriov_numvfs') and value != '0':
            return None
        return super().write_sysfs(path, value)


class TestDiscoverGpu(base.LayoutTestCase):

    def test_one_gpu_reads_as_whole_host_discovery_sees_it(self):
        for spec, layout in HOSTS:
            sim_host = self.sim_host(spec, name=spec.replace(':', '_'))
            results = self.apply_layout(layout, sim_host,
                                        options=apply.Options(force=True))
            self.assertEqual({apply.APPLIED}, {r.status for r in results},
                             spec)
            host = self.read(sim_host)
            self.assertTrue(any(g.mdevs or g.gpu_instances or
                                any(v.current_vgpu_type for v in g.vfs)
                                for g in host.gpus), spec)
            for gpu in host.gpus:
                one = discover.discover_host_gpu(sim_host, gpu.address)
                self.assertEqual(model.to_dict(gpu), model.to_dict(one),
                                 '%s %s' % (spec, gpu.address))

    def test_without_nvml_as_sysfs_only_discovery_sees_it(self):
        sim_host = self.sim_host('2xA100-PCIE-40GB:vfio@node01')
        self.apply_layout(MIG, sim_host, options=apply.Options(force=True))
        host = discover.discover_host(sim_host, use_nvml=False)
        for gpu in host.gpus:
            one = discover.discover_host_gpu(sim_host, gpu.address,
                                             use_nvml=False)
            self.assertEqual(model.to_dict(gpu), model.to_dict(one))
            self.assertEqual([], one.gpu_instances)

    def test_unknown_address_is_none(self):
        sim_host = self.sim_host('1xT4:mdev')
        self.assertIsNone(discover.discover_host_gpu(sim_host,
                                                     '0000:ff:00.0'))

    def test_no_file_of_another_gpu_is_opened(self):
        sim_host = self.sim_host('4xA100-PCIE-40GB:sriov-mdev@node01')
        self.apply_layout(TIME_SLICED, sim_host)
        addresses = [g.address for g in self.read(sim_host).gpus]
        mine = addresses[1]
        others = [a for a in addresses if a != mine]
        opened = []
        real_open = builtins.open

        def recording_open(file, *args, **kwargs):
            opened.append(str(file))
            return real_open(file, *args, **kwargs)
        with fixtures.MonkeyPatch('builtins.open', recording_open):
            gpu = discover.discover_host_gpu(sim_host, mine)
        self.assertEqual(mine, gpu.address)
        self.assertTrue(any(mine in path for path in opened))
        # A VF's address shares its PF's bus: match the PF's bus number.
        buses = {a.split(':')[1] for a in others}
        self.assertEqual([], [p for p in opened
                              if any(':%s:' % b in p for b in buses)])


class TestApplyReadsBack(base.LayoutTestCase):

    def test_apply_reads_only_the_target_gpus_never_the_whole_host(self):
        sim_host = self.sim_host('2xA100-PCIE-40GB:vfio@node01')
        targets = self.targets(MIG, sim_host)
        read = []

        def read_gpu(address):
            read.append(address)
            return discover.discover_host_gpu(sim_host, address)

        def read_host():
            raise AssertionError('the whole host was read')
        results = apply.apply(targets, read_host, sim_host.writer(),
                              'node01', read_gpu=read_gpu)
        self.assertEqual({apply.APPLIED}, {r.status for r in results})
        self.assertEqual({t.address for t in targets}, set(read))
        steps = sum(len(r.done) for r in results)
        # One read-back per step, plus one plan read per pass.
        self.assertGreaterEqual(len(read), steps)

    def test_a_write_that_lies_is_caught_and_rolled_back(self):
        sim_host = self.sim_host('1xA100-PCIE-40GB:vfio@node01')
        address = self.read(sim_host).gpus[0].address
        sim_host.writer().write_sysfs(
            '/sys/bus/pci/devices/%s/sriov_numvfs' % address, '0')
        self.assertEqual([], self.read(sim_host).gpus[0].vfs)
        before = self.state(sim_host)
        results = apply.apply(self.targets(MIG, sim_host),
                              self.reader(sim_host),
                              LyingWriter(sim_host), 'node01',
                              read_gpu=self.gpu_reader(sim_host))
        self.assertEqual(apply.FAILED, results[0].status)
        self.assertIn('sriov_numvfs but 0 VFs are enabled',
                      results[0].message)
        self.assertEqual(before, self.state(sim_host))

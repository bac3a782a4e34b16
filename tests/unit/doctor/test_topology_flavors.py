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

"""The doctor's topology (PCIe, NVLink) and flavor-numa checks.

PCIe paths come from the simulator's sysfs through the doctor's own
adapter. The simulator models no NVLink, so its NVML is read as unknown;
NVLink answers are tried with a small NVML stand-in that has the calls.
"""

import json
import os

import fixtures
from oslotest import base

from gpuvirt_nova.doctor import checks
from gpuvirt_nova.doctor import facts as facts_mod
from gpuvirt_nova.doctor import flavors
from gpuvirt_nova.doctor import topology
from gpuvirt_nova import exception
from tests.unit.cmd import cli as cli_fixture
from tests.unit.doctor import test_checks

A, B, C = '0000:3b:00.0', '0000:5e:00.0', '0000:86:00.0'
#: One A100 on NUMA node 1, whose CPUs are 16-31,48-63 in the simulator.
NODE1 = 'gpus:\n  - {model: A100-PCIE-40GB, mode: mig, numa_node: 1}\n'
VGPU = {'resources:CUSTOM_VGPU_A100_2_10C': '1'}


class FakeNvmlError(Exception):

    def __init__(self, value):
        super().__init__('NVML error %d' % value)
        self.value = value


class NvlinkNvml:
    """The NVLink calls of NVML over {address: [peer or None per link]}."""

    NVMLError = FakeNvmlError
    NVML_NVLINK_MAX_LINKS = 18

    def __init__(self, links, not_supported=()):
        self.links, self.not_supported = links, set(not_supported)
        self.initialized = 0

    def nvmlInit(self):
        self.initialized += 1

    def nvmlShutdown(self):
        self.initialized -= 1

    def nvmlDeviceGetHandleByPciBusId(self, address):
        return address

    def nvmlDeviceGetNvLinkState(self, handle, link):
        if handle in self.not_supported:
            raise FakeNvmlError(3)
        if link >= len(self.links[handle]):
            raise FakeNvmlError(2)
        return 1 if self.links[handle][link] else 0

    def nvmlDeviceGetNvLinkRemotePciInfo(self, handle, link):
        peer = self.links[handle][link]

        class Pci:
            busId = '0000' + peer.upper()
        return Pci


class TestPcie(test_checks.DoctorTestCase):

    def test_link_classes(self):
        root, rp, sw = 'pci0000:3a', '0000:3a:00.0', '0000:3b:00.0'
        self.assertEqual(topology.PIX, topology.pcie_link(
            [root, rp, sw, A], [root, rp, sw, B], 0, 0))
        self.assertEqual(topology.PHB, topology.pcie_link(
            [root, rp, A], [root, '0000:3a:02.0', B], 0, 0))
        self.assertEqual(topology.NODE, topology.pcie_link(
            [root, rp, A], ['pci0000:5d', '0000:5d:00.0', B], 0, 0))
        self.assertEqual(topology.SYS, topology.pcie_link(
            [root, rp, A], ['pci0000:85', '0000:85:00.0', C], 0, 1))
        self.assertIsNone(topology.pcie_link(None, [root, rp, A], 0, 0))

    def test_paths_read_from_sysfs(self):
        facts = self.facts(self.sim('4xA100-PCIE-40GB:vfio'))
        self.assertEqual(['pci0000:3a', '0000:3a:00.0', A],
                         facts.pcie_paths[A])
        [finding] = checks.check_topology(facts)
        self.assertIn('SYS 0000:3b:00.0-0000:86:00.0', finding.evidence)
        self.assertIn('NODE 0000:3b:00.0-0000:5e:00.0', finding.evidence)

    def test_a_device_that_is_no_link_is_unknown(self):
        facts = self.facts(self.sim('2xA100-PCIE-40GB:vfio'))
        facts.pcie_paths = {A: None, B: facts.pcie_paths[B]}
        [finding] = checks.check_topology(facts)
        self.assertIn('unknown for 1 pair(s)', finding.evidence)


class TestNvlink(test_checks.DoctorTestCase):

    def test_simulated_host_is_unknown_never_pcie_only(self):
        sim_host = self.sim('2xA100-PCIE-40GB:vfio')
        links, why = topology.read_nvlinks(sim_host.nvml(), [A, B])
        self.assertIsNone(why)
        self.assertEqual({False}, {v['reported'] for v in links.values()})
        facts = self.facts(sim_host, nvlink=links)
        [finding] = checks.check_topology(facts)
        self.assertIn('NVLink: unknown (NVML answers NOT_SUPPORTED',
                      finding.evidence)
        self.assertNotIn('PCIe only', finding.evidence)

    def test_without_nvml_or_its_calls_says_why(self):
        self.assertEqual((None, 'NVML not read (--no-nvml, or not this '
                                'machine)'),
                         topology.read_nvlinks(None, [A]))
        links, why = topology.read_nvlinks(object(), [A])
        self.assertIsNone(links)
        self.assertIn('no NVLink calls', why)

    def test_linked_pair_read_and_shown(self):
        nvml = NvlinkNvml({A: [B] * 12, B: [A] * 12})
        links, why = topology.read_nvlinks(nvml, [A, B])
        self.assertIsNone(why)
        self.assertEqual(0, nvml.initialized)
        self.assertEqual({'reported': True, 'active': {B: 12},
                          'inactive': 0}, links[A])
        facts = self.facts(self.sim('2xA100-PCIE-40GB:vfio'), nvlink=links)
        findings = checks.check_topology(facts)
        self.assertEqual([facts_mod.OK], self.severities(findings))
        self.assertIn('NVLink: 0000:3b:00.0-0000:5e:00.0 x12',
                      findings[0].evidence)

    def test_links_partly_down_are_named_with_a_fix(self):
        nvml = NvlinkNvml({A: [B] * 10 + [None] * 2, B: [A] * 10 + [None] * 2})
        links, _ = topology.read_nvlinks(nvml, [A, B])
        facts = self.facts(self.sim('2xA100-PCIE-40GB:vfio'), nvlink=links)
        down = [f for f in checks.check_topology(facts)
                if f.severity == facts_mod.INFO]
        self.assertEqual([A, B], [f.subject for f in down])
        self.assertIn('10 of 12 links active', down[0].evidence)
        self.assertIn('XID 74', down[0].fix)

    def test_one_gpu_silent_is_said(self):
        nvml = NvlinkNvml({A: [None] * 4, B: []}, not_supported=[B])
        links, _ = topology.read_nvlinks(nvml, [A, B])
        facts = self.facts(self.sim('2xA100-PCIE-40GB:vfio'), nvlink=links)
        [finding] = checks.check_topology(facts)
        self.assertIn('no active link; unknown on 0000:5e:00.0',
                      finding.evidence)

    def test_nvml_error_is_unknown_with_the_error(self):
        class Broken(NvlinkNvml):
            def nvmlDeviceGetNvLinkState(self, handle, link):
                raise FakeNvmlError(999)
        links, why = topology.read_nvlinks(Broken({A: [B]}), [A])
        self.assertIsNone(links)
        self.assertIn('NVML error 999', why)


class TestFlavorFiles(base.BaseTestCase):

    def test_openstack_client_output_both_forms(self):
        parsed = flavors.parse([
            {'Name': 'vgpu.a', 'VCPUs': 8, 'Properties': {
                'hw:numa_nodes': '1', 'resources:CUSTOM_VGPU_X': '1'}},
            {'Name': 'm1', 'VCPUs': '2',
             'Properties': "hw:cpu_policy='dedicated', hw:numa_nodes='2'"}])
        self.assertEqual(8, parsed[0].vcpus)
        self.assertEqual({'hw:numa_nodes': '1',
                          'resources:CUSTOM_VGPU_X': '1'}, parsed[0].specs)
        self.assertEqual({'hw:cpu_policy': 'dedicated',
                          'hw:numa_nodes': '2'}, parsed[1].specs)
        self.assertTrue(flavors.is_gpu_flavor(parsed[0]))
        self.assertFalse(flavors.is_gpu_flavor(parsed[1]))

    def test_bad_files_name_the_option_and_the_fix(self):
        tmp = self.useFixture(fixtures.TempDir()).path
        exc = self.assertRaises(exception.UsageError, flavors.load,
                                os.path.join(tmp, 'missing.json'))
        self.assertIn('--flavors', str(exc))
        self.assertIn('openstack flavor list --long -f json', str(exc))
        exc = self.assertRaises(exception.UsageError, flavors.parse,
                                [{'VCPUs': 2}])
        self.assertIn('has no name', str(exc))
        exc = self.assertRaises(exception.UsageError, flavors.parse,
                                [{'Name': 'x', 'VCPUs': 'many'}])
        self.assertIn("VCPUs 'many'", str(exc))


class TestFlavorNuma(test_checks.DoctorTestCase):

    def facts_with(self, pinned, *flavor_list):
        nova = facts_mod.NovaConf(files=['nova.conf'],
                                  cpu_dedicated_set=[pinned] if pinned
                                  else [])
        return self.facts(self.sim(test_checks.write_spec(self, NODE1)),
                          nova=nova, flavors=list(flavor_list))

    def flavor(self, vcpus=8, **specs):
        return facts_mod.Flavor('vgpu.a100-2-10c', vcpus,
                                dict(VGPU, **{k.replace('_', ':', 1): v
                                              for k, v in specs.items()}))

    def test_pinned_one_node_flavor_fits_the_gpu_node(self):
        [finding] = flavors.check_flavor_numa(self.facts_with(
            '0-15,16-31', self.flavor(hw_numa_nodes='1',
                                      hw_cpu_policy='dedicated')))
        self.assertEqual(facts_mod.OK, finding.severity)

    def test_flavor_spanning_nodes_is_named_with_the_fix(self):
        [finding] = flavors.check_flavor_numa(self.facts_with(
            '0-63', self.flavor(hw_numa_nodes='2',
                                hw_cpu_policy='dedicated')))
        self.assertEqual(facts_mod.WARNING, finding.severity)
        self.assertEqual('vgpu.a100-2-10c', finding.subject)
        self.assertIn('hw:numa_nodes=2', finding.evidence)
        self.assertEqual('set hw:numa_nodes=1 on this GPU flavor',
                         finding.fix)

    def test_too_few_dedicated_cpus_on_the_gpu_node(self):
        # 16 pinned CPUs on node 0, 2 on node 1 where the GPU is.
        [finding] = flavors.check_flavor_numa(self.facts_with(
            '0-15,16-17', self.flavor(vcpus=4, hw_numa_nodes='1',
                                      hw_cpu_policy='dedicated')))
        self.assertEqual(facts_mod.WARNING, finding.severity)
        self.assertIn('node 1: 2', finding.evidence)
        self.assertIn('cpu_dedicated_set', finding.fix)

    def test_dedicated_flavor_on_a_host_without_dedicated_cpus(self):
        [finding] = flavors.check_flavor_numa(self.facts_with(
            None, self.flavor(hw_cpu_policy='dedicated')))
        self.assertEqual(facts_mod.WARNING, finding.severity)
        self.assertIn('never lands here', finding.evidence)

    def test_unpinned_flavor_is_information(self):
        [finding] = flavors.check_flavor_numa(self.facts_with(
            '0-63', self.flavor()))
        self.assertEqual(facts_mod.INFO, finding.severity)
        self.assertIn('hw:cpu_policy=dedicated', finding.fix)

    def test_only_gpu_flavors_are_checked(self):
        cpu_only = facts_mod.Flavor('m1.small', 2, {'hw:numa_nodes': '2'})
        [finding] = flavors.check_flavor_numa(self.facts_with('0-63',
                                                              cpu_only))
        self.assertEqual(facts_mod.SKIPPED, finding.severity)
        facts = self.facts_with('0-63')
        facts.flavors = None
        [finding] = flavors.check_flavor_numa(facts)
        self.assertEqual(facts_mod.SKIPPED, finding.severity)


class TestDoctorCommand(test_checks.DoctorTestCase):
    """``doctor --flavors`` end to end on a simulated host."""

    def run_doctor(self, numa_nodes):
        tmp = self.useFixture(fixtures.TempDir()).path
        spec = test_checks.write_spec(self, NODE1)
        nova = os.path.join(tmp, 'nova.conf')
        with open(nova, 'w') as stream:
            stream.write('[DEFAULT]\ncompute_driver = '
                         'gpuvirt.GpuvirtLibvirtDriver\n'
                         '[compute]\ncpu_dedicated_set = 16-31\n')
        path = os.path.join(tmp, 'flavors.json')
        with open(path, 'w') as stream:
            json.dump([{'Name': 'vgpu.a100-2-10c', 'VCPUs': 8,
                        'Properties': dict(VGPU, **{
                            'hw:cpu_policy': 'dedicated',
                            'hw:numa_nodes': numa_nodes})}], stream)
        cli = self.useFixture(cli_fixture.CliFixture()).cli
        rc, out, err = cli('doctor', '--simulate', spec, '--nova-conf',
                           nova, '--flavors', path, '-f', 'json')
        return rc, {f['check']: f for f in json.loads(out)}, err

    def test_good_flavor_exits_0(self):
        rc, findings, err = self.run_doctor('1')
        self.assertEqual(0, rc, (err, findings))
        self.assertEqual('ok', findings['flavor-numa']['severity'])

    def test_flavor_spanning_nodes_exits_1_naming_it(self):
        rc, findings, err = self.run_doctor('2')
        self.assertEqual(1, rc, err)
        self.assertEqual('warning', findings['flavor-numa']['severity'])
        self.assertIn('hw:numa_nodes=1', findings['flavor-numa']['fix'])

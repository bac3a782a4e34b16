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

"""Each doctor check against a good and a broken simulated host.

The facts come from the simulator through the doctor's own adapters
(``gather.read_platform``), so each check is tried on what a real host's
files would show; what no simulated host can show (another machine's
QEMU, nova.conf values) is plain data.
"""

import os
import subprocess

import fixtures
from oslotest import base
import pynvml

from gpuvirt_nova.doctor import checks
from gpuvirt_nova.doctor import facts as facts_mod
from gpuvirt_nova.doctor import gather
from gpuvirt_nova.doctor import services
from gpuvirt_nova.hardware import discover
from tests import sim_fixture

A100 = '2xA100-PCIE-40GB:mig'


def write_spec(test, text):
    path = os.path.join(test.useFixture(fixtures.TempDir()).path,
                        'host.yaml')
    with open(path, 'w') as stream:
        stream.write(text)
    return path


class DoctorTestCase(base.BaseTestCase):

    def sim(self, spec=A100):
        return self.useFixture(sim_fixture.SimulatedHostFixture(spec)).host

    def facts(self, sim_host, **fields):
        host = discover.discover_host(sim_host)
        facts = facts_mod.HostFacts(
            hostname=host.hostname, host=host, root=sim_host.sysfs_root,
            simulated=True, **gather.read_platform(sim_host.sysfs_root, host))
        for name, value in fields.items():
            setattr(facts, name, value)
        return facts

    def severities(self, findings):
        return sorted({f.severity for f in findings})

    def assertErrors(self, findings, check, count=None):
        errors = [f for f in findings if f.severity == facts_mod.ERROR]
        self.assertTrue(errors, findings)
        self.assertEqual({check}, {f.check for f in errors})
        for finding in errors:
            self.assertTrue(finding.fix)
            self.assertTrue(finding.evidence)
        if count is not None:
            self.assertEqual(count, len(errors))
        return errors

    def assertClean(self, findings):
        self.assertFalse([f for f in findings if f.severity in (
            facts_mod.WARNING, facts_mod.ERROR)], findings)


class TestHealthyHost(DoctorTestCase):

    def test_every_check_passes(self):
        findings = services.run_host(self.facts(self.sim()))
        self.assertClean(findings)
        self.assertEqual(0, facts_mod.exit_code(findings))
        ids = {f.check for f in findings}
        for check in ('iommu', 'vfio-modules', 'nvidia-driver', 'vgpu-mode',
                      'sriov-vfs', 'mig-reset', 'numa-affinity', 'layout',
                      'nova-conf', 'versions', 'privsep', 'catalog-drift'):
            self.assertIn(check, ids)


class TestIommu(DoctorTestCase):

    def test_on(self):
        findings = checks.check_iommu(self.facts(self.sim()))
        self.assertEqual([facts_mod.OK], self.severities(findings))
        self.assertIn('intel_iommu=on', findings[0].evidence)

    def test_off(self):
        path = write_spec(self, 'iommu: false\ngpus:\n'
                          '  - {model: A100-PCIE-40GB, mode: mig}\n')
        facts = self.facts(self.sim(path))
        self.assertEqual(0, facts.iommu_groups)
        self.assertNotIn('iommu', facts.cmdline)
        [error] = self.assertErrors(checks.check_iommu(facts), 'iommu')
        self.assertIn('0000:3b:00.0', error.evidence)
        self.assertIn('intel_iommu=on', error.fix)


class TestVfioModules(DoctorTestCase):

    def test_loaded(self):
        self.assertClean(checks.check_vfio_modules(self.facts(self.sim())))

    def test_mdev_hosts_need_mdev(self):
        facts = self.facts(self.sim('1xT4:mdev'))
        self.assertIn('mdev', checks.needed_modules(facts))
        self.assertClean(checks.check_vfio_modules(facts))
        facts.modules -= {'mdev', 'vfio_pci'}
        [error] = self.assertErrors(checks.check_vfio_modules(facts),
                                    'vfio-modules')
        self.assertIn('mdev, vfio_pci', error.evidence)
        self.assertIn('modprobe mdev vfio-pci', error.fix)


class TestNvidiaDriver(DoctorTestCase):

    def test_version_named(self):
        [finding] = checks.check_nvidia_driver(self.facts(self.sim()))
        self.assertEqual(facts_mod.OK, finding.severity)
        self.assertIn('550.127.06', finding.evidence)

    def test_not_loaded(self):
        facts = self.facts(self.sim())
        facts.host.driver_version = None
        self.assertErrors(checks.check_nvidia_driver(facts), 'nvidia-driver')

    def test_vendor_vfio_needs_r550(self):
        path = write_spec(self, 'driver_version: "535.216.01"\ngpus:\n'
                          '  - {model: A100-PCIE-40GB, mode: vfio}\n')
        self.assertErrors(checks.check_nvidia_driver(self.facts(
            self.sim(path))), 'nvidia-driver', 1)

    def test_no_gpu(self):
        facts = self.facts(self.sim())
        facts.host.gpus = []
        self.assertErrors(checks.check_nvidia_driver(facts), 'nvidia-driver')


class TestSriovVfs(DoctorTestCase):

    def test_enabled(self):
        self.assertClean(checks.check_sriov_vfs(self.facts(self.sim())))

    def test_disabled(self):
        path = write_spec(self, 'gpus:\n  - {model: A100-PCIE-40GB, count: '
                          '2, mode: vfio, vfs_enabled: false}\n')
        errors = self.assertErrors(checks.check_sriov_vfs(
            self.facts(self.sim(path))), 'sriov-vfs', 2)
        self.assertIn('sriov-manage -e 0000:3b:00.0', errors[0].fix)

    def test_disabled_by_a_reboot(self):
        sim_host = self.sim('1xA100-PCIE-40GB:vfio')
        sim_host.reboot()
        self.assertErrors(checks.check_sriov_vfs(self.facts(sim_host)),
                          'sriov-vfs', 1)


class TestMigReset(DoctorTestCase):

    def test_nothing_pending(self):
        self.assertClean(checks.check_mig_reset(self.facts(self.sim())))

    def test_pending(self):
        sim_host = self.sim('1xA100-PCIE-40GB:mig')
        nvml = sim_host.nvml()
        nvml.nvmlInit()
        nvml.nvmlDeviceSetMigMode(nvml.nvmlDeviceGetHandleByIndex(0),
                                  pynvml.NVML_DEVICE_MIG_DISABLE)
        [error] = self.assertErrors(checks.check_mig_reset(
            self.facts(sim_host)), 'mig-reset')
        self.assertIn('pending off', error.evidence)
        self.assertIn('nvidia-smi -r -i 0000:3b:00.0', error.fix)

    def test_hopper_needs_no_reset(self):
        sim_host = self.sim('1xH100-PCIE-80GB:mig')
        nvml = sim_host.nvml()
        nvml.nvmlInit()
        nvml.nvmlDeviceSetMigMode(nvml.nvmlDeviceGetHandleByIndex(0),
                                  pynvml.NVML_DEVICE_MIG_DISABLE)
        self.assertClean(checks.check_mig_reset(self.facts(sim_host)))


class TestNumaAffinity(DoctorTestCase):

    SPEC = 'gpus:\n  - {model: A100-PCIE-40GB, mode: mig, numa_node: 1}\n'

    def pinned(self, cpus):
        return facts_mod.NovaConf(files=['nova.conf'],
                                  cpu_dedicated_set=[cpus])

    def test_local_cpus(self):
        facts = self.facts(self.sim(write_spec(self, self.SPEC)),
                           nova=self.pinned('0-15,16-19'))
        [finding] = checks.check_numa_affinity(facts)
        self.assertEqual(facts_mod.OK, finding.severity)
        self.assertIn('16-19', finding.evidence)

    def test_wrong_node(self):
        facts = self.facts(self.sim(write_spec(self, self.SPEC)),
                           nova=self.pinned('0-15'))
        [error] = self.assertErrors(checks.check_numa_affinity(facts),
                                    'numa-affinity')
        self.assertIn('NUMA node 1', error.evidence)
        self.assertIn('16-31,48-63', error.fix)

    def test_unpinned_is_information(self):
        findings = checks.check_numa_affinity(self.facts(self.sim()))
        self.assertEqual([facts_mod.INFO], self.severities(findings))

    def test_cpu_set_syntax(self):
        self.assertEqual({0, 1, 2, 5}, checks.parse_cpu_set('0-3,^3,5'))
        self.assertEqual('0-2,5', checks.format_cpu_set({0, 1, 2, 5}))
        self.assertRaises(ValueError, checks.parse_cpu_set, '5-1')


class TestLayout(DoctorTestCase):

    LAYOUT = ('gpu_cluster:\n  nodes:\n    - host: sim-host\n      gpus:\n'
              '        - type: A100-40GB\n          vgpus:\n'
              '            - {name: a, memory: 10GB, compute: 25%}\n')

    def planned(self, sim_host):
        path = write_spec(self, self.LAYOUT)
        facts = self.facts(sim_host)
        facts.plan, facts.targets, facts.layout_error = gather.layout_plan(
            path, facts.host, 'sim-host')
        return facts

    def test_not_applied_is_a_warning(self):
        findings = checks.check_layout(self.planned(self.sim()))
        self.assertEqual({facts_mod.WARNING},
                         {f.severity for f in findings})
        self.assertIn('layout apply', findings[0].fix)

    def test_applied(self):
        from gpuvirt_nova.layout import carve
        from gpuvirt_nova.layout import hostctx
        from gpuvirt_nova.layout import spec as layout_spec

        sim_host = self.sim()
        context = hostctx.simulated(sim_root=sim_host.sysfs_root)
        carve.carve(context, layout_spec.load_text(self.LAYOUT), 'sim-host')
        self.assertClean(checks.check_layout(self.planned(sim_host)))

    def test_no_layout_is_skipped(self):
        self.assertEqual([facts_mod.SKIPPED], self.severities(
            checks.check_layout(self.facts(self.sim()))))

    def test_bad_layout_is_an_error(self):
        facts = self.facts(self.sim(), layout_error='layout.yaml: bad')
        self.assertErrors(checks.check_layout(facts), 'layout')


class TestCatalogDrift(DoctorTestCase):

    def test_driver_names_a_type_otherwise(self):
        facts = self.facts(self.sim('1xA100-PCIE-40GB:vfio'))
        self.assertClean(checks.check_catalog_drift(facts))
        gpu = facts.host.gpus[0]
        name, type_id = sorted(gpu.vgpu_type_ids.items())[0]
        gpu.vgpu_type_ids = {'NVIDIA A100-99C': type_id}
        findings = checks.check_catalog_drift(facts)
        self.assertEqual([facts_mod.WARNING], self.severities(findings))
        self.assertIn('A100-99C', findings[0].evidence)

    def test_unknown_model(self):
        facts = self.facts(self.sim('1xA100-PCIE-40GB:vfio'))
        facts.host.gpus[0].model = 'NVIDIA B999'
        self.assertEqual([facts_mod.WARNING], self.severities(
            checks.check_catalog_drift(facts)))


class TestNovaConf(DoctorTestCase):

    def nova(self, **values):
        return facts_mod.NovaConf(files=['nova.conf'], **values)

    def test_clean(self):
        facts = self.facts(self.sim(), nova=self.nova(
            compute_driver=[checks.OUR_DRIVER]))
        self.assertClean(services.check_nova_conf(facts))

    def test_enabled_mdev_types(self):
        facts = self.facts(self.sim(), nova=self.nova(
            enabled_mdev_types=['nvidia-471']))
        self.assertErrors(services.check_nova_conf(facts), 'nova-conf')

    def test_device_spec_for_nvidia(self):
        facts = self.facts(self.sim(), nova=self.nova(pci_device_spec=[
            '{"vendor_id": "8086", "product_id": "1572"}',
            '{"vendor_id": "10de", "product_id": "20f1"}']))
        [error] = self.assertErrors(services.check_nova_conf(facts),
                                    'nova-conf')
        self.assertIn('0000:3b:00.0, 0000:5e:00.0', error.evidence)

    def test_device_spec_for_another_gpu(self):
        facts = self.facts(self.sim(), nova=self.nova(pci_device_spec=[
            '{"vendor_id": "10de", "address": "0000:af:00.0"}']))
        self.assertClean(services.check_nova_conf(facts))

    def test_reader_keeps_repeated_keys(self):
        path = write_spec(self, '[DEFAULT]\ncompute_driver = libvirt.'
                          'LibvirtDriver\n[pci]\ndevice_spec = {"a": 1}\n'
                          '# device_spec = {"c": 3}\ndevice_spec = {"b": 2}'
                          '\n[compute]\ncpu_dedicated_set = 2-5\n')
        nova = gather.read_nova_conf([path, '/nonexistent/nova.conf'])
        self.assertEqual([path], nova.files)
        self.assertEqual(['{"a": 1}', '{"b": 2}'], nova.pci_device_spec)
        self.assertEqual(['2-5'], nova.cpu_dedicated_set)
        facts = self.facts(self.sim(), nova=nova)
        self.assertEqual([facts_mod.WARNING], self.severities(
            services.check_nova_conf(facts)))


class TestVersions(DoctorTestCase):

    def versions(self, spec=A100, **versions):
        return services.check_versions(self.facts(self.sim(spec),
                                                  versions=versions))

    def test_simulated_is_skipped(self):
        self.assertEqual([facts_mod.SKIPPED], self.severities(
            services.check_versions(self.facts(self.sim()))))

    def test_new_enough(self):
        self.assertClean(self.versions(libvirt='10.0.0',
                                       qemu='QEMU emulator version 8.2.2',
                                       mdevctl=None))

    def test_too_old_for_live_migration(self):
        findings = self.versions(libvirt='8.0.0', qemu='7.2.0')
        self.assertEqual(2, sum(1 for f in findings
                                if f.severity == facts_mod.WARNING))

    def test_missing(self):
        self.assertErrors(self.versions(libvirt=None, qemu='8.2.0'),
                          'versions', 1)

    def test_mdev_host_needs_mdevctl(self):
        [error] = self.assertErrors(self.versions(
            '1xT4:mdev', libvirt='10.0.0', qemu='8.2.0', mdevctl=None),
            'versions')
        self.assertEqual('mdevctl', error.subject)


class TestPrivsep(DoctorTestCase):

    def privsep(self, **info):
        return services.check_privsep(self.facts(self.sim(), privsep=info))

    def test_root(self):
        self.assertClean(self.privsep(euid=0, helper='/usr/bin/privsep-'
                                      'helper'))

    def test_sudo(self):
        self.assertClean(self.privsep(euid=1000, helper='/x', sudo=True))

    def test_no_rights(self):
        findings = self.privsep(euid=1000, helper='/x', sudo=False)
        self.assertEqual([facts_mod.WARNING], self.severities(findings))

    def test_no_helper(self):
        self.assertErrors(self.privsep(euid=0, helper=None), 'privsep')


class TestHostGpus(DoctorTestCase):

    def test_one_model(self):
        self.assertClean(checks.check_host_gpus(self.facts(self.sim())))

    def test_mixed_models_are_information(self):
        findings = checks.check_host_gpus(self.facts(self.sim(
            '1xA100-PCIE-40GB:vfio+1xH100-PCIE-80GB:vfio')))
        self.assertEqual([facts_mod.INFO], self.severities(findings))

    def test_topology_by_numa_node(self):
        findings = checks.check_topology(self.facts(self.sim(
            '4xA100-PCIE-40GB:vfio')))
        self.assertEqual([facts_mod.INFO], self.severities(findings))
        self.assertIn('NUMA node 1: 0000:86:00.0', findings[0].evidence)


class TestApplyRunning(base.BaseTestCase):
    """A lock's pid counts only while that process lives."""

    def test_live_and_dead_holders(self):
        from gpuvirt_nova.layout import hostlock

        locks = self.useFixture(fixtures.TempDir()).path
        dead = subprocess.Popen(['true'])
        dead.wait()
        for host, pid in (('live', os.getpid()), ('dead', dead.pid)):
            with open(hostlock.lock_file(locks, host) + '.pid', 'w') as f:
                f.write('%d\n' % pid)
        self.assertEqual({'live': os.getpid()}, gather.apply_running(
            locks, ['live', 'dead', 'none']))

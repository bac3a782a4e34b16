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

"""Device -> libvirt domain -> Nova instance -> project."""

from oslotest import base

from gpuvirt_nova.monitor import attribution
from gpuvirt_nova.monitor import sample

INSTANCE = '8f7c2c1e-0b7a-4d41-9a55-3f1b2e4c5d6a'
PROJECT = '6a1b2c3d4e5f40718293a4b5c6d7e8f9'
MDEV = 'b1e3f0a2-5c6d-4e7f-8091-a2b3c4d5e6f7'

DOMAIN_XML = '''<domain type="kvm">
  <uuid>%(uuid)s</uuid>
  <name>instance-0000002a</name>
  <metadata>
    <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
      <nova:package version="34.0.0"/>
      <nova:name>train-1</nova:name>
      <nova:owner>
        <nova:user uuid="u-1">alice</nova:user>
        <nova:project uuid="%(project)s">research</nova:project>
      </nova:owner>
    </nova:instance>
  </metadata>
  <devices>
    <hostdev mode="subsystem" type="pci" managed="no">
      <source><address domain="0x0000" bus="0x3b" slot="0x00"
                       function="0x4"/></source>
    </hostdev>
    <hostdev mode="subsystem" type="mdev" model="vfio-pci">
      <source><address uuid="%(mdev)s"/></source>
    </hostdev>
  </devices>
</domain>''' % {'uuid': INSTANCE.upper(), 'project': PROJECT, 'mdev': MDEV}


class AttributionTests(base.BaseTestCase):

    def test_domain_metadata(self):
        domain = attribution.parse_domain(DOMAIN_XML)
        self.assertEqual(INSTANCE, domain.uuid)
        self.assertEqual('train-1', domain.owner.instance_name)
        self.assertEqual(PROJECT, domain.owner.project_id)
        self.assertEqual('research', domain.owner.project_name)
        self.assertEqual('u-1', domain.owner.user_id)
        self.assertEqual({('vf', '0000:3b:00.4'), ('mdev', MDEV)},
                         set(domain.devices))

    def test_a_domain_without_nova_metadata_has_its_uuid_only(self):
        domain = attribution.parse_domain(
            '<domain><uuid>%s</uuid><name>x</name></domain>' % INSTANCE)
        self.assertEqual(INSTANCE, domain.owner.instance_uuid)
        self.assertIsNone(domain.owner.project_id)

    def test_bad_xml_is_a_value_error(self):
        self.assertRaises(ValueError, attribution.parse_domain, '<domain')

    def host(self, *vgpus):
        return sample.HostSample(
            hostname='n', timestamp=0,
            gpus=[sample.GpuSample(address='0000:3b:00.0'),
                  sample.GpuSample(address='0000:5e:00.0')],
            vgpus=list(vgpus))

    def test_matched_by_vm_id(self):
        vgpu = sample.VgpuSample(gpu_address='0000:3b:00.0', vgpu_id=1,
                                 vm_id=INSTANCE, device='0000:3b:00.9',
                                 device_kind='vf')
        result = attribution.attribute(
            self.host(vgpu), [attribution.parse_domain(DOMAIN_XML)])
        self.assertEqual(PROJECT, vgpu.owner.project_id)
        self.assertEqual((INSTANCE,), result.gpus[0].instances)
        self.assertEqual((), result.gpus[1].instances)

    def test_matched_by_device_when_nvml_gives_no_vm_id(self):
        vf = sample.VgpuSample(gpu_address='0000:3b:00.0', vgpu_id=1,
                               device='0000:3b:00.4', device_kind='vf')
        mdev = sample.VgpuSample(gpu_address='0000:5e:00.0', vgpu_id=2,
                                 device=MDEV.upper(), device_kind='mdev')
        other = sample.VgpuSample(gpu_address='0000:5e:00.0', vgpu_id=3,
                                  device='0000:5e:00.5', device_kind='vf')
        attribution.attribute(self.host(vf, mdev, other),
                              [attribution.parse_domain(DOMAIN_XML)])
        self.assertEqual(INSTANCE, vf.owner.instance_uuid)
        self.assertEqual('train-1', mdev.owner.instance_name)
        self.assertIsNone(other.owner.instance_uuid)

    def test_unreachable_libvirt_gives_no_owners(self):
        warnings = []
        self.assertEqual([], attribution.libvirt_domains(
            'qemu+unix:///system?socket=/nonexistent/sock', warnings))
        self.assertTrue(warnings)

    def test_libvirt_test_driver(self):
        # libvirt's own test driver lists its default domain.
        domains = attribution.libvirt_domains('test:///default')
        self.assertEqual(['test'], [d.name for d in domains])

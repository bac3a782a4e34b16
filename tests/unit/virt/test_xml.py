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

from xml.etree import ElementTree as etree

from oslotest import base

from gpuvirt_nova.virt import assign
from gpuvirt_nova.virt import xml as vxml

DOMAIN = """<domain type='kvm'><name>i1</name><devices>
<disk type='file'/></devices></domain>"""


class TestHostdevXml(base.BaseTestCase):

    def test_mdev_hostdev(self):
        el = vxml.mdev_hostdev('4b20d080-1b54-4048-85b3-a6a62d165c01')
        self.assertEqual(('hostdev', 'subsystem', 'mdev', 'vfio-pci', 'off'),
                         (el.tag, el.get('mode'), el.get('type'),
                          el.get('model'), el.get('display')))
        self.assertEqual('4b20d080-1b54-4048-85b3-a6a62d165c01',
                         el.find('source/address').get('uuid'))

    def test_pci_hostdev_is_unmanaged(self):
        el = vxml.pci_hostdev('0000:3b:00.5')
        self.assertEqual('no', el.get('managed'))
        self.assertEqual('pci', el.get('type'))
        address = el.find('source/address')
        self.assertEqual(('0x0000', '0x3b', '0x00', '0x5'),
                         (address.get('domain'), address.get('bus'),
                          address.get('slot'), address.get('function')))

    def test_add_hostdevs_then_read_keys_back(self):
        devices = [
            assign.Device(assign.KIND_VF, '0000:3b:00.0', 'A100-2-10C',
                          address='0000:3b:00.4'),
            assign.Device(assign.KIND_MDEV, '0000:5e:00.0', 'A100-10C',
                          mdev_uuid='aaaa-bbbb', parent='0000:5e:00.4',
                          mdev_type='nvidia-699'),
        ]
        xml = vxml.add_hostdevs(DOMAIN, devices)
        self.assertEqual({d.key for d in devices}, vxml.hostdev_keys(xml))
        # Adding again does not duplicate.
        again = vxml.add_hostdevs(xml, devices)
        self.assertEqual(2, len(etree.fromstring(again).findall(
            'devices/hostdev')))
        self.assertIsNotNone(etree.fromstring(again).find('devices/disk'))

    def test_hostdev_keys_reads_libvirt_hex_forms(self):
        xml = ("<domain><devices><hostdev mode='subsystem' type='pci'>"
               "<source><address domain='0' bus='0x3B' slot='0x0' "
               "function='0x4'/></source></hostdev></devices></domain>")
        self.assertEqual({(assign.KIND_VF, '0000:3b:00.4')},
                         vxml.hostdev_keys(xml))

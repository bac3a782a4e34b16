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

"""libvirt XML for vGPU devices: guest hostdevs and mdev node devices.

Pure string-in, string-out helpers (ElementTree), so the XML a guest gets
is testable without libvirt.
"""

from xml.etree import ElementTree as etree

from gpuvirt_nova.hardware import model
from gpuvirt_nova.virt import assign


def mdev_hostdev(mdev_uuid):
    """``<hostdev type='mdev' managed='no' model='vfio-pci' display='off'>``.

    ``managed='no'`` as Nova writes its own: Nova parses these hostdevs
    back (suspend detaches them, resume re-attaches them) and cannot
    format one without it.
    """
    hostdev = etree.Element('hostdev', mode='subsystem', type='mdev',
                            managed='no', model='vfio-pci', display='off')
    source = etree.SubElement(hostdev, 'source')
    etree.SubElement(source, 'address', uuid=mdev_uuid)
    return hostdev


def pci_hostdev(address):
    """A VF as ``<hostdev type='pci' managed='no'>``.

    managed='no': the VF stays bound to nvidia's VFIO variant driver,
    which is what makes its ``current_vgpu_type`` take effect; libvirt
    must not rebind it to vfio-pci.
    """
    match = model.PCI_ADDRESS_RE.match(model.normalize_pci_address(address))
    hostdev = etree.Element('hostdev', mode='subsystem', type='pci',
                            managed='no')
    source = etree.SubElement(hostdev, 'source')
    etree.SubElement(source, 'address',
                     domain='0x' + match.group('domain'),
                     bus='0x' + match.group('bus'),
                     slot='0x' + match.group('slot'),
                     function='0x' + match.group('function'))
    return hostdev


def hostdev_for(device):
    if device.kind == assign.KIND_VF:
        return pci_hostdev(device.address)
    return mdev_hostdev(device.mdev_uuid)


def add_hostdevs(domain_xml, devices):
    """Return ``domain_xml`` with one hostdev per device appended.

    An mdev UUID or VF address already present is not added twice.
    """
    root = etree.fromstring(domain_xml)
    devices_el = root.find('devices')
    if devices_el is None:
        devices_el = etree.SubElement(root, 'devices')
    present = hostdev_keys(domain_xml)
    for device in devices:
        if device.key not in present:
            devices_el.append(hostdev_for(device))
            present.add(device.key)
    return etree.tostring(root, encoding='unicode')


def _int_attr(element, name):
    return int(element.get(name, '0'), 0)


def hostdev_keys(domain_xml):
    """Device keys (assign.Device.key) of every hostdev of a domain."""
    root = etree.fromstring(domain_xml)
    keys = set()
    for hostdev in root.iter('hostdev'):
        address = hostdev.find('source/address')
        if address is None:
            continue
        if hostdev.get('type') == 'mdev' and address.get('uuid'):
            keys.add((assign.KIND_MDEV, address.get('uuid')))
        elif hostdev.get('type', 'pci') == 'pci':
            keys.add((assign.KIND_VF, '%04x:%02x:%02x.%x' % (
                _int_attr(address, 'domain'), _int_attr(address, 'bus'),
                _int_attr(address, 'slot'), _int_attr(address, 'function'))))
    return keys

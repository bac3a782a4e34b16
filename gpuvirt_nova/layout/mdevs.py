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

"""The door through which the carve creates and removes mediated devices.

On a real host mdevs go through libvirt's node-device API: defined,
started and marked autostart, so mdevctl persists them and they come back
with the same UUID after a host reboot, and libvirt (like upstream Nova
since 32) knows every one of them. :class:`LibvirtMdevs` is that door;
``gpuvirt-nova layout apply`` is its only user (nova-compute never creates
or removes an mdev). :class:`SimulatedMdevs` plays libvirt and mdevctl
for a simulated host: the same sysfs writes the kernel sees, and the
persistence mark the simulator's reboot honours.
"""

from xml.etree import ElementTree as etree

from gpuvirt_nova.hardware import model

MDEV_BUS = '/sys/class/mdev_bus'
MDEV_DEVICES = '/sys/bus/mdev/devices'
#: Where libvirt lives on a compute host (Nova's default connection).
DEFAULT_URI = 'qemu:///system'


def nodedev_name(address):
    """``'0000:3b:00.4'`` -> ``'pci_0000_3b_00_4'`` (libvirt's name)."""
    address = model.normalize_pci_address(address)
    return 'pci_' + address.replace(':', '_').replace('.', '_')


def address_from_nodedev_name(name):
    """``'pci_0000_3b_00_4'`` -> ``'0000:3b:00.4'``."""
    parts = name[len('pci_'):].split('_')
    return '%s:%s:%s.%s' % tuple(parts)


def mdev_nodedev_name(mdev_uuid, parent_address):
    """The name libvirt gives a defined mdev node device."""
    return 'mdev_%s_%s' % (mdev_uuid.replace('-', '_'),
                           nodedev_name(parent_address))


def mdev_nodedev(mdev_uuid, parent_address, mdev_type):
    """Node-device XML for ``virNodeDeviceDefineXML`` of one mdev."""
    device = etree.Element('device')
    etree.SubElement(device, 'parent').text = nodedev_name(parent_address)
    capability = etree.SubElement(device, 'capability', type='mdev')
    etree.SubElement(capability, 'type', id=mdev_type)
    etree.SubElement(capability, 'uuid').text = mdev_uuid
    return etree.tostring(device, encoding='unicode')


def parse_mdev_nodedev(xml):
    """(uuid, parent address, mdev type) from mdev node-device XML."""
    root = etree.fromstring(xml)
    capability = root.find("capability[@type='mdev']")
    return (capability.findtext('uuid'),
            address_from_nodedev_name(root.findtext('parent')),
            capability.find('type').get('id'))


class LibvirtMdevs(object):
    """mdevs through libvirt's node-device API (a real host).

    :param get_connection: callable returning a libvirt connection;
        default: open ``qemu:///system`` on first use, so a layout that
        creates no mdev never needs libvirt.
    """

    def __init__(self, get_connection=None):
        self._get_connection = get_connection
        self._connection = None

    def connection(self):
        if self._connection is None:
            if self._get_connection is not None:
                self._connection = self._get_connection()
            else:
                import libvirt  # imported late: only hosts with mdevs
                self._connection = libvirt.open(DEFAULT_URI)
        return self._connection

    def create(self, parent, mdev_type, mdev_uuid):
        """Define, start and autostart one mdev (persistent)."""
        nodedev = self.connection().nodeDeviceDefineXML(
            mdev_nodedev(mdev_uuid, parent, mdev_type), 0)
        nodedev.create()
        nodedev.setAutostart(1)

    def remove(self, parent, mdev_uuid):
        """Stop and undefine one mdev (persistently)."""
        nodedev = self.connection().nodeDeviceLookupByName(
            mdev_nodedev_name(mdev_uuid, parent))
        if nodedev.isActive():
            nodedev.destroy()
        if nodedev.isPersistent():
            nodedev.undefine()


class SimulatedMdevs(object):
    """What libvirt and mdevctl do, for a simulated host.

    The kernel's ``create``/``remove`` writes go through the simulator's
    HardwareWriter; ``set_mdev_persistent`` is mdevctl's autostart
    definition, which the simulated reboot keeps.
    """

    def __init__(self, sim_host):
        self.sim_host = sim_host

    def create(self, parent, mdev_type, mdev_uuid):
        self.sim_host.writer().write_sysfs(
            '%s/%s/mdev_supported_types/%s/create' % (MDEV_BUS, parent,
                                                      mdev_type), mdev_uuid)
        self.sim_host.set_mdev_persistent(mdev_uuid, True)

    def remove(self, parent, mdev_uuid):
        self.sim_host.writer().write_sysfs(
            '%s/%s/remove' % (MDEV_DEVICES, mdev_uuid), '1')

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

"""The device manager: makes chosen vGPU devices real, and tears them down.

Thin I/O adapter over two doors, never raw sysfs:

* mediated devices go through libvirt's node-device API (define, create,
  autostart), which persists them through mdevctl so they come back after
  a host reboot;
* the vendor-specific VFIO interface (vGPU 17+) sets the type of an SR-IOV
  VF by writing ``nvidia/current_vgpu_type`` through the privileged
  HardwareWriter, and releases it by writing ``0``.

Decisions (which device) are made by :mod:`gpuvirt_nova.virt.assign`.
"""

from oslo_log import log as logging

from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.virt import assign
from gpuvirt_nova.virt import xml as vxml

LOG = logging.getLogger(__name__)

#: libvirt's VIR_ERR_NO_NODE_DEVICE.
_NO_NODE_DEVICE = 66


class DeviceError(exception.GpuvirtError):
    """A device could not be made ready; the guest must not start."""


def vf_type_path(vf_address):
    return '/sys/bus/pci/devices/%s/nvidia/current_vgpu_type' % vf_address


def vgpu_type_id(gpu_model_name, type_name):
    """The NVIDIA numeric id of a type name, from the catalog."""
    gpu_model = catalog.load().find(gpu_model_name)
    if gpu_model is None:
        raise DeviceError(
            'GPU model %s is not in the catalog: cannot tell the type id of '
            '%s' % (gpu_model_name, type_name))
    try:
        return gpu_model.vgpu_type(type_name).type_id
    except KeyError as exc:
        raise DeviceError(exc.args[0])


class DeviceManager(object):
    """Prepare and release devices on one host.

    :param writer: a HardwareWriter (privsep in production, the
        simulator's in tests).
    :param get_connection: callable returning the libvirt connection.
    """

    def __init__(self, writer, get_connection):
        self.writer = writer
        self.get_connection = get_connection

    def prepare(self, devices, host):
        """Make every device exist with its type; all or nothing.

        :raises DeviceError: after undoing what this call changed.
        """
        done = []
        try:
            for device in devices:
                if self._prepare_one(device, host):
                    done.append(device)
        except Exception as exc:
            for device in reversed(done):
                self._undo(device)
            if isinstance(exc, DeviceError):
                raise
            raise DeviceError('cannot prepare vGPU device %s on GPU %s: %s'
                              % (device.key[1], device.gpu_address, exc))

    def _prepare_one(self, device, host):
        """Return True when something was changed."""
        gpu = host.gpu(device.gpu_address)
        if device.kind == assign.KIND_VF:
            vf = gpu.vf(device.address) if gpu else None
            if vf is not None and vf.current_vgpu_type == device.vgpu_type:
                return False
            type_id = vgpu_type_id(gpu.model, device.vgpu_type)
            LOG.info('setting vGPU type %s (%d) on VF %s', device.vgpu_type,
                     type_id, device.address)
            self.writer.write_sysfs(vf_type_path(device.address),
                                    str(type_id))
            return True
        if gpu is not None and any(m.uuid == device.mdev_uuid
                                   for m in gpu.mdevs):
            return False
        self.create_mdev(device)
        return True

    def _undo(self, device):
        try:
            if device.kind == assign.KIND_VF:
                self.release_vf(device.address)
            else:
                self.remove_mdev(device.mdev_uuid, device.parent)
        except Exception as exc:  # keep undoing the others
            LOG.warning('could not undo vGPU device %s: %s', device.key[1],
                        exc)

    def create_mdev(self, device):
        """Define, start and autostart an mdev through libvirt."""
        LOG.info('creating mdev %s of type %s on %s', device.mdev_uuid,
                 device.mdev_type, device.parent)
        conn = self.get_connection()
        nodedev = conn.nodeDeviceDefineXML(
            vxml.mdev_nodedev(device.mdev_uuid, device.parent,
                              device.mdev_type), 0)
        nodedev.create()
        nodedev.setAutostart(1)

    def remove_mdev(self, mdev_uuid, parent):
        """Stop and undefine an mdev (persistently)."""
        name = 'mdev_%s_%s' % (mdev_uuid.replace('-', '_'),
                               vxml.nodedev_name(parent))
        LOG.info('removing mdev %s', mdev_uuid)
        nodedev = self.get_connection().nodeDeviceLookupByName(name)
        nodedev.destroy()
        nodedev.undefine()

    def release_vf(self, vf_address):
        """Clear a VF's vGPU type so its capacity returns to the GPU."""
        LOG.info('releasing vGPU type of VF %s', vf_address)
        self.writer.write_sysfs(vf_type_path(vf_address), '0')

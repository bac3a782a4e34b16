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

"""How a host's GPUs reach each other: PCIe paths and NVLink.

What ``nvidia-smi topo -m`` shows, read from what the kernel and NVML
expose: each GPU's PCIe path under ``/sys/devices`` (sysfs, so a
simulated host is read as a real one) and, where NVML has the calls, its
NVLink links and their peers. What cannot be read is reported as
unknown with the reason, never guessed. The adapters (``read_*``) only
read; :func:`pcie_link` is pure.
"""

import os

from gpuvirt_nova.hardware import nvml as nvml_mod
from gpuvirt_nova.hardware import sysfs

#: The classes ``nvidia-smi topo -m`` prints, nearest first. PIX here
#: also stands for PXB: PCIe bridges below one root port.
PIX, PHB, NODE, SYS = 'PIX', 'PHB', 'NODE', 'SYS'
CLASSES = (PIX, PHB, NODE, SYS)
#: NVML error codes: a link index past the GPU's last link; no answer.
_INVALID_ARGUMENT, _NOT_SUPPORTED = 2, 3


def read_pcie_paths(root, addresses):
    """{address: [host bridge, bridges..., device]} from sysfs.

    ``/sys/bus/pci/devices/ADDRESS`` links to
    ``/sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0``: its path is
    ``['pci0000:3a', '0000:3a:00.0', '0000:3b:00.0']``. None for a GPU
    whose entry is not such a link.
    """
    devices = os.path.join(os.path.realpath(root), 'sys', 'devices')
    paths = {}
    for address in addresses:
        entry = os.path.join(root, sysfs.PCI_DEVICES, address)
        target = os.path.realpath(entry)
        if not os.path.islink(entry) or \
                not target.startswith(devices + os.sep):
            paths[address] = None
            continue
        paths[address] = os.path.relpath(target, devices).split(os.sep)
    return paths


def pcie_link(path_a, path_b, node_a, node_b):
    """The ``nvidia-smi topo -m`` class between two GPUs (pure).

    PIX: a PCIe bridge below the host bridge is shared; PHB: only the
    host bridge; NODE: different host bridges, one NUMA node; SYS: across
    NUMA nodes. None when a path is unknown.
    """
    if path_a is None or path_b is None:
        return None
    if path_a[0] != path_b[0]:
        return NODE if node_a == node_b and node_a is not None else SYS
    common = 0
    for left, right in zip(path_a[:-1], path_b[:-1]):
        if left != right:
            break
        common += 1
    return PIX if common >= 2 else PHB


def read_nvlinks(nvml, addresses):
    """({address: {'reported', 'active': {peer: n}, 'inactive'}}, None).

    Or (None, why) when NVML cannot be asked: not used, no NVLink calls
    in this NVML, or an NVML error. ``reported`` is False for a GPU whose
    NVML answers NOT_SUPPORTED (no NVLink, or a driver that does not
    say; the simulator models no NVLink and answers so): unknown, not
    "PCIe only".
    """
    if nvml is None:
        return None, 'NVML not read (--no-nvml, or not this machine)'
    if not hasattr(nvml, 'nvmlDeviceGetNvLinkState'):
        return None, 'this NVML has no NVLink calls'
    error = getattr(nvml, 'NVMLError', Exception)
    try:
        nvml.nvmlInit()
    except error as exc:
        return None, 'NVML unavailable: %s' % exc
    try:
        links = {}
        for address in addresses:
            handle = nvml.nvmlDeviceGetHandleByPciBusId(address)
            links[address] = _gpu_links(nvml, error, handle)
        return links, None
    except (error, ValueError) as exc:
        return None, 'NVML NVLink query failed: %s' % exc
    finally:
        try:
            nvml.nvmlShutdown()
        except error:
            pass


def _gpu_links(nvml, error, handle):
    active, inactive = {}, 0
    for link in range(getattr(nvml, 'NVML_NVLINK_MAX_LINKS', 18)):
        try:
            state = nvml.nvmlDeviceGetNvLinkState(handle, link)
        except error as exc:
            code = getattr(exc, 'value', None)
            if link == 0 and code == _NOT_SUPPORTED:
                return {'reported': False, 'active': {}, 'inactive': 0}
            if code in (_INVALID_ARGUMENT, _NOT_SUPPORTED):
                break  # past the GPU's last link
            raise
        if not state:
            inactive += 1
            continue
        pci = nvml.nvmlDeviceGetNvLinkRemotePciInfo(handle, link)
        peer = nvml_mod.normalize_bus_id(pci.busId)
        active[peer] = active.get(peer, 0) + 1
    return {'reported': True, 'active': active, 'inactive': inactive}

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

"""What one sampling round saw: plain data shared by every monitor module.

The sampler fills it from NVML, attribution adds who uses each vGPU, the
rules, notifications and the Prometheus endpoint only read it. Metric keys
are ours (``gpu_util``, ``fb_used_mib``...); each emitter maps them to its
own names, so a renamed DCGM field touches one table.
"""

import dataclasses

#: Per-GPU metric keys the sampler may fill, with what each means.
GPU_METRICS = {
    'fb_used_mib': 'framebuffer used (MiB)',
    'fb_free_mib': 'framebuffer free (MiB)',
    'fb_total_mib': 'framebuffer total (MiB)',
    'gpu_util': 'GPU utilization (%)',
    'mem_copy_util': 'memory (copy engine) utilization (%)',
    'enc_util': 'encoder utilization (%)',
    'dec_util': 'decoder utilization (%)',
    'pcie_tx_bytes': 'PCIe TX throughput (bytes/s)',
    'pcie_rx_bytes': 'PCIe RX throughput (bytes/s)',
    'temperature_c': 'GPU temperature (C)',
    'power_w': 'power draw (W)',
    'power_limit_w': 'enforced power limit (W)',
    'sm_clock_mhz': 'SM clock (MHz)',
    'mem_clock_mhz': 'memory clock (MHz)',
    'ecc_sbe_total': 'single-bit ECC errors, volatile',
    'ecc_dbe_total': 'double-bit ECC errors, volatile',
}

#: Per-vGPU metric keys.
VGPU_METRICS = {
    'fb_used_mib': 'framebuffer the guest uses (MiB)',
    'fb_total_mib': 'framebuffer of the vGPU type (MiB)',
    'sm_util': 'share of the GPU the vGPU used (%)',
    'mem_util': 'memory utilization of the vGPU (%)',
}

#: Per-MIG-instance (GPU instance) metric keys.
MIG_METRICS = {
    'fb_total_mib': 'framebuffer of the GPU instance (MiB)',
    'fb_used_mib': 'framebuffer used in the GPU instance (MiB)',
    'sm_util': 'share of the GPU the instance used (%)',
    'mem_util': 'memory utilization of the instance (%)',
}


@dataclasses.dataclass
class Owner:
    """Who a device belongs to: libvirt domain -> Nova instance -> project."""

    instance_uuid: str = None
    instance_name: str = None
    domain_name: str = None
    project_id: str = None
    project_name: str = None
    user_id: str = None


@dataclasses.dataclass
class VgpuSample:
    """One active vGPU (NVML vGPU instance) on a physical GPU."""

    gpu_address: str
    vgpu_id: int
    #: ``vf`` (SR-IOV VF, vendor VFIO) or ``mdev``.
    device_kind: str = None
    #: The VF's PCI address or the mdev's UUID.
    device: str = None
    vgpu_type: str = None
    #: The VM id NVML reports (the libvirt domain UUID on KVM).
    vm_id: str = None
    #: The GPU instance of a MIG-backed vGPU (None: time-sliced).
    gpu_instance_id: int = None
    owner: Owner = dataclasses.field(default_factory=Owner)
    metrics: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class MigSample:
    """One MIG GPU instance of a physical GPU, and who uses it."""

    gpu_address: str
    gpu_instance_id: int
    #: ``1g.10gb``...
    profile: str = None
    #: ``start:size`` in memory slices.
    placement: str = None
    #: The VF or mdev of the vGPU on it (None: no guest).
    device_kind: str = None
    device: str = None
    vgpu_type: str = None
    owner: Owner = dataclasses.field(default_factory=Owner)
    metrics: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class GpuSample:
    """One physical GPU."""

    address: str
    model: str = None
    index: int = None
    uuid: str = None
    #: False when NVML says the GPU is lost (fell off the bus).
    present: bool = True
    metrics: dict = dataclasses.field(default_factory=dict)
    #: XID errors seen since the previous sample, oldest first.
    xids: list = dataclasses.field(default_factory=list)
    #: The last XID error seen on this GPU since the monitor started.
    last_xid: int = None
    #: NVML features this GPU (or driver) does not have: fewer metrics.
    unsupported: tuple = ()
    #: Domains (instance UUIDs) with a vGPU on this GPU.
    instances: tuple = ()


@dataclasses.dataclass
class HostSample:
    """Everything one round saw on one host."""

    hostname: str
    timestamp: float
    driver_version: str = None
    gpus: list = dataclasses.field(default_factory=list)
    vgpus: list = dataclasses.field(default_factory=list)
    migs: list = dataclasses.field(default_factory=list)
    #: GPUs whose carve differs from the layout (None: not checked).
    drift: list = None
    warnings: list = dataclasses.field(default_factory=list)

    def gpu(self, address):
        for gpu in self.gpus:
            if gpu.address == address:
                return gpu
        return None


def to_dict(obj):
    """A JSON-ready dict of a sample (notifications, ``-f json``)."""
    return dataclasses.asdict(obj)

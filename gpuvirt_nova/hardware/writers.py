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

"""The only door to privileged GPU changes: sysfs writes and NVML MIG calls.

Everything that changes a GPU goes through a HardwareWriter. Production
uses PrivsepWriter, whose oslo.privsep entrypoints validate every argument
before touching ``/sys`` or NVML; tests, the demo and benchmarks use the
simulator's writer (``gpuvirt_nova.sim``), which obeys the same contract.
No other module opens a sysfs file for writing or calls an NVML setter.
"""

import abc


class HardwareWriter(abc.ABC):
    """What the layout engine and the device manager may change.

    Paths are sysfs paths as on a real host (``/sys/bus/pci/...``); the
    writer maps them under its own root. Every method raises
    ``gpuvirt_nova.exception.GpuvirtError`` (or a subclass) with a
    one-line reason when the hardware refuses.
    """

    @abc.abstractmethod
    def write_sysfs(self, path, value):
        """Write ``value`` (str) to the sysfs attribute ``path``."""

    @abc.abstractmethod
    def set_mig_mode(self, address, enabled):
        """Set MIG mode; return True when a GPU reset is still needed."""

    @abc.abstractmethod
    def reset_gpu(self, address):
        """Reset the GPU so a pending MIG mode takes effect (Ampere)."""

    @abc.abstractmethod
    def create_gpu_instance(self, address, profile, start):
        """Create a GPU instance of MIG ``profile`` at slice ``start``.

        Returns the new GPU instance id.
        """

    @abc.abstractmethod
    def destroy_gpu_instance(self, address, gpu_instance_id):
        """Destroy a GPU instance (and fail if compute instances remain)."""

    @abc.abstractmethod
    def create_compute_instance(self, address, gpu_instance_id, profile):
        """Create a compute instance filling the GPU instance; return id."""

    @abc.abstractmethod
    def destroy_compute_instance(self, address, gpu_instance_id,
                                 compute_instance_id):
        """Destroy one compute instance."""

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

"""The simulator's HardwareWriter: same checks, simulated hardware.

Every argument goes through the same ``writers.validate_*`` functions as
the production PrivsepWriter, so a test that passes a bad path or value
fails here exactly as it would in production; MIG steps run the same
``writers.nvml_*`` code against the host's fake NVML.
"""

from gpuvirt_nova.hardware import writers


class SimulatedWriter(writers.HardwareWriter):
    """Writes to one SimulatedHost."""

    def __init__(self, host):
        self.host = host

    def write_sysfs(self, path, value):
        # The same rules as the privileged daemon: form, then NVIDIA only.
        self.host.apply_sysfs(writers.validate_device_write(
            path, value, self.host.sysfs_root))

    def set_mig_mode(self, address, enabled):
        return writers.nvml_set_mig_mode(self.host.nvml(), address, enabled)

    def reset_gpu(self, address):
        self.host.reset_gpu(writers.validate_pci_address(address))

    def create_gpu_instance(self, address, profile, start):
        return writers.nvml_create_gpu_instance(self.host.nvml(), address,
                                                profile, start)

    def destroy_gpu_instance(self, address, gpu_instance_id):
        writers.nvml_destroy_gpu_instance(self.host.nvml(), address,
                                          gpu_instance_id)

    def create_compute_instance(self, address, gpu_instance_id,
                                profile=None):
        return writers.nvml_create_compute_instance(
            self.host.nvml(), address, gpu_instance_id, profile)

    def destroy_compute_instance(self, address, gpu_instance_id,
                                 compute_instance_id):
        writers.nvml_destroy_compute_instance(
            self.host.nvml(), address, gpu_instance_id, compute_instance_id)

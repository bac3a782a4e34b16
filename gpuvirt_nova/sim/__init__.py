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

"""The one hardware simulator: realistic sysfs trees and a pynvml fake.

Tests, the demo and the benchmarks use it instead of real GPUs::

    from gpuvirt_nova import sim

    host = sim.SimulatedHost.create(tmpdir, '2xA100-PCIE-40GB:mig')
    host.sysfs_root      # pass to discovery as the sysfs root
    host.nvml()          # a pynvml-compatible module bound to this host
    host.writer()        # a HardwareWriter obeying the real semantics
    host.reboot()        # drops what a real reboot drops

See :mod:`gpuvirt_nova.sim.host` for the write rules and where each comes
from.
"""

from gpuvirt_nova.sim.host import SimulatedHost  # noqa: F401
from gpuvirt_nova.sim.host import SimulatedWriteError  # noqa: F401
from gpuvirt_nova.sim.spec import GpuSpec  # noqa: F401
from gpuvirt_nova.sim.spec import HostSpec  # noqa: F401
from gpuvirt_nova.sim.spec import MODES  # noqa: F401
from gpuvirt_nova.sim.spec import parse_spec  # noqa: F401
from gpuvirt_nova.sim.state import vf_address  # noqa: F401

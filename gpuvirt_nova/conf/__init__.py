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

"""Configuration options of gpuvirt-nova.

Options live under ``[gpuvirt]`` and are read from ``nova.conf`` inside
nova-compute, or by the CLI from ``--config-file`` (default:
``/etc/nova/nova.conf`` and ``/etc/gpuvirt-nova/gpuvirt-nova.conf`` when
present). Each room defines its options in its own module here; ALL_MODULES
is the one list that registers them and feeds ``oslo-config-generator``.
"""

from oslo_config import cfg

from gpuvirt_nova.conf import hardware
from gpuvirt_nova.conf import layout
from gpuvirt_nova.conf import monitor
from gpuvirt_nova.conf import placement
from gpuvirt_nova.conf import privsep
from gpuvirt_nova.conf import scheduler
from gpuvirt_nova.conf import virt

CONF = cfg.CONF

#: Every option module; each has GROUP, OPTS and register_opts(conf).
ALL_MODULES = (
    hardware,
    layout,
    monitor,
    placement,
    privsep,
    scheduler,
    virt,
)


def register_opts(conf=CONF):
    for module in ALL_MODULES:
        module.register_opts(conf)


register_opts(CONF)

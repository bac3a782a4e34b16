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

"""Drift between the layout file and the carve the hardware holds.

The layout's own planner decides: a GPU drifts when ``layout apply``
would take a step on it (or cannot plan it), exactly what ``layout plan``
shows. :func:`drifted` is the pure verdict over a plan;
:class:`LayoutDrift` is the adapter the daemon calls with each discovered
host. It loads the layout room inside its call only: the monitor's
modules never load it at import (it runs where nova-compute's need not).
"""

from oslo_log import log as logging

LOG = logging.getLogger(__name__)


def drifted(plan):
    """Sorted addresses of the GPUs a plan would change or cannot plan."""
    return sorted(g.address for g in plan.gpus if g.steps or g.blocked)


class LayoutDrift:
    """``drift(host)`` -> [address] or None (no layout for this host).

    The layout file is read on every call, so an edited file counts from
    the next discovery on. A layout that does not load or fit is a
    warning (once per distinct error) and no verdict, never a failed
    round.
    """

    def __init__(self, path, node=None, select=None, default_types=None,
                 compute_instances=True):
        self.path = path
        self.node = node
        self.select = select
        self.default_types = default_types or {}
        self.compute_instances = compute_instances
        self._said = None

    def _warn(self, text):
        if text != self._said:
            LOG.warning('layout drift not checked: %s', text)
            self._said = text

    def __call__(self, host):
        import os

        from gpuvirt_nova import exception
        from gpuvirt_nova.layout import plan as plan_mod
        from gpuvirt_nova.layout import spec
        from gpuvirt_nova.layout import target as target_mod

        name = self.node or host.hostname
        try:
            if os.path.exists(self.path):
                layout = spec.load_file(self.path)
                if name in layout.hosts():
                    node = layout.node(name, self.select)
                elif self.default_types:
                    node = spec.NodeSpec(host=name,
                                         path=target_mod.DEFAULTS_FIELD)
                else:
                    return None
            elif self.default_types:
                node = spec.NodeSpec(host=name,
                                     path=target_mod.DEFAULTS_FIELD)
            else:
                return None
            targets = target_mod.resolve_node(node, host,
                                              self.default_types)
        except exception.GpuvirtError as exc:
            self._warn('%s: %s' % (self.path, exc))
            return None
        self._said = None
        return drifted(plan_mod.make_plan(targets, host,
                                          self.compute_instances))


def from_conf(conf, hostname=None):
    """A LayoutDrift from ``[gpuvirt_layout]``."""
    group = conf.gpuvirt_layout
    return LayoutDrift(group.file, node=hostname, select=group.select,
                       default_types=group.default_vgpu_types,
                       compute_instances=group.create_compute_instances)

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

"""The shipped Prometheus rules and Grafana dashboard query what we export.

A renamed metric would leave an alert that never fires and an empty
panel, silently; so every metric name in their PromQL must be one the
endpoint (``monitor/prometheus.py``) really renders for a busy simulated
host, and the alerts the monitor is built for must all be there.
"""

import json
import os
import re

from oslotest import base
from prometheus_client import parser
import yaml

from gpuvirt_nova.monitor import prometheus
from tests import sim_fixture
from tests.unit.monitor import helpers

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
RULES = os.path.join(REPO, 'etc', 'prometheus', 'gpuvirt-nova-rules.yaml')
DASHBOARD = os.path.join(REPO, 'etc', 'grafana', 'gpuvirt-nova.json')

#: Label matchers and grouping clauses: their names are labels, not
#: metrics (``DCGM_FI_DRIVER_VERSION`` is both a DCGM field and a label).
_NOT_METRICS = re.compile(
    r'\{[^}]*\}|\b(?:by|without|on|ignoring|group_left|group_right)\s*'
    r'\([^)]*\)|"[^"]*"')
_METRIC = re.compile(r'\b((?:DCGM_|gpuvirt_)[A-Za-z0-9_:]*)')


def metrics_in(expr):
    """The metric names a PromQL expression reads (ours and DCGM's)."""
    return set(_METRIC.findall(_NOT_METRICS.sub(' ', expr)))


class _Emitter:
    """Counts like notify's emitter, so its counters are exported too."""

    sent = lost = 0

    def emit(self, *args, **kwargs):
        self.sent += 1


def _dashboard_exprs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ('expr', 'definition') and isinstance(value, str):
                yield value
            else:
                yield from _dashboard_exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _dashboard_exprs(item)


class ShippedQueriesTests(base.BaseTestCase):

    @classmethod
    def exported(cls):
        """Every sample and family name the endpoint renders."""
        if getattr(cls, '_exported', None) is None:
            fixture = sim_fixture.SimulatedHostFixture(
                '2xA100-PCIE-40GB:vfio')
            fixture.setUp()
            try:
                monitor, _, _ = helpers.busy_monitor(fixture.host,
                                                     emitter=_Emitter())
                monitor.run_once()
                text = prometheus.render(
                    prometheus.make_registry(monitor.state))
            finally:
                fixture.cleanUp()
            names = set()
            for family in parser.text_string_to_metric_families(text):
                names.add(family.name)
                names.update(s.name for s in family.samples)
            cls._exported = names
        return cls._exported

    def test_metrics_in_parses_promql(self):
        self.assertEqual(
            {'DCGM_FI_DEV_FB_USED', 'gpuvirt_gpu_present'},
            metrics_in('sum by (DCGM_FI_DRIVER_VERSION) (DCGM_FI_DEV_FB_USED'
                       '{Hostname=~"gpuvirt_x"}) + gpuvirt_gpu_present'))

    def test_alert_rules_query_exported_metrics(self):
        with open(RULES) as f:
            document = yaml.safe_load(f)
        rules = [r for g in document['groups'] for r in g['rules']]
        names = {r['alert'] for r in rules}
        for wanted in ('GpuvirtGpuMemoryOverflow', 'GpuvirtGpuComputeOverload',
                       'GpuvirtGpuLost', 'GpuvirtGpuXidError'):
            self.assertIn(wanted, names)
        exported = self.exported()
        for rule in rules:
            used = metrics_in(rule['expr'])
            self.assertTrue(used, rule['alert'])
            self.assertEqual(set(), used - exported, rule['alert'])
            self.assertIn(rule['labels']['severity'],
                          ('warning', 'critical'))

    def test_dashboard_queries_exported_metrics(self):
        with open(DASHBOARD) as f:
            dashboard = json.load(f)
        self.assertEqual('gpuvirt-nova', dashboard['uid'])
        exprs = list(_dashboard_exprs(dashboard))
        self.assertGreater(len(exprs), 10)
        exported = self.exported()
        queried = set()
        for expr in exprs:
            used = metrics_in(expr)
            self.assertTrue(used, expr)
            self.assertEqual(set(), used - exported, expr)
            queried |= used
        # The panels cover what the issue asks to watch.
        for name in ('DCGM_FI_DEV_GPU_UTIL', 'DCGM_FI_DEV_FB_USED',
                     'DCGM_FI_DEV_GPU_TEMP', 'DCGM_FI_DEV_POWER_USAGE',
                     'DCGM_FI_PROF_PCIE_TX_BYTES', 'gpuvirt_vgpu_sm_util',
                     'gpuvirt_gpu_unhealthy'):
            self.assertIn(name, queried)
        for panel in dashboard['panels']:
            self.assertEqual({'x', 'y', 'w', 'h'}, set(panel['gridPos']))

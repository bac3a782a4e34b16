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

"""The Prometheus endpoint: dcgm-exporter's metric names and labels.

Per GPU the metrics carry dcgm-exporter's names (``DCGM_FI_DEV_GPU_UTIL``,
``DCGM_FI_DEV_FB_USED``...) and labels (``gpu``, ``UUID``, ``device``,
``modelName``, ``Hostname``, ``pci_bus_id``, ``DCGM_FI_DRIVER_VERSION``),
so NVIDIA's Grafana dashboard and alert rules written for dcgm-exporter
work unchanged; we add ``host`` and ``instance_uuid``/``project_id`` (the
Nova instances on the GPU, comma-separated). Per vGPU there is no DCGM
field, so the names are ours (``gpuvirt_vgpu_*``) with the GPU's labels
plus ``vgpu_type``, ``vgpu_device``, ``instance_uuid`` and
``project_id``. (``instance`` is Prometheus's own target label, hence
``instance_uuid``.) Per MIG GPU instance the names are ours too
(``gpuvirt_mig_*``, so a sum over dcgm-exporter's names never counts a
GPU twice) with dcgm-exporter's MIG labels ``GPU_I_PROFILE`` and
``GPU_I_ID`` and the owner of the vGPU on it.

:class:`Collector` renders the latest HostSample on each scrape (pure
apart from prometheus_client's types); :func:`serve` binds the endpoint,
to localhost unless configured.
"""

from prometheus_client import core
from prometheus_client import exposition
from prometheus_client import registry as registry_mod

from gpuvirt_nova import loopback

#: our metric key -> (DCGM field name, help, scale to DCGM's unit).
GPU_FIELDS = {
    'gpu_util': ('DCGM_FI_DEV_GPU_UTIL', 'GPU utilization (in %).', 1),
    'mem_copy_util': ('DCGM_FI_DEV_MEM_COPY_UTIL',
                      'Memory utilization (in %).', 1),
    'enc_util': ('DCGM_FI_DEV_ENC_UTIL', 'Encoder utilization (in %).', 1),
    'dec_util': ('DCGM_FI_DEV_DEC_UTIL', 'Decoder utilization (in %).', 1),
    'fb_used_mib': ('DCGM_FI_DEV_FB_USED',
                    'Framebuffer memory used (in MiB).', 1),
    'fb_free_mib': ('DCGM_FI_DEV_FB_FREE',
                    'Framebuffer memory free (in MiB).', 1),
    'fb_total_mib': ('DCGM_FI_DEV_FB_TOTAL',
                     'Framebuffer memory total (in MiB).', 1),
    'pcie_tx_bytes': ('DCGM_FI_PROF_PCIE_TX_BYTES',
                      'The rate of data transmitted over the PCIe bus - '
                      'including both protocol headers and data payloads - '
                      'in bytes per second.', 1),
    'pcie_rx_bytes': ('DCGM_FI_PROF_PCIE_RX_BYTES',
                      'The rate of data received over the PCIe bus - '
                      'including both protocol headers and data payloads - '
                      'in bytes per second.', 1),
    'temperature_c': ('DCGM_FI_DEV_GPU_TEMP', 'GPU temperature (in C).', 1),
    'power_w': ('DCGM_FI_DEV_POWER_USAGE', 'Power draw (in W).', 1),
    'power_limit_w': ('DCGM_FI_DEV_POWER_MGMT_LIMIT',
                      'Power management limit (in W).', 1),
    'sm_clock_mhz': ('DCGM_FI_DEV_SM_CLOCK', 'SM clock frequency (in MHz).',
                     1),
    'mem_clock_mhz': ('DCGM_FI_DEV_MEM_CLOCK',
                      'Memory clock frequency (in MHz).', 1),
    'ecc_sbe_total': ('DCGM_FI_DEV_ECC_SBE_VOL_TOTAL',
                      'Total number of single-bit volatile ECC errors.', 1),
    'ecc_dbe_total': ('DCGM_FI_DEV_ECC_DBE_VOL_TOTAL',
                      'Total number of double-bit volatile ECC errors.', 1),
}
XID_FIELD = 'DCGM_FI_DEV_XID_ERRORS'

#: dcgm-exporter's labels, then ours.
GPU_LABELS = ('gpu', 'UUID', 'device', 'modelName', 'Hostname',
              'pci_bus_id', 'DCGM_FI_DRIVER_VERSION', 'host',
              'instance_uuid', 'project_id')
VGPU_LABELS = ('gpu', 'UUID', 'modelName', 'Hostname', 'pci_bus_id',
               'host', 'vgpu_type', 'vgpu_device', 'vgpu_device_kind',
               'instance_uuid', 'instance_name', 'project_id',
               'project_name')
VGPU_FIELDS = {
    'fb_used_mib': ('gpuvirt_vgpu_fb_used_mib',
                    'Framebuffer the guest uses (in MiB).'),
    'fb_total_mib': ('gpuvirt_vgpu_fb_total_mib',
                     'Framebuffer of the vGPU type (in MiB).'),
    'sm_util': ('gpuvirt_vgpu_sm_util',
                'Share of the GPU the vGPU used (in %).'),
    'mem_util': ('gpuvirt_vgpu_mem_util', 'vGPU memory utilization (in %).'),
}

MIG_LABELS = ('gpu', 'UUID', 'modelName', 'Hostname', 'pci_bus_id', 'host',
              'GPU_I_PROFILE', 'GPU_I_ID', 'vgpu_type', 'vgpu_device',
              'instance_uuid', 'instance_name', 'project_id', 'project_name')
MIG_FIELDS = {
    'fb_used_mib': ('gpuvirt_mig_fb_used_mib',
                    'Framebuffer used in the MIG GPU instance (in MiB).'),
    'fb_total_mib': ('gpuvirt_mig_fb_total_mib',
                     'Framebuffer of the MIG GPU instance (in MiB).'),
    'sm_util': ('gpuvirt_mig_sm_util',
                'Share of the GPU the MIG instance used (in %).'),
    'mem_util': ('gpuvirt_mig_mem_util',
                 'MIG instance memory utilization (in %).'),
}


def _gpu_labels(host_sample, gpu, projects):
    index = '' if gpu.index is None else str(gpu.index)
    return [index, gpu.uuid or '', 'nvidia%s' % index, gpu.model or '',
            host_sample.hostname or '', gpu.address,
            host_sample.driver_version or '', host_sample.hostname or '',
            ','.join(gpu.instances), ','.join(sorted(projects))]


class Collector(registry_mod.Collector):
    """Renders the monitor's latest sample, alerts and counters."""

    def __init__(self, state):
        """Render ``state``, a daemon.MonitorState.

        It has ``.sample`` (HostSample or None), ``.alerts`` ([(rule,
        scope, subject)]), ``.unhealthy`` ({address: reason}) and
        ``.counters`` ({name: (value, help)}, or a callable returning
        it: read at each scrape).
        """
        self.state = state

    def collect(self):
        host_sample = self.state.sample
        if host_sample is None:
            return
        projects = {}
        for vgpu in host_sample.vgpus:
            if vgpu.owner.project_id:
                projects.setdefault(vgpu.gpu_address, set()).add(
                    vgpu.owner.project_id)
        families = {}
        gpu_labels = {}
        for gpu in host_sample.gpus:
            labels = _gpu_labels(host_sample, gpu,
                                 projects.get(gpu.address, ()))
            gpu_labels[gpu.address] = labels
            for key, value in sorted(gpu.metrics.items()):
                if key not in GPU_FIELDS or value is None:
                    continue
                name, text, scale = GPU_FIELDS[key]
                family = families.get(name)
                if family is None:
                    family = families[name] = core.GaugeMetricFamily(
                        name, text, labels=GPU_LABELS)
                family.add_metric(labels, value * scale)
            if gpu.last_xid is not None or gpu.present:
                family = families.get(XID_FIELD)
                if family is None:
                    family = families[XID_FIELD] = core.GaugeMetricFamily(
                        XID_FIELD, 'Value of the last XID error encountered.',
                        labels=GPU_LABELS)
                family.add_metric(labels, gpu.last_xid or 0)
        yield from families.values()

        present = core.GaugeMetricFamily(
            'gpuvirt_gpu_present', '1 while NVML sees the GPU, 0 once it '
            'is lost.', labels=GPU_LABELS)
        fenced = core.GaugeMetricFamily(
            'gpuvirt_gpu_unhealthy', '1 while the GPU is unhealthy (the '
            'reason nova-compute fences it for).',
            labels=GPU_LABELS + ('reason',))
        for gpu in host_sample.gpus:
            present.add_metric(gpu_labels[gpu.address],
                               1 if gpu.present else 0)
            reason = (self.state.unhealthy or {}).get(gpu.address)
            fenced.add_metric(gpu_labels[gpu.address] + [reason or ''],
                              1 if reason else 0)
        yield present
        yield fenced

        vgpu_families = {}
        for vgpu in host_sample.vgpus:
            gpu = host_sample.gpu(vgpu.gpu_address)
            index = '' if gpu is None or gpu.index is None else \
                str(gpu.index)
            labels = [index, (gpu.uuid if gpu else '') or '',
                      (gpu.model if gpu else '') or '',
                      host_sample.hostname or '', vgpu.gpu_address,
                      host_sample.hostname or '', vgpu.vgpu_type or '',
                      vgpu.device or '', vgpu.device_kind or '',
                      vgpu.owner.instance_uuid or '',
                      vgpu.owner.instance_name or '',
                      vgpu.owner.project_id or '',
                      vgpu.owner.project_name or '']
            for key, value in sorted(vgpu.metrics.items()):
                if key not in VGPU_FIELDS or value is None:
                    continue
                name, text = VGPU_FIELDS[key]
                family = vgpu_families.get(name)
                if family is None:
                    family = vgpu_families[name] = core.GaugeMetricFamily(
                        name, text, labels=VGPU_LABELS)
                family.add_metric(labels, value)
        yield from vgpu_families.values()
        yield from _mig_families(host_sample)

        alerts = core.GaugeMetricFamily(
            'gpuvirt_alert_active', '1 for each alert raised and not yet '
            'cleared.', labels=('host', 'alert', 'scope', 'subject'))
        for rule, scope, subject in self.state.alerts or ():
            alerts.add_metric([host_sample.hostname or '', rule, scope,
                               subject], 1)
        yield alerts
        if host_sample.drift is not None:
            drift = core.GaugeMetricFamily(
                'gpuvirt_layout_drift_gpus', 'GPUs whose carve differs from '
                'the layout file (what layout apply would change).',
                labels=('host',))
            drift.add_metric([host_sample.hostname or ''],
                             len(host_sample.drift))
            yield drift
        counters = self.state.counters
        if callable(counters):
            counters = counters()
        for name, (value, text) in sorted((counters or {}).items()):
            counter = core.CounterMetricFamily(name, text)
            counter.add_metric([], value)
            yield counter


def _mig_families(host_sample):
    families = {}
    for mig in host_sample.migs:
        gpu = host_sample.gpu(mig.gpu_address)
        index = '' if gpu is None or gpu.index is None else str(gpu.index)
        labels = [index, (gpu.uuid if gpu else '') or '',
                  (gpu.model if gpu else '') or '',
                  host_sample.hostname or '', mig.gpu_address,
                  host_sample.hostname or '', mig.profile or '',
                  str(mig.gpu_instance_id), mig.vgpu_type or '',
                  mig.device or '', mig.owner.instance_uuid or '',
                  mig.owner.instance_name or '', mig.owner.project_id or '',
                  mig.owner.project_name or '']
        for key, value in sorted(mig.metrics.items()):
            if key not in MIG_FIELDS or value is None:
                continue
            name, text = MIG_FIELDS[key]
            family = families.get(name)
            if family is None:
                family = families[name] = core.GaugeMetricFamily(
                    name, text, labels=MIG_LABELS)
            family.add_metric(labels, value)
    return families.values()


def make_registry(state):
    registry = registry_mod.CollectorRegistry(auto_describe=False)
    registry.register(Collector(state))
    return registry


def render(registry):
    """The text a scrape returns (the exposition format)."""
    return exposition.generate_latest(registry).decode()


def serve(registry, host='127.0.0.1', port=0):
    """Serve ``/metrics`` in a daemon thread; returns (server, port)."""
    server = loopback.serve(exposition.make_wsgi_app(registry), host, port)
    return server, server.server_port

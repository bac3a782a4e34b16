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

"""A monitor on a simulated host, for the emitter tests."""

from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import discover
from gpuvirt_nova.monitor import attribution
from gpuvirt_nova.monitor import daemon
from gpuvirt_nova.monitor import rules
from gpuvirt_nova.monitor import sampler as sampler_mod
from gpuvirt_nova import sim

INSTANCE = '8f7c2c1e-0b7a-4d41-9a55-3f1b2e4c5d6a'
PROJECT = '6a1b2c3d4e5f40718293a4b5c6d7e8f9'


class Group:
    fb_used_percent = 95.0
    gpu_util_percent = 98.0
    temperature_c = 85.0
    power_percent = 98.0
    hysteresis_percent = 5.0
    raise_after_samples = 1
    clear_after_samples = 1


def domain_xml(vf):
    domain, bus, rest = vf.split(':')
    slot, function = rest.split('.')
    return (
        '<domain><uuid>%s</uuid><name>instance-1</name><metadata>'
        '<nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/'
        'nova/1.1"><nova:name>train-1</nova:name><nova:owner>'
        '<nova:user uuid="u1">alice</nova:user><nova:project uuid="%s">'
        'research</nova:project></nova:owner></nova:instance></metadata>'
        '<devices><hostdev type="pci"><source><address domain="0x%s" '
        'bus="0x%s" slot="0x%s" function="0x%s"/></source></hostdev>'
        '</devices></domain>' % (INSTANCE, PROJECT, domain, bus, slot,
                                 function))


def busy_monitor(sim_host, emitter=None):
    """A Monitor on ``sim_host`` (1+ A100 vfio) with one guest on VF 0."""
    pf = sim_host.nvml_addresses()[0]
    vf = sim.vf_address(pf, 0)
    type_id = catalog.load().get('A100-PCIE-40GB').vgpu_type(
        'A100-10C').type_id
    sim_host.writer().write_sysfs(
        '/sys/bus/pci/devices/%s/nvidia/current_vgpu_type' % vf, type_id)
    sim_host.attach_guest(vf, INSTANCE, load=1.0, fb_fraction=0.5)
    sampler = sampler_mod.Sampler(sim_host.nvml(), 'node1')
    sampler.start()
    domains = [attribution.parse_domain(domain_xml(vf))]
    return daemon.Monitor(
        discover=lambda: discover.discover_host(sim_host),
        sampler=sampler, rules=rules.default_rules(Group),
        domains=lambda warnings: domains, emitter=emitter,
        clock=lambda: 1000.0, metrics_every=1,
        drift=lambda host: []), pf, vf

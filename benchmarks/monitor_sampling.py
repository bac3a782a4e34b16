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

"""CPU cost of one monitor round on a simulated 8-GPU host.

8 x H100 SXM5 (vendor VFIO), each carved into 16 H100XM-4C vGPUs with a
guest on each (128 vGPUs). Measures process CPU time per round of the
sampler alone and of a whole monitor round (sampler, attribution, rules,
Prometheus state, notifications), the latter twice, side by side: with
notifications queued to a sender that drops them at once, and with a
broker that is down (``rabbit://`` on a closed port, retry=0). The
simulator's own cost (reading its state file per NVML call) is inside
these numbers: the NVML calls are what a round makes, not what they cost
on a real GPU.

    python -m benchmarks.monitor_sampling [--rounds 20]
"""

import argparse
import tempfile
import time

from oslo_config import cfg
import oslo_messaging

from gpuvirt_nova import conf as gpuvirt_conf
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import discover
from gpuvirt_nova.monitor import attribution
from gpuvirt_nova.monitor import daemon
from gpuvirt_nova.monitor import notify
from gpuvirt_nova.monitor import rules
from gpuvirt_nova.monitor import sampler as sampler_mod
from gpuvirt_nova import sim

SPEC = '8xH100-SXM5-80GB:vfio'
TYPE = 'H100XM-4C'
PER_GPU = 16


def build(root):
    host = sim.SimulatedHost.create(root, SPEC)
    type_id = catalog.load().get('H100-SXM5-80GB').vgpu_type(TYPE).type_id
    writer = host.writer()
    domains = []
    for g, pf in enumerate(host.nvml_addresses()):
        for i in range(PER_GPU):
            vf = sim.vf_address(pf, i)
            writer.write_sysfs('/sys/bus/pci/devices/%s/nvidia/'
                               'current_vgpu_type' % vf, type_id)
            vm = '00000000-0000-4000-8000-%012d' % (g * 100 + i)
            host.attach_guest(vf, vm, load=0.3 + 0.04 * i, fb_fraction=0.5)
            domains.append(attribution.Domain(
                uuid=vm, name='instance-%d' % i,
                owner=attribution.sample_mod.Owner(instance_uuid=vm,
                                                   project_id='p%d' % g)))
    return host, domains


def cpu_per_round(func, rounds):
    func()  # warm
    started = time.process_time()
    for _ in range(rounds):
        func()
    return (time.process_time() - started) / rounds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        host, domains = build(root)
        hw = discover.discover_host(host)
        sampler = sampler_mod.Sampler(host.nvml(), 'bench')
        sampler.start()
        group = gpuvirt_conf.CONF.gpuvirt_monitor

        def monitor(emitter):
            return daemon.Monitor(
                discover=lambda: hw, sampler=sampler,
                rules=rules.default_rules(group),
                domains=lambda warnings: domains, emitter=emitter,
                metrics_every=1)

        def dropped(message, priority):
            raise RuntimeError('dropped')

        conf = cfg.ConfigOpts()
        conf([], project='gpuvirt-bench')
        transport = oslo_messaging.get_notification_transport(
            conf, url='rabbit://guest:guest@127.0.0.1:1/')
        send, _ = notify.oslo_sender(conf, transport)
        results = [
            ('sampler only', cpu_per_round(
                lambda: sampler.sample(hw, time.time()), args.rounds)),
            ('monitor round, notifications dropped at once', cpu_per_round(
                monitor(notify.Emitter(dropped, 'bench')).run_once,
                args.rounds)),
            ('monitor round, broker down', cpu_per_round(
                monitor(notify.Emitter(send, 'bench')).run_once,
                args.rounds)),
        ]
        sample = sampler.sample(hw, time.time())
        print('%d GPUs, %d vGPUs, %d rounds each' % (
            len(sample.gpus), len(sample.vgpus), args.rounds))
        print('| what | CPU ms per round |')
        print('|---|---|')
        for name, seconds in results:
            print('| %s | %.1f |' % (name, seconds * 1000))
        transport.cleanup()


if __name__ == '__main__':
    main()

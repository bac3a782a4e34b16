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

"""``gpuvirt-nova nova demo``: boot vGPU servers through an in-process Nova.

Real Nova API, scheduler, conductor and compute (with our driver) and real
Placement, all in this process, on simulated GPU hosts: shows which host,
which GPU provider and which device every server's vGPU landed on.
``--scheduler`` shows our scheduler plugins at work instead: a user
refused at ``max_jobs_per_user`` while another is served, fair share
refusing the over-share project, and pack vs spread placing the same
requests differently.
"""

import logging

from oslo_config import cfg

from gpuvirt_nova.cmd import common
from gpuvirt_nova import exception


class NovaDemo(common.Lister):
    """Boot vGPU servers through in-process Nova on simulated hosts."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--hosts', type=int, default=2,
                            help='compute hosts to start (default 2)')
        parser.add_argument('--servers', type=int, default=3,
                            help='servers to boot per vGPU type (default 3)')
        parser.add_argument('--type', dest='types', action='append',
                            metavar='VGPU_TYPE',
                            help='vGPU type of a flavor (repeatable; default '
                                 'A100-2-10C and A100-3-20C)')
        parser.add_argument('--scheduler', action='store_true',
                            help='show the scheduler plugins instead: '
                                 'per-user cap, fair share, pack vs spread '
                                 '(two hosts, ten A100-4C per GPU)')
        return parser

    def take_action(self, parsed_args):
        for name in ('hosts', 'servers'):
            if getattr(parsed_args, name) < 1:
                raise exception.UsageError(
                    '--%s must be at least 1' % name)
        carved = ('A100-2-10C', 'A100-3-20C')
        for type_name in parsed_args.types or ():
            if type_name not in carved:
                raise exception.UsageError(
                    '--type %s: the demo\'s hosts are carved into %s only '
                    '(two A100-PCIE-40GB per host); use one of them'
                    % (type_name, ' and '.join(carved)))
        # The CLI has parsed its arguments; Nova's fixtures register
        # command-line options at import, which oslo.config only allows
        # before parsing. Imported late: it loads Nova's test fixtures.
        cfg.CONF.reset()
        if self.app_args.verbose_level <= 1:
            # Nova's services log every request; keep the table readable.
            for handler in logging.getLogger().handlers:
                handler.setLevel(logging.WARNING)
            logging.getLogger('nova').setLevel(logging.WARNING)
        from gpuvirt_nova.demo import nova as inprocess
        if parsed_args.scheduler:
            return (('Act', 'User/project', 'Server', 'Host', 'Outcome'),
                    inprocess.run_scheduler_demo())
        rows = inprocess.run_demo(hosts=parsed_args.hosts,
                                  servers=parsed_args.servers,
                                  types=parsed_args.types)
        return (('Server', 'vGPU type', 'Status', 'Host', 'GPU provider',
                 'Device', 'Device type'), rows)

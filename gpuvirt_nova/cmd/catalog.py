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

"""``gpuvirt-nova catalog list|show|check``: the GPU models we know."""

from gpuvirt_nova.cmd import common
from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import listings


class ListCatalog(common.Lister):
    """List supported GPU models and what they can be sliced into."""

    def take_action(self, parsed_args):
        columns = ('Model', 'Architecture', 'Memory MiB', 'MIG profiles',
                   'vGPU types', 'Host vGPU modes')
        rows = [(m.name, m.architecture.value, m.memory_mib,
                 len(m.mig_profiles), len(m.vgpu_types),
                 [v.value for v in m.vgpu_modes])
                for m in (catalog.load().models[n]
                          for n in catalog.load().names())]
        return columns, rows


class ShowCatalog(common.ShowOne):
    """Show one GPU model: MIG profiles with placements, vGPU types."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('model', help='GPU model name or alias')
        return parser

    def take_action(self, parsed_args):
        try:
            gpu_model = catalog.load().get(parsed_args.model)
        except catalog.UnknownModel as exc:
            raise exception.UsageError(str(exc))
        profiles = ['%s (%s)' % (p.name, ','.join(map(str, p.placements)))
                    for p in gpu_model.mig_profiles]
        types = ['%s %s %dMiB x%d%s' % (
            t.name, t.mdev_type, t.framebuffer_mib, t.max_instances,
            ' on %s' % t.mig_profile if t.mig_profile else '')
            for t in gpu_model.vgpu_types]
        return (('Model', 'Architecture', 'Memory MiB', 'MIG profiles',
                 'vGPU types', 'Sources'),
                (gpu_model.name, gpu_model.architecture.value,
                 gpu_model.memory_mib, profiles, types,
                 ['%s: %s' % s for s in gpu_model.sources]))


class CheckCatalog(common.Lister):
    """Compare every catalog MIG table with real published listings.

    Per model: matches, differs (which profile and field, catalog value
    against the listing's), no public listing found, or a listed model the
    catalog lacks. Exit status 1 when any catalog table differs, so CI
    notices a catalog that drifted from real hosts.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            '--listing', action='append', default=None, metavar='FILE',
            help='an `nvidia-smi mig -lgip` capture with a "# model:" and '
                 '"# source: URL" header (repeatable); default: the '
                 'listings shipped with the catalog')
        return parser

    def take_action(self, parsed_args):
        found = None
        if parsed_args.listing:
            found = []
            for path in parsed_args.listing:
                try:
                    with open(path, encoding='utf-8') as f:
                        found.append(listings.parse_lgip(f.read(), path))
                except (OSError, ValueError) as exc:
                    raise exception.UsageError('--listing %s: %s' % (
                        path, getattr(exc, 'strerror', None) or exc))
        results = listings.check(listings=found)
        self.app.differs = any(r['status'] == listings.DIFFERS
                               for r in results)
        return (('Model', 'Status', 'Details', 'Sources'),
                [(r['model'], r['status'], list(r['details']),
                  list(r['sources'])) for r in results])

    def run(self, parsed_args):
        status = super().run(parsed_args)
        return status or (1 if getattr(self.app, 'differs', False) else 0)

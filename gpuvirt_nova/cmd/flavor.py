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

"""``gpuvirt-nova flavor sync``: one Nova flavor per offered vGPU type."""

from gpuvirt_nova.cmd import common
from gpuvirt_nova.cmd import placement as placement_cmd
from gpuvirt_nova import exception
from gpuvirt_nova.placement import client as placement_client
from gpuvirt_nova.placement import connect
from gpuvirt_nova.placement import flavors
from gpuvirt_nova.scheduler import typical


class SyncFlavors(common.Lister):
    """Create or update vgpu.* flavors for the vGPU types Placement offers."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        placement_cmd.add_placement_options(parser)
        parser.add_argument(
            '--type', metavar='VGPU_TYPE', action='append', default=[],
            help='vGPU type to make a flavor for (repeatable). Default: '
                 'every type with inventory on gpuvirt-nova providers in '
                 'Placement.')
        parser.add_argument('--vgpus', type=int, default=1, metavar='N',
                            help='vGPUs per server (default 1).')
        parser.add_argument('--vcpus', type=int, metavar='N',
                            help='vCPUs (default: scaled to the vGPU).')
        parser.add_argument('--ram', type=int, metavar='MIB',
                            help='RAM in MiB (default: twice the vGPU '
                                 'memory, at least 8192).')
        parser.add_argument('--disk', type=int, metavar='GIB',
                            help='Root disk in GiB (default 40).')
        parser.add_argument(
            '--no-managed-trait', action='store_true',
            help='Do not require CUSTOM_GPUVIRT_MANAGED (lets the flavor '
                 'land on providers gpuvirt-nova does not manage).')
        parser.add_argument(
            '--dynamic', action='store_true',
            help='With --type: make the flavors of dynamic GPUs for '
                 'those types (a MIG instance carved per server, asking for '
                 'the profile\'s slices; or a time-sliced vGPU, asking for '
                 'its framebuffer slices). Without --type, they are made '
                 'for every type a dynamic GPU offers.')
        parser.add_argument('--dry-run', action='store_true',
                            help='Print the flavors; change nothing.')
        return parser

    def _types(self, parsed_args):
        """(vGPU types to flavor, types of dynamic GPUs)."""
        if parsed_args.type:
            if parsed_args.dynamic:
                return [], parsed_args.type
            return parsed_args.type, []
        with placement_cmd.open_placement(
                self.app.conf, parsed_args,
                embedded_for=parsed_args.dry_run and parsed_args.state_dir
                and '--dry-run --state-dir') as connection:
            try:
                types = flavors.offered_types(connection.client)
                dynamic = flavors.offered_dynamic_types(connection.client)
            except placement_client.PlacementError as exc:
                raise exception.GpuvirtError(str(exc))
        if not types and not dynamic:
            raise exception.UsageError(
                'Placement has no vGPU inventory from gpuvirt-nova (%s): run '
                'gpuvirt-nova placement sync first, or name types with '
                '--type' % connection.where)
        return types, dynamic

    def take_action(self, parsed_args):
        static, dynamic = self._types(parsed_args)
        specs = flavors.plan(
            static, vgpus=parsed_args.vgpus,
            vcpus=parsed_args.vcpus, ram_mib=parsed_args.ram,
            disk_gib=parsed_args.disk,
            require_managed=not parsed_args.no_managed_trait)
        specs += flavors.plan_dynamic(
            dynamic, vcpus=parsed_args.vcpus, ram_mib=parsed_args.ram,
            disk_gib=parsed_args.disk)
        columns = ('Flavor', 'Action', 'Detail')
        if parsed_args.dry_run:
            return columns, [(s.name, 'would create or update',
                              flavors.describe(s)) for s in specs]
        cloud = parsed_args.os_cloud or self.app.conf.gpuvirt_placement.cloud
        if not cloud:
            raise exception.UsageError(
                'flavor sync needs a cloud with the Compute API: pass '
                '--os-cloud NAME (clouds.yaml), or --dry-run to print the '
                'flavors')
        compute = compute_of(cloud, 'flavor sync')
        results = flavors.apply(compute, specs)
        if not parsed_args.type:
            # Synced from what Placement offers: the rest is not offered.
            results += flavors.mark_not_offered(
                compute, {rc for s in specs
                          for rc in flavors.vgpu_classes(s.extra_specs)})
        return columns, [(r.name, r.action, r.detail) for r in results]


class TypicalRequests(common.ShowOne):
    """Write [gpuvirt_scheduler] typical_requests from the servers running.

    One class per kind of vGPU server (vGPU type, required GPU traits,
    vCPUs, GPUs), weighted by how many servers ask it: the weigher then
    counts each host's vCPUs and multi-GPU requests whole, which a mix
    learned from Placement's usage cannot.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            '--os-cloud', metavar='NAME',
            help='Cloud in clouds.yaml whose servers to count (default: '
                 '[gpuvirt_placement] cloud).')
        parser.add_argument(
            '--cover', type=float, default=typical.COVER, metavar='SHARE',
            help='Keep the most common kinds of request until they cover '
                 'this share of the vGPU servers (default %(default)s).')
        return parser

    def take_action(self, parsed_args):
        cloud = parsed_args.os_cloud or self.app.conf.gpuvirt_placement.cloud
        if not cloud:
            raise exception.UsageError(
                'flavor typical-requests reads the servers from Nova: pass '
                '--os-cloud NAME (clouds.yaml)')
        compute = compute_of(cloud, 'flavor typical-requests')
        try:
            mix, counted, left = typical.mix_of(
                server_requests(compute.servers(details=True,
                                                all_projects=True)),
                parsed_args.cover)
        except ValueError as exc:
            raise exception.UsageError('--%s' % exc)
        if not mix:
            raise exception.UsageError(
                'no server of cloud %s asks a vGPU (CUSTOM_VGPU_*): there '
                'is no typical request to write; leave typical_requests '
                'empty to learn it from usage' % cloud)
        value = typical.option_value(mix)
        return (('typical_requests', 'vGPU servers counted', 'left out',
                 'nova.conf'),
                (value, counted, left,
                 '[gpuvirt_scheduler]\ntypical_requests = %s' % value))


def compute_of(cloud, command):
    """The openstacksdk Compute proxy of ``cloud``, or a usage error."""
    sdk = connect.sdk_for_cloud(cloud)
    if not hasattr(sdk.compute, 'find_flavor'):
        raise exception.UsageError(
            '--os-cloud %s: the cloud\'s service catalog has no Compute '
            '(nova) endpoint, which %s needs; check the cloud in '
            'clouds.yaml' % (cloud, command))
    return sdk.compute


def server_requests(servers):
    """``(vcpus, extra_specs)`` of each server's flavor.

    The flavor embedded in a server (Compute API microversion 2.47 and
    later); a server without it is a usage error naming the fix.
    """
    for server in servers:
        # NOTE: openstacksdk gives a Flavor whatever the microversion
        # (vcpus 0 and no extra specs when the API only linked it);
        # original_name is there from 2.47 on.
        flavor = server.flavor or {}
        if not flavor.get('original_name') or not flavor.get('vcpus'):
            raise exception.UsageError(
                'server %s: its flavor has no vcpus or extra_specs; the '
                'Compute API must embed flavors (microversion 2.47 or '
                'later): set compute_api_version: 2.47 or later for the '
                'cloud in clouds.yaml' % server.id)
        yield int(flavor.get('vcpus')), flavor.get('extra_specs') or {}

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

"""Who uses each vGPU: device -> libvirt domain -> Nova instance -> project.

Nova writes its instance's name, owner (user and project, with names) and
flavor into each domain's ``<metadata>`` (namespace
``http://openstack.org/xmlns/libvirt/nova/<version>``), and the domain's
UUID is the instance's UUID. :func:`parse_domain` reads one domain XML,
:func:`attribute` (pure) matches vGPU samples to domains by NVML's VM id
and, failing that, by the VF or mdev the domain's ``<hostdev>`` holds.
:func:`libvirt_domains` is the thin adapter that lists the domains; a
libvirt that cannot be reached gives no owners, never an error.
"""

import dataclasses
from xml.etree import ElementTree as etree

from gpuvirt_nova.hardware import model
from gpuvirt_nova.monitor import sample as sample_mod

NOVA_NS_PREFIX = '{http://openstack.org/xmlns/libvirt/nova/'


@dataclasses.dataclass(frozen=True)
class Domain:
    """The facts of one libvirt domain the monitor needs."""

    uuid: str
    name: str = None
    owner: sample_mod.Owner = None
    #: ``('vf', PCI address)`` and ``('mdev', UUID)`` of its hostdevs.
    devices: frozenset = frozenset()


def _nova(element, tag):
    """The first child ``nova:<tag>`` whatever the namespace version."""
    if element is None:
        return None
    for child in element:
        if child.tag.startswith(NOVA_NS_PREFIX) and \
                child.tag.rsplit('}', 1)[1] == tag:
            return child
    return None


def _hostdev_keys(root):
    keys = set()
    for hostdev in root.iter('hostdev'):
        address = hostdev.find('source/address')
        if address is None:
            continue
        if hostdev.get('type') == 'mdev' and address.get('uuid'):
            keys.add(('mdev', address.get('uuid').lower()))
        elif hostdev.get('type') == 'pci':
            try:
                keys.add(('vf', model.normalize_pci_address(
                    '%04x:%02x:%02x.%x' % tuple(
                        int(address.get(f, '0'), 16) for f in
                        ('domain', 'bus', 'slot', 'function')))))
            except ValueError:
                continue
    return frozenset(keys)


def parse_domain(xml_text):
    """A Domain from ``virDomainGetXMLDesc`` text; ValueError if not XML."""
    try:
        root = etree.fromstring(xml_text)
    except etree.ParseError as exc:
        raise ValueError('domain XML does not parse: %s' % exc)
    name = root.findtext('name')
    owner = sample_mod.Owner(instance_uuid=(root.findtext('uuid') or
                                            '').lower() or None,
                             domain_name=name)
    instance = _nova(root.find('metadata'), 'instance')
    if instance is not None:
        owner.instance_name = getattr(_nova(instance, 'name'), 'text', None)
        owners = _nova(instance, 'owner')
        user, project = _nova(owners, 'user'), _nova(owners, 'project')
        if user is not None:
            owner.user_id = user.get('uuid')
        if project is not None:
            owner.project_id = project.get('uuid')
            owner.project_name = project.text
    return Domain(uuid=owner.instance_uuid, name=name, owner=owner,
                  devices=_hostdev_keys(root))


def attribute(host_sample, domains):
    """Fill each vGPU's and MIG instance's owner, each GPU's instances.

    ``domains``: Domain objects of every domain on the host. A vGPU is
    matched by NVML's VM id (the domain UUID) first, then by its device;
    one that matches nothing keeps an empty owner (a guest libvirt does
    not list, or NVML without VM ids).
    """
    by_uuid = {d.uuid: d for d in domains if d.uuid}
    by_device = {}
    for domain in domains:
        for key in domain.devices:
            by_device[key] = domain
    per_gpu = {}
    for vgpu in host_sample.vgpus:
        domain = by_uuid.get((vgpu.vm_id or '').lower())
        if domain is None and vgpu.device:
            device = vgpu.device.lower() if vgpu.device_kind == 'mdev' \
                else vgpu.device
            domain = by_device.get((vgpu.device_kind, device))
        if domain is not None:
            vgpu.owner = dataclasses.replace(domain.owner)
            per_gpu.setdefault(vgpu.gpu_address, set()).add(domain.uuid)
    owners = {(v.gpu_address, v.device): v.owner for v in host_sample.vgpus
              if v.device}
    for mig in host_sample.migs:
        # A MIG instance belongs to whoever has the vGPU on it.
        owner = owners.get((mig.gpu_address, mig.device))
        if owner is not None:
            mig.owner = dataclasses.replace(owner)
    for gpu in host_sample.gpus:
        found = set(per_gpu.get(gpu.address, ()))
        # A whole GPU passed through (or a domain NVML cannot see).
        for domain in domains:
            if ('vf', gpu.address) in domain.devices:
                found.add(domain.uuid)
        gpu.instances = tuple(sorted(found))
    return host_sample


def libvirt_domains(uri, warnings=None):
    """Domains of the libvirt at ``uri`` (read-only); [] if unreachable."""
    try:
        import libvirt
    except ImportError:
        if warnings is not None:
            warnings.append('libvirt-python is missing: no owners')
        return []
    try:
        conn = libvirt.openReadOnly(uri)
    except libvirt.libvirtError as exc:
        if warnings is not None:
            warnings.append('libvirt %s: %s; no owners this round'
                            % (uri, exc))
        return []
    try:
        domains = []
        for dom in conn.listAllDomains(0):
            try:
                domains.append(parse_domain(dom.XMLDesc(0)))
            except (libvirt.libvirtError, ValueError) as exc:
                if warnings is not None:
                    warnings.append('libvirt domain: %s' % exc)
        return domains
    finally:
        conn.close()

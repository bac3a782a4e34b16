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

"""Make ``nova.virt.gpuvirt`` importable, so nova.conf can name our driver.

Nova imports ``compute_driver`` only from under ``nova.virt.`` (the
option value is prefixed with it). Installing files into Nova's own
package is fragile (``nova/virt/__init__.py`` is a regular package owned
by the nova distribution), so the alias is provided in one of two
supported ways, both giving ``compute_driver = gpuvirt.GpuvirtLibvirtDriver``:

* the ``gpuvirt-nova-compute`` command: ``nova-compute`` with the alias
  installed first (use it in place of ``nova-compute``, same arguments);
* a one-line module ``nova/virt/gpuvirt.py`` with :data:`SHIM_SOURCE`,
  written into a Nova source tree (the devstack plugin does this).
"""

import importlib.abc
import importlib.util
import sys

SHIM_MODULE = 'nova.virt.gpuvirt'
DRIVER_NAME = 'gpuvirt.GpuvirtLibvirtDriver'
SHIM_SOURCE = ('# Installed by gpuvirt-nova: compute_driver = %s\n'
               'from gpuvirt_nova.virt.driver import '
               'GpuvirtLibvirtDriver  # noqa: F401\n' % DRIVER_NAME)


class _Loader(importlib.abc.Loader):
    def create_module(self, spec):
        return None

    def exec_module(self, module):
        from gpuvirt_nova.virt import driver
        module.GpuvirtLibvirtDriver = driver.GpuvirtLibvirtDriver


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != SHIM_MODULE:
            return None
        return importlib.util.spec_from_loader(fullname, _Loader())


def install():
    """Register the ``nova.virt.gpuvirt`` alias (idempotent)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def main():
    """``gpuvirt-nova-compute``: nova-compute that can load our driver.

    Its privsep daemons start without sudo when it runs as root
    (:func:`gpuvirt_nova.privsep.helper_prefix`).
    """
    install()
    # nova.cmd first: it monkey-patches the process before oslo.privsep
    # loads.
    from nova.cmd import compute

    from gpuvirt_nova import privsep
    privsep.choose_root_helper_at_init()
    return compute.main()

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

"""Dynamic GPUs: MIG instances carved per guest, at boot time.

A GPU the layout marks ``owner: dynamic`` has MIG mode (and its SR-IOV
VFs) set by ``gpuvirt-nova layout apply`` and nothing else: the Nova
driver creates a GPU instance, compute instance and vGPU for each guest
at spawn and destroys them when the guest leaves, so capacity follows
demand instead of a carve decided in advance.

- :mod:`gpuvirt_nova.layout.geometry`: where a profile can go on a GPU
  (pure; the scheduler filter and the driver share it).
- :mod:`carve`: the driver's carve and uncarve, through the layout's
  verified, undoable steps.
- :mod:`requests`: which profile a flavor asks for.

Which GPUs are dynamic is recorded by ``layout apply`` in
:mod:`gpuvirt_nova.layout.owners`.
"""

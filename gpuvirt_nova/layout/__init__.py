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

"""The declarative GPU layout: how each GPU is sliced, and getting there.

Data flows one way, pure until the last step:

- :mod:`.schema` (shape, YAML paths) -> :mod:`.spec` (typed values, named
  layouts) -> :mod:`.resolve` (request -> smallest profile, waste) ->
  :mod:`.feasibility` (MIG geometry, equal/mixed-size rules, memory) ->
  :mod:`.target` (which physical GPU gets which entry)
- :mod:`.plan` (desired vs discovered -> ordered steps)
- :mod:`.apply` (steps through a HardwareWriter, verified, rolled back per
  GPU), :mod:`.drain` (the Placement seam), :mod:`.export`,
  :mod:`.migparted`, :mod:`.hostctx` (real or simulated host).
"""

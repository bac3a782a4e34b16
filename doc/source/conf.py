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

"""Sphinx configuration of the gpuvirt-nova operator guide."""

import os
import sys

# The package documented is the one in this tree, installed or not.
sys.path.insert(0, os.path.abspath(os.path.join(__file__, '..', '..', '..')))

extensions = [
    # The CLI reference, from the cliff commands themselves.
    'cliff.sphinxext',
    # The configuration reference, from the registered options.
    'oslo_config.sphinxext',
]

project = 'gpuvirt-nova'
copyright = '2026, The gpuvirt-nova Authors'
master_doc = 'index'
exclude_patterns = []
pygments_style = 'sphinx'
html_theme = 'alabaster'
html_theme_options = {'description': 'NVIDIA vGPU and MIG for OpenStack '
                                     'Nova: operator guide'}
# Commands whose entry points are registered in setup.cfg.
autoprogram_cliff_application = 'gpuvirt-nova'

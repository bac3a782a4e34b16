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

"""Exceptions that carry the one line an operator reads, and an exit code.

Code that rejects input raises UsageError (exit 2): the message names the
field and the fix. Everything the CLI prints on failure comes from here;
tracebacks are for ``--debug`` only.
"""


class GpuvirtError(Exception):
    """Base class: ``str(exc)`` is the one-line message for the operator."""

    exit_code = 1


class UsageError(GpuvirtError):
    """Bad input (arguments, configuration, layout files): exit code 2."""

    exit_code = 2


class ConfigError(UsageError):
    """A configuration option has a value that cannot work."""


class DiscoveryError(GpuvirtError):
    """Hardware could not be read; names the path and what was expected."""


class SimulatorError(GpuvirtError):
    """The simulated hardware refused an operation, as the real one would."""


class DriftDetected(GpuvirtError):
    """Actual state differs from desired state (``assert``/``audit``)."""

    exit_code = 1

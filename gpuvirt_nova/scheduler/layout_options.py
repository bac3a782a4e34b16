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

"""The layout file's ``scheduler:`` block, as scheduler option defaults.

The layout file (``[gpuvirt_layout] file``) may say how the cluster is
scheduled (``policy``, ``max_jobs_per_user``). Its values become the
*defaults* of the matching ``[gpuvirt_scheduler]`` options
(:func:`limits.options_from_layout`), so oslo.config's own precedence
makes a value set in nova.conf win, and the filters and the weigher keep
reading one place: CONF.

The file is read once and again only when its modification time or size
changes. A missing file means no layout. A file that cannot be used is
reported once (one error line) and ignored: the configured options apply
until it is fixed. Nothing here ever raises into the scheduler.
"""

import os
import threading

from oslo_config import cfg
from oslo_log import log as logging

from gpuvirt_nova.layout import spec as layout_spec
from gpuvirt_nova.scheduler import limits

LOG = logging.getLogger(__name__)

GROUP = 'gpuvirt_scheduler'
#: The options a layout file may give defaults to.
OPTION_NAMES = ('weigher_policy', 'fair_share', 'max_jobs_per_user')


def file_stamp(path):
    """What tells a changed file: ``(path, mtime_ns, size)``.

    ``(path, None, None)`` when the file does not exist; ``(path, 'error',
    text)`` when it cannot be looked at (then reading reports why).
    """
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return (path, None, None)
    except OSError as exc:
        return (path, 'error', str(exc))
    return (path, stat.st_mtime_ns, stat.st_size)


def read_options(path):
    """``{option: value}`` from the layout at ``path``.

    Raises UsageError or ValueError (one line naming the field) when the
    file is not a valid layout.
    """
    return limits.options_from_layout(layout_spec.load_file(path).scheduler)


def apply_defaults(conf, options):
    """Make ``options`` the defaults of their options; reset the others."""
    for name in OPTION_NAMES:
        if name in options:
            conf.set_default(name, options[name], group=GROUP)
        else:
            conf.clear_default(name, group=GROUP)


class LayoutOptions:
    """Keeps ``[gpuvirt_scheduler]`` defaults in step with the layout."""

    def __init__(self, conf):
        self.conf = conf
        self.options = {}
        self._stamp = None
        self._lock = threading.Lock()

    def refresh(self):
        """Re-read the layout if it changed; apply its options.

        Called once per scheduling request. Returns the options the
        layout gives (empty without a usable layout file).
        """
        try:
            with self._lock:
                path = self.conf.gpuvirt_layout.file
                stamp = file_stamp(path) if path else (path, None, None)
                if stamp != self._stamp:
                    self.options = self._load(path, stamp)
                    self._stamp = stamp
                # NOTE: applied on every call, not only on a change: a
                # configuration reset (a reload, a test's fixture) drops
                # the defaults, and setting them again costs little.
                apply_defaults(self.conf, self.options)
                return dict(self.options)
        except Exception:
            # NOTE: the layout only refines the options; a scheduler must
            # keep scheduling on the configured ones whatever happens.
            LOG.exception('Could not apply the layout file\'s scheduler '
                          'options; using the [gpuvirt_scheduler] options')
            return {}

    def _load(self, path, stamp):
        if stamp[1] is None:
            if self.options:
                LOG.info('Layout file %s is gone; scheduling with the '
                         '[gpuvirt_scheduler] options', path)
            return {}
        try:
            options = read_options(path)
        except Exception as exc:
            LOG.error('Layout file %s is not usable (%s); scheduling '
                      'with the [gpuvirt_scheduler] options until it is '
                      'fixed', path, exc)
            return {}
        LOG.info('Scheduler options from layout file %s (nova.conf values '
                 'win): %s', path, ', '.join(
                     '%s=%s' % item for item in sorted(options.items()))
                 or 'none')
        return options

    def source_of(self, name):
        """Where the value of option ``name`` now comes from.

        ``'layout'`` when it is the layout's default, else ``'config'``.
        """
        if name not in self.options:
            return 'config'
        location = self.conf.get_location(name, GROUP).location
        # NOTE: oslo.config reports the location of the last set_default
        # even where an earlier set_override gives the value; comparing
        # the value tells those apart.
        value = getattr(getattr(self.conf, GROUP), name)
        if location == cfg.Locations.set_default \
                and value == self.options[name]:
            return 'layout'
        return 'config'

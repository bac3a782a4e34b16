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

"""Utilization history: what ``gpuvirt-nova report`` draws over time.

The monitor appends one JSON line per round (:func:`record`) to a file
it keeps to the last ``keep`` rounds; the report reads it back
(:func:`load`) and draws each GPU's utilization against time
(:func:`series`). Prometheus keeps the real history; this file lets the
report work on a host or demo without one. One line::

    {"t": 1700000000.0, "host": "node1",
     "gpus": {"0000:3b:00.0": {"gpu_util": 42, "fb_used_percent": 12.5}}}

Writing never fails a round: an unwritable file is one warning.
"""

import json
import os

from oslo_log import log as logging

LOG = logging.getLogger(__name__)


def record(host_sample):
    """One history line (a dict) of a HostSample, GPUs without data out."""
    gpus = {}
    for gpu in host_sample.gpus:
        metrics = gpu.metrics
        entry = {}
        if metrics.get('gpu_util') is not None:
            entry['gpu_util'] = metrics['gpu_util']
        total = metrics.get('fb_total_mib')
        if total and metrics.get('fb_used_mib') is not None:
            entry['fb_used_percent'] = round(
                100.0 * metrics['fb_used_mib'] / total, 2)
        if entry:
            gpus[gpu.address] = entry
    return {'t': host_sample.timestamp, 'host': host_sample.hostname,
            'gpus': gpus}


def load(path):
    """The records of a history file, oldest first; [] when absent.

    Lines that do not parse (a write cut short) are skipped.
    """
    records = []
    try:
        with open(path) as stream:
            for line in stream:
                try:
                    item = json.loads(line)
                except ValueError:
                    continue
                if isinstance(item, dict) and isinstance(
                        item.get('gpus'), dict) and 't' in item:
                    records.append(item)
    except FileNotFoundError:
        return []
    return records


def series(records, key='gpu_util'):
    """``{'host gpu': [(t, value)]}`` of every GPU in ``records``."""
    result = {}
    for item in records:
        for address, values in sorted(item['gpus'].items()):
            if values.get(key) is None:
                continue
            name = '%s %s' % (item.get('host') or '', address)
            result.setdefault(name.strip(), []).append(
                (float(item['t']), float(values[key])))
    return result


def mean_series(records, key='gpu_util'):
    """``[(t, mean over the GPUs of that round)]``: the cluster's line."""
    result = []
    for item in records:
        values = [v[key] for v in item['gpus'].values()
                  if v.get(key) is not None]
        if values:
            result.append((float(item['t']), sum(values) / len(values)))
    return result


class Writer:
    """Appends records, trimming the file to its last ``keep`` lines."""

    def __init__(self, path, keep=5760):
        self.path = path
        self.keep = max(1, int(keep))
        self._appended = 0
        self._failed = False

    def append(self, host_sample):
        try:
            directory = os.path.dirname(self.path)
            if directory:
                os.makedirs(directory, exist_ok=True)
            with open(self.path, 'a') as stream:
                stream.write(json.dumps(record(host_sample),
                                        sort_keys=True) + '\n')
            self._appended += 1
            # Trim now and then, not every round: at most 2*keep lines.
            if self._appended >= self.keep:
                self._trim()
                self._appended = 0
            self._failed = False
        except OSError as exc:
            if not self._failed:
                LOG.warning('utilization history not written to %s: %s',
                            self.path, exc)
            self._failed = True

    def _trim(self):
        with open(self.path) as stream:
            lines = stream.readlines()
        if len(lines) <= self.keep:
            return
        tmp = self.path + '.tmp'
        with open(tmp, 'w') as stream:
            stream.writelines(lines[-self.keep:])
        os.replace(tmp, self.path)


def default_path(state_dir):
    """Where the monitor keeps its history under ``[gpuvirt] state_dir``."""
    return os.path.join(state_dir, 'monitor', 'history.jsonl')

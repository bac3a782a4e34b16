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

"""Print "N passed, N failed, N skipped" for the last stestr run.

Reads the last run's subunit stream, so the counts are the runner's own.
Exits 1 when the run had failures or ran no test at all.
"""

import subprocess
import sys

import subunit
import testtools


def main():
    stream = subprocess.run(['stestr', 'last', '--subunit'],
                            capture_output=True, check=False).stdout
    summary = testtools.StreamSummary()
    case = subunit.ByteStreamToStreamResult(
        __import__('io').BytesIO(stream), non_subunit_name='stdout')
    summary.startTestRun()
    case.run(summary)
    summary.stopTestRun()
    failed = len(summary.errors) + len(summary.failures)
    skipped = len(summary.skipped) if hasattr(summary, 'skipped') else 0
    skipped = sum(len(v) for v in summary.skip_reasons.values()) \
        if hasattr(summary, 'skip_reasons') else skipped
    passed = summary.testsRun - failed - skipped
    print('%d passed, %d failed, %d skipped' % (passed, failed, skipped))
    return 1 if failed or summary.testsRun == 0 else 0


if __name__ == '__main__':
    sys.exit(main())

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

"""Alert rules: pure functions over samples, with duration and hysteresis.

A rule reads one value per subject (a GPU or a vGPU) from each sample.
It *raises* after ``raise_after`` consecutive samples above
``raise_above`` and *clears* after ``clear_after`` consecutive samples
at or below ``clear_below`` (lower than ``raise_above``: a value hovering at
the threshold does not flap). Each alert is raised once and cleared once;
a subject that leaves (a deleted vGPU) clears its alerts. A sample
without the rule's value (a metric NVML lacks) changes nothing.

:func:`evaluate` is the whole engine: ``(rules, state, sample) ->
(state, events)``. No clock, no I/O: the caller keeps ``state``.
"""

import dataclasses

RAISED = 'raised'
CLEARED = 'cleared'

GPU = 'gpu'
VGPU = 'vgpu'
HOST = 'host'


@dataclasses.dataclass(frozen=True)
class Rule:
    """One alert rule; ``value(subject, previous)`` gives its number."""

    name: str
    scope: str
    #: ``value(subject_sample, previous_subject_sample)`` -> float or None.
    value: object
    raise_above: float
    clear_below: float
    raise_after: int = 1
    clear_after: int = 1
    severity: str = 'warning'
    summary: str = ''

    def __post_init__(self):
        if self.clear_below > self.raise_above:
            raise ValueError('rule %s: clear_below %s is above raise_above '
                             '%s' % (self.name, self.clear_below,
                                     self.raise_above))
        if self.raise_after < 1 or self.clear_after < 1:
            raise ValueError('rule %s: raise_after and clear_after are at '
                             'least 1' % self.name)


@dataclasses.dataclass(frozen=True)
class RuleState:
    active: bool = False
    over: int = 0
    under: int = 0
    value: float = None


@dataclasses.dataclass(frozen=True)
class AlertEvent:
    """An alert raised or cleared, with what it is about."""

    rule: str
    state: str
    severity: str
    subject: str
    scope: str
    value: float
    summary: str
    #: GPU address (GPU and vGPU scope), vGPU device, owner fields...
    labels: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class EvalState:
    """What :func:`evaluate` carries between samples."""

    rules: dict = dataclasses.field(default_factory=dict)
    #: (scope, subject) -> the subject's sample in the previous round.
    previous: dict = dataclasses.field(default_factory=dict)
    #: (scope, subject) -> labels of its last sample, for clears.
    labels: dict = dataclasses.field(default_factory=dict)


def step(rule, state, value):
    """(new RuleState, RAISED/CLEARED/None) after one value."""
    if value is None:
        return state, None
    if not state.active:
        over = state.over + 1 if value > rule.raise_above else 0
        if over >= rule.raise_after:
            return RuleState(active=True, value=value), RAISED
        return RuleState(over=over, value=value), None
    under = state.under + 1 if value <= rule.clear_below else 0
    if under >= rule.clear_after:
        return RuleState(value=value), CLEARED
    return RuleState(active=True, under=under, value=value), None


def subjects(host_sample):
    """``{(scope, subject): (sample object, labels)}`` of one sample."""
    result = {}
    for gpu in host_sample.gpus:
        result[(GPU, gpu.address)] = (gpu, {
            'host': host_sample.hostname, 'gpu': gpu.address,
            'model': gpu.model, 'instances': list(gpu.instances)})
    for vgpu in host_sample.vgpus:
        key = vgpu.device or '%s/%d' % (vgpu.gpu_address, vgpu.vgpu_id)
        result[(VGPU, key)] = (vgpu, {
            'host': host_sample.hostname, 'gpu': vgpu.gpu_address,
            'vgpu_type': vgpu.vgpu_type, 'device': vgpu.device,
            'instance_uuid': vgpu.owner.instance_uuid,
            'project_id': vgpu.owner.project_id})
    result[(HOST, host_sample.hostname)] = (host_sample, {
        'host': host_sample.hostname,
        'drifting_gpus': list(host_sample.drift or ())})
    return result


def evaluate(rules, state, host_sample):
    """Run every rule on one sample: ``(new EvalState, [AlertEvent])``."""
    state = state or EvalState()
    new = EvalState()
    events = []
    current = subjects(host_sample)
    for (scope, subject), (obj, labels) in sorted(
            current.items(), key=lambda kv: kv[0]):
        previous = state.previous.get((scope, subject))
        for rule in rules:
            if rule.scope != scope:
                continue
            key = (rule.name, scope, subject)
            old = state.rules.get(key, RuleState())
            rule_state, change = step(rule, old, rule.value(obj, previous))
            if rule_state != RuleState():
                new.rules[key] = rule_state
            if change:
                events.append(AlertEvent(
                    rule=rule.name, state=change, severity=rule.severity,
                    subject=subject, scope=scope, value=rule_state.value,
                    summary=rule.summary, labels=labels))
        new.previous[(scope, subject)] = obj
        new.labels[(scope, subject)] = labels
    # Subjects that left (a vGPU whose guest is gone) clear their alerts.
    for (name, scope, subject), rule_state in sorted(state.rules.items()):
        if (scope, subject) in current or not rule_state.active:
            continue
        rule = next((r for r in rules if r.name == name), None)
        events.append(AlertEvent(
            rule=name, state=CLEARED,
            severity=rule.severity if rule else 'warning', subject=subject,
            scope=scope, value=None, summary='%s is gone' % subject,
            labels=state.labels.get((scope, subject), {})))
    return new, events


def active(state):
    """``[(rule, scope, subject)]`` of the alerts raised and not cleared."""
    return sorted(key for key, s in (state.rules if state else {}).items()
                  if s.active)


# -- the value functions of the shipped rules ---------------------------------

def _percent(used, total):
    if used is None or not total:
        return None
    return 100.0 * used / total


def fb_used_percent(obj, _previous):
    return _percent(obj.metrics.get('fb_used_mib'),
                    obj.metrics.get('fb_total_mib'))


def metric(key):
    def value(obj, _previous):
        return obj.metrics.get(key)
    value.__name__ = key
    return value


def power_percent(obj, _previous):
    return _percent(obj.metrics.get('power_w'),
                    obj.metrics.get('power_limit_w'))


def lost(obj, _previous):
    return 0.0 if obj.present else 1.0


def new_ecc_dbe(obj, previous):
    """Double-bit ECC errors since the previous sample (0 on the first)."""
    now = obj.metrics.get('ecc_dbe_total')
    if now is None:
        return None
    before = previous.metrics.get('ecc_dbe_total') if previous else None
    return float(max(0, now - before)) if before is not None else 0.0


def new_xids(obj, _previous):
    return float(len(obj.xids)) if obj.present else None


def drift(obj, _previous):
    return None if obj.drift is None else float(len(obj.drift))


def default_rules(group):
    """The shipped rules, thresholds from ``[gpuvirt_monitor]``."""
    n_raise, n_clear = group.raise_after_samples, group.clear_after_samples
    gap = group.hysteresis_percent

    def threshold(name, scope, value, above, summary, severity='warning',
                  raise_after=n_raise, clear_after=n_clear):
        return Rule(name=name, scope=scope, value=value, raise_above=above,
                    clear_below=above - gap if gap < above else 0.0,
                    raise_after=raise_after, clear_after=clear_after,
                    severity=severity, summary=summary)

    def event(name, value, summary, severity):
        # Counted events: raised on the sample that shows one, cleared
        # after clear_after samples with none.
        return Rule(name=name, scope=GPU, value=value, raise_above=0.0,
                    clear_below=0.0, raise_after=1, clear_after=n_clear,
                    severity=severity, summary=summary)

    return (
        threshold('gpu_memory_overflow', GPU, fb_used_percent,
                  group.fb_used_percent,
                  'GPU framebuffer above %s%%' % group.fb_used_percent),
        threshold('vgpu_memory_overflow', VGPU, fb_used_percent,
                  group.fb_used_percent,
                  'vGPU framebuffer above %s%%' % group.fb_used_percent),
        threshold('gpu_compute_overload', GPU, metric('gpu_util'),
                  group.gpu_util_percent,
                  'GPU utilization above %s%%' % group.gpu_util_percent),
        threshold('gpu_temperature', GPU, metric('temperature_c'),
                  group.temperature_c,
                  'GPU temperature above %s C' % group.temperature_c),
        threshold('gpu_power', GPU, power_percent, group.power_percent,
                  'GPU power above %s%% of its limit'
                  % group.power_percent),
        Rule(name='gpu_lost', scope=GPU, value=lost, raise_above=0.5,
             clear_below=0.0, raise_after=1, clear_after=n_clear,
             severity='critical', summary='GPU lost (fell off the bus)'),
        event('gpu_ecc_dbe', new_ecc_dbe, 'new double-bit ECC errors',
              'critical'),
        event('gpu_xid', new_xids, 'new XID errors', 'critical'),
        Rule(name='layout_drift', scope=HOST, value=drift, raise_above=0.0,
             clear_below=0.0, raise_after=n_raise, clear_after=n_clear,
             summary='the carve differs from the layout file'),
    )

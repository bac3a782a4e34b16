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

"""Carry out a plan through a HardwareWriter, one GPU at a time.

Every step is verified by reading the host back (never by trusting an exit
code: ``sriov-manage`` is known to report success when the VFs did not
appear). Each GPU is isolated: a failing GPU is rolled back to what it was
(everything this run changed on it is undone, newest first) and reported,
and the other GPUs go on. That includes the failing step itself when its
write went through but did not read back: the rollback reads the GPU again
and undoes the step only if it took effect. A GPU whose plan destroys a
vGPU or a MIG instance (a GPU reset counts when the GPU holds any) is only
touched when it was drained (``--drain``) or the operator says no instance
uses it (``--force``, implied by ``--boot`` where nova-compute has not
started yet).
"""

import dataclasses
import functools

from oslo_log import log as logging

from gpuvirt_nova import exception
from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.layout import drain as drain_mod
from gpuvirt_nova.layout import mdevs as mdevs_mod
from gpuvirt_nova.layout import owners
from gpuvirt_nova.layout import plan as plan_mod
from gpuvirt_nova.layout import resolve

LOG = logging.getLogger(__name__)

PCI = '/sys/bus/pci/devices'

UNCHANGED = 'unchanged'
APPLIED = 'applied'
FAILED = 'failed'
SKIPPED = 'skipped'
BLOCKED = 'blocked'
#: Stopped by SIGINT/SIGTERM: the GPU was rolled back, or not started.
INTERRUPTED = 'interrupted'

#: Passes over one GPU: the second picks up what only the first made
#: visible (vGPU delivery is known once VFs exist).
MAX_PASSES = 3


class Interrupted(exception.GpuvirtError):
    """A stop was asked for (SIGINT, SIGTERM) between two steps."""


class StepFailed(exception.GpuvirtError):
    """A step was refused, or read back differently than written.

    ``undo`` is set when the step's write went through but could not be
    verified: the write may have taken effect, so the rollback runs it
    (it undoes the step only if a fresh read shows the step took).
    """

    def __init__(self, message, undo=None):
        super().__init__(message)
        self.undo = undo


@dataclasses.dataclass
class GpuResult:
    address: str
    status: str
    message: str = ''
    done: list = dataclasses.field(default_factory=list)
    rolled_back: list = dataclasses.field(default_factory=list)

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Options:
    force: bool = False
    drainer: object = None
    drain_timeout: float = 600
    drain_interval: float = 5
    compute_instances: bool = True
    progress: object = None
    #: The mdev door (:mod:`gpuvirt_nova.layout.mdevs`): libvirt's
    #: node-device API on a real host. None: the kernel's sysfs files
    #: through the writer, as the simulator's tests drive them.
    mdevs: object = None
    #: ``stop()`` -> True once a stop is asked for (a signal handler sets
    #: it): the step in progress finishes, the GPU it belongs to is
    #: rolled back, the drain is released, the other GPUs are left alone.
    stop: object = None
    #: The host's GPU owner record (:mod:`owners`); None: no dynamic GPUs.
    owners_path: str = None

    def stopping(self):
        return bool(self.stop is not None and self.stop())


class _Gpu:
    """Reads one GPU back, and only that GPU.

    ``read()`` is a real read of the GPU (its sysfs files and its NVML
    device): every step calls it after writing, so what it checks is what
    the hardware says. ``last()`` is the GPU as the latest real read saw
    it, which is what a step needs to decide its write (which VF is free,
    what to undo to): nothing has written to the GPU since.
    """

    def __init__(self, read_gpu, address):
        self.read_gpu = read_gpu
        self.address = address
        self._last = None

    def read(self):
        gpu = self.read_gpu(self.address)
        if gpu is None:
            raise StepFailed('GPU %s disappeared from discovery'
                             % self.address)
        self._last = gpu
        return gpu

    def last(self):
        return self._last if self._last is not None else self.read()

    def forget(self):
        """After a failed write the last read may be stale: read again."""
        self._last = None


#: Public name of the read-back handle, for the driver's dynamic carve.
GpuReadBack = _Gpu


def gpu_reader(read_host):
    """A ``read_gpu(address)`` over a whole-host ``read_host()``."""
    return lambda address: read_host().gpu(address)


def _model(gpu):
    return catalog.load().find(gpu.model)


def _type_id(gpu, name):
    """The id this GPU's driver lists for vGPU type ``name``; never another.

    The catalog's ids are for planning only: a write with an id the
    driver did not list would name another type, or none.
    """
    type_id = gpu.vgpu_type_ids.get(name)
    if type_id is None:
        raise StepFailed('the driver on GPU %s does not list vGPU type %s '
                         '(it lists %s); nothing was written' % (
                             gpu.address, name,
                             ', '.join(sorted(gpu.vgpu_type_ids)) or
                             'no types'))
    return type_id


def _check(ok, message):
    if not ok:
        raise StepFailed(message)


def _undo_if_taken(reader, taken, undo):
    """An undo that first reads the GPU: None when ``taken`` says no.

    For a step whose write was not verified, so the rollback neither
    skips a write that took nor undoes one that did not.
    """
    def run():
        if not taken(reader.read()):
            return None
        return undo()
    return run


def _verify(reader, holds, message, undo, taken=None):
    """Read the GPU back; raise StepFailed unless ``holds(gpu)``.

    The write has been made: the StepFailed carries ``undo``, guarded by
    ``taken(gpu)`` (default ``holds``), so the rollback includes this
    step when its write took effect. ``message(gpu)`` says what was read.
    """
    guarded = _undo_if_taken(reader, taken or holds, undo)
    try:
        gpu = reader.read()
    except Exception as exc:
        raise StepFailed('reading %s back failed: %s' % (
            reader.address, str(exc) or exc.__class__.__name__),
            guarded) from exc
    if not holds(gpu):
        raise StepFailed(message(gpu), guarded)
    return gpu


def gi_at(gpu, profile, start):
    for gi in gpu.gpu_instances:
        if gi.profile == profile and gi.placement.start == start:
            return gi
    return None


def set_numvfs(writer, reader, count):
    gpu = reader.last()
    before = len(gpu.vfs)
    path = '%s/%s/sriov_numvfs' % (PCI, gpu.address)
    if before == count:
        return None
    undo = functools.partial(set_numvfs, writer, reader, before)
    if before and count:
        writer.write_sysfs(path, '0')  # the kernel refuses N -> M directly
        try:
            writer.write_sysfs(path, str(count))
        except Exception as exc:
            # The VFs are gone already: the rollback must bring them back.
            raise StepFailed('writing %d to %s failed after disabling its '
                             'VFs: %s' % (count, path, exc), undo) from exc
    else:
        writer.write_sysfs(path, str(count))
    _verify(reader, lambda gpu: len(gpu.vfs) == count,
            lambda gpu: 'wrote %d to %s but %d VFs are enabled' % (
                count, path, len(gpu.vfs)),
            undo, taken=lambda gpu: len(gpu.vfs) != before)
    return undo


def set_mig_mode(writer, reader, enabled):
    before = bool(reader.last().mig_current)
    undo = functools.partial(set_mig_mode, writer, reader, before)
    if writer.set_mig_mode(reader.address, enabled):
        try:
            writer.reset_gpu(reader.address)
        except Exception as exc:
            raise StepFailed('resetting the GPU to set MIG mode %s failed: '
                             '%s' % ('on' if enabled else 'off', exc),
                             _undo_if_taken(
                                 reader, lambda gpu: bool(
                                     gpu.mig_current) != before,
                                 undo)) from exc
    _verify(reader, lambda gpu: bool(gpu.mig_current) == enabled,
            lambda gpu: 'MIG mode reads %s after setting it %s' % (
                'on' if gpu.mig_current else 'off',
                'on' if enabled else 'off'), undo,
            taken=lambda gpu: bool(gpu.mig_current) != before)
    return undo


def create_gi(writer, reader, profile, start):
    gi_id = writer.create_gpu_instance(reader.address, profile, start)

    def undo():
        made = gi_id if gi_id is not None else \
            gi_at(reader.last(), profile, start).id
        return destroy_gi(writer, reader, made, profile, start)
    _verify(reader, lambda gpu: gi_at(gpu, profile, start) is not None,
            lambda gpu: 'GPU instance %s at %d is not there after '
            'creating it' % (profile, start), undo)
    return undo


def destroy_gi(writer, reader, gi_id, profile, start):
    writer.destroy_gpu_instance(reader.address, gi_id)
    undo = functools.partial(create_gi, writer, reader, profile, start)
    _verify(reader, lambda gpu: all(gi.id != gi_id
                                    for gi in gpu.gpu_instances),
            lambda gpu: 'GPU instance %d is still there after destroying '
            'it' % gi_id, undo)
    return undo


def create_ci(writer, reader, profile, start):
    gi = gi_at(reader.last(), profile, start)
    _check(gi is not None, 'no GPU instance %s at %d to hold a compute '
           'instance' % (profile, start))
    old = {ci.id for ci in gi.compute_instances}
    ci_id = writer.create_compute_instance(reader.address, gi.id, profile)

    def new_ci(gpu):
        now = gi_at(gpu, profile, start)
        return next((ci.id for ci in (now.compute_instances if now else ())
                     if ci.id == ci_id or (ci_id is None
                                           and ci.id not in old)), None)

    def undo():
        return destroy_ci(writer, reader, gi.id, new_ci(reader.last()),
                          profile, start)
    _verify(reader, lambda gpu: new_ci(gpu) is not None,
            lambda gpu: 'GPU instance %s at %d has no new compute '
            'instance after creating one' % (profile, start), undo)
    if ci_id is None:
        ci_id = new_ci(reader.last())
    return undo


def destroy_ci(writer, reader, gi_id, ci_id, profile, start=None):
    if start is None:
        gi = next((g for g in reader.last().gpu_instances
                   if g.id == gi_id), None)
        start = gi.placement.start if gi else 0
    writer.destroy_compute_instance(reader.address, gi_id, ci_id)

    def gone(gpu):
        gi = next((g for g in gpu.gpu_instances if g.id == gi_id), None)
        return gi is None or all(c.id != ci_id for c in gi.compute_instances)
    undo = functools.partial(create_ci, writer, reader, profile, start)
    _verify(reader, gone, lambda gpu: 'compute instance %d of GPU instance '
            '%d is still there' % (ci_id, gi_id), undo)
    return undo


def set_vf_type(writer, reader, vf_address, name):
    """Write a VF's ``current_vgpu_type`` (name, or None to clear it)."""
    gpu = reader.last()
    vf = gpu.vf(vf_address)
    before = vf.current_vgpu_type if vf else None
    value = str(_type_id(gpu, name)) if name else '0'
    writer.write_sysfs('%s/%s/nvidia/current_vgpu_type' % (PCI, vf_address),
                       value)

    def reads(gpu):
        vf = gpu.vf(vf_address)
        return plan_mod.type_name(_model(gpu), vf.current_vgpu_type) \
            if vf else None

    def undo():
        return set_vf_type(writer, reader, vf_address,
                           plan_mod.type_name(_model(gpu), before))
    _verify(reader, lambda gpu: reads(gpu) == name,
            lambda gpu: 'VF %s reads vGPU type %s after writing %s' % (
                vf_address, reads(gpu), name or 'none'), undo,
            taken=lambda gpu: reads(gpu) != plan_mod.type_name(
                _model(gpu), before))
    return undo


class _SysfsMdevs(object):
    """The kernel's own mdev files, through the writer (no persistence)."""

    def __init__(self, writer):
        self.writer = writer

    def create(self, parent, mdev_type, uuid):
        self.writer.write_sysfs('%s/%s/mdev_supported_types/%s/create' % (
            mdevs_mod.MDEV_BUS, parent, mdev_type), uuid)

    def remove(self, parent, uuid):
        self.writer.write_sysfs('%s/%s/remove' % (mdevs_mod.MDEV_DEVICES,
                                                  uuid), '1')


def _door(writer, mdevs):
    return mdevs if mdevs is not None else _SysfsMdevs(writer)


def create_mdev(writer, reader, parent, mdev_type, uuid, mdevs=None):
    _door(writer, mdevs).create(parent, mdev_type, uuid)
    undo = functools.partial(remove_mdev, writer, reader, parent,
                             mdev_type, uuid, mdevs)
    _verify(reader, lambda gpu: any(m.uuid == uuid for m in gpu.mdevs),
            lambda gpu: 'mdev %s is not there after creating it on %s' % (
                uuid, parent), undo)
    return undo


def remove_mdev(writer, reader, parent, mdev_type, uuid, mdevs=None):
    _door(writer, mdevs).remove(parent, uuid)
    undo = functools.partial(create_mdev, writer, reader, parent,
                             mdev_type, uuid, mdevs)
    _verify(reader, lambda gpu: all(m.uuid != uuid for m in gpu.mdevs),
            lambda gpu: 'mdev %s is still there after removing it' % uuid,
            undo)
    return undo


def _free_vf(gpu, name, mdev_type=None):
    busy = {m.parent for m in gpu.mdevs}
    for vf in sorted(gpu.vfs, key=lambda v: v.address):
        if vf.current_vgpu_type or vf.address in busy:
            continue
        if mdev_type is not None:
            offered = {t.mdev_type: t for t in vf.mdev_types}
            if mdev_type in offered and \
                    offered[mdev_type].available_instances > 0:
                return vf.address
            continue
        if not vf.creatable_types or name in vf.creatable_types:
            return vf.address
    return None


def create_vgpu(writer, reader, args, mdevs=None):
    gpu = reader.last()
    via = args.get('via') or plan_mod.delivery(gpu)
    if via == plan_mod.VIA_VFIO:
        vf = _free_vf(gpu, args['type'])
        _check(vf is not None, 'no free VF can take vGPU type %s' %
               args['type'])
        return set_vf_type(writer, reader, vf, args['type'])
    if via == plan_mod.VIA_SRIOV_MDEV:
        mdev_type = 'nvidia-%d' % _type_id(gpu, args['type'])
        vf = _free_vf(gpu, args['type'], mdev_type)
        _check(vf is not None, 'no free VF offers mdev type %s (%s)' % (
            mdev_type, args['type']))
        return create_mdev(writer, reader, vf, mdev_type, args['uuid'],
                           mdevs)
    if via == plan_mod.VIA_MDEV:
        return create_mdev(writer, reader, gpu.address,
                           'nvidia-%d' % _type_id(gpu, args['type']),
                           args['uuid'], mdevs)
    raise StepFailed('GPU %s offers no vGPU types (no VFs with types, no '
                     'mdev types): is the NVIDIA vGPU manager loaded?'
                     % gpu.address)


def run_step(writer, reader, step, mdevs=None):
    """Carry out one step, verified; return its undo (a callable or None).

    ``mdevs``: the mdev door (see :class:`Options`).
    """
    a = step.args
    if step.action == plan_mod.SET_NUMVFS:
        return set_numvfs(writer, reader, a['count'])
    if step.action == plan_mod.SET_MIG_MODE:
        return set_mig_mode(writer, reader, a['enabled'])
    if step.action == plan_mod.CREATE_GI:
        return create_gi(writer, reader, a['profile'], a['start'])
    if step.action == plan_mod.DESTROY_GI:
        return destroy_gi(writer, reader, a['gi'], a['profile'], a['start'])
    if step.action == plan_mod.CREATE_CI:
        return create_ci(writer, reader, a['profile'], a['start'])
    if step.action == plan_mod.DESTROY_CI:
        return destroy_ci(writer, reader, a['gi'], a['ci'], a['profile'])
    if step.action == plan_mod.REMOVE_VGPU:
        if a.get('uuid'):
            return remove_mdev(writer, reader, a['parent'],
                               'nvidia-%d' % _type_id(reader.last(),
                                                      a['type']), a['uuid'],
                               mdevs)
        return set_vf_type(writer, reader, a['parent'], None)
    if step.action == plan_mod.CREATE_VGPU:
        return create_vgpu(writer, reader, a, mdevs)
    raise StepFailed('unknown step %s' % step.action)


def _rollback(journal, result):
    """Undo ``journal``, newest first.

    An undo that returns None found nothing to undo (a step whose write
    had not taken effect), so it is not listed as rolled back.
    """
    for description, undo in reversed(journal):
        try:
            if undo() is None:
                LOG.debug('nothing to undo for "%s"', description)
                continue
            result.rolled_back.append(description)
        except Exception as exc:  # keep undoing the rest
            LOG.error('rollback of "%s" failed: %s', description, exc)
            result.message += '; rollback of "%s" failed: %s' % (
                description, exc)


def _say(options, text):
    if options.progress:
        options.progress(text)
    else:
        LOG.info(text)


def _permitted(gpu_plan, hostname, options, drained):
    """None when the GPU may be changed, else why not."""
    if not gpu_plan.destroys or options.force:
        return None
    if options.drainer is None:
        return ('the plan destroys vGPUs or MIG instances; drain it '
                'first with --drain, or pass --force if no instance uses it')
    if not drain_mod.drain(options.drainer, hostname, gpu_plan.address,
                           options.drain_timeout, options.drain_interval,
                           stop=options.stopping):
        if options.stopping():
            return 'interrupted while draining; the drain was released'
        return 'still has allocations after %ds of draining; try again ' \
            'later' % options.drain_timeout
    drained.append(gpu_plan.address)
    return None


def _record_owner(options, target, dynamic_now):
    """Hand a dynamic GPU to the driver, or take it back, once it is set.

    The record changes only after the GPU reached its target, so the
    driver never carves on a GPU the layout is still changing.
    """
    if target.dynamic == dynamic_now:
        return
    if not options.owners_path:
        if target.dynamic:
            raise StepFailed('owner: dynamic needs the host\'s GPU owner '
                             'record; set [gpuvirt] state_dir')
        return
    if target.dynamic:
        owners.update(options.owners_path,
                      dynamic={target.address: target.series},
                      time_sliced={target.address: target.scheduling}
                      if target.mode == resolve.TIME_SLICED else None)
    else:
        owners.update(options.owners_path, static=[target.address])


def apply_gpu(target, read_gpu, writer, hostname, options):
    """Bring one GPU to ``target``; return its GpuResult (never raises).

    ``read_gpu(address)`` reads one GPU back (a PhysicalGpu or None).
    """
    reader = _Gpu(read_gpu, target.address)
    result = GpuResult(address=target.address, status=UNCHANGED)
    dynamic_now = bool(options.owners_path) and target.address in \
        owners.dynamic_addresses(options.owners_path)
    journal = []
    current = None
    drained = []
    try:
        for _ in range(MAX_PASSES):
            gpu_plan = plan_mod.plan_gpu(target, reader.read(), hostname,
                                         options.compute_instances,
                                         dynamic_now)
            if gpu_plan.blocked:
                result.status, result.message = BLOCKED, gpu_plan.blocked
                return result
            if not gpu_plan.steps:
                break
            if not drained:
                why = _permitted(gpu_plan, hostname, options, drained)
                if why:
                    result.status, result.message = SKIPPED, why
                    if options.stopping():
                        result.status = INTERRUPTED
                    return result
            for step in gpu_plan.steps:
                if options.stopping():
                    raise Interrupted('interrupted after %d step(s)'
                                      % len(result.done))
                _say(options, step.describe())
                current = step.describe()
                undo = run_step(writer, reader, step, options.mdevs)
                result.done.append(step.describe())
                if undo is not None:
                    journal.append((step.describe(), undo))
            result.status = APPLIED
        else:
            raise StepFailed('still differs from the layout after %d '
                             'passes' % MAX_PASSES)
        _record_owner(options, target, dynamic_now)
    except BaseException as exc:
        # BaseException: a KeyboardInterrupt in the middle of a GPU rolls
        # it back too (and is raised again), never leaving it half-carved.
        LOG.debug('applying %s failed', target.address, exc_info=True)
        result.status = INTERRUPTED if isinstance(
            exc, (Interrupted, KeyboardInterrupt)) else FAILED
        result.message = str(exc) or exc.__class__.__name__
        _say(options, '%s: %s: %s; rolling back'
             % (target.address, result.status, result.message))
        reader.forget()
        if getattr(exc, 'undo', None) is not None:
            # The failing step's write went through: undo it first.
            journal.append((current, exc.undo))
        _rollback(journal, result)
        if not isinstance(exc, Exception):
            raise
    finally:
        for address in drained:
            _release(options.drainer, hostname, address, result)
    return result


def _release(drainer, hostname, address, result):
    """Release a drain; when Placement refuses, say so in ``result``.

    The GPU's outcome stands (it was carved, or rolled back): failing
    here would hide it and leave the other GPUs unapplied.
    """
    try:
        drainer.set_reserved(hostname, address, False)
    except Exception as exc:
        LOG.debug('releasing the drain of %s failed', address, exc_info=True)
        result.message = '; '.join(m for m in (result.message, (
            'its drain could not be released (%s): once Placement answers, '
            'run gpuvirt-nova layout undrain --host %s --gpu %s'
            % (exc, hostname, address))) if m)


def apply(targets, read_host, writer, hostname=None, options=None,
          read_gpu=None):
    """Apply every target; [GpuResult] in GPU order (never raises).

    Steps are verified with ``read_gpu(address)``, which reads back only
    the GPU a step touched; without it, with a whole-host ``read_host()``
    (slower: every read-back reads every GPU).
    """
    options = options or Options()
    read_gpu = read_gpu or gpu_reader(read_host)
    results = []
    for target in targets:
        if options.stopping():
            results.append(GpuResult(address=target.address,
                                     status=INTERRUPTED,
                                     message='not started: interrupted'))
            continue
        results.append(apply_gpu(target, read_gpu, writer, hostname,
                                 options))
    return results

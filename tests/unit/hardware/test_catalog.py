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

"""The shipped GPU catalog: every data file loads and obeys the geometry.

The checks here are invariants NVIDIA's tables must satisfy (MIG placements
on 8 memory slices, MIG-backed vGPU types mirroring their GPU instance,
time-sliced maxima that fit the board memory), so a wrong edit of a data
file fails here before any layer trusts it.
"""

import copy
import re

from oslotest import base
import pynvml

from gpuvirt_nova.hardware import catalog
from gpuvirt_nova.hardware import model


#: (compute slices, memory slices) of a MIG GPU-instance profile ->
#: (instances per GPU, NVML GPU-instance profile id), per NVIDIA's MIG
#: user guide and nvml.h.
MIG_GEOMETRY = {
    (1, 1): (7, pynvml.NVML_GPU_INSTANCE_PROFILE_1_SLICE),
    (1, 2): (4, pynvml.NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV2),
    (2, 2): (3, pynvml.NVML_GPU_INSTANCE_PROFILE_2_SLICE),
    (3, 4): (2, pynvml.NVML_GPU_INSTANCE_PROFILE_3_SLICE),
    (4, 4): (1, pynvml.NVML_GPU_INSTANCE_PROFILE_4_SLICE),
    (7, 8): (1, pynvml.NVML_GPU_INSTANCE_PROFILE_7_SLICE),
}

#: The same on GPUs cut into 4 memory and 4 compute slices (A30, RTX PRO
#: 6000 Blackwell).
MIG_GEOMETRY_4 = {
    (1, 1): (4, pynvml.NVML_GPU_INSTANCE_PROFILE_1_SLICE),
    (2, 2): (2, pynvml.NVML_GPU_INSTANCE_PROFILE_2_SLICE),
    (4, 4): (1, pynvml.NVML_GPU_INSTANCE_PROFILE_4_SLICE),
}

#: (memory slices, compute slices) of each MIG model's whole GPU.
MIG_SHAPE = {'A30': (4, 4), 'RTX-PRO-6000-BLACKWELL': (4, 4)}

#: Profile variants (name suffix, compute slices) -> (one instance per GPU,
#: NVML profile index). ``+me`` (media extensions) and ``+me.all`` (every
#: media engine) take the placements of the plain profile but hold one
#: instance per GPU (``nvidia-smi mig -lgip`` prints 1/1); ``+gfx``
#: (graphics) and ``-me`` (no media engines) hold as many as it.
VARIANTS = {
    ('+me', 1): (True, pynvml.NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV1),
    ('+me', 2): (True, pynvml.NVML_GPU_INSTANCE_PROFILE_2_SLICE_REV1),
    ('+me.all', 1): (True, pynvml.NVML_GPU_INSTANCE_PROFILE_1_SLICE_ALL_ME),
    ('+me.all', 2): (True, pynvml.NVML_GPU_INSTANCE_PROFILE_2_SLICE_ALL_ME),
    ('+gfx', 1): (False, pynvml.NVML_GPU_INSTANCE_PROFILE_1_SLICE_GFX),
    ('+gfx', 2): (False, pynvml.NVML_GPU_INSTANCE_PROFILE_2_SLICE_GFX),
    ('+gfx', 4): (False, pynvml.NVML_GPU_INSTANCE_PROFILE_4_SLICE_GFX),
    ('-me', 1): (False, pynvml.NVML_GPU_INSTANCE_PROFILE_1_SLICE_NO_ME),
    ('-me', 2): (False, pynvml.NVML_GPU_INSTANCE_PROFILE_2_SLICE_NO_ME),
}

#: MIG profile names NVIDIA's MIG user guide lists per model.
MIG_NAMES = {
    'A100-PCIE-40GB': {'1g.5gb', '1g.5gb+me', '1g.10gb', '2g.10gb',
                       '3g.20gb', '4g.20gb', '7g.40gb'},
    'A100-SXM4-80GB': {'1g.10gb', '1g.10gb+me', '1g.20gb', '2g.20gb',
                       '3g.40gb', '4g.40gb', '7g.80gb'},
    'H100-PCIE-80GB': {'1g.10gb', '1g.10gb+me', '1g.20gb', '2g.20gb',
                       '3g.40gb', '4g.40gb', '7g.80gb'},
    'H100-SXM5-80GB': {'1g.10gb', '1g.10gb+me', '1g.20gb', '2g.20gb',
                       '3g.40gb', '4g.40gb', '7g.80gb'},
    'H200-SXM5-141GB': {'1g.18gb', '1g.18gb+me', '1g.35gb', '2g.35gb',
                        '3g.71gb', '4g.71gb', '7g.141gb'},
    'H200-NVL-141GB': {'1g.18gb', '1g.18gb+me', '1g.35gb', '2g.35gb',
                       '3g.71gb', '4g.71gb', '7g.141gb'},
    'A100-SXM4-40GB': {'1g.5gb', '1g.5gb+me', '1g.10gb', '2g.10gb',
                       '3g.20gb', '4g.20gb', '7g.40gb'},
    'A30': {'1g.6gb', '1g.6gb+me', '2g.12gb', '2g.12gb+me', '4g.24gb'},
    'H100-NVL-94GB': {'1g.12gb', '1g.12gb+me', '1g.24gb', '2g.24gb',
                      '3g.47gb', '4g.47gb', '7g.94gb'},
    'B200': {'1g.23gb', '1g.23gb+me', '1g.45gb', '2g.45gb', '3g.90gb',
             '4g.90gb', '7g.180gb'},
    'GB200': {'1g.24gb', '1g.24gb+me', '1g.47gb', '2g.47gb', '3g.93gb',
              '4g.93gb', '7g.186gb'},
    'RTX-PRO-6000-BLACKWELL': {
        '1g.24gb', '1g.24gb+me', '1g.24gb+gfx', '1g.24gb+me.all',
        '1g.24gb-me', '2g.48gb', '2g.48gb+gfx', '2g.48gb+me.all',
        '2g.48gb-me', '4g.96gb', '4g.96gb+gfx'},
}

#: Published time-sliced maxima (equal-size, mixed-size) for a sample of
#: types, from NVIDIA's "Virtual GPU Types for Supported GPUs" tables.
PUBLISHED_MAXIMA = [
    ('A100-40GB', 'A100-4C', 10, 8),
    ('A100-40GB', 'A100-8C', 5, 4),
    ('A100-40GB', 'A100-40C', 1, 1),
    ('A100-80GB', 'A100DX-4C', 20, 16),
    ('H100-PCIE', 'H100-4C', 20, 16),
    ('H100-PCIE', 'H100-8C', 10, 8),
    ('H100-SXM', 'H100XM-5C', 16, 16),
    ('H200', 'H200X-4C', 32, 32),
    ('H200', 'H200X-17C', 8, 8),
    ('H200-NVL', 'H200-7C', 20, 20),
    ('L40S', 'L40S-4C', 12, 8),
    ('L40S', 'L40S-16C', 3, 2),
    ('A6000', 'RTXA6000-8C', 6, 4),
    ('A6000', 'RTXA6000-2Q', 24, 16),
    ('T4', 'T4-16Q', 1, None),
    ('V100', 'V100DX-4C', 8, None),
]

SHIPPED_MODELS = {'A100-PCIE-40GB', 'A100-SXM4-80GB', 'H100-PCIE-80GB',
                  'H100-SXM5-80GB', 'H200-SXM5-141GB', 'H200-NVL-141GB',
                  'L40S', 'RTX-A6000', 'T4', 'V100-SXM2-32GB',
                  'A30', 'A100-SXM4-40GB', 'H100-NVL-94GB', 'B200', 'GB200',
                  'RTX-PRO-6000-BLACKWELL', 'L4', 'L40', 'A16', 'A2', 'A10'}

#: Models whose vGPU type list is partial: only the types a published
#: listing shows with their ids (``vgpu_types_complete: false``).
PARTIAL_TYPES = {'H100-NVL-94GB', 'B200', 'GB200', 'RTX-PRO-6000-BLACKWELL'}

_TIME_SLICED_RE = re.compile(r'-(?P<gb>\d+)[CQBA]$')
_MIG_BACKED_RE = re.compile(r'-(?P<slices>\d)-(?P<gb>\d+)C(?P<me>ME)?$')
_MIG_NAME_RE = re.compile(
    r'^(?P<g>\d)g\.(?P<gb>\d+)gb(?P<variant>\+me|\+me\.all|\+gfx|-me)?$')


def _models():
    return list(catalog.load().models.values())


def _mig_models():
    return [m for m in _models() if m.mig_capable]


def _complete_models():
    return [m for m in _models() if m.vgpu_types_complete]


def _variant(name):
    return _MIG_NAME_RE.match(name).group('variant')


class TestShippedFiles(base.BaseTestCase):

    def test_every_data_file_loads(self):
        names = []
        for file_name, data in catalog.load_data_files():
            gpu_model = catalog.build_model(data, file_name)
            names.append(gpu_model.name)
            self.assertTrue(gpu_model.sources,
                            '%s names no source' % file_name)
        self.assertTrue(SHIPPED_MODELS.issubset(names),
                        SHIPPED_MODELS.difference(names))
        self.assertEqual(len(names), len(set(names)))

    def test_partial_type_lists_are_the_expected_ones(self):
        self.assertEqual(PARTIAL_TYPES, {m.name for m in _models()
                                         if not m.vgpu_types_complete})

    def test_every_model_offers_types_and_host_modes(self):
        for gpu_model in _complete_models():
            self.assertTrue(gpu_model.vgpu_types, gpu_model.name)
            self.assertTrue(gpu_model.vgpu_modes, gpu_model.name)
            self.assertTrue(gpu_model.time_sliced_types('C'), gpu_model.name)

    def test_sriov_models_have_a_vf_per_vgpu(self):
        for gpu_model in _models():
            uses_vfs = any(m.uses_vfs for m in gpu_model.vgpu_modes)
            if not uses_vfs:
                self.assertEqual([model.HostVgpuMode.MDEV],
                                 list(gpu_model.vgpu_modes), gpu_model.name)
                self.assertEqual(0, gpu_model.sriov_totalvfs, gpu_model.name)
                continue
            most = max((t.max_instances for t in gpu_model.vgpu_types),
                       default=0)
            self.assertGreaterEqual(gpu_model.sriov_totalvfs, most,
                                    gpu_model.name)

    def test_mig_only_on_ampere_and_later(self):
        for gpu_model in _mig_models():
            self.assertIn(gpu_model.architecture,
                          (model.Architecture.AMPERE,
                           model.Architecture.HOPPER,
                           model.Architecture.BLACKWELL), gpu_model.name)


class TestMigGeometry(base.BaseTestCase):

    def test_mig_models_are_the_expected_ones(self):
        self.assertEqual(set(MIG_NAMES), {m.name for m in _mig_models()})

    def test_profile_names_match_the_mig_user_guide(self):
        for gpu_model in _mig_models():
            self.assertEqual(MIG_NAMES[gpu_model.name],
                             {p.name for p in gpu_model.mig_profiles})

    def test_memory_and_compute_slices(self):
        for gpu_model in _mig_models():
            self.assertEqual(MIG_SHAPE.get(gpu_model.name, (8, 7)),
                             (gpu_model.memory_slices,
                              gpu_model.compute_slices), gpu_model.name)

    def test_placement_counts_and_nvml_ids(self):
        for gpu_model in _mig_models():
            geometry = (MIG_GEOMETRY_4 if gpu_model.name in MIG_SHAPE
                        else MIG_GEOMETRY)
            seen = set()
            for profile in gpu_model.mig_profiles:
                key = (profile.compute_slices, profile.memory_slices)
                variant = _variant(profile.name)
                if variant:
                    where = '%s %s' % (gpu_model.name, profile.name)
                    one, nvml_id = VARIANTS[variant, profile.compute_slices]
                    self.assertEqual(nvml_id, profile.nvml_id, where)
                    self.assertEqual(1 if one else geometry[key][0],
                                     profile.max_instances, where)
                    continue
                self.assertIn(key, geometry,
                              '%s %s' % (gpu_model.name, profile.name))
                count, nvml_id = geometry[key]
                self.assertEqual(count, profile.max_instances,
                                 '%s %s' % (gpu_model.name, profile.name))
                self.assertEqual(nvml_id, profile.nvml_id,
                                 '%s %s' % (gpu_model.name, profile.name))
                seen.add(key)
            self.assertEqual(set(geometry), seen, gpu_model.name)

    def test_variants_share_their_plain_profile(self):
        for gpu_model in _mig_models():
            variants = [p for p in gpu_model.mig_profiles
                        if _variant(p.name)]
            self.assertIn('+me', {_variant(p.name) for p in variants},
                          gpu_model.name)
            for variant in variants:
                plain = gpu_model.mig_profile(
                    variant.name[:-len(_variant(variant.name))])
                self.assertEqual(plain.placements, variant.placements)
                self.assertEqual(plain.memory_mib, variant.memory_mib)
                self.assertEqual(plain.compute_slices,
                                 variant.compute_slices)

    def test_placements_are_aligned_inside_the_gpu(self):
        for gpu_model in _mig_models():
            for profile in gpu_model.mig_profiles:
                sizes = {p.size for p in profile.placements}
                self.assertEqual(1, len(sizes), profile.name)
                for placement in profile.placements:
                    self.assertEqual(0, placement.start % placement.size,
                                     '%s %s' % (profile.name, placement))
                    self.assertLessEqual(placement.start + placement.size,
                                         gpu_model.memory_slices)

    def test_profile_name_matches_slices_and_memory(self):
        for gpu_model in _mig_models():
            for profile in gpu_model.mig_profiles:
                match = _MIG_NAME_RE.match(profile.name)
                self.assertIsNotNone(match, profile.name)
                self.assertEqual(int(match.group('g')),
                                 profile.compute_slices, profile.name)
                # NVML reports somewhat less than the marketing size
                # (4.75 GiB for 1g.5gb; 20.00 GiB for GB200's 1g.24gb),
                # never much more.
                gib = profile.memory_mib / 1024
                gb = int(match.group('gb'))
                where = '%s %s' % (gpu_model.name, profile.name)
                self.assertLessEqual(gib, gb + 1, where)
                self.assertGreaterEqual(gib, 0.8 * gb, where)

    def test_profile_memory_fits_the_gpu(self):
        for gpu_model in _mig_models():
            for profile in gpu_model.mig_profiles:
                self.assertLessEqual(
                    profile.memory_mib * profile.max_instances,
                    gpu_model.memory_mib, profile.name)


class TestVgpuTypes(base.BaseTestCase):

    def test_mig_backed_types_mirror_their_profile(self):
        for gpu_model in _mig_models():
            backed = gpu_model.mig_backed_types()
            self.assertTrue(backed or not gpu_model.vgpu_types_complete,
                            gpu_model.name)
            for vgpu_type in backed:
                profile = gpu_model.mig_profile(vgpu_type.mig_profile)
                self.assertEqual(profile.memory_mib,
                                 vgpu_type.framebuffer_mib, vgpu_type.name)
                self.assertEqual(profile.max_instances,
                                 vgpu_type.max_instances, vgpu_type.name)
                self.assertEqual(model.VgpuSeries.C, vgpu_type.series)
                match = _MIG_BACKED_RE.search(vgpu_type.name)
                self.assertIsNotNone(match, vgpu_type.name)
                self.assertEqual(int(match.group('slices')),
                                 profile.compute_slices, vgpu_type.name)
                self.assertEqual(bool(match.group('me')),
                                 profile.name.endswith('+me'),
                                 vgpu_type.name)

    def test_every_mig_profile_has_a_backed_type(self):
        for gpu_model in _mig_models():
            if not gpu_model.vgpu_types_complete:
                continue
            self.assertEqual(
                {p.name for p in gpu_model.mig_profiles},
                {t.mig_profile for t in gpu_model.mig_backed_types()})

    def test_time_sliced_types_fit_in_memory(self):
        for gpu_model in _models():
            for vgpu_type in gpu_model.time_sliced_types():
                self.assertLessEqual(
                    vgpu_type.max_instances * vgpu_type.framebuffer_mib,
                    gpu_model.memory_mib, vgpu_type.name)

    def test_mixed_size_maximum_never_exceeds_equal_size(self):
        for gpu_model in _models():
            for vgpu_type in gpu_model.time_sliced_types():
                if vgpu_type.max_instances_mixed is None:
                    continue
                self.assertLessEqual(vgpu_type.max_instances_mixed,
                                     vgpu_type.max_instances, vgpu_type.name)

    def test_time_sliced_framebuffer_matches_the_name(self):
        for gpu_model in _models():
            for vgpu_type in gpu_model.time_sliced_types():
                match = _TIME_SLICED_RE.search(vgpu_type.name)
                self.assertIsNotNone(match, vgpu_type.name)
                self.assertEqual(int(match.group('gb')) * 1024,
                                 vgpu_type.framebuffer_mib, vgpu_type.name)

    def test_whole_gpu_type_exists(self):
        for gpu_model in _complete_models():
            whole = [t for t in gpu_model.time_sliced_types()
                     if t.framebuffer_mib == gpu_model.memory_mib]
            self.assertTrue(whole, gpu_model.name)
            self.assertTrue(all(t.max_instances == 1 for t in whole))

    def test_type_ids_unique_within_a_model(self):
        for gpu_model in _models():
            ids = [t.type_id for t in gpu_model.vgpu_types]
            self.assertEqual(len(ids), len(set(ids)), gpu_model.name)
            for vgpu_type in gpu_model.vgpu_types:
                self.assertIs(vgpu_type,
                              gpu_model.vgpu_type_by_id(vgpu_type.type_id))
                self.assertEqual('nvidia-%d' % vgpu_type.type_id,
                                 vgpu_type.mdev_type)

    def test_a_name_shared_by_two_models_is_one_type(self):
        # NOTE: NVIDIA names the A100 PCIe 40GB and HGX A100 40GB types
        # alike; a shared name must then mean the same id and size.
        seen = {}
        for gpu_model in _models():
            for t in gpu_model.vgpu_types:
                key = (t.type_id, t.framebuffer_mib, t.mig_profile)
                self.assertEqual(seen.setdefault(t.name, key), key, t.name)

    def test_published_maxima(self):
        cat = catalog.load()
        for alias, type_name, equal, mixed in PUBLISHED_MAXIMA:
            vgpu_type = cat.get(alias).vgpu_type(type_name)
            self.assertEqual((equal, mixed),
                             (vgpu_type.max_instances,
                              vgpu_type.max_instances_mixed), type_name)

    def test_rendering_type_for_eight_2gb_vgpus(self):
        # The rendering-farm scenario: 8 vGPUs of 2 GB on an RTX A6000.
        a6000 = catalog.load().get('RTX A6000')
        fits = [t for t in a6000.time_sliced_types('Q')
                if t.framebuffer_mib == 2048 and t.max_instances >= 8]
        self.assertEqual(['RTXA6000-2Q'], [t.name for t in fits])


class TestLookups(base.BaseTestCase):

    def test_every_name_alias_and_nvml_name_finds_its_model(self):
        cat = catalog.load()
        for gpu_model in _models():
            for key in ((gpu_model.name,) + gpu_model.aliases
                        + gpu_model.nvml_names):
                self.assertIs(gpu_model, cat.get(key), key)

    def test_every_pci_id_finds_its_model(self):
        cat = catalog.load()
        ids = []
        for gpu_model in _models():
            self.assertTrue(gpu_model.pci_device_ids, gpu_model.name)
            subsystem = (gpu_model.pci_subsystem_ids or (None,))[0]
            for device_id in gpu_model.pci_device_ids:
                ids.append((device_id, subsystem))
                self.assertIs(gpu_model,
                              cat.by_pci_device_id(device_id, subsystem))
                self.assertIs(gpu_model, cat.by_pci_device_id(
                    '0x' + device_id.upper(),
                    subsystem and '0x' + subsystem.upper()))
        self.assertEqual(len(ids), len(set(ids)))

    def test_operator_spellings(self):
        cat = catalog.load()
        for spelling, expected in [
                ('A100-40GB', 'A100-PCIE-40GB'),
                ('a100 80gb', 'A100-SXM4-80GB'),
                ('H100-PCIE', 'H100-PCIE-80GB'),
                ('H100-SXM', 'H100-SXM5-80GB'),
                ('H100-80GB', 'H100-SXM5-80GB'),
                ('H200', 'H200-SXM5-141GB'),
                ('NVIDIA H200', 'H200-SXM5-141GB'),
                ('NVIDIA H200 NVL', 'H200-NVL-141GB'),
                ('NVIDIA H100 80GB HBM3', 'H100-SXM5-80GB'),
                ('Tesla V100-SXM2-32GB', 'V100-SXM2-32GB'),
                ('Tesla T4', 'T4'),
                ('NVIDIA RTX A6000', 'RTX-A6000'),
                ('NVIDIA L40S', 'L40S')]:
            self.assertEqual(expected, cat.get(spelling).name, spelling)

    def test_known_pci_ids(self):
        cat = catalog.load()
        for device_id, expected in [('20f1', 'A100-PCIE-40GB'),
                                    ('20b2', 'A100-SXM4-80GB'),
                                    ('2331', 'H100-PCIE-80GB'),
                                    ('2330', 'H100-SXM5-80GB'),
                                    ('2335', 'H200-SXM5-141GB'),
                                    ('233b', 'H200-NVL-141GB'),
                                    ('26b9', 'L40S'),
                                    ('2230', 'RTX-A6000'),
                                    ('1eb8', 'T4'),
                                    ('1db5', 'V100-SXM2-32GB'),
                                    ('20b7', 'A30'),
                                    ('20b0', 'A100-SXM4-40GB'),
                                    ('2321', 'H100-NVL-94GB'),
                                    ('2901', 'B200'),
                                    ('2941', 'GB200'),
                                    ('2bb5', 'RTX-PRO-6000-BLACKWELL'),
                                    ('27b8', 'L4'),
                                    ('26b5', 'L40'),
                                    ('2236', 'A10')]:
            self.assertEqual(expected,
                             cat.by_pci_device_id(device_id).name)

    def test_a2_and_a16_share_a_device_id_and_differ_by_subsystem(self):
        cat = catalog.load()
        self.assertEqual('A2', cat.by_pci_device_id('25b6', '157e').name)
        self.assertEqual('A16', cat.by_pci_device_id('25b6', '0x14A9').name)
        # Without the subsystem id, or with one neither lists: no guess.
        self.assertIsNone(cat.by_pci_device_id('25b6'))
        self.assertIsNone(cat.by_pci_device_id('25b6', '1234'))

    def test_unknown_model(self):
        cat = catalog.load()
        self.assertIsNone(cat.find('B300'))
        self.assertIsNone(cat.by_pci_device_id('ffff'))
        exc = self.assertRaises(catalog.UnknownModel, cat.get, 'B300')
        self.assertIn("'B300'", str(exc))
        self.assertIn('A100-PCIE-40GB', str(exc))


class TestMalformedDocuments(base.BaseTestCase):
    """A broken data file is rejected, naming the file and the field."""

    SOURCE = 'broken.yaml'

    def setUp(self):
        super().setUp()
        self.data = copy.deepcopy(dict(catalog.load_data_files())
                                  ['a100-pcie-40gb.yaml'])

    def _error(self):
        return str(self.assertRaises(catalog.CatalogError,
                                     catalog.build_model, self.data,
                                     self.SOURCE))

    def test_valid_copy_builds(self):
        gpu_model = catalog.build_model(self.data, self.SOURCE)
        self.assertEqual('A100-PCIE-40GB', gpu_model.name)

    def test_missing_field(self):
        del self.data['memory_mib']
        message = self._error()
        self.assertIn(self.SOURCE, message)
        self.assertIn('memory_mib', message)

    def test_missing_profile_field(self):
        del self.data['mig_profiles'][2]['nvml_id']
        message = self._error()
        self.assertIn(self.SOURCE, message)
        self.assertIn('mig_profiles.2', message)
        self.assertIn('nvml_id', message)

    def test_bad_placement_string(self):
        self.data['mig_profiles'][0]['placements'] = '0-6:1'
        message = self._error()
        self.assertIn(self.SOURCE, message)
        self.assertIn('placements', message)
        self.assertIn("'0-6:1'", message)

    def test_type_naming_unknown_mig_profile(self):
        self.data['vgpu_types'][0]['mig_profile'] = '1g.6gb'
        message = self._error()
        self.assertIn(self.SOURCE, message)
        self.assertIn('A100-1-5C', message)
        self.assertIn('1g.6gb', message)

    def test_bad_series_letter(self):
        self.data['vgpu_types'][-1]['name'] = 'A100-40X'
        message = self._error()
        self.assertIn(self.SOURCE, message)
        self.assertIn('A100-40X', message)
        self.assertIn('series letter', message)

    def _profile(self, name):
        return next(p for p in self.data['mig_profiles'] if p['name'] == name)

    def test_max_instances_defaults_to_the_placement_count(self):
        self.assertNotIn('max_instances', self._profile('1g.5gb'))
        gpu_model = catalog.build_model(self.data, self.SOURCE)
        self.assertEqual(7, gpu_model.mig_profile('1g.5gb').max_instances)
        self.assertEqual(3, gpu_model.mig_profile('2g.10gb').max_instances)

    def test_max_instances_caps_a_profile_below_its_placements(self):
        self._profile('1g.10gb')['max_instances'] = 2
        next(t for t in self.data['vgpu_types']
             if t['name'] == 'A100-1-10C')['max'] = 2
        profile = catalog.build_model(self.data, self.SOURCE).mig_profile(
            '1g.10gb')
        self.assertEqual(4, len(profile.placements))
        self.assertEqual(2, profile.max_instances)

    def test_max_instances_above_the_placements_is_rejected(self):
        self._profile('2g.10gb')['max_instances'] = 4
        message = self._error()
        self.assertIn(self.SOURCE, message)
        self.assertIn('2g.10gb', message)
        self.assertIn('max_instances 4', message)

    def test_max_instances_below_one_is_rejected(self):
        self._profile('2g.10gb')['max_instances'] = 0
        message = self._error()
        self.assertIn('max_instances', message)

    def test_type_allowing_more_than_its_profile_is_rejected(self):
        me_type = next(t for t in self.data['vgpu_types']
                       if t['name'] == 'A100-1-5CME')
        me_type['max'] = 7
        message = self._error()
        self.assertIn('A100-1-5CME', message)
        self.assertIn('1g.5gb+me', message)

    def test_media_extension_type_is_compute_series(self):
        self.assertEqual(model.VgpuSeries.C,
                         catalog.series_of('A100-1-5CME'))
        self.assertRaises(ValueError, catalog.series_of, 'A100-1-5XME')

    def test_bad_pci_id(self):
        self.data['pci_device_ids'] = ['20F1']
        message = self._error()
        self.assertIn(self.SOURCE, message)
        self.assertIn('pci_device_ids.0', message)

    def test_unknown_field(self):
        self.data['vgpu_types'][0]['maximum'] = 7
        message = self._error()
        self.assertIn(self.SOURCE, message)
        self.assertIn('vgpu_types.0', message)
        self.assertIn('maximum', message)

    def test_bad_architecture(self):
        self.data['architecture'] = 'kepler'
        message = self._error()
        self.assertIn(self.SOURCE, message)
        self.assertIn('architecture', message)


class TestPublishedTypeIds(base.BaseTestCase):
    """Type ids a real host driver printed, each in a cited source."""

    def test_ids_from_published_hosts(self):
        cat = catalog.load()
        for model_name, type_name, type_id in [
                ('L40S', 'L40S-1B', 1145), ('L40S', 'L40S-3B', 2164),
                ('L40S', 'L40S-48A', 1166), ('L40S', 'L40S-1Q', 1147),
                ('A10', 'A10-6Q', 594),
                ('RTX-PRO-6000-BLACKWELL', 'RTX Pro 6000 Blackwell DC-4Q',
                 1521)]:
            self.assertEqual(type_id, cat.get(model_name).vgpu_type(
                type_name).type_id, type_name)

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

"""The layout file's JSON schema, and errors that name the YAML path.

The schema checks shape (keys, types, enums); :mod:`.spec` checks meaning
(units, names, selectors). Both report ``gpu_cluster.nodes[0].gpus[1].
vgpus[2].memory: <what is wrong>; <the fix>`` as one line.
"""

import jsonschema
import yaml

from gpuvirt_nova import exception

POLICIES = ('fair-share', 'pack', 'spread')
MODES = ('mig', 'time-sliced', 'none')
OWNERS = ('static', 'dynamic')
SCHEDULING = ('equal-size', 'mixed-size')
SERIES = ('C', 'Q', 'B', 'A')

_NAME = {'type': 'string', 'pattern': r'^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'}
_SIZE = {'type': ['string', 'number']}

VGPU = {
    'type': 'object',
    'additionalProperties': False,
    'properties': {
        'name': _NAME,
        'count': {'type': 'integer', 'minimum': 1, 'maximum': 64},
        'memory': _SIZE,
        'compute': _SIZE,
        'profile': {'type': 'string', 'minLength': 1},
        'mig': {'type': 'string', 'minLength': 1},
        'start': {'type': 'integer', 'minimum': 0, 'maximum': 7},
    },
}

GPU = {
    'type': 'object',
    'additionalProperties': False,
    'properties': {
        'type': {'type': 'string', 'minLength': 1},
        'pci': {'type': 'string'},
        'index': {'oneOf': [
            {'type': 'integer', 'minimum': 0},
            {'type': 'array', 'minItems': 1,
             'items': {'type': 'integer', 'minimum': 0}}]},
        'count': {'type': 'integer', 'minimum': 1},
        'mode': {'enum': list(MODES)},
        'owner': {'enum': list(OWNERS)},
        'scheduling': {'enum': list(SCHEDULING)},
        'series': {'enum': list(SERIES)},
        'vgpus': {'type': 'array', 'items': VGPU},
    },
}

NODE = {
    'type': 'object',
    'additionalProperties': False,
    'required': ['host'],
    'properties': {
        'host': {'type': 'string', 'minLength': 1},
        'layout': _NAME,
        'gpus': {'type': 'array', 'items': GPU},
    },
}

SCHEMA = {
    'type': 'object',
    'additionalProperties': False,
    'required': ['gpu_cluster'],
    'properties': {
        'gpu_cluster': {
            'type': 'object',
            'additionalProperties': False,
            'required': ['nodes'],
            'properties': {
                'nodes': {'type': 'array', 'items': NODE},
                'layouts': {
                    'type': 'object',
                    'propertyNames': _NAME,
                    'additionalProperties': {'type': 'array',
                                             'items': GPU}},
                'scheduler': {
                    'type': 'object',
                    'additionalProperties': False,
                    'properties': {
                        'policy': {'enum': list(POLICIES)},
                        'max_jobs_per_user': {'type': 'integer',
                                              'minimum': 1},
                    }},
            }},
    },
}

_TYPE_WORDS = {'object': 'a mapping', 'array': 'a list', 'string': 'text',
               'integer': 'a whole number', 'number': 'a number'}


def short_repr(value, limit=60):
    """``repr(value)``, cut to ``limit`` characters for a one-line error."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def format_path(parts):
    """YAML path parts -> ``gpu_cluster.nodes[0].host``."""
    text = ''
    for part in parts:
        if isinstance(part, int):
            text += '[%d]' % part
        else:
            text += ('.' if text else '') + str(part)
    return text or '<top>'


def _describe(error):
    """(path parts, message) for one jsonschema error, in operator words."""
    path = list(error.absolute_path)
    validator = error.validator
    if validator == 'additionalProperties':
        allowed = sorted(error.schema.get('properties', {}))
        extra = sorted(set(error.instance) - set(allowed))
        return path + extra[:1], 'unknown key; use one of %s' % (
            ', '.join(allowed))
    if validator == 'required':
        missing = [k for k in error.validator_value
                   if k not in error.instance]
        return path + missing[:1], 'missing; add it'
    if validator == 'type':
        wanted = error.validator_value
        wanted = wanted if isinstance(wanted, list) else [wanted]
        return path, 'expected %s, got %s' % (
            ' or '.join(_TYPE_WORDS.get(w, w) for w in wanted),
            short_repr(error.instance))
    if validator == 'enum':
        return path, '%r is not allowed; use one of %s' % (
            error.instance, ', '.join(map(str, error.validator_value)))
    if validator in ('minimum', 'maximum'):
        return path, '%r is out of range; use a value %s %s' % (
            error.instance, '>=' if validator == 'minimum' else '<=',
            error.validator_value)
    if validator == 'pattern':
        return path, '%r is not a valid name; use letters, digits, ".", ' \
            '"_" and "-" (at most 63)' % (error.instance,)
    if validator == 'propertyNames':
        return path + [error.instance], 'not a valid layout name; use ' \
            'letters, digits, ".", "_" and "-"'
    if validator == 'oneOf' and path and path[-1] == 'index':
        return path, 'expected a GPU index or a list of indexes, got %r' \
            % (error.instance,)
    return path, error.message


def validate(data):
    """Check the shape of a parsed layout document.

    Raises UsageError naming the YAML path of the first problem.
    """
    validator = jsonschema.Draft7Validator(SCHEMA)
    errors = sorted(validator.iter_errors(data),
                    key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        path, message = _describe(errors[0])
        raise exception.UsageError('%s: %s' % (format_path(path), message))


def parse_yaml(text, source='<layout>'):
    """YAML text -> data; a syntax error names the file, line and column."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, 'problem_mark', None)
        where = ' line %d column %d' % (mark.line + 1, mark.column + 1) \
            if mark else ''
        problem = getattr(exc, 'problem', None) or str(exc).splitlines()[0]
        raise exception.UsageError(
            '%s:%s: YAML syntax error: %s; fix the YAML syntax there'
            % (source, where, problem))
    if data is None:
        raise exception.UsageError(
            '%s: the file is empty; a layout needs a gpu_cluster: mapping '
            'with nodes:' % source)
    return data


def load_yaml_file(path):
    """Read and parse a YAML file (no schema); errors name the file."""
    try:
        with open(path) as stream:
            text = stream.read()
    except OSError as exc:
        raise exception.UsageError(
            '%s: %s; pass an existing, readable file'
            % (path, exc.strerror or exc))
    return parse_yaml(text, source=path)


def load_text(text, source='<layout>'):
    """Parse YAML text and validate its shape; return the plain dict."""
    data = parse_yaml(text, source)
    validate(data)
    return data


def load_file(path):
    """Read, parse and validate a layout file."""
    data = load_yaml_file(path)
    validate(data)
    return data

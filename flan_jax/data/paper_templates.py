"""The FLAN release's patterns as this project's Templates, over our fields.

An `UpstreamKey` says how one of our datasets meets the release's templates:
which key of its PATTERNS dict holds them, which of its field names are
ours under another name, which fixed texts it names (the translation
templates' ``{lang1}`` is "English"), and, where the release phrases a task
differently (WSC273's completions as options), the preparation that gives
its fields. `convert` turns the key's patterns into Templates::

    UpstreamKey("aeslc", rename={"body": "text", "subject": "answer"})
    ("{body}\\n\\nWrite a subject line:", "{subject}")
        -> Template("{text}\\n\\nWrite a subject line:", "{answer}")

``{options_str}`` (the release's pre-formatted options) becomes our
``{options_}``. A pattern naming a field we cannot provide is left out and
reported. Which patterns are inverted is not marked in the release; here a
template is inverted (training only) unless its target names one of the
dataset's answer fields (the fields our own templates target), its input does
not already contain that answer, and its input names some field that varies
from example to example (not only fixed labels such as a language name).
"""

from __future__ import annotations

import dataclasses
import string
from typing import Callable, Mapping, Sequence

import tensorflow as tf

from flan_jax.data import templates as templates_lib
from flan_jax.data.upstream_templates import FewShotFormat
from flan_jax.data.upstream_templates import Pattern

Preprocessor = Callable[[tf.data.Dataset], tf.data.Dataset]
_FORMATTER = string.Formatter()
_OPTIONS_STR = "options_str"


@dataclasses.dataclass(frozen=True)
class UpstreamKey:
  """How one of our datasets reads the release's templates.

  Attributes:
    key: the PATTERNS key (None: the release has no templates for it).
    rename: release field -> our field of the same meaning.
    constants: release field -> fixed text added to every example.
    prepare: preparation run after ours (the release's own formulation of
      the task); `adds` lists the fields it adds or replaces.
    labels: our fields that are fixed per dataset (they do not make an
      input "about the example").
    unavailable: why the dataset cannot use the release's templates.
  """
  key: str | None
  rename: Mapping[str, str] = dataclasses.field(default_factory=dict)
  constants: Mapping[str, str] = dataclasses.field(default_factory=dict)
  prepare: tuple[Preprocessor, ...] = ()
  adds: tuple[str, ...] = ()
  labels: tuple[str, ...] = ()
  unavailable: str | None = None

  def provided(self, ours: frozenset[str]) -> frozenset[str]:
    """Our prepared fields plus what this key's preparation adds."""
    return frozenset(ours | set(self.constants) | set(self.adds))


@dataclasses.dataclass(frozen=True)
class Conversion:
  """The usable templates of one key, and what could not be used."""
  templates: tuple[templates_lib.Template, ...]
  formats: tuple[FewShotFormat, ...] | None
  loaded: int
  problems: tuple[str, ...]

  @property
  def usable(self) -> bool:
    return any(not t.inverted for t in self.templates)


def _fields(pattern: str) -> list[str]:
  return [f for _, f, _, _ in _FORMATTER.parse(pattern) if f is not None]


def rename_fields(pattern: str, rename: Mapping[str, str]) -> str:
  """The pattern with fields renamed and literal braces kept escaped."""
  out = []
  for literal, field, spec, conversion in _FORMATTER.parse(pattern):
    out.append(literal.replace("{", "{{").replace("}", "}}"))
    if field is not None:
      if spec or conversion:
        raise templates_lib.TemplateError(
            f"slot {{{field}}} carries a format spec or conversion")
      if field == _OPTIONS_STR:
        field = templates_lib.OPTIONS_SLOT
      out.append("{" + rename.get(field, field) + "}")
  return "".join(out)


def is_inverted(template: templates_lib.Template,
                answer_fields: frozenset[str],
                fixed_fields: frozenset[str]) -> bool:
  """See the module docstring: the rule for the release's unmarked patterns."""
  targets = set(_fields(template.targets))
  inputs = set(_fields(template.inputs))
  answers = targets & answer_fields
  varying = inputs - fixed_fields - {templates_lib.OPTIONS_SLOT}
  return not answers or bool(inputs & answers) or not varying


def convert(patterns: Sequence[Pattern], mapping: UpstreamKey, *,
            available: frozenset[str], answer_fields: frozenset[str]
            ) -> Conversion:
  """The key's patterns as Templates over `available` fields."""
  fixed = frozenset(set(mapping.labels) | set(mapping.constants))
  available = mapping.provided(available)
  templates, formats, problems = [], [], []
  for index, pattern in enumerate(patterns):
    try:
      inputs = rename_fields(pattern.inputs, mapping.rename)
      targets = rename_fields(pattern.targets, mapping.rename)
      template = templates_lib.Template(inputs, targets)
    except (templates_lib.TemplateError, ValueError) as e:
      problems.append(f"template {index}: not a valid pattern ({e})")
      continue
    missing = sorted(template.fields - available)
    if missing:
      problems.append(f"template {index} names field '{missing[0]}', which "
                      "this project's preparation does not provide")
      continue
    inverted = is_inverted(template, answer_fields, fixed)
    templates.append(dataclasses.replace(template, inverted=inverted))
    formats.append(pattern.format)
  has_formats = any(f is not None for f in formats)
  return Conversion(
      templates=tuple(templates),
      formats=(tuple(f or FewShotFormat() for f in formats)
               if has_formats else None),
      loaded=len(patterns), problems=tuple(problems))


def add_constants(constants: Mapping[str, str]) -> Preprocessor:
  """Adds fixed text fields to every example."""

  def add(ds: tf.data.Dataset) -> tf.data.Dataset:
    @tf.autograph.experimental.do_not_convert
    def fn(ex):
      ex = dict(ex)
      for field, value in constants.items():
        ex[field] = tf.constant(value)
      return ex
    return ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE)

  return add


def extra_prepare(mapping: UpstreamKey) -> tuple[Preprocessor, ...]:
  """What runs after our preparation for the release's templates."""
  steps = list(mapping.prepare)
  if mapping.constants:
    steps.append(add_constants(mapping.constants))
  return tuple(steps)


def answer_fields_of(templates: Sequence[templates_lib.Template]
                     ) -> frozenset[str]:
  """The fields our own non-inverted templates target."""
  return frozenset(f for t in templates if not t.inverted
                   for f in _fields(t.targets))

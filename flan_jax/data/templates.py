"""Instruction templates: patterns over named fields, rendered inside tf.data.

A template is a pair of patterns in Python's ``str.format`` syntax, one for the
model input and one for the target::

    Template(inputs="Review: {text}\\nWas the reviewer pleased?\\n{options_}",
             targets="{answer}")

``{name}`` is replaced by the example's field ``name``. The special slot
``{options_}`` renders the example's ``options`` field (a 1-D string tensor)
as::

    OPTIONS:
    - no
    - yes

Rendering uses only TensorFlow string ops, so it runs inside the seqio
(tf.data) pipeline. Literal braces are written ``{{`` and ``}}``.
"""

from __future__ import annotations

import dataclasses
import string
from typing import Mapping, Sequence

import tensorflow as tf

from flan_jax import errors

OPTIONS_SLOT = "options_"
OPTIONS_FIELD = "options"
OPTIONS_HEADER = "OPTIONS:"

_FORMATTER = string.Formatter()


class TemplateError(errors.FlanJaxError, ValueError):
  """A template pattern is malformed or names a field the data lacks."""


def _parse(pattern: str) -> list[tuple[str, str | None]]:
  """Splits a pattern into (literal, field-or-None) pieces, validating it."""
  try:
    pieces = list(_FORMATTER.parse(pattern))
  except ValueError as e:
    raise TemplateError(f"malformed template pattern {pattern!r}: {e}") from e
  parsed = []
  for literal, field, spec, conversion in pieces:
    if field is not None:
      if not field.isidentifier():
        raise TemplateError(
            f"template pattern {pattern!r}: slot {{{field}}} must be a plain "
            "field name (no positions, attributes or indexes)")
      if spec or conversion:
        raise TemplateError(
            f"template pattern {pattern!r}: slot {{{field}}} may not carry a "
            "format spec or conversion")
    parsed.append((literal, field))
  return parsed


@dataclasses.dataclass(frozen=True)
class Template:
  """One way of phrasing a dataset as an instruction.

  Attributes:
    inputs: pattern for the model input.
    targets: pattern for the target.
    inverted: True when the template turns the task around (for example
      "write a review that is positive" instead of "is this review
      positive?"). Inverted templates are used for training only.
  """

  inputs: str
  targets: str
  inverted: bool = False

  def __post_init__(self):
    _parse(self.inputs)
    _parse(self.targets)

  @property
  def fields(self) -> frozenset[str]:
    """Example fields the template reads (``options`` for ``{options_}``)."""
    names = set()
    for pattern in (self.inputs, self.targets):
      for _, field in _parse(pattern):
        if field is not None:
          names.add(OPTIONS_FIELD if field == OPTIONS_SLOT else field)
    return frozenset(names)

  @property
  def has_options(self) -> bool:
    return any(field == OPTIONS_SLOT for _, field in _parse(self.inputs))

  def targets_use(self, field: str) -> bool:
    return any(f == field for _, f in _parse(self.targets))


def render_options(options: tf.Tensor) -> tf.Tensor:
  """Renders a 1-D string tensor of answer classes as an OPTIONS block."""
  lines = tf.strings.join(["- ", options])
  return tf.strings.join(
      [OPTIONS_HEADER, tf.strings.reduce_join(lines, separator="\n")],
      separator="\n")


def _as_string(value: tf.Tensor) -> tf.Tensor:
  value = tf.convert_to_tensor(value)
  if value.dtype == tf.string:
    return value
  return tf.strings.as_string(value)


def render(pattern: str,
           example: Mapping[str, tf.Tensor],
           overrides: Mapping[str, tf.Tensor] | None = None) -> tf.Tensor:
  """Renders one pattern against an example; returns a scalar tf.string.

  Args:
    pattern: a template pattern.
    example: the example's fields.
    overrides: field values to use instead of the example's (rank
      classification renders the target once per option this way).
  """
  overrides = overrides or {}
  parts = []
  for literal, field in _parse(pattern):
    if literal:
      parts.append(tf.constant(literal))
    if field is None:
      continue
    if field == OPTIONS_SLOT:
      parts.append(render_options(example[OPTIONS_FIELD]))
    else:
      parts.append(_as_string(overrides.get(field, example[field])))
  if not parts:
    return tf.constant("")
  return tf.strings.join(parts)


def render_example(template: Template,
                   example: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
  """Returns {"inputs", "targets"} strings for one example."""
  return {
      "inputs": render(template.inputs, example),
      "targets": render(template.targets, example),
  }


def check_fields(template: Template, available: frozenset[str] | set[str],
                 *, dataset: str, index: int) -> None:
  """Raises TemplateError when the template reads a field the data lacks."""
  missing = sorted(template.fields - set(available))
  if missing:
    raise TemplateError(
        f"dataset '{dataset}': template {index} uses field '{missing[0]}', "
        f"which its source does not provide (available fields: "
        f"{', '.join(sorted(available)) or 'none'})")


def carry_groups(groups: Mapping[str, Sequence[int]],
                 before: Sequence[Template], after: Sequence[Template]
                 ) -> dict[str, tuple[int, ...]]:
  """Named template groups of `before`, renumbered for templates `after`
  (e.g. the FLAN release's templates in place of ours).

  A group means what its templates' common target is (translation's
  "from_english": every template whose target is ``{foreign}``), so it
  becomes the evaluated templates of `after` with that target. A group
  whose templates have several targets, or that matches none, is dropped.

      before: 0 "{foreign}"  1 "{english}"  2 "{foreign}"  from_english (0, 2)
      after:  0 "{english}"  1 "{foreign}"                 from_english (1,)
  """
  carried = {}
  for group, indices in groups.items():
    targets = {before[i].targets for i in indices}
    if len(targets) != 1:
      continue
    target, = targets
    members = tuple(i for i, t in enumerate(after)
                    if t.targets == target and not t.inverted)
    if members:
      carried[group] = members
  return carried

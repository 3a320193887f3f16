"""Flan 2022's template types: zero- or few-shot, answer options shown or not.

    zsopt    zero-shot, options shown: the templates as they are
    zsnoopt  zero-shot, the options block removed from the prompt; rank
             classification still scores the options
    fsopt    k solved exemplars (same dataset and template) before the query
    fsnoopt  the same without the options block

`register_template_types` registers each type of a dataset as its own
dataset ``<name>:<type>`` in a collection::

    flan2022:rte:zsnoopt:train        the type's (non-inverted) templates
    flan2022:rte:zsnoopt:t0:gen       template 0, generation
    flan2022:rte:zsnoopt:t0:score     template 0, rank classification

with the same source, preparation, options and metrics. Types train on
their non-inverted templates only; inverted ones are kept for the input
inversion switch (`flan_jax.data.mixtures.register_input_inversion`).
Evaluation-only datasets (no train split) get the zero-shot types only: the
few-shot ones draw their exemplars from train.

Without options, a template loses its ``{options_}`` slot together with the
spaces and newlines just before it::

    "{text}\\nGood or bad?\\n{options_}"  ->  "{text}\\nGood or bad?"

Templates may come from elsewhere (the FLAN release's own, per type, with
their few-shot formats): pass `TypeTemplates` per type.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Mapping, Sequence

from flan_jax.data import few_shot as few_shot_lib
from flan_jax.data import registry
from flan_jax.data import templates as templates_lib
from flan_jax.data.upstream_templates import FewShotFormat

ZSOPT, ZSNOOPT, FSOPT, FSNOOPT = "zsopt", "zsnoopt", "fsopt", "fsnoopt"
TEMPLATE_TYPES = (ZSOPT, ZSNOOPT, FSOPT, FSNOOPT)
FEW_SHOT_TYPES = (FSOPT, FSNOOPT)
NO_OPTIONS_TYPES = (ZSNOOPT, FSNOOPT)

_OPTIONS_SLOT = re.compile(r"\s*\{" + templates_lib.OPTIONS_SLOT + r"\}")


@dataclasses.dataclass(frozen=True)
class TypeTemplates:
  """The templates of one type (and, for few-shot types, their formats)."""
  templates: tuple[templates_lib.Template, ...]
  formats: tuple[FewShotFormat, ...] | None = None


def without_options(template: templates_lib.Template) -> templates_lib.Template:
  """The template with its options slot (and the space before it) removed."""
  return templates_lib.Template(_OPTIONS_SLOT.sub("", template.inputs),
                                template.targets, inverted=template.inverted)


def our_type_templates(templates: Sequence[templates_lib.Template]
                       ) -> dict[str, TypeTemplates]:
  """The four types made from one template list (the default format)."""
  shown = tuple(templates)
  hidden = tuple(without_options(t) for t in templates)
  return {ZSOPT: TypeTemplates(shown), ZSNOOPT: TypeTemplates(hidden),
          FSOPT: TypeTemplates(shown), FSNOOPT: TypeTemplates(hidden)}


def type_spec(spec: registry.DatasetSpec, template_type: str,
              templates: TypeTemplates, *, collection: str,
              few_shot: few_shot_lib.FewShotConfig
              ) -> registry.DatasetSpec:
  """The DatasetSpec of one type of `spec`."""
  if template_type not in TEMPLATE_TYPES:
    raise ValueError(f"unknown template type '{template_type}'; types: "
                     f"{', '.join(TEMPLATE_TYPES)}")
  config = None
  if template_type in FEW_SHOT_TYPES:
    config = dataclasses.replace(few_shot, formats=templates.formats)
  return dataclasses.replace(
      spec, name=f"{spec.name}:{template_type}", collection=collection,
      templates=tuple(templates.templates),
      template_groups=templates_lib.carry_groups(
          spec.template_groups, spec.templates, templates.templates),
      rank_classification=spec.is_classification, train_inverted=False,
      few_shot=config)


def register_template_types(
    spec: registry.DatasetSpec, *, collection: str, fields: frozenset[str],
    templates: Mapping[str, TypeTemplates] | None = None,
    few_shot: few_shot_lib.FewShotConfig = few_shot_lib.FewShotConfig(),
    overwrite: bool = False) -> dict[str, registry.RegisteredDataset]:
  """Registers every template type of a dataset.

  Args:
    spec: the dataset (source, preparation, options, metrics; its own
      templates are the default).
    collection: collection of the new datasets (e.g. "flan2022").
    fields: the prepared examples' fields (e.g.
      `registry.prepared_fields_of(key)` of the dataset's own registration).
    templates: type -> its templates; default `our_type_templates` of the
      spec's. Types missing here are not registered.
    few_shot: k, pool and seed of the few-shot types.
    overwrite: replace tasks of the same names.

  Returns:
    type -> the registered dataset of that type.
  """
  templates = templates or our_type_templates(spec.templates)
  result = {}
  for template_type in TEMPLATE_TYPES:
    if template_type not in templates:
      continue
    if template_type in FEW_SHOT_TYPES and spec.train_split is None:
      continue  # no train split to draw exemplars from
    result[template_type] = registry.register_dataset(
        type_spec(spec, template_type, templates[template_type],
                  collection=collection, few_shot=few_shot),
        overwrite=overwrite, fields=fields)
  return result

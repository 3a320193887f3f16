"""Flan 2022's flan2021 submix: every FLAN 2021 dataset in four template types.

Registers, for each dataset of `tasks.flan2021` (see
`flan_jax.data.template_types`)::

    flan2022:<dataset>:<type>:train        zsopt | zsnoopt | fsopt | fsnoopt
    flan2022:<dataset>:<type>:t<i>:gen     template i, generation
    flan2022:<dataset>:<type>:t<i>:score   template i, rank classification
    flan2022:flan2021_submix:<type>        a type's training tasks,
                                           examples-proportional, each capped
                                           at 30,000 examples
    flan2022:flan2021_submix               the four types at 25% each
    flan2022:eval:<type>                   every dataset's eval tasks of a type
    flan2022:eval:<type>:<cluster>         one cluster's

The types use this project's templates (the options block removed for the
"noopt" types, five exemplars from train for the few-shot ones), or with
TEMPLATE_SET = 'paper' the Flan 2022 release's (``flan/v2/templates.py``:
PATTERNS, PATTERNS_NO_OPTIONS, FEWSHOT_PATTERNS and
FEWSHOT_PATTERNS_NO_OPTIONS under the dataset's key in
`tasks.flan2021.paper.KEYS`). A type the release cannot serve for a dataset
keeps this project's templates; the run's log and the catalogue say which.
Evaluation-only datasets (wsc273) have the zero-shot types only.
"""

from __future__ import annotations

import dataclasses
import logging

from flan_jax.data import mixtures
from flan_jax.data import paper_templates
from flan_jax.data import registry
from flan_jax.data import task_settings
from flan_jax.data import template_types
from flan_jax.data import upstream_templates
from flan_jax.data.template_types import TypeTemplates
import tasks.flan2021  # noqa: F401  (registers the datasets)
from tasks.flan2021 import common as flan2021
from tasks.flan2021 import paper
from tasks.flan2022 import common

log = logging.getLogger("flan_jax")
C = common.COLLECTION
SUBMIX = common.FLAN2021_SUBMIX


@dataclasses.dataclass(frozen=True)
class TypeServed:
  """Where one type of one dataset gets its templates."""
  name: str
  template_type: str
  loaded: int | None        # release patterns read (None: ours)
  usable: int | None
  reason: str | None        # why the release's are not used, if so


def release_patterns(release: upstream_templates.UpstreamTemplates,
                     template_type: str) -> dict:
  return {template_types.ZSOPT: release.patterns,
          template_types.ZSNOOPT: release.no_options,
          template_types.FSOPT: release.few_shot,
          template_types.FSNOOPT: release.few_shot_no_options}[template_type]


def _release_types(name: str, release) -> tuple[dict, list[TypeServed]]:
  """type -> (TypeTemplates, uses the release) for one dataset."""
  ours = template_types.our_type_templates(paper.our_spec(name).templates)
  mapping = paper.KEYS.get(name)
  chosen, report = {}, []
  for template_type in template_types.TEMPLATE_TYPES:
    reason, conversion = None, None
    if mapping is None or mapping.unavailable:
      reason = mapping.unavailable if mapping else "no entry in KEYS"
    else:
      patterns = release_patterns(release, template_type)
      if mapping.key not in patterns:
        reason = f"{upstream_templates.FLAN2022_FILE} has no key " \
            f"'{mapping.key}' for {template_type}"
      else:
        conversion = paper_templates.convert(
            patterns[mapping.key], mapping, available=paper.our_fields(name),
            answer_fields=paper_templates.answer_fields_of(
                paper.our_spec(name).templates))
        if not conversion.usable:
          reason = "no usable non-inverted template"
    if reason is None:
      chosen[template_type] = (TypeTemplates(conversion.templates,
                                             conversion.formats), True)
    else:
      chosen[template_type] = (ours[template_type], False)
    report.append(TypeServed(
        name, template_type, conversion.loaded if conversion else None,
        len(conversion.templates) if conversion else None, reason))
  return chosen, report


_APPLIED: list = [None]
SERVED: list[TypeServed] = []


def register(template_set: str = task_settings.OURS,
             checkout: str | None = None) -> None:
  """Registers (again) every type of every flan2021 dataset and the mixtures."""
  wanted = (template_set, checkout if template_set == task_settings.PAPER
            else None)
  if _APPLIED[0] == wanted:
    return
  release = (upstream_templates.read_flan2022(checkout)
             if template_set == task_settings.PAPER else None)
  paper.remember_ours()
  overwrite = _APPLIED[0] is not None
  SERVED.clear()
  by_type = {t: [] for t in template_types.TEMPLATE_TYPES}
  train = {t: [] for t in template_types.TEMPLATE_TYPES}
  clusters: dict[str, list[str]] = {}
  for dataset in flan2021.registered_datasets():
    name = dataset.name
    ours_spec, ours_fields = paper.our_spec(name), paper.our_fields(name)
    if release is None:
      chosen = {t: (v, False) for t, v in
                template_types.our_type_templates(ours_spec.templates).items()}
    else:
      chosen, report = _release_types(name, release)
      SERVED.extend(report)
    for template_type, (templates, from_release) in chosen.items():
      if from_release:
        mapping = paper.KEYS[name]
        spec = dataclasses.replace(ours_spec, prepare=(
            *ours_spec.prepare, *paper_templates.extra_prepare(mapping)))
        fields = mapping.provided(ours_fields)
      else:
        spec, fields = ours_spec, ours_fields
      registry.unregister_dataset(f"{C}:{name}:{template_type}")
      entry = template_types.register_template_types(
          spec, collection=C, fields=fields,
          templates={template_type: templates}).get(template_type)
      if entry is None:  # few-shot type of an evaluation-only dataset
        continue
      by_type[template_type].append(entry.key)
      if entry.train_task:
        train[template_type].append(entry.train_task)
      clusters.setdefault(dataset.cluster, []).append(entry.spec.name)
  common.register_typed_submix(SUBMIX, train, overwrite=overwrite)
  for template_type, keys in by_type.items():
    mixtures.register_eval_mixture(f"{C}:eval:{template_type}", keys,
                                   overwrite=overwrite)
    for cluster, names in flan2021.clusters().items():
      members = [f"{C}:{n}:{template_type}" for n in names]
      members = [k for k in members if k in keys]
      if members:
        mixtures.register_eval_mixture(
            f"{C}:eval:{template_type}:{cluster}", members,
            overwrite=overwrite)
  common.set_clusters(SUBMIX, clusters)
  kept = sorted({s.name for s in SERVED if s.reason})
  if kept:
    log.warning("flan2022: template types of %d datasets keep this "
                "project's templates (see the catalogue): %s", len(kept),
                ", ".join(kept))
  _APPLIED[0] = wanted


def _on_configure(settings: task_settings.TaskSettings) -> None:
  register(settings.template_set, settings.flan_checkout)


register()
task_settings.on_configure(_on_configure)

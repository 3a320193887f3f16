"""What a FLAN checkout's templates give our datasets: the catalogue's report.

    python scripts/catalogue.py --template_set=paper --flan_checkout=<dir>

prints, per dataset, how many of the release's Flan 2021 templates
(``flan/templates.py``) and Flan 2022 templates per type
(``flan/v2/templates.py``) were loaded and are used, how many of those are
inverted, whether every used template renders on our prepared examples
(TFDS mock data: random text, no download), and for every dataset or
template the release cannot serve, why.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf
import tensorflow_datasets as tfds

from flan_jax.data import registry
from flan_jax.data import task_settings
from flan_jax.data import template_types
from flan_jax.data import templates as templates_lib
from flan_jax.data import upstream_templates
from tasks.flan2021 import common as flan2021
from tasks.flan2021 import paper
from tasks.flan2022 import flan2021_submix

_MOCK_MAX_VALUES = (2, None, 5)  # as tasks/flan2021/catalogue.py


@dataclasses.dataclass(frozen=True)
class Row:
  """One dataset's line of the report."""
  name: str
  key: str | None
  loaded: int | None          # Flan 2021 templates read
  used: int                   # ... used (0: keeps ours)
  inverted: int
  types: dict[str, str]       # type -> "used/loaded" or "ours"
  rendered: str               # "yes (n)", or what failed
  problems: tuple[str, ...]   # reasons, per template or dataset


def _render_check(spec: registry.DatasetSpec,
                  templates: list[templates_lib.Template]) -> str:
  """Renders every template on one mock example of the prepared data.

  (Mock text is random, so a rendered input may even be empty; what this
  checks is that every field a template names exists and renders.)
  """
  split = ("test" if "test" in spec.source.splits
           else list(spec.source.splits)[0])

  def render_all(ex):
    return tf.stack([templates_lib.render(p, ex) for t in templates
                     for p in (t.inputs, t.targets)])

  last_error = "no mock example survives preparation"
  for max_value in _MOCK_MAX_VALUES:
    try:
      with tfds.testing.mock_data(num_examples=4, max_value=max_value):
        for _ in registry.prepared_dataset(spec, split).take(1).map(
            render_all):
          return f"yes ({len(templates)})"
    except (tf.errors.OpError, KeyError, ValueError, TypeError) as e:
      last_error = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
  return last_error


def report(checkout: str, render: bool = True) -> list[Row]:
  """Applies TEMPLATE_SET = 'paper' from `checkout`; describes each dataset."""
  task_settings.configure(template_set=task_settings.PAPER,
                          flan_checkout=checkout)
  served = {s.name: s for s in paper.served_by_release(checkout)}
  typed: dict[str, dict] = {}
  for item in flan2021_submix.SERVED:
    typed.setdefault(item.name, {})[item.template_type] = item
  rows = []
  for dataset in flan2021.registered_datasets():
    name = dataset.name
    item = served[name]
    conversion = item.conversion
    problems = list(conversion.problems if conversion else ())
    if item.reason:
      problems.insert(0, item.reason)
    types, to_render = {}, []
    for template_type in template_types.TEMPLATE_TYPES:
      t = typed.get(name, {}).get(template_type)
      if t is None or t.reason:
        types[template_type] = "ours" if t is not None else "-"
        if t is not None and t.reason and not item.reason:
          problems.append(f"{template_type}: {t.reason}")
        continue
      try:
        entry = registry.get_dataset(
            f"{flan2021_submix.C}:{name}:{template_type}")
      except KeyError:  # few-shot type of an evaluation-only dataset
        types[template_type] = "-"
        continue
      types[template_type] = f"{t.usable}/{t.loaded}"
      to_render.extend(entry.spec.templates)
    used = list(dataset.spec.templates) if item.uses_paper else []
    rendered = "-"
    if render and (used or to_render):
      rendered = _render_check(dataset.spec if used else entry.spec,
                               used + to_render)
    rows.append(Row(
        name=name, key=item.key, loaded=conversion.loaded if conversion
        else None, used=len(used), inverted=sum(t.inverted for t in used),
        types=types, rendered=rendered, problems=tuple(problems)))
  return rows


def markdown(checkout: str, render: bool = True) -> str:
  rows = report(checkout, render)
  v2 = upstream_templates.read_flan2022(checkout)
  v1 = upstream_templates.read_flan2021(checkout)
  served = [r for r in rows if r.used]
  rendered = [r for r in served if r.rendered.startswith("yes")]
  lines = [
      f"# The FLAN release's templates from {checkout}",
      "",
      f"`{upstream_templates.FLAN2021_FILE}`: {len(v1.patterns)} keys. "
      f"`{upstream_templates.FLAN2022_FILE}`: {len(v2.patterns)} keys in "
      f"PATTERNS, {len(v2.no_options)} in PATTERNS_NO_OPTIONS, "
      f"{len(v2.few_shot)} in FEWSHOT_PATTERNS, {len(v2.few_shot_no_options)}"
      f" in FEWSHOT_PATTERNS_NO_OPTIONS; {len(v2.option_headers)} option "
      f"headers, {len(v2.option_markers)} option marker styles.",
      "",
      f"**{len(served)} of {len(rows)} datasets** use the release's Flan 2021 "
      f"templates ({sum(r.used for r in served)} templates, "
      f"{sum(r.inverted for r in served)} of them inverted); "
      + (f"every used template renders on TFDS mock data for "
         f"{len(rendered)} of them." if render else
         "rendering on mock data was not checked."),
      "",
      "| dataset | release key | Flan 2021 used/loaded (inverted) | "
      + " | ".join(template_types.TEMPLATE_TYPES) + " | renders |",
      "|---|---|---|" + "---|" * len(template_types.TEMPLATE_TYPES) + "---|",
  ]
  for r in rows:
    loaded = (f"{r.used}/{r.loaded} ({r.inverted})" if r.loaded is not None
              else "-")
    lines.append(f"| {r.name} | {r.key or '-'} | {loaded} | " +
                 " | ".join(r.types[t] for t in template_types.TEMPLATE_TYPES)
                 + f" | {r.rendered} |")
  unserved = [r for r in rows if r.problems]
  lines += ["", "## What could not be used, and why", ""]
  if not unserved:
    lines.append("Every template of every mapped dataset is used.")
  for r in unserved:
    for problem in r.problems:
      lines.append(f"- {r.name}: {problem}")
  return "\n".join(lines) + "\n"

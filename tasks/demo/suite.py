"""The demo suite as data: clusters, exclusion rules and every DatasetSpec.

Nothing here registers anything: `tasks.demo` (the package) does, and
`scripts/train_vocab.py` reads the specs before any vocabulary exists.
"""

from __future__ import annotations

from typing import Iterator

import tensorflow as tf

from flan_jax.data import ablations
from flan_jax.data import registry
from flan_jax.data import templates as templates_lib
from flan_jax.data.registry import DatasetSpec
from tasks.demo import arithmetic
from tasks.demo import nli
from tasks.demo import reading
from tasks.demo import sentiment
from tasks.demo import string_ops
from tasks.demo import translation

COLLECTION = "demo"

_MODULES = {
    "sentiment": sentiment,
    "nli": nli,
    "arithmetic": arithmetic,
    "string_ops": string_ops,
    "reading": reading,
    "translation": translation,
}

# cluster -> dataset names, in registration order.
CLUSTERS: dict[str, tuple[str, ...]] = {
    cluster: tuple(spec.name for spec in module.SPECS)
    for cluster, module in _MODULES.items()
}

# FLAN removes a second cluster from training when it is too close to the
# held-out one (NLI with paraphrase). No two demo clusters share a task type:
# `nli` and `reading` describe the same little world of people, cities and
# colours, but one judges a claim and the other copies an answer, like FLAN's
# NLI and reading comprehension, which it does not pair. So no rule here.
EXCLUSIONS: dict[str, tuple[str, ...]] = {}

# The paper's ablations on the demo (`flan_jax.data.ablations`,
# scripts/study.py): sentiment held out, the other clusters joining in this
# order (generation-only clusters first, as the paper starts with
# summarization and translation); 1, 2, 4 or all 6 templates per dataset.
ABLATION_PLAN = ablations.AblationPlan(
    held_out=("sentiment",),
    cluster_order=("translation", "reading", "nli", "arithmetic",
                   "string_ops"),
    template_counts=(1, 2, 4, 6),
    instruction_held_out=("sentiment",))


def all_specs() -> list[DatasetSpec]:
  """Every demo DatasetSpec, cluster by cluster."""
  return [spec for module in _MODULES.values() for spec in module.SPECS]


def rendered_texts(spec: DatasetSpec, split: str
                   ) -> Iterator[tuple[int, str, str]]:
  """(template index, inputs, targets) for every template on every example.

  Renders straight from the prepared source, as the registered tasks would,
  without needing a vocabulary.
  """
  ds = registry.prepared_dataset(spec, split)
  templates = list(spec.templates)

  def render_all(ex):
    rendered = [templates_lib.render_example(t, ex) for t in templates]
    return (tf.stack([r["inputs"] for r in rendered]),
            tf.stack([r["targets"] for r in rendered]))

  for inputs, targets in ds.map(render_all).as_numpy_iterator():
    for index, (x, y) in enumerate(zip(inputs, targets)):
      yield index, x.decode("utf-8"), y.decode("utf-8")

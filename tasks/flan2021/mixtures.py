"""The FLAN 2021 mixtures: leave-one-cluster-out and the paper's ablations.

Imported by `tasks.flan2021` after every cluster module. Training mixtures mix
examples-proportionally with FLAN's cap (each task's rate = min(#train
examples, 3000)); eval mixtures hold every eval task (one per template; rank
classification where the dataset has options), uncapped.

Names (``<c>`` is a fine cluster, `common.CLUSTER_NAMES`)::

  flan2021:train:all                         every trainable dataset
  flan2021:eval:all                          every dataset's eval tasks
  flan2021:train:no_<c>                      leave-one-cluster-out training
  flan2021:eval:<c>                          that cluster's eval tasks
  flan2021:ablation:held_out:eval            eval tasks of NLI, closed-book
                                             QA and commonsense
  flan2021:ablation:num_clusters:<k>:train   k = 1..7 training clusters,
                                             added in the paper's order
  flan2021:ablation:templates:<n>:train      n = 1, 2, 4, 7, 10 templates
                                             per dataset
  flan2021:ablation:instructions:<mode>:no_<c>
      mode = full | dataset_name | no_template, for c in
      INSTRUCTION_HELD_OUT: what training inputs look like
  flan2021:ablation:instructions:dataset_name:eval:<c>
      eval tasks of c phrased as "[dataset name]" + inputs

Exclusion rules (FLAN): holding out NLI also removes paraphrase and vice
versa; holding out reading comprehension or commonsense removes the
reading-comprehension-with-commonsense cluster and vice versa; a held-out
dataset is never trained on. The templates and number-of-clusters ablations
hold out NLI, closed-book QA (open_domain_qa) and commonsense together.
"""

from __future__ import annotations

import string
from typing import Sequence

import seqio

from flan_jax.data import mixtures
from flan_jax.data import registry
from flan_jax.data.templates import Template
from flan_jax.data.templates import OPTIONS_SLOT
from tasks.flan2021 import common

C = common.COLLECTION
MAX_EXAMPLES = 3000

EXCLUSIONS = {
    "nli": ("paraphrase",),
    "paraphrase": ("nli",),
    "reading_comprehension": ("read_comp_and_common_sense",),
    "common_sense": ("read_comp_and_common_sense",),
    "read_comp_and_common_sense": ("reading_comprehension", "common_sense"),
}

# Number-of-clusters and templates-per-dataset ablations (FLAN_FACTS).
ABLATION_HELD_OUT = ("nli", "open_domain_qa", "common_sense")
NUM_CLUSTERS_ORDER = ("summarization", "translation", "reading_comprehension",
                      "sentiment", "structure_to_text", "coreference",
                      "conversational_qa")
TEMPLATE_COUNTS = (1, 2, 4, 7, 10)
# The role-of-instructions ablation averages four held-out clusters.
# FLAN_FACTS does not name them; these are the three above plus translation.
INSTRUCTION_HELD_OUT = ("nli", "open_domain_qa", "common_sense", "translation")
INSTRUCTION_MODES = ("full", "dataset_name", "no_template")

# mixture name -> one-line description (for the catalogue), filled below.
MIXTURES: dict[str, str] = {}


def _present_exclusions(clusters) -> dict[str, tuple[str, ...]]:
  """The exclusion rules among clusters that are registered."""
  return {c: tuple(x for x in ex if x in clusters)
          for c, ex in EXCLUSIONS.items() if c in clusters}


def plain_template(spec: registry.DatasetSpec,
                   prefix: str = "") -> Template:
  """The dataset's inputs without instructions (the no-template ablation).

  Takes the input fields of the first non-inverted template in order, one per
  line, after `prefix`; keeps the options block of classification datasets
  (the answer classes are data, not instructions, and rank classification
  needs them) and the template's target.
  """
  template = next(t for t in spec.templates if not t.inverted)
  fields = []
  for field in _input_fields(template.inputs):
    if field != OPTIONS_SLOT and field not in fields:
      fields.append(field)
  lines = [f"{{{f}}}" for f in fields]
  if template.has_options:
    lines.append(f"{{{OPTIONS_SLOT}}}")
  return Template(prefix + "\n".join(lines), template.targets)


def _input_fields(pattern: str) -> list[str]:
  return [f for _, f, _, _ in string.Formatter().parse(pattern) if f]


def dataset_name_template(spec: registry.DatasetSpec) -> Template:
  """Inputs prefixed by the dataset's name only, e.g. "[rte]"."""
  return plain_template(spec, prefix=f"[{spec.name}]\n")


def template_subset_task(name: str, count: int) -> str:
  """Training task of a dataset restricted to its first `count` templates."""
  entry = common.get_flan_dataset(name).registered
  if count == common.TEMPLATES_PER_DATASET:
    return entry.train_task
  return f"{C}:{name}:train_first{count}"


def instruction_train_task(name: str, mode: str) -> str:
  entry = common.get_flan_dataset(name).registered
  return entry.train_task if mode == "full" else f"{C}:{name}:train_{mode}"


def _register_variant_tasks(overwrite: bool = False) -> None:
  """Per trainable dataset: template-subset and instruction-ablation tasks."""
  for dataset in common.registered_datasets():
    key, spec = dataset.key, dataset.spec
    if dataset.eval_only:
      continue
    for count in TEMPLATE_COUNTS:
      if count < common.TEMPLATES_PER_DATASET:
        registry.register_variant_tasks(
            key, f"first{count}", train_templates=spec.templates[:count],
            overwrite=overwrite)
    registry.register_variant_tasks(
        key, "no_template", train_templates=[plain_template(spec)],
        overwrite=overwrite)
    registry.register_variant_tasks(
        key, "dataset_name", train_templates=[dataset_name_template(spec)],
        eval_template=dataset_name_template(spec), overwrite=overwrite)


def _name_eval_tasks(names: Sequence[str]) -> list[str]:
  tasks = []
  for name in names:
    if common.get_flan_dataset(name).eval_only:
      continue
    for variant in ("score", "gen"):  # rank classification where possible
      task = f"{C}:{name}:dataset_name:{variant}"
      if task in seqio.TaskRegistry.names():
        tasks.append(task)
        break
  return tasks


def register_all(overwrite: bool = False) -> dict[str, str]:
  """Registers every FLAN 2021 mixture for the clusters present.

  `overwrite` re-registers them (after the datasets were registered again
  with other templates, see `tasks.flan2021.paper`).
  """

  def _add(name: str, description: str, register, *args, **kwargs) -> None:
    register(name, *args, overwrite=overwrite, **kwargs)
    MIXTURES[name] = description

  clusters = common.clusters()
  exclusions = _present_exclusions(clusters)
  eval_only = [d.name for d in common.registered_datasets() if d.eval_only]
  names = mixtures.register_cluster_mixtures(
      C, clusters, exclusions=exclusions, max_examples=MAX_EXAMPLES,
      eval_only=eval_only, overwrite=overwrite)
  for name in names:
    what = name.split(":", 1)[1]
    MIXTURES[name] = {
        "train:all": "every trainable FLAN 2021 dataset (examples-"
                     "proportional, 3k cap)",
        "eval:all": "every FLAN 2021 dataset's eval tasks",
    }.get(what, f"leave-one-cluster-out training without "
                f"{what.removeprefix('train:no_')} (and its exclusions)"
          if what.startswith("train:no_") else
          f"eval tasks of cluster {what.removeprefix('eval:')}")
  _register_variant_tasks(overwrite)
  key = lambda names: [f"{C}:{n}" for n in names]

  held_out = [c for c in ABLATION_HELD_OUT if c in clusters]
  if held_out:
    split = mixtures.multi_cluster_split(clusters, held_out, exclusions,
                                         never_train=eval_only)
    _add(f"{C}:ablation:held_out:eval",
         f"eval tasks of the ablations' held-out clusters {', '.join(held_out)}",
         mixtures.register_eval_mixture, key(split.held_out_datasets))
    order = [c for c in NUM_CLUSTERS_ORDER if c in clusters]
    for k in range(1, len(order) + 1):
      part = mixtures.multi_cluster_split(
          clusters, held_out, exclusions, training_clusters=order[:k],
          never_train=eval_only)
      _add(f"{C}:ablation:num_clusters:{k}:train",
           f"number-of-clusters ablation: {', '.join(order[:k])}",
           mixtures.register_training_mixture, key(part.train_datasets),
           max_examples=MAX_EXAMPLES)
    for count in TEMPLATE_COUNTS:
      _add(f"{C}:ablation:templates:{count}:train",
           f"templates ablation: first {count} template(s) per dataset, "
           f"without {', '.join(held_out)}",
           mixtures.register_task_mixture,
           [template_subset_task(d, count) for d in split.train_datasets],
           max_examples=MAX_EXAMPLES)

  for cluster in INSTRUCTION_HELD_OUT:
    if cluster not in clusters:
      continue
    split = mixtures.multi_cluster_split(clusters, (cluster,), exclusions,
                                         never_train=eval_only)
    for mode in INSTRUCTION_MODES:
      _add(f"{C}:ablation:instructions:{mode}:no_{cluster}",
           f"instructions ablation ({mode} inputs), without {cluster}",
           mixtures.register_task_mixture,
           [instruction_train_task(d, mode) for d in split.train_datasets],
           max_examples=MAX_EXAMPLES)
    _add(f"{C}:ablation:instructions:dataset_name:eval:{cluster}",
         f"eval tasks of {cluster} phrased as dataset name + inputs",
         mixtures.register_eval_task_mixture,
         _name_eval_tasks(clusters[cluster]))
  return dict(MIXTURES)


register_all()

"""The paper's ablation mixtures, for any collection with clusters.

FLAN's ablations change what instruction tuning sees and keep everything
else. `register_ablation_mixtures` registers them for one collection from
an `AblationPlan` (scripts/study.py runs them)::

    <c>:ablation:held_out:eval                  eval tasks of plan.held_out
    <c>:ablation:num_clusters:<k>:train         the first k clusters of
                                                plan.cluster_order (Fig. 6)
    <c>:ablation:templates:<n>:train            every cluster but the held-out
                                                ones, the first n templates of
                                                each dataset (Fig. 7's x-axis)
    <c>:ablation:instructions:<mode>:no_<h>     every cluster but h, its inputs
                                                phrased by mode (Fig. 8):
        full           the dataset's own templates
        dataset_name   "[<dataset>]" then the inputs, no instruction
        no_template    the inputs alone, no instruction
    <c>:ablation:instructions:dataset_name:eval:<h>
                                                h's eval tasks phrased as
                                                dataset name + inputs
    <c>:ablation:prompt_tuning:full:<h>         h's own training sets, to
                                                prompt-tune on (section 4.5)
    <c>:ablation:prompt_tuning:first<n>:<h>     the first n examples of each
                                                of h's training sets (n =
                                                PROMPT_TUNING_EXAMPLES, 32 as
                                                in the paper's few-shot runs)

The num_clusters and templates mixtures hold out every cluster of
plan.held_out at once (the paper: NLI, closed-book QA and commonsense) and
the exclusion rules of the collection apply throughout. Inputs without
instructions keep the options block of classification datasets: the answer
classes are data, and rank classification needs them. For example, a
review dataset whose first template reads ``"Review: {text}\\nPositive or
negative?\\n{options_}"`` is trained as::

    no_template     "{text}\\n{options_}"
    dataset_name    "[movie_review]\\n{text}\\n{options_}"
"""

from __future__ import annotations

import dataclasses
import string
from typing import Mapping, Sequence

import seqio
import tensorflow as tf

from flan_jax.data import mixtures
from flan_jax.data import registry
from flan_jax.data.templates import OPTIONS_SLOT, Template

FULL, DATASET_NAME, NO_TEMPLATE = "full", "dataset_name", "no_template"
INSTRUCTION_MODES = (FULL, DATASET_NAME, NO_TEMPLATE)
PROMPT_TUNING_EXAMPLES = 32  # per dataset: FLAN's few-shot prompt tuning


@dataclasses.dataclass(frozen=True)
class AblationPlan:
  """What a collection's ablations hold out and vary.

  Attributes:
    held_out: clusters the num_clusters and templates ablations evaluate
      zero-shot (all held out at once).
    cluster_order: the order clusters join training in the num_clusters
      ablation (clusters of `held_out` are skipped).
    template_counts: templates per dataset in the templates ablation.
    instruction_held_out: clusters the instructions ablation holds out,
      one at a time.
  """
  held_out: tuple[str, ...]
  cluster_order: tuple[str, ...]
  template_counts: tuple[int, ...]
  instruction_held_out: tuple[str, ...]


# collection -> its plan, restricted to the clusters registered.
_PLANS: dict[str, AblationPlan] = {}


def held_out_eval_mixture(collection: str) -> str:
  return f"{collection}:ablation:held_out:eval"


def num_clusters_mixture(collection: str, count: int) -> str:
  return f"{collection}:ablation:num_clusters:{count}:train"


def templates_mixture(collection: str, count: int) -> str:
  return f"{collection}:ablation:templates:{count}:train"


def instructions_mixture(collection: str, mode: str, held_out: str) -> str:
  return f"{collection}:ablation:instructions:{mode}:no_{held_out}"


def dataset_name_eval_mixture(collection: str, held_out: str) -> str:
  return f"{collection}:ablation:instructions:dataset_name:eval:{held_out}"


def prompt_tuning_mixture(collection: str, held_out: str,
                          examples: int | None = None) -> str:
  """The held-out cluster's own training sets (`examples` each, or all)."""
  size = "full" if examples is None else f"first{examples}"
  return f"{collection}:ablation:prompt_tuning:{size}:{held_out}"


def registered_plan(collection: str) -> AblationPlan:
  """The plan `register_ablation_mixtures` used for `collection`."""
  try:
    return _PLANS[collection]
  except KeyError:
    raise KeyError(f"collection '{collection}' has no ablation mixtures; "
                   f"collections that have them: "
                   f"{', '.join(sorted(_PLANS)) or 'none'}") from None


def _input_fields(pattern: str) -> list[str]:
  return [f for _, f, _, _ in string.Formatter().parse(pattern) if f]


def plain_template(spec: registry.DatasetSpec, prefix: str = "") -> Template:
  """The dataset's inputs without instructions (the no-template ablation).

  Takes the input fields of the first non-inverted template in order, one per
  line, after `prefix`; keeps the options block of classification datasets
  and the template's target.
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


def dataset_name_template(spec: registry.DatasetSpec) -> Template:
  """Inputs prefixed by the dataset's name only, e.g. "[rte]"."""
  return plain_template(spec, prefix=f"[{spec.name}]\n")


def template_subset_task(dataset_key: str, count: int) -> str:
  """Training task of a dataset restricted to its first `count` templates."""
  entry = registry.get_dataset(dataset_key)
  if count >= len(entry.spec.templates):
    return entry.train_task
  return f"{dataset_key}:train_first{count}"


def instruction_train_task(dataset_key: str, mode: str) -> str:
  entry = registry.get_dataset(dataset_key)
  return entry.train_task if mode == FULL else f"{dataset_key}:train_{mode}"


def register_first_examples_task(dataset_key: str, count: int, *,
                                 overwrite: bool = False) -> str:
  """A dataset's training task limited to its first `count` examples.

  FLAN's prompt-tuning comparison (section 4.5) tunes on 32 examples per
  dataset. The task is the dataset's training task on a source that reads
  the train split in order (never file-shuffled, so every epoch and every
  restart sees the same `count` examples) and stops after `count` (a
  smaller dataset gives all it has); its `num_input_examples` says
  `count`, so mixture rates see the small set::

      <collection>:<dataset>:train_first<count>_examples

  Returns:
    The registered task's name.
  """
  entry = registry.get_dataset(dataset_key)
  if entry.train_task is None:
    raise ValueError(f"dataset '{dataset_key}' is evaluation-only; it has "
                     "no training examples to take")
  if count < 1:
    raise ValueError(f"a training subset needs at least one example, not "
                     f"{count}")
  full = seqio.get_mixture_or_task(entry.train_task)
  source = full.source

  def first_examples(split: str, shuffle_files: bool = False,
                     seed: int | None = None) -> tf.data.Dataset:
    del shuffle_files, seed  # the same examples every time
    return source.get_dataset(split, shuffle=False).take(count)

  spec = entry.spec
  name = f"{spec.collection}:{spec.name}:train_first{count}_examples"
  if overwrite:
    seqio.TaskRegistry.remove(name)
  if name not in seqio.TaskRegistry.names():
    seqio.TaskRegistry.add(
        name,
        # Only the train split; its size is `count` without reading the
        # full source (a TFDS source would load its metadata here).
        source=seqio.FunctionDataSource(
            first_examples, splits=("train",),
            num_input_examples={"train": count}),
        preprocessors=list(full.preprocessors),
        output_features=full.output_features)
    registry.describe_like(name, entry.train_task)
  return name


def _register_variant_tasks(dataset_keys: Sequence[str],
                            template_counts: Sequence[int],
                            overwrite: bool) -> None:
  for key in dataset_keys:
    spec = registry.get_dataset(key).spec
    for count in template_counts:
      if count < len(spec.templates):
        registry.register_variant_tasks(
            key, f"first{count}", train_templates=spec.templates[:count],
            overwrite=overwrite)
    registry.register_variant_tasks(
        key, NO_TEMPLATE, train_templates=[plain_template(spec)],
        overwrite=overwrite)
    registry.register_variant_tasks(
        key, DATASET_NAME, train_templates=[dataset_name_template(spec)],
        eval_template=dataset_name_template(spec), overwrite=overwrite)


def _name_eval_tasks(dataset_keys: Sequence[str]) -> list[str]:
  tasks = []
  for key in dataset_keys:
    for variant in ("score", "gen"):  # rank classification where possible
      task = f"{key}:{DATASET_NAME}:{variant}"
      if task in seqio.TaskRegistry.names():
        tasks.append(task)
        break
  return tasks


def register_ablation_mixtures(collection: str,
                               clusters: Mapping[str, Sequence[str]],
                               plan: AblationPlan,
                               *,
                               exclusions: Mapping[str, Sequence[str]]
                               | None = None,
                               eval_only: Sequence[str] = (),
                               max_examples: int | None =
                               mixtures.DEFAULT_MAX_EXAMPLES,
                               overwrite: bool = False
                               ) -> dict[str, str]:
  """Registers the ablation mixtures of `collection` (see module doc).

  Clusters of the plan that are not in `clusters` are left out (a
  collection registered in part). `overwrite` registers them again (after
  the collection's datasets were registered again with other templates).

  Returns:
    mixture name -> one-line description, for every mixture registered.
  """
  key = lambda names: [f"{collection}:{n}" for n in names]
  plan = AblationPlan(
      held_out=tuple(c for c in plan.held_out if c in clusters),
      cluster_order=tuple(c for c in plan.cluster_order if c in clusters and
                          c not in plan.held_out),
      template_counts=tuple(plan.template_counts),
      instruction_held_out=tuple(c for c in plan.instruction_held_out
                                 if c in clusters))
  _PLANS[collection] = plan
  trainable = [d for ds in clusters.values() for d in ds if d not in eval_only]
  _register_variant_tasks(key(dict.fromkeys(trainable)), plan.template_counts,
                          overwrite)
  names: dict[str, str] = {}

  if plan.held_out:
    split = mixtures.multi_cluster_split(clusters, plan.held_out, exclusions,
                                         never_train=eval_only)
    name = held_out_eval_mixture(collection)
    mixtures.register_eval_mixture(name, key(split.held_out_datasets),
                                   overwrite=overwrite)
    names[name] = ("eval tasks of the ablations' held-out clusters "
                   f"{', '.join(plan.held_out)}")
    for k in range(1, len(plan.cluster_order) + 1):
      part = mixtures.multi_cluster_split(
          clusters, plan.held_out, exclusions,
          training_clusters=plan.cluster_order[:k], never_train=eval_only)
      name = num_clusters_mixture(collection, k)
      mixtures.register_training_mixture(name, key(part.train_datasets),
                                         max_examples=max_examples,
                                         overwrite=overwrite)
      names[name] = ("number-of-clusters ablation: "
                     f"{', '.join(plan.cluster_order[:k])}")
    for count in plan.template_counts:
      name = templates_mixture(collection, count)
      mixtures.register_task_mixture(
          name, [template_subset_task(d, count)
                 for d in key(split.train_datasets)],
          max_examples=max_examples, overwrite=overwrite)
      names[name] = (f"templates ablation: first {count} template(s) per "
                     f"dataset, without {', '.join(plan.held_out)}")

  for cluster in plan.instruction_held_out:
    split = mixtures.multi_cluster_split(clusters, (cluster,), exclusions,
                                         never_train=eval_only)
    for mode in INSTRUCTION_MODES:
      name = instructions_mixture(collection, mode, cluster)
      mixtures.register_task_mixture(
          name, [instruction_train_task(d, mode)
                 for d in key(split.train_datasets)],
          max_examples=max_examples, overwrite=overwrite)
      names[name] = f"instructions ablation ({mode} inputs), without {cluster}"
    name = dataset_name_eval_mixture(collection, cluster)
    mixtures.register_eval_task_mixture(
        name, _name_eval_tasks(key(clusters[cluster])), overwrite=overwrite)
    names[name] = f"eval tasks of {cluster} phrased as dataset name + inputs"
    own = [d for d in key(clusters[cluster]) if d not in key(eval_only)
           and registry.get_dataset(d).train_task is not None]
    if own:
      name = prompt_tuning_mixture(collection, cluster)
      mixtures.register_training_mixture(name, own, max_examples=max_examples,
                                         overwrite=overwrite)
      names[name] = f"prompt tuning on {cluster}'s training sets"
      name = prompt_tuning_mixture(collection, cluster, PROMPT_TUNING_EXAMPLES)
      mixtures.register_task_mixture(
          name, [register_first_examples_task(
              d, PROMPT_TUNING_EXAMPLES, overwrite=overwrite) for d in own],
          # each task says it has n examples, so the cap never bites
          max_examples=max_examples, overwrite=overwrite)
      names[name] = (f"prompt tuning on the first {PROMPT_TUNING_EXAMPLES} "
                     f"examples of each of {cluster}'s training sets")
  return names

"""Task clusters and the FLAN leave-one-cluster-out mixtures.

Clusters are data: a mapping from cluster name to dataset names of one
collection. `register_cluster_mixtures` turns it into seqio mixtures::

    <collection>:train:all              every dataset's training task
    <collection>:train:no_<cluster>     everything except <cluster> and the
                                        clusters its exclusion rule names
    <collection>:eval:<cluster>         eval tasks of one cluster's datasets
    <collection>:eval:all               eval tasks of every dataset

Training mixtures mix examples-proportionally: each task's rate is its number
of training examples, capped (FLAN: 3,000). Exclusion rules follow FLAN: when
NLI is held out, paraphrase is also removed, and so on; a dataset that belongs
to the held-out cluster is never trained on, even if another cluster lists it.

Mixtures of mixtures (Flan 2022's submixes) give each part a fixed share:
`register_mixture_of_mixtures("m", {"a": 0.4, "b": 0.6})` samples 40% of
its examples from mixture "a" whatever its size. Input inversion is a switch
on any training mixture: `register_input_inversion("m")` registers
"m+inversion", the mixture plus, at 0.3 of its rate, a stream of every one
of its datasets' inverted templates ("turn the task around"; Flan 2022 mixes
its inverted CoT and dialog data at 0.3).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Mapping, Sequence

import seqio

from flan_jax.data import lookup
from flan_jax.data import registry

DEFAULT_MAX_EXAMPLES = 3000
INVERSION_SUFFIX = "+inversion"
DEFAULT_INVERSION_RATE = 0.3
INVERTED_LABEL = "inverted"

# collection -> cluster -> dataset names, as given to register_cluster_mixtures.
_CLUSTERS: dict[str, dict[str, tuple[str, ...]]] = {}


@dataclasses.dataclass(frozen=True)
class ClusterSplit:
  """Which datasets a leave-one-cluster-out experiment trains and tests on."""
  held_out_cluster: str
  removed_clusters: tuple[str, ...]  # held-out cluster plus its exclusions
  train_datasets: tuple[str, ...]
  held_out_datasets: tuple[str, ...]


def cluster_split(clusters: Mapping[str, Sequence[str]],
                  held_out: str,
                  exclusions: Mapping[str, Sequence[str]] | None = None
                  ) -> ClusterSplit:
  """Computes the training datasets when `held_out` is held out."""
  split = multi_cluster_split(clusters, (held_out,), exclusions)
  return dataclasses.replace(split, held_out_cluster=held_out)


def multi_cluster_split(clusters: Mapping[str, Sequence[str]],
                        held_out: Sequence[str],
                        exclusions: Mapping[str, Sequence[str]] | None = None,
                        *,
                        training_clusters: Sequence[str] | None = None,
                        never_train: Sequence[str] = ()) -> ClusterSplit:
  """Training datasets when several clusters are held out at once.

  Args:
    clusters: cluster -> dataset names.
    held_out: clusters evaluated zero-shot; they and the clusters their
      exclusion rules name are removed from training.
    exclusions: cluster -> clusters also removed when it is held out.
    training_clusters: train only on these clusters (after removals);
      default: every cluster. The number-of-clusters ablation uses it.
    never_train: dataset names that are evaluation-only.

  Returns:
    A ClusterSplit whose held_out_cluster joins the held-out names with "+".
  """
  for cluster in (*held_out, *(training_clusters or ())):
    if cluster not in clusters:
      raise KeyError(f"unknown cluster '{cluster}'; clusters: "
                     f"{', '.join(sorted(clusters))}")
  exclusions = exclusions or {}
  for cluster, excluded in exclusions.items():
    unknown = [c for c in (cluster, *excluded) if c not in clusters]
    if unknown:
      raise KeyError(f"exclusion rule names unknown cluster(s) {unknown}")
  removed = tuple(dict.fromkeys(
      c for h in held_out for c in (h, *exclusions.get(h, ()))))
  removed_datasets = {d for c in removed for d in clusters[c]}
  removed_datasets.update(never_train)
  train = []
  for cluster in (training_clusters or clusters):
    for dataset in clusters[cluster]:
      if dataset not in removed_datasets and dataset not in train:
        train.append(dataset)
  held_out_datasets = tuple(dict.fromkeys(
      d for h in held_out for d in clusters[h]))
  return ClusterSplit("+".join(held_out), removed, tuple(train),
                      held_out_datasets)


def train_mixture_name(collection: str, held_out: str | None = None) -> str:
  return f"{collection}:train:" + ("all" if held_out is None else
                                   f"no_{held_out}")


def eval_mixture_name(collection: str, cluster: str | None = None) -> str:
  return f"{collection}:eval:" + ("all" if cluster is None else cluster)


def _add_mixture(name: str, tasks, overwrite: bool, **kwargs) -> None:
  if overwrite:
    seqio.MixtureRegistry.remove(name)
  seqio.MixtureRegistry.add(name, tasks, **kwargs)


def register_training_mixture(name: str,
                              dataset_keys: Sequence[str],
                              *,
                              max_examples: int | None = DEFAULT_MAX_EXAMPLES,
                              overwrite: bool = False) -> None:
  """Examples-proportional mixture of the datasets' training tasks."""
  tasks = []
  for key in dataset_keys:
    train_task = registry.get_dataset(key).train_task
    if train_task is None:
      raise ValueError(f"dataset '{key}' is evaluation-only and cannot be in "
                       f"training mixture '{name}'")
    tasks.append(train_task)
  register_task_mixture(name, tasks, max_examples=max_examples,
                        overwrite=overwrite)


def register_task_mixture(name: str,
                          task_names: Sequence[str],
                          *,
                          max_examples: int | None = DEFAULT_MAX_EXAMPLES,
                          overwrite: bool = False) -> None:
  """Examples-proportional mixture of the given (training) tasks.

  Each task's rate is its number of training examples, capped at
  `max_examples` (FLAN: 3,000), as `seqio.mixing_rate_num_examples` computes.
  """
  rate = functools.partial(seqio.mixing_rate_num_examples,
                           maximum=max_examples)
  _add_mixture(name, list(task_names), overwrite, default_rate=rate)


def register_eval_mixture(name: str,
                          dataset_keys: Sequence[str],
                          *,
                          overwrite: bool = False) -> None:
  """Every eval task (one per template) of the datasets, uncapped."""
  tasks = [t for k in dataset_keys for t in registry.get_dataset(k).eval_tasks]
  _add_mixture(name, tasks, overwrite, default_rate=1.0)


def register_eval_task_mixture(name: str,
                               task_names: Sequence[str],
                               *,
                               overwrite: bool = False) -> None:
  """Equal-rate mixture of the given eval tasks (e.g. ablation variants)."""
  _add_mixture(name, list(task_names), overwrite, default_rate=1.0)


def register_mixture_of_mixtures(name: str, rates: Mapping[str, float], *,
                                 overwrite: bool = False) -> None:
  """Each part (a mixture or task name) gets `rate / sum(rates)` of examples."""
  _add_mixture(name, [(part, float(rate)) for part, rate in rates.items()],
               overwrite)


def inversion_mixture_name(name: str) -> str:
  return name + INVERSION_SUFFIX


def register_input_inversion(name: str, rate: float = DEFAULT_INVERSION_RATE,
                             *, overwrite: bool = False) -> str:
  """Registers `name` + its datasets' inverted templates; returns its name.

  The inverted stream (``<name>+inversion:inverted``) holds, per training
  task of the mixture whose dataset has inverted templates, a task over
  those templates only (``<dataset>:train_inverted``) at that task's rate
  in the mixture; the result (``<name>+inversion``) mixes the mixture and
  the stream at 1 : `rate`.

  Raises:
    ValueError: no dataset of the mixture has an inverted template.
  """
  derived = inversion_mixture_name(name)
  stream = f"{derived}:{INVERTED_LABEL}"
  if derived in seqio.MixtureRegistry.names() and not overwrite:
    return derived
  base = lookup.get_task_or_mixture(name)
  inverted = []
  for task in seqio.get_subtasks(base):
    try:
      info = registry.describe_task(task.name)
    except KeyError:  # a plain seqio task: no templates to invert
      continue
    if info.variant != registry.TRAIN:
      continue
    key = f"{info.collection}:{info.dataset}"
    templates = [t for t in registry.get_dataset(key).spec.templates
                 if t.inverted]
    if not templates:
      continue
    task_name = f"{key}:{registry.TRAIN}_{INVERTED_LABEL}"
    if task_name not in seqio.TaskRegistry.names():
      registry.register_variant_tasks(key, INVERTED_LABEL,
                                      train_templates=templates)
    share = (base.get_rate(task) if isinstance(base, seqio.Mixture) else 1.0)
    inverted.append((task_name, share))
  if not inverted:
    raise ValueError(f"input inversion: no dataset of '{name}' has inverted "
                     "templates, so there is nothing to invert")
  _add_mixture(stream, list(dict(inverted).items()), True)
  register_mixture_of_mixtures(derived, {name: 1.0, stream: rate},
                               overwrite=True)
  return derived


def training_mixture(name: str, input_inversion: bool = False,
                     inversion_rate: float = DEFAULT_INVERSION_RATE) -> str:
  """The mixture a run trains on: `name`, or it with input inversion."""
  if not input_inversion:
    return name
  # Registered afresh: the tasks may have been registered again since (with
  # other templates, see task_settings).
  return register_input_inversion(name, inversion_rate, overwrite=True)


def register_clusters(collection: str,
                      clusters: Mapping[str, Sequence[str]]) -> None:
  """Records which datasets form which cluster (reports group by them)."""
  _CLUSTERS[collection] = {c: tuple(ds) for c, ds in clusters.items()}


def register_cluster_mixtures(collection: str,
                              clusters: Mapping[str, Sequence[str]],
                              *,
                              exclusions: Mapping[str, Sequence[str]] | None = None,
                              max_examples: int | None = DEFAULT_MAX_EXAMPLES,
                              eval_only: Sequence[str] = (),
                              overwrite: bool = False) -> list[str]:
  """Registers the all-datasets and leave-one-cluster-out mixtures.

  Args:
    collection: the datasets' collection (task name prefix).
    clusters: cluster name -> dataset names (registered in `collection`).
    exclusions: cluster -> further clusters removed from training when it is
      held out, e.g. {"nli": ["paraphrase"], "paraphrase": ["nli"]}.
    max_examples: per-task cap on the mixing rate.
    eval_only: dataset names that are in eval mixtures only (no training
      task, e.g. FLAN's wsc273).
    overwrite: replace mixtures of the same names.

  Returns:
    The names of the registered mixtures.
  """
  register_clusters(collection, clusters)
  key = lambda dataset: f"{collection}:{dataset}"
  all_datasets = list(dict.fromkeys(d for ds in clusters.values() for d in ds))
  trainable = [d for d in all_datasets if d not in eval_only]
  names = []

  def add_train(name, datasets):
    register_training_mixture(name, [key(d) for d in datasets],
                              max_examples=max_examples, overwrite=overwrite)
    names.append(name)

  def add_eval(name, datasets):
    register_eval_mixture(name, [key(d) for d in datasets], overwrite=overwrite)
    names.append(name)

  if trainable:  # an evaluation-only collection (benchmarks) has none
    add_train(train_mixture_name(collection), trainable)
  add_eval(eval_mixture_name(collection), all_datasets)
  for cluster in clusters:
    split = multi_cluster_split(clusters, (cluster,), exclusions,
                                never_train=eval_only)
    if split.train_datasets:  # nothing to train on when one cluster is all
      add_train(train_mixture_name(collection, cluster), split.train_datasets)
    add_eval(eval_mixture_name(collection, cluster), clusters[cluster])
  return names


def datasets_in_mixture(name: str) -> set[str]:
  """Dataset keys ('<collection>:<dataset>') a mixture or task draws from."""
  tasks = seqio.get_subtasks(lookup.get_task_or_mixture(name))
  keys = set()
  for task in tasks:
    info = registry.describe_task(task.name)
    keys.add(f"{info.collection}:{info.dataset}")
  return keys


def clusters_of(dataset_key: str) -> list[str]:
  """Clusters that list a dataset ('<collection>:<dataset>')."""
  collection, _, dataset = dataset_key.partition(":")
  return [c for c, ds in _CLUSTERS.get(collection, {}).items() if dataset in ds]


def registered_clusters(collection: str) -> dict[str, tuple[str, ...]]:
  return dict(_CLUSTERS.get(collection, {}))

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
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Mapping, Sequence

import seqio

from flan_jax.data import registry

DEFAULT_MAX_EXAMPLES = 3000

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
  if held_out not in clusters:
    raise KeyError(f"unknown cluster '{held_out}'; clusters: "
                   f"{', '.join(sorted(clusters))}")
  exclusions = exclusions or {}
  for cluster, excluded in exclusions.items():
    unknown = [c for c in (cluster, *excluded) if c not in clusters]
    if unknown:
      raise KeyError(f"exclusion rule names unknown cluster(s) {unknown}")
  removed = (held_out, *exclusions.get(held_out, ()))
  removed_datasets = {d for c in removed for d in clusters[c]}
  train = []
  for cluster, datasets in clusters.items():
    for dataset in datasets:
      if dataset not in removed_datasets and dataset not in train:
        train.append(dataset)
  return ClusterSplit(held_out, tuple(removed), tuple(train),
                      tuple(clusters[held_out]))


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
  tasks = [registry.get_dataset(k).train_task for k in dataset_keys]
  rate = functools.partial(seqio.mixing_rate_num_examples,
                           maximum=max_examples)
  _add_mixture(name, tasks, overwrite, default_rate=rate)


def register_eval_mixture(name: str,
                          dataset_keys: Sequence[str],
                          *,
                          overwrite: bool = False) -> None:
  """Every eval task (one per template) of the datasets, uncapped."""
  tasks = [t for k in dataset_keys for t in registry.get_dataset(k).eval_tasks]
  _add_mixture(name, tasks, overwrite, default_rate=1.0)


def register_cluster_mixtures(collection: str,
                              clusters: Mapping[str, Sequence[str]],
                              *,
                              exclusions: Mapping[str, Sequence[str]] | None = None,
                              max_examples: int | None = DEFAULT_MAX_EXAMPLES,
                              overwrite: bool = False) -> list[str]:
  """Registers the all-datasets and leave-one-cluster-out mixtures.

  Args:
    collection: the datasets' collection (task name prefix).
    clusters: cluster name -> dataset names (registered in `collection`).
    exclusions: cluster -> further clusters removed from training when it is
      held out, e.g. {"nli": ["paraphrase"], "paraphrase": ["nli"]}.
    max_examples: per-task cap on the mixing rate.
    overwrite: replace mixtures of the same names.

  Returns:
    The names of the registered mixtures.
  """
  _CLUSTERS[collection] = {c: tuple(ds) for c, ds in clusters.items()}
  key = lambda dataset: f"{collection}:{dataset}"
  all_datasets = list(dict.fromkeys(d for ds in clusters.values() for d in ds))
  names = []

  def add_train(name, datasets):
    register_training_mixture(name, [key(d) for d in datasets],
                              max_examples=max_examples, overwrite=overwrite)
    names.append(name)

  def add_eval(name, datasets):
    register_eval_mixture(name, [key(d) for d in datasets], overwrite=overwrite)
    names.append(name)

  add_train(train_mixture_name(collection), all_datasets)
  add_eval(eval_mixture_name(collection), all_datasets)
  for cluster in clusters:
    split = cluster_split(clusters, cluster, exclusions)
    if split.train_datasets:  # nothing to train on when one cluster is all
      add_train(train_mixture_name(collection, cluster), split.train_datasets)
    add_eval(eval_mixture_name(collection, cluster), clusters[cluster])
  return names


def datasets_in_mixture(name: str) -> set[str]:
  """Dataset keys ('<collection>:<dataset>') a mixture or task draws from."""
  tasks = seqio.get_subtasks(seqio.get_mixture_or_task(name))
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

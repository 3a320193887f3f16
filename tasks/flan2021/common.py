"""Shared machinery of the FLAN 2021 collection: sources, splits, clusters.

Every cluster module (``tasks/flan2021/<cluster>.py``) registers its datasets
with one call each::

    common.register_flan_dataset(
        name="rte", cluster="nli", tfds_name="super_glue/rte",
        splits=common.SPLITS_VALIDATION_AS_TEST, prepare=[prepare_rte],
        templates=TEMPLATES, options=("yes", "no"))

which registers ``flan2021:rte:train``, ``flan2021:rte:t<i>:gen`` and
``flan2021:rte:t<i>:score`` (see `flan_jax.data.registry`) and records that
``rte`` belongs to the ``nli`` cluster, for the mixtures.

Splits and caps (FLAN_FACTS): training reads at most the first 30,000
examples of its split, validation exactly the first 200 of its split. Where a
dataset's official validation set is used as the test set (its test labels are
hidden), validation is carved from the tail of train, and train stops 200
examples before the end, so the two never overlap. TFDS split strings cannot
chain two slices ("all but the last 200, then the first 30,000"), so the caps
are applied by `FlanTfdsSource` with ``take`` after the split is read.

Data is read with ``read_only=True``: nothing downloads behind the user's
back. A dataset missing on disk raises `DatasetNotPreparedError`, naming the
``tfds build`` command that prepares it.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, Sequence

import seqio
import tensorflow as tf
import tensorflow_datasets as tfds

from flan_jax import errors
from flan_jax.data import registry
from flan_jax.data.templates import Template

COLLECTION = "flan2021"
TRAIN_CAP = 30_000
VALIDATION_SIZE = 200
MAX_INVERTED_TEMPLATES = 3
TEMPLATES_PER_DATASET = 10

# The 17 fine clusters of the FLAN 2021 code release, in FLAN_FACTS order.
# Module `tasks/flan2021/<cluster>.py` registers each one.
CLUSTER_NAMES = (
    "summarization", "structure_to_text", "reading_comprehension",
    "open_domain_qa", "paraphrase", "sentiment", "text_formatting",
    "common_sense", "translation", "coreference", "nli", "math",
    "conversational_qa", "word_disambiguation", "linguistic_acceptability",
    "question_classification", "read_comp_and_common_sense")


class DatasetNotPreparedError(errors.FlanJaxError, FileNotFoundError):
  """A TFDS dataset a FLAN task reads has not been downloaded and prepared."""


def splits(train: str | None = None,
           validation: str | None = None,
           test: str | None = None) -> dict[str, str]:
  """Our split name -> TFDS split string; `register_flan_dataset` adds caps.

  Train is read up to `TRAIN_CAP` examples and validation up to
  `VALIDATION_SIZE`, whatever the strings say. Splits given as None are left
  out (an evaluation-only dataset gives only `test`).
  """
  given = {"train": train, "validation": validation, "test": test}
  result = {name: split for name, split in given.items() if split is not None}
  if not result:
    raise ValueError("splits() needs at least one of train, validation, test")
  return result


# The dataset's own train / validation / test, with the caps.
SPLITS_STANDARD = splits(train="train", validation="validation", test="test")
# Official validation set used as test (test labels hidden); validation is the
# last 200 training examples, which training never reads.
SPLITS_VALIDATION_AS_TEST = splits(
    train=f"train[:-{VALIDATION_SIZE}]",
    validation=f"train[-{VALIDATION_SIZE}:]",
    test="validation")

DEFAULT_CAPS = {"train": TRAIN_CAP, "validation": VALIDATION_SIZE}


def _with_version(tfds_name: str) -> str:
  # seqio requires a version; any installed version will do.
  return tfds_name if ":" in tfds_name else f"{tfds_name}:*.*.*"


def build_command(tfds_name: str) -> str:
  """The shell command that downloads and prepares a TFDS dataset."""
  return f"tfds build {tfds_name.split(':')[0]}"


def not_prepared_error(tfds_name: str, data_dir: str | None,
                       cause: BaseException | None = None
                       ) -> DatasetNotPreparedError:
  where = data_dir or "the TFDS data directory (TFDS_DATA_DIR or "\
      "~/tensorflow_datasets)"
  detail = f" ({type(cause).__name__})" if cause is not None else ""
  return DatasetNotPreparedError(
      f"TFDS dataset '{tfds_name.split(':')[0]}' is not prepared in {where}"
      f"{detail}: run `{build_command(tfds_name)}` (add --data_dir=DIR to "
      "prepare it elsewhere and set TFDS_DATA_DIR=DIR; datasets with manual "
      "downloads also need --manual_dir)")


class FlanTfdsSource(seqio.TfdsDataSource):
  """A read-only TFDS source that caps splits and explains missing data.

  Args:
    tfds_name: TFDS name with config, e.g. "super_glue/rte" (a version is
      optional).
    splits: our split name -> TFDS split string.
    caps: our split name -> maximum number of examples (the first ones).
    tfds_data_dir: where TFDS data lives (default: TFDS's own default).
  """

  def __init__(self, tfds_name: str, splits: Mapping[str, str], *,
               caps: Mapping[str, int] | None = None,
               tfds_data_dir: str | None = None):
    super().__init__(tfds_name=_with_version(tfds_name),
                     tfds_data_dir=tfds_data_dir, splits=dict(splits),
                     read_only=True)
    self._plain_name = tfds_name.split(":")[0]
    self._split_map = dict(splits)
    self._data_dir = tfds_data_dir
    self._caps = dict(DEFAULT_CAPS if caps is None else caps)

  @property
  def plain_tfds_name(self) -> str:
    return self._plain_name

  @property
  def split_map(self) -> dict[str, str]:
    """Our split name -> TFDS split string (before caps)."""
    return dict(self._split_map)

  @property
  def caps(self) -> dict[str, int]:
    return dict(self._caps)

  @property
  def supports_arbitrary_sharding(self) -> bool:
    # Sharding is by example (see get_dataset), so any number of shards
    # works, and seqio need not list TFDS files (which needs prepared data).
    return True

  def _load(self, split, shuffle, seed):
    try:
      return self.tfds_dataset.load(split, shuffle_files=shuffle, seed=seed)
    except (AssertionError, FileNotFoundError,
            tf.errors.NotFoundError) as e:
      raise not_prepared_error(self._plain_name, self._data_dir, e) from e

  def get_dataset(self, split: str | None = None, shuffle: bool = True,
                  seed: int | None = None,
                  shard_info: seqio.ShardInfo | None = None, *,
                  sequence_length=None, use_cached: bool = False,
                  num_epochs: int | None = 1) -> tf.data.Dataset:
    del sequence_length, use_cached, num_epochs
    split = split or "train"
    cap = self._caps.get(split)
    if cap is None:
      ds = self._load(split, shuffle, seed)
    else:
      # "The first N examples" must not depend on file shuffling: read in
      # order, then cap. seqio shuffles examples afterwards.
      ds = self._load(split, False, None).take(cap)
    if shard_info is not None and shard_info.num_shards > 1:
      # By example: FLAN's capped splits are small, and TFDS's file-level
      # sharding fails when a split has fewer files than hosts.
      ds = ds.shard(shard_info.num_shards, shard_info.index)
    return ds

  def num_input_examples(self, split: str) -> int:
    cap = self._caps.get(split)
    try:
      size = self.tfds_dataset.size(split)
    except (KeyError, AssertionError, FileNotFoundError):
      # No split metadata: either the data is missing (get_dataset raises
      # the clear error) or it is served without metadata, as under
      # tfds.testing.mock_data, where counting is cheap.
      ds = self.get_dataset(split, shuffle=False)
      return int(ds.reduce(0, lambda count, _: count + 1))
    return size if cap is None else min(size, cap)


@dataclasses.dataclass(frozen=True)
class FlanDataset:
  """One registered FLAN 2021 dataset and where it belongs."""
  name: str
  cluster: str
  tfds_name: str
  eval_only: bool
  registered: registry.RegisteredDataset

  @property
  def key(self) -> str:
    return f"{COLLECTION}:{self.name}"

  @property
  def spec(self) -> registry.DatasetSpec:
    return self.registered.spec


# dataset name -> FlanDataset, in registration order.
_DATASETS: dict[str, FlanDataset] = {}


def _check_templates(name: str, templates: Sequence[Template]) -> None:
  if len(templates) != TEMPLATES_PER_DATASET:
    raise ValueError(f"FLAN dataset '{name}' has {len(templates)} templates; "
                     f"FLAN 2021 uses exactly {TEMPLATES_PER_DATASET}")
  inverted = sum(t.inverted for t in templates)
  if inverted > MAX_INVERTED_TEMPLATES:
    raise ValueError(f"FLAN dataset '{name}' has {inverted} inverted templates;"
                     f" at most {MAX_INVERTED_TEMPLATES} are allowed")


def register_flan_dataset(*,
                          name: str,
                          cluster: str,
                          tfds_name: str,
                          splits: Mapping[str, str],
                          templates: Sequence[Template],
                          eval_only: bool = False,
                          caps: Mapping[str, int] | None = None,
                          tfds_data_dir: str | None = None,
                          source: seqio.DataSource | None = None,
                          **spec_fields) -> FlanDataset:
  """Registers one FLAN 2021 dataset's tasks and records its cluster.

  Args:
    name: dataset key from FLAN_FACTS (e.g. "rte").
    cluster: one of `CLUSTER_NAMES` (the registering module's name).
    tfds_name: TFDS name with config, e.g. "super_glue/rte".
    splits: our split name -> TFDS split string (`SPLITS_STANDARD`,
      `SPLITS_VALIDATION_AS_TEST` or `splits(...)`).
    templates: exactly ten templates, at most three inverted.
    eval_only: register no training task and keep the dataset out of every
      training mixture (wsc273); its splits need only "test".
    caps: our split name -> example cap (default: train 30,000,
      validation 200).
    tfds_data_dir: TFDS data directory (default: TFDS's own).
    source: a ready seqio source instead of the TFDS one (datasets built
      from another dataset's text, e.g. the text-formatting tasks, may pass
      a FlanTfdsSource over that dataset).
    **spec_fields: other `flan_jax.data.registry.DatasetSpec` fields
      (prepare, options, answer_field, metric_fns, postprocess_fn).

  Returns:
    The FlanDataset record.
  """
  if cluster not in CLUSTER_NAMES:
    raise ValueError(f"unknown FLAN cluster '{cluster}' for dataset '{name}';"
                     f" clusters: {', '.join(CLUSTER_NAMES)}")
  if name in _DATASETS:
    raise ValueError(f"FLAN dataset '{name}' is registered twice (clusters "
                     f"'{_DATASETS[name].cluster}' and '{cluster}')")
  _check_templates(name, templates)
  if eval_only and "test" not in splits:
    raise ValueError(f"evaluation-only FLAN dataset '{name}' needs a test split")
  if not eval_only and "train" not in splits:
    raise ValueError(f"FLAN dataset '{name}' has no train split; pass "
                     "eval_only=True if it is only for evaluation")
  if source is None:
    source = FlanTfdsSource(tfds_name, splits, caps=caps,
                            tfds_data_dir=tfds_data_dir)
  spec = registry.DatasetSpec(
      name=name, collection=COLLECTION, source=source,
      templates=tuple(templates),
      train_split=None if eval_only else "train", **spec_fields)
  registered = registry.register_dataset(spec)
  record = FlanDataset(name, cluster, tfds_name.split(":")[0], eval_only,
                       registered)
  _DATASETS[name] = record
  return record


def replace_registered(name: str,
                       registered: registry.RegisteredDataset) -> FlanDataset:
  """Points a dataset's record at its re-registered tasks (other templates)."""
  record = dataclasses.replace(get_flan_dataset(name), registered=registered)
  _DATASETS[name] = record
  return record


def registered_datasets(cluster: str | None = None) -> list[FlanDataset]:
  """Registered FLAN datasets (of one cluster), in registration order."""
  return [d for d in _DATASETS.values() if cluster in (None, d.cluster)]


def get_flan_dataset(name: str) -> FlanDataset:
  try:
    return _DATASETS[name]
  except KeyError:
    raise KeyError(f"no FLAN 2021 dataset '{name}' is registered") from None


def clusters(include_eval_only: bool = True) -> dict[str, tuple[str, ...]]:
  """Cluster -> registered dataset names, for clusters with any dataset.

  Clusters come in `CLUSTER_NAMES` order, datasets in registration order.
  """
  result = {}
  for cluster in CLUSTER_NAMES:
    names = tuple(d.name for d in registered_datasets(cluster)
                  if include_eval_only or not d.eval_only)
    if names:
      result[cluster] = names
  return result


def missing_clusters() -> list[str]:
  """Clusters of FLAN 2021 with no registered dataset (modules not present)."""
  present = clusters()
  return [c for c in CLUSTER_NAMES if c not in present]


# --- preparation helpers (tf.data, used by several cluster modules) -----------

Preprocessor = Callable[[tf.data.Dataset], tf.data.Dataset]


def label_to_text(names: Sequence[str], field: str = "label",
                  output: str = "answer") -> Preprocessor:
  """Maps an integer class label to its name: label 0 -> names[0], ...

  Example: label_to_text(("yes", "no")) turns {"label": 1} into
  {"label": 1, "answer": "no"}.
  """
  table = tf.constant(list(names), tf.string)

  @seqio.map_over_dataset
  def convert(ex):
    ex = dict(ex)
    ex[output] = tf.gather(table, tf.cast(ex[field], tf.int32))
    return ex

  return convert


def drop_unlabelled(field: str = "label") -> Preprocessor:
  """Drops examples whose integer label is negative (no gold label)."""

  def drop(ds: tf.data.Dataset) -> tf.data.Dataset:
    return ds.filter(lambda ex: tf.greater_equal(ex[field], 0))

  return drop


def rename(mapping: Mapping[str, str]) -> Preprocessor:
  """Renames fields (old -> new) and keeps the others."""

  @seqio.map_over_dataset
  def apply(ex):
    return {mapping.get(k, k): v for k, v in ex.items()}

  return apply


def strip_fields(*fields: str) -> Preprocessor:
  """Trims surrounding whitespace of string fields."""

  @seqio.map_over_dataset
  def apply(ex):
    ex = dict(ex)
    for field in fields:
      ex[field] = tf.strings.strip(ex[field])
    return ex

  return apply


def reference_list(*answers) -> tf.Tensor:
  """Every acceptable answer of an example, for its `references` field.

  Takes scalars and 1-D string tensors (first answer first), strips them,
  drops empty ones and repeats, keeping first-seen order. Generation tasks
  then score a prediction against the best of them
  (`flan_jax.data.metrics.strip_postprocessor`); the training target stays
  the single first answer.
  """
  flat = tf.strings.strip(tf.concat(
      [tf.reshape(tf.convert_to_tensor(a, tf.string), [-1]) for a in answers],
      axis=0))
  return tf.unique(tf.boolean_mask(flat, tf.strings.length(flat) > 0)).y

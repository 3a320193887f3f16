"""Pre-rendered collections from local files: one seqio task per source task.

The Flan 2022 submixes are published already rendered, one row per example,
with the columns ``inputs``, ``targets``, ``task_name`` and
``template_type`` (zsopt, zsnoopt, fsopt, fsnoopt). A directory holding
such rows in any of these forms is read with Hugging Face `datasets`
(never downloading anything):

    <dir>/dataset_dict.json or dataset_info.json   `datasets` save_to_disk
    <dir>/**/*.parquet                              Parquet files
    <dir>/**/*.jsonl, *.json (.gz)                  JSON lines

A file whose name starts with a split name (``train-00000-of-00002.parquet``,
``test.jsonl``) belongs to that split, every other file to train; a
save_to_disk DatasetDict keeps its splits. `register_prerendered` registers
one dataset per ``task_name`` (optionally keeping only some template
types), each rendered by the identity template ``{inputs}`` -> ``{targets}``
and scored by exact match, and an examples-proportional mixture over them,
each task's rate capped::

    register_prerendered("/data/t0", collection="flan2022",
                         prefix="prerendered:t0_submix:", max_examples=20000,
                         mixture="flan2022:prerendered:t0_submix")
    # -> flan2022:prerendered:t0_submix:<task>:train (and :t0:gen), per task

Rows are read lazily: registration reads the two name columns once (Arrow,
memory-mapped) and each task's pipeline reads its own rows, into memory for
small tasks (`IN_MEMORY_ROWS`), streamed for large ones.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
from typing import Any, Sequence

import numpy as np
import seqio
import tensorflow as tf

from flan_jax import errors
from flan_jax.data import metrics as metrics_lib
from flan_jax.data import mixtures
from flan_jax.data import registry
from flan_jax.data import templates as templates_lib

COLUMNS = ("inputs", "targets", "task_name", "template_type")
SPLITS = ("train", "validation", "test")
IDENTITY = templates_lib.Template("{inputs}", "{targets}")
_PARQUET = (".parquet",)
_JSON = (".jsonl", ".json", ".jsonl.gz", ".json.gz")


class PrerenderedDataError(errors.FlanJaxError, ValueError):
  """A pre-rendered directory cannot be read as the published layout."""


def _datasets():
  try:
    import datasets  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise PrerenderedDataError(
        "reading pre-rendered data needs Hugging Face datasets: "
        "pip install -e '.[flan2022]'") from e
  return datasets


def _split_of(path: str) -> str:
  name = os.path.basename(path).lower()
  return next((s for s in SPLITS if name.startswith(s)), "train")


def _first_bad_json_line(path: str) -> errors.MalformedFileError | None:
  import gzip  # pylint: disable=g-import-not-at-top
  import json  # pylint: disable=g-import-not-at-top
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "rt", encoding="utf-8") as f:
    for number, line in enumerate(f, start=1):
      if not line.strip():
        continue
      try:
        row = json.loads(line)
      except json.JSONDecodeError as e:
        return errors.MalformedFileError(
            path, number, "one JSON object per line", f"{e.msg}: "
            f"{line.strip()[:40]!r}")
      if not isinstance(row, dict):
        return errors.MalformedFileError(path, number, "a JSON object",
                                         type(row).__name__)
  return None


def _malformed(builder: str, files: Sequence[str], error: Exception
               ) -> errors.FlanJaxError:
  """The first file (and line) `datasets` could not read."""
  if builder == "json":
    for path in files:
      found = _first_bad_json_line(path)
      if found is not None:
        return found
  else:
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    for path in files:
      try:
        pq.ParquetFile(path)
      except Exception as e:  # pylint: disable=broad-except
        return errors.MalformedFileError(path, "footer", "a Parquet file",
                                         str(e).splitlines()[0])
  cause = error.__cause__ or error
  return PrerenderedDataError(
      f"pre-rendered files {', '.join(files[:3])}: unreadable "
      f"({type(cause).__name__}: {str(cause).splitlines()[0][:200]})")


def load_splits(directory: str, cache_dir: str | None = None
                ) -> dict[str, Any]:
  """split -> `datasets.Dataset` of a pre-rendered directory."""
  if not os.path.isdir(directory):
    raise PrerenderedDataError(f"pre-rendered directory {directory} not found")
  datasets = _datasets()
  marks = ("dataset_dict.json", "dataset_info.json", "state.json")
  if any(os.path.exists(os.path.join(directory, m)) for m in marks):
    loaded = datasets.load_from_disk(directory)
    splits = (dict(loaded) if isinstance(loaded, datasets.DatasetDict)
              else {"train": loaded})
  else:
    files = sorted(glob.glob(os.path.join(directory, "**", "*"),
                             recursive=True))
    parquet = [f for f in files if f.endswith(_PARQUET)]
    json = [f for f in files if f.endswith(_JSON)]
    if not parquet and not json:
      raise PrerenderedDataError(
          f"pre-rendered directory {directory} holds no Parquet (.parquet), "
          "JSON lines (.jsonl) or `datasets` save_to_disk data")
    builder, chosen = ("parquet", parquet) if parquet else ("json", json)
    data_files: dict[str, list[str]] = {}
    for path in chosen:
      data_files.setdefault(_split_of(path), []).append(path)
    try:
      splits = dict(datasets.load_dataset(builder, data_files=data_files,
                                          cache_dir=cache_dir))
    except Exception as e:  # pylint: disable=broad-except
      # `datasets` wraps a bad row in a DatasetGenerationError without the
      # file or line: find them, and say so in one line.
      raise _malformed(builder, chosen, e) from None
  for split, ds in splits.items():
    missing = [c for c in COLUMNS if c not in ds.column_names]
    if missing:
      raise PrerenderedDataError(
          f"pre-rendered directory {directory} ({split}): missing column(s) "
          f"{', '.join(missing)}; found {', '.join(ds.column_names)} (the "
          f"published layout is {', '.join(COLUMNS)})")
  return splits


def task_rows(ds, template_types: Sequence[str] | None = None
              ) -> dict[str, np.ndarray]:
  """task_name -> row indices (in file order), rows of other types dropped."""
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  import pyarrow.compute as pc  # pylint: disable=g-import-not-at-top
  table = ds.data.table if hasattr(ds.data, "table") else ds.data
  if ds._indices is not None:  # pylint: disable=protected-access
    table = ds.flatten_indices().data.table
  keep = np.ones(table.num_rows, bool)
  if template_types:
    keep = np.asarray(pc.is_in(table.column("template_type"),
                               value_set=pa.array(list(template_types))
                               ).to_numpy(zero_copy_only=False), bool)
  codes = pc.dictionary_encode(table.column("task_name")).combine_chunks()
  ids = np.asarray(codes.indices.to_numpy(zero_copy_only=False))
  names = codes.dictionary.to_pylist()
  rows = np.flatnonzero(keep)
  order = rows[np.argsort(ids[rows], kind="stable")]
  bounds = np.cumsum(np.bincount(ids[rows], minlength=len(names)))
  groups = np.split(order, bounds[:-1])
  return {names[i]: g for i, g in enumerate(groups) if len(g)}


def dataset_name(task_name: str) -> str:
  """A registry-safe name for a published task name ("glue/cola:2.0.0")."""
  name = re.sub(r"[^a-z0-9_]+", "_", task_name.lower()).strip("_")
  return name or "task"


@dataclasses.dataclass(frozen=True)
class PrerenderedTasks:
  """What `register_prerendered` registered."""
  directory: str
  datasets: dict[str, registry.RegisteredDataset]  # published name -> entry
  mixture: str | None


# Tasks up to this many rows are served from memory: a mixture repeats each
# task, and restarting a Python generator every few rows would dominate.
IN_MEMORY_ROWS = 20_000


def _source(selected: dict[str, Any]) -> seqio.DataSource:
  signature = {"inputs": tf.TensorSpec([], tf.string),
               "targets": tf.TensorSpec([], tf.string)}

  def dataset_fn(split, shuffle_files=False, seed=None):
    del shuffle_files, seed
    rows = selected[split]
    if len(rows) <= IN_MEMORY_ROWS:
      columns = rows.select_columns(["inputs", "targets"]).to_dict()
      return tf.data.Dataset.from_tensor_slices(
          {k: tf.constant(v, tf.string) for k, v in columns.items()})

    def generate():
      for batch in rows.iter(batch_size=512):
        yield from ({"inputs": i, "targets": t}
                    for i, t in zip(batch["inputs"], batch["targets"]))

    return tf.data.Dataset.from_generator(generate,
                                          output_signature=signature)

  return seqio.FunctionDataSource(
      dataset_fn, splits=tuple(selected),
      num_input_examples={s: len(r) for s, r in selected.items()})


def register_prerendered(directory: str, *, collection: str, prefix: str,
                         max_examples: int | None,
                         mixture: str | None = None,
                         template_types: Sequence[str] | None = None,
                         overwrite: bool = False,
                         cache_dir: str | None = None) -> PrerenderedTasks:
  """Registers one dataset per task_name of a pre-rendered directory.

  Args:
    directory: the submix's directory (see the module docstring).
    collection: task name prefix (e.g. "flan2022").
    prefix: dataset name prefix, e.g. "prerendered:t0_submix:".
    max_examples: cap on each task's mixing rate (examples-proportional).
    mixture: also register this training mixture over the tasks.
    template_types: keep only these template types' rows.
    overwrite: replace tasks and the mixture of the same names.
    cache_dir: where `datasets` keeps its Arrow copy of Parquet/JSON files.

  Raises:
    PrerenderedDataError: the directory is missing, unreadable, lacks a
      column, or no row is left after the template-type filter.
  """
  splits = load_splits(directory, cache_dir)
  by_split = {s: task_rows(ds, template_types) for s, ds in splits.items()}
  names = sorted({n for rows in by_split.values() for n in rows})
  if not names:
    kept = f" of template types {', '.join(template_types)}" \
        if template_types else ""
    raise PrerenderedDataError(f"pre-rendered directory {directory} has no "
                               f"rows{kept}")
  entries, used = {}, {}
  for name in names:
    safe = dataset_name(name)
    if safe in used:
      safe = f"{safe}_{len(used)}"
    used[safe] = name
    selected = {s: splits[s].select(rows[name]) for s, rows in by_split.items()
                if name in rows}
    spec = registry.DatasetSpec(
        name=f"{prefix}{safe}", collection=collection,
        source=_source(selected), templates=(IDENTITY,),
        metric_fns=(metrics_lib.exact_match_accuracy,),
        train_split="train" if "train" in selected else None)
    if overwrite:
      registry.unregister_dataset(f"{collection}:{spec.name}")
    entries[name] = registry.register_dataset(
        spec, overwrite=overwrite, fields=frozenset({"inputs", "targets"}))
  train = [e.train_task for e in entries.values() if e.train_task]
  if mixture is not None:
    if not train:
      raise PrerenderedDataError(f"pre-rendered directory {directory} has "
                                 "no train split to mix")
    mixtures.register_task_mixture(mixture, train, max_examples=max_examples,
                                   overwrite=overwrite)
  return PrerenderedTasks(directory, entries, mixture)

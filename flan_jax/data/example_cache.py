"""Tokenised, templated examples of one task split: built once, then read.

A task split becomes a `TokenizedExamples`: for each feature ("inputs",
"targets"), every example's token ids laid end to end plus the offsets where
each example starts. That is all training needs to sample, mix and pack by
index (flan_jax/train/input_pipeline.py), and it is what the cache stores:

    examples = tokenize(task, "train")           # runs seqio's preprocessors
    examples.num_examples                        # 2000
    examples.row("inputs", 3)                    # array([ 93, 17, ..., 1])
    write(task, "train", "/data/cache")          # the same arrays, on disk
    read("/data/cache", task.name, "train")      # ... read back, or None

What an example holds. The task's preprocessors run up to and including
EOS (seqio's `append_eos_after_trim` with no sequence length only appends
EOS), so a split is cached once for every sequence length; the reader trims
to the length a run asks for exactly as seqio does (keep `length - 1`
tokens, then EOS). The random template draw of a training task uses seqio's
per-example seeds from `seed` (default `TEMPLATE_SEED`); it is fixed when
the split is tokenised, cached or not.

Order. A split of n examples is read as ceil(n / EXAMPLES_PER_SHARD)
seqio shards (`seqio.ShardInfo`), each with its own template seed, and the
examples are the shards concatenated. The rule depends only on the split's
size, so the in-memory path (`tokenize`) and the cache (`write`) hold the same
examples in the same order: cached and uncached training see identical
batches.

Layout (paths go through tf.io.gfile, so local and gs:// directories work
alike)::

    <cache_dir>/<task name>/<split>/
        shard-00000-of-00002.npz    flat tokens and offsets of each feature
        shard-00000-of-00002.json   commit marker: written after the .npz
        ...
        info.json                   written last: the split is complete

A shard counts as written only once its marker exists, and the split only
once info.json does, so a writer killed at any moment leaves nothing that
looks finished; run again, it skips the committed shards and redoes the
rest. Several workers may share the shards of one split
(`write(..., worker=(i, n))`).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import io
import json
import math
import os
from typing import Callable, Mapping, Sequence

import numpy as np
import seqio
import tensorflow as tf

from flan_jax import errors
from flan_jax import storage

FORMAT_VERSION = 1
EXAMPLES_PER_SHARD = 50_000
TEMPLATE_SEED = 0
INFO_FILE = "info.json"

gfile = tf.io.gfile


class CacheError(errors.FlanJaxError, ValueError):
  """A cache that cannot be used for this task (wrong format or features)."""


@dataclasses.dataclass(frozen=True)
class TokenizedExamples:
  """Token ids of a split's examples, one flat array per feature.

  Attributes:
    tokens: feature -> int32 [total tokens], the examples end to end.
    offsets: feature -> int64 [num_examples + 1]; example i is
      tokens[f][offsets[f][i]:offsets[f][i + 1]].
  """

  tokens: Mapping[str, np.ndarray]
  offsets: Mapping[str, np.ndarray]

  @property
  def features(self) -> tuple[str, ...]:
    return tuple(self.tokens)

  @property
  def num_examples(self) -> int:
    return len(next(iter(self.offsets.values()))) - 1

  def lengths(self, feature: str) -> np.ndarray:
    return np.diff(self.offsets[feature])

  def row(self, feature: str, index: int) -> np.ndarray:
    start, end = self.offsets[feature][index:index + 2]
    return self.tokens[feature][start:end]

  @classmethod
  def concatenate(cls, parts: Sequence["TokenizedExamples"]
                  ) -> "TokenizedExamples":
    features = parts[0].features
    tokens, offsets = {}, {}
    for f in features:
      tokens[f] = np.concatenate([p.tokens[f] for p in parts]).astype(np.int32)
      starts = np.cumsum([0] + [len(p.tokens[f]) for p in parts[:-1]])
      offsets[f] = np.concatenate(
          [[0]] + [p.offsets[f][1:] + s for p, s in zip(parts, starts)]
      ).astype(np.int64)
    return cls(tokens, offsets)


# ---- tokenising with seqio ---------------------------------------------------


def token_features(task: seqio.Task) -> tuple[str, ...]:
  """The task's integer features that a converter reads (inputs, targets)."""
  return tuple(name for name, feature in task.output_features.items()
               if feature.dtype == tf.int32)


def num_shards(task: seqio.Task, split: str) -> int:
  """Shards a split is read in: one per EXAMPLES_PER_SHARD examples."""
  count = task.num_input_examples(split)
  return max(1, math.ceil(count / EXAMPLES_PER_SHARD)) if count else 1


def _shard_dataset(task: seqio.Task, split: str, shard: int, shards: int,
                   seed: int) -> tf.data.Dataset:
  # Build datasets one at a time: seqio hands out its per-example seeds
  # from a process-wide counter while a dataset is being built.
  ds = task.get_dataset(
      sequence_length=None, split=split, use_cached=False, shuffle=False,
      seed=seed + shard, num_epochs=1,
      shard_info=seqio.ShardInfo(shard, shards) if shards > 1 else None)
  features = token_features(task)
  return ds.map(lambda ex: {f: tf.cast(ex[f], tf.int32) for f in features},
                num_parallel_calls=tf.data.AUTOTUNE)


def _flat(batch) -> tuple[np.ndarray, np.ndarray]:
  """(tokens end to end, offsets) of a ragged (or, if uniform, dense) batch."""
  if isinstance(batch, tf.RaggedTensor):
    return (batch.flat_values.numpy().astype(np.int32),
            batch.row_splits.numpy().astype(np.int64))
  dense = batch.numpy()
  return (dense.reshape(-1).astype(np.int32),
          np.arange(len(dense) + 1, dtype=np.int64) * dense.shape[1])


def _collect(ds: tf.data.Dataset) -> TokenizedExamples:
  features = tuple(ds.element_spec)
  parts = []
  # Ragged batches: one Python step per thousand examples, not per example.
  for batch in ds.ragged_batch(1024):
    flat = {f: _flat(batch[f]) for f in features}
    parts.append(TokenizedExamples({f: v[0] for f, v in flat.items()},
                                   {f: v[1] for f, v in flat.items()}))
  if not parts:
    return TokenizedExamples({f: np.zeros([0], np.int32) for f in features},
                             {f: np.zeros([1], np.int64) for f in features})
  return TokenizedExamples.concatenate(parts)


def tokenize_shard(task: seqio.Task, split: str, shard: int, shards: int,
                   seed: int = TEMPLATE_SEED) -> TokenizedExamples:
  """One shard of a split, through the task's own seqio preprocessors."""
  return _collect(_shard_dataset(task, split, shard, shards, seed))


def tokenize(task: seqio.Task, split: str,
             seed: int = TEMPLATE_SEED) -> TokenizedExamples:
  """Every example of a split, in cache order, held in memory."""
  return tokenize_many([task], split, seed, threads=1)[0]


def tokenize_many(tasks: Sequence[seqio.Task], split: str,
                  seed: int = TEMPLATE_SEED, threads: int = 4
                  ) -> list[TokenizedExamples]:
  """`tokenize` of several tasks; the datasets are built one by one, then
  read side by side (TensorFlow releases the GIL while it reads)."""
  shards = [num_shards(t, split) for t in tasks]
  datasets = [[_shard_dataset(t, split, s, n, seed) for s in range(n)]
              for t, n in zip(tasks, shards)]
  with concurrent.futures.ThreadPoolExecutor(threads) as pool:
    parts = [[pool.submit(_collect, ds) for ds in task_datasets]
             for task_datasets in datasets]
    return [TokenizedExamples.concatenate([p.result() for p in task_parts])
            for task_parts in parts]


# ---- the cache on disk -------------------------------------------------------


def split_dir(cache_dir: str, task_name: str, split: str) -> str:
  return os.path.join(cache_dir, task_name, split)


def _shard_name(shard: int, shards: int) -> str:
  return f"shard-{shard:05d}-of-{shards:05d}"


def _write_bytes(path: str, data: bytes) -> None:
  """Writes `path` whole or not at all (`storage.write_atomic`: a rename
  locally, one upload in a bucket, which has no rename)."""
  storage.write_atomic(path, data)


def _read_json(path: str) -> dict | None:
  if not gfile.exists(path):
    return None
  with gfile.GFile(path, "r") as f:
    return json.load(f)


def _vocabulary_name(task: seqio.Task) -> str:
  vocabulary = next(iter(task.output_features.values())).vocabulary
  return f"{type(vocabulary).__name__}({vocabulary.vocab_size})"


def _info(task: seqio.Task, split: str, shards: int, seed: int,
          counts: Sequence[int]) -> dict:
  return {"format_version": FORMAT_VERSION, "task": task.name, "split": split,
          "features": list(token_features(task)), "num_shards": shards,
          "examples_per_shard": list(counts), "num_examples": sum(counts),
          "template_seed": seed, "vocabulary": _vocabulary_name(task)}


ProgressFn = Callable[[int, int], None]  # (examples written, examples total)


def write(task: seqio.Task, split: str, cache_dir: str, *,
          seed: int = TEMPLATE_SEED, worker: tuple[int, int] = (0, 1),
          on_progress: ProgressFn | None = None) -> bool:
  """Writes a split's tokenised examples under `cache_dir`; resumable.

  Args:
    worker: (index, count): this writer does the shards s with
      s % count == index; whoever commits the last shard writes info.json.
    on_progress: called after each shard with examples written so far
      (this run's and committed shards') and the split's total (0 when the
      source does not say).

  Returns:
    True when the split is complete (info.json written, now or before).
  """
  directory = split_dir(cache_dir, task.name, split)
  if gfile.exists(os.path.join(directory, INFO_FILE)):
    check(read_info(cache_dir, task.name, split), task)
    return True
  gfile.makedirs(directory)
  shards = num_shards(task, split)
  total = task.num_input_examples(split) or 0
  markers = [os.path.join(directory, _shard_name(s, shards) + ".json")
             for s in range(shards)]
  done = sum(m["num_examples"] for m in map(_read_json, markers) if m)
  for shard in range(worker[0], shards, worker[1]):
    if gfile.exists(markers[shard]):
      continue
    examples = tokenize_shard(task, split, shard, shards, seed)
    buffer = io.BytesIO()
    np.savez(buffer, **{f"{f}.tokens": examples.tokens[f]
                        for f in examples.features},
             **{f"{f}.offsets": examples.offsets[f]
                for f in examples.features})
    _write_bytes(markers[shard][:-len(".json")] + ".npz", buffer.getvalue())
    _write_bytes(markers[shard], json.dumps(
        {"num_examples": examples.num_examples}).encode())
    done += examples.num_examples
    if on_progress:
      on_progress(done, total)
  committed = [_read_json(m) for m in markers]
  if any(m is None for m in committed):
    return False  # other workers' shards are still missing
  info = _info(task, split, shards, seed,
               [m["num_examples"] for m in committed])
  _write_bytes(os.path.join(directory, INFO_FILE),
               json.dumps(info, indent=1).encode())
  return True


def read_info(cache_dir: str, task_name: str, split: str) -> dict | None:
  """The split's info.json, or None when the split is not (fully) cached."""
  return _read_json(os.path.join(split_dir(cache_dir, task_name, split),
                                 INFO_FILE))


def check(info: Mapping, task: seqio.Task) -> None:
  """Raises CacheError when a cached split does not fit the registered task."""
  where = f"the cache of '{task.name}' ({info.get('split')})"
  if info.get("format_version") != FORMAT_VERSION:
    raise CacheError(f"{where} has format {info.get('format_version')}, this "
                     f"flan_jax reads {FORMAT_VERSION}; delete it and run "
                     "scripts/cache_tasks.py again")
  expected = {"features": list(token_features(task)),
              "vocabulary": _vocabulary_name(task)}
  for key, value in expected.items():
    if info.get(key) != value:
      raise CacheError(f"{where} was written with {key} {info.get(key)}, the "
                       f"task now has {value}; delete it and run "
                       "scripts/cache_tasks.py again")


def read(cache_dir: str, task: seqio.Task, split: str
         ) -> TokenizedExamples | None:
  """A cached split, or None when it is not (completely) cached."""
  info = read_info(cache_dir, task.name, split)
  if info is None:
    return None
  check(info, task)
  directory = split_dir(cache_dir, task.name, split)
  parts = []
  for shard in range(info["num_shards"]):
    path = os.path.join(directory, _shard_name(shard, info["num_shards"]))
    with gfile.GFile(path + ".npz", "rb") as f:
      arrays = np.load(io.BytesIO(f.read()))
      parts.append(TokenizedExamples(
          {f: arrays[f"{f}.tokens"] for f in info["features"]},
          {f: arrays[f"{f}.offsets"] for f in info["features"]}))
  return TokenizedExamples.concatenate(parts)


def read_or_tokenize(tasks: Sequence[seqio.Task], split: str,
                     cache_dir: str | None, *, require_cache: bool = False,
                     seed: int = TEMPLATE_SEED
                     ) -> tuple[list[TokenizedExamples], list[str]]:
  """Each task's split from the cache where it is there, else tokenised.

  Returns:
    (examples of each task, names of the tasks that were not cached).

  Raises:
    CacheError: `require_cache` and some task is not cached.
  """
  if require_cache and not cache_dir:
    raise CacheError("USE_CACHED_TASKS = True needs the cache's directory: "
                     "set TASK_CACHE_DIR (train.cache_dir)")
  cached = [read(cache_dir, t, split) if cache_dir else None for t in tasks]
  missing = [t for t, c in zip(tasks, cached) if c is None]
  if missing and require_cache:
    names = ",".join(t.name for t in missing)
    raise CacheError(
        f"{len(missing)} task(s) are not cached in {cache_dir} (split "
        f"{split}): {names[:300]}; run python scripts/cache_tasks.py "
        f"--tasks=<mixture> --output_cache_dir={cache_dir}, or set "
        "USE_CACHED_TASKS = False")
  built = iter(tokenize_many(missing, split, seed) if missing else [])
  return ([c if c is not None else next(built) for c in cached],
          [t.name for t in missing])


# ---- eval rows: every feature of a split's examples, text included -----------
#
# The eval job needs more than tokens: the rendered text, references, option
# indices. `rows(task, split)` is what it reads (seqio's pipeline, unshuffled,
# no sequence length); `write_rows` stores exactly those rows beside the
# split's tokens as JSON lines (typed, so they read back as the same numpy
# values; no pickle), and `read_rows` returns them, or None when not cached.

ROWS_FILE = "rows.jsonl"
ROWS_INFO_FILE = "rows.json"


def rows(task: seqio.Task, split: str) -> list[dict]:
  """A split's examples with every feature, as the eval job reads them."""
  ds = task.get_dataset(sequence_length=None, split=split, shuffle=False,
                        use_cached=False, seed=0)
  return list(ds.as_numpy_iterator())


def _encode(value):
  if isinstance(value, bytes):
    return {"bytes": value.hex()}
  if isinstance(value, np.ndarray):
    if value.dtype == object:
      return {"bytes_array": [v.hex() for v in value.ravel()],
              "shape": list(value.shape)}
    return {"array": value.ravel().tolist(), "dtype": value.dtype.str,
            "shape": list(value.shape)}
  if isinstance(value, np.generic):
    return {"scalar": value.item(), "dtype": value.dtype.str}
  return {"value": value}


def _decode(encoded):
  if "bytes" in encoded:
    return bytes.fromhex(encoded["bytes"])
  if "bytes_array" in encoded:
    values = [bytes.fromhex(v) for v in encoded["bytes_array"]]
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out.reshape(encoded["shape"])
  if "array" in encoded:
    return np.asarray(encoded["array"], np.dtype(encoded["dtype"])).reshape(
        encoded["shape"])
  if "scalar" in encoded:
    return np.dtype(encoded["dtype"]).type(encoded["scalar"])
  return encoded["value"]


def write_rows(task: seqio.Task, split: str, cache_dir: str) -> int:
  """Writes the split's eval rows (all at once; small); returns their count."""
  directory = split_dir(cache_dir, task.name, split)
  info_path = os.path.join(directory, ROWS_INFO_FILE)
  if gfile.exists(info_path):
    return _read_json(info_path)["num_rows"]
  gfile.makedirs(directory)
  examples = rows(task, split)
  text = "".join(json.dumps({k: _encode(v) for k, v in row.items()}) + "\n"
                 for row in examples)
  _write_bytes(os.path.join(directory, ROWS_FILE), text.encode())
  _write_bytes(info_path, json.dumps(
      {"format_version": FORMAT_VERSION, "task": task.name, "split": split,
       "num_rows": len(examples), "features": list(token_features(task)),
       "vocabulary": _vocabulary_name(task)}
  ).encode())
  return len(examples)


def read_rows(cache_dir: str, task: seqio.Task, split: str
              ) -> list[dict] | None:
  """The cached eval rows of a split, or None when they are not cached."""
  directory = split_dir(cache_dir, task.name, split)
  info = _read_json(os.path.join(directory, ROWS_INFO_FILE))
  if info is None:
    return None
  check(info, task)
  with gfile.GFile(os.path.join(directory, ROWS_FILE), "r") as f:
    return [{k: _decode(v) for k, v in json.loads(line).items()}
            for line in f if line.strip()]

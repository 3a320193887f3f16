"""Zero-shot evaluation jobs: a checkpoint, an eval mixture, results.json.

`evaluate(...)` restores a checkpoint's parameters, runs every task of the
eval mixture through `seqio.Evaluator` (rank classification through the
model's `score_batch`, generation through greedy `predict_batch`), then
aggregates the per-task metrics FLAN's way:

    task (one template of one dataset)
      -> dataset: mean over its templates
        -> cluster: mean over its datasets

Each dataset is labelled "seen" when the training mixture contains it and
"held_out" otherwise. Results go to `<output_dir>/results.json` and a
markdown table `<output_dir>/results.md`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, Mapping

import flax.linen as nn
import jax
import numpy as np
import seqio

from flan_jax import checkpoints as checkpoints_lib
from flan_jax import partitioning
from flan_jax import reports
from flan_jax.data import mixtures
from flan_jax.data import registry

log = logging.getLogger("flan_jax")

SEEN, HELD_OUT = "seen", "held_out"


def resolve_checkpoint(path: str, step: int | None = None) -> tuple[str, int]:
  """Accepts a model dir, its checkpoints dir, or a step dir; returns both.

  With a model or checkpoints directory the newest step is used unless
  `step` is given.
  """
  path = os.path.abspath(path.rstrip("/"))
  head, tail = os.path.split(path)
  if tail.isdigit() and step is None:
    return head, int(tail)
  directory = path
  if os.path.isdir(os.path.join(path, "checkpoints")):
    directory = os.path.join(path, "checkpoints")
  if not os.path.isdir(directory):
    raise checkpoints_lib.CheckpointNotFoundError(
        f"checkpoint path {path} does not exist")
  checkpointer = checkpoints_lib.Checkpointer(directory, read_only=True)
  steps = checkpointer.all_steps()
  if not steps:
    raise checkpoints_lib.CheckpointNotFoundError(
        f"no checkpoints under {directory}")
  if step is not None and step not in steps:
    raise checkpoints_lib.CheckpointNotFoundError(
        f"no checkpoint for step {step} under {directory} (found: {steps})")
  return directory, steps[-1] if step is None else step


def load_params(model, directory: str, step: int,
                partitioner: partitioning.Partitioner):
  """Restores parameters only, directly into their shardings."""
  shapes = {"encoder_input_tokens": (1, 8), "decoder_input_tokens": (1, 8)}
  abstract = jax.eval_shape(lambda r: model.init_variables(r, shapes)["params"],
                            jax.random.key(0))
  shardings = partitioner.logical_to_sharding(nn.get_partition_spec(abstract))
  like = jax.tree.map(
      lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
      nn.unbox(abstract), shardings)
  checkpointer = checkpoints_lib.Checkpointer(directory, read_only=True)
  params, _, _ = checkpointer.restore(step, like, None)
  return params


_DECODER_FEATURES = ("decoder_input_tokens", "decoder_target_tokens",
                     "decoder_loss_weights")


def _bucket(length: int, full: int) -> int:
  """Smallest power of two >= length (at least 8), capped at `full`."""
  return min(full, max(8, 1 << max(length - 1, 0).bit_length()))


def length_sorted_batches(dataset, batch_size: int, *, trim_targets: bool):
  """Yields (indices, features, real_count) in order of length.

  Sorting by length and trimming each batch's padding to a power-of-two
  width bounds the work spent on padding while keeping the number of
  distinct shapes (and so compilations) small. Target features are trimmed
  only when `trim_targets` (scoring); generation keeps the full target width
  so that decoding length never depends on the batch's own references. The
  last batch is padded with empty rows to `batch_size`.
  """
  indices, features = [], []
  for index, example in dataset.as_numpy_iterator():
    indices.append(index)
    features.append(example)
  if not indices:
    return
  stacked = {k: np.stack([f[k] for f in features]) for k in features[0]}
  lengths = {k: _used_length(v) for k, v in stacked.items()}
  order = np.lexsort((lengths["decoder_target_tokens"],
                      lengths["encoder_input_tokens"]))
  indices = np.asarray(indices)
  for start in range(0, len(order), batch_size):
    chosen = order[start:start + batch_size]
    batch = {}
    for name, values in stacked.items():
      rows = values[chosen]
      if name not in _DECODER_FEATURES or trim_targets:
        rows = rows[:, :_bucket(int(lengths[name][chosen].max()), rows.shape[1])]
      if len(chosen) < batch_size:
        pad = np.zeros((batch_size - len(chosen), *rows.shape[1:]), rows.dtype)
        rows = np.concatenate([rows, pad])
      batch[name] = rows
    yield indices[chosen], batch, len(chosen)


def _used_length(values: np.ndarray) -> np.ndarray:
  """Per row: position of the last non-zero entry + 1 (0 for empty rows)."""
  nonzero = values != 0
  last = values.shape[1] - np.argmax(nonzero[:, ::-1], axis=1)
  return np.where(nonzero.any(axis=1), last, 0)


def make_model_fns(model, params, partitioner: partitioning.Partitioner,
                   batch_size: int):
  """seqio score_fn and predict_fn over length-sorted, fixed-size batches."""
  score = jax.jit(model.score_batch)
  predict = jax.jit(model.predict_batch)

  def run(fn, dataset, trim_targets):
    outputs = []
    with partitioner.context():
      for indices, features, real in length_sorted_batches(
          dataset, batch_size, trim_targets=trim_targets):
        result = np.asarray(fn(params, partitioner.global_batch(features)))
        outputs.extend(zip(indices.tolist(), result[:real].tolist()))
    return outputs

  def score_fn(dataset, model_feature_shapes=None):
    del model_feature_shapes
    return run(score, dataset, trim_targets=True)

  def predict_fn(dataset, model_feature_shapes=None):
    del model_feature_shapes
    return run(predict, dataset, trim_targets=False)

  return score_fn, predict_fn


def aggregate(task_metrics: Mapping[str, Mapping[str, float]],
              seen_datasets: set[str] | None) -> dict[str, Any]:
  """Per-task metrics -> per template, dataset and cluster numbers.

  The first metric a task reports is its dataset's headline metric.
  """
  datasets: dict[str, dict[str, Any]] = {}
  tasks = {}
  for name, metrics in sorted(task_metrics.items()):
    info = registry.describe_task(name)
    key = f"{info.collection}:{info.dataset}"
    values = {k: float(v) for k, v in metrics.items()}
    tasks[name] = {"dataset": key, "template": info.template,
                   "variant": info.variant, "metrics": values}
    entry = datasets.setdefault(key, {"per_template": {}})
    entry.setdefault("metric", next(iter(values)))
    entry["per_template"][str(info.template)] = values

  for key, entry in datasets.items():
    per_template = entry["per_template"]
    names = list(next(iter(per_template.values())))
    entry["mean_over_templates"] = {
        m: float(np.mean([t[m] for t in per_template.values()])) for m in names
    }
    entry["score"] = entry["mean_over_templates"][entry["metric"]]
    entry["clusters"] = mixtures.clusters_of(key)
    entry["status"] = (None if seen_datasets is None else
                       SEEN if key in seen_datasets else HELD_OUT)

  clusters: dict[str, dict[str, Any]] = {}
  for key, entry in datasets.items():
    for cluster in entry["clusters"] or ["(no cluster)"]:
      clusters.setdefault(cluster, {"datasets": []})["datasets"].append(key)
  for cluster, entry in clusters.items():
    members = entry["datasets"]
    entry["score"] = float(np.mean([datasets[d]["score"] for d in members]))
    statuses = {datasets[d]["status"] for d in members}
    entry["status"] = statuses.pop() if len(statuses) == 1 else "mixed"
  return {"tasks": tasks, "datasets": datasets, "clusters": clusters}


def evaluate(*,
             model,
             checkpoint: str,
             mixture_or_task_name: str,
             output_dir: str,
             split: str = "test",
             batch_size: int = 64,
             step: int | None = None,
             training_mixture: str | None = None,
             partitioner: partitioning.Partitioner | None = None,
             task_feature_lengths: Mapping[str, int] | None = None
             ) -> dict[str, Any]:
  """Evaluates one checkpoint zero-shot; writes results.json and results.md.

  Args:
    model: the model API object the checkpoint was trained with.
    checkpoint: a model dir, its `checkpoints` dir, or a step directory.
    mixture_or_task_name: eval mixture (e.g. "demo:eval:all") or task.
    output_dir: where results.json and results.md are written.
    split: dataset split to score ("validation" or "test").
    batch_size: examples (rank-classification rows) per forward pass.
    step: checkpoint step when `checkpoint` is not a step directory
      (default: the newest).
    training_mixture: mixture the checkpoint was tuned on; labels each
      dataset seen or held out.
    partitioner: mesh and rules (data parallel over all devices by default).
    task_feature_lengths: truncate inputs/targets to these lengths (default:
      the longest example in the eval data).
  """
  registry.get_task_or_mixture(mixture_or_task_name)  # unknown: clear error
  partitioner = partitioner or partitioning.Partitioner()
  if batch_size % partitioner.data_parallel_size:
    raise ValueError(f"batch_size {batch_size} is not divisible by the "
                     f"data-parallel size {partitioner.data_parallel_size}")
  directory, step = resolve_checkpoint(checkpoint, step)
  started = time.perf_counter()
  params = load_params(model, directory, step, partitioner)
  evaluator = seqio.Evaluator(
      mixture_or_task_name, feature_converter=model.feature_converter(False),
      eval_split=split, sequence_length=task_feature_lengths,
      use_memory_cache=True)
  if not evaluator.eval_tasks:
    raise ValueError(f"'{mixture_or_task_name}' has no task with a '{split}' "
                     "split and metrics")
  log.info("evaluating step %d on %d tasks of %s (%s split)", step,
           len(evaluator.eval_tasks), mixture_or_task_name, split)
  score_fn, predict_fn = make_model_fns(model, params, partitioner, batch_size)
  metrics_future, _ = evaluator.evaluate(compute_metrics=True, step=step,
                                         score_fn=score_fn,
                                         predict_fn=predict_fn)
  task_metrics = metrics_future.result()
  evaluator.close()

  seen = (mixtures.datasets_in_mixture(training_mixture)
          if training_mixture else None)
  results = {
      "checkpoint": os.path.join(directory, str(step)),
      "step": step,
      "eval_mixture": mixture_or_task_name,
      "training_mixture": training_mixture,
      "split": split,
      "seconds": round(time.perf_counter() - started, 1),
      **aggregate(task_metrics, seen),
  }
  write_results(results, output_dir)
  log.info("wrote %s (%.0f s)", os.path.join(output_dir, "results.json"),
           results["seconds"])
  return results


def write_results(results: Mapping[str, Any], output_dir: str) -> None:
  """Writes results.json (atomically) and the markdown table beside it."""
  os.makedirs(output_dir, exist_ok=True)
  path = os.path.join(output_dir, "results.json")
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(results, f, indent=2, sort_keys=True)
  os.replace(tmp, path)
  with open(os.path.join(output_dir, "results.md"), "w") as f:
    f.write(reports.results_markdown(results))

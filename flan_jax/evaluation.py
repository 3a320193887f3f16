"""Zero-shot (and few-shot) evaluation jobs: checkpoints in, results.json out.

`evaluate(...)` restores one checkpoint's parameters and runs every task of
an eval mixture:

* rank-classification tasks: every option of an example scored in one
  shot (`scoring.ModelRunner.option_scores`), then the task's score metrics
  (accuracy under each normalisation convention, see
  `flan_jax.data.rank_classification.NORMALISATIONS`);
* generation tasks: greedy decoding, the task's postprocessor, then its
  metrics (sacrebleu, rouge-score, SQuAD EM/F1, ...).

Tasks run on the reported split (test) and, for FLAN's best-dev-template
number, on the selection split (validation). Results are aggregated FLAN's
way (`flan_jax.aggregation`): task -> dataset (mean over templates, best dev
template) -> cluster, each dataset labelled seen or held out by the training
mixture.

The job is restartable and shardable. Its output directory holds::

    job.json              the job's configuration (a restart must match it)
    tasks/<task>.json     one finished task's metrics, written atomically
    examples/<task>.<split>.jsonl   per-example outputs (write_examples=True)
    results.json          everything aggregated, written atomically once all
                          tasks are done; results.md, the same as tables

A killed job restarted with the same arguments skips finished tasks and
writes the same results.json. With several hosts, host i evaluates tasks
i, i+n, i+2n, ... on its own devices (parameters replicated per host); the
host that finishes last writes results.json. `evaluate_checkpoints` runs
the job over several checkpoints, skipping those already done.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, Callable, Mapping, Sequence

import flax.linen as nn
import jax
import numpy as np
import seqio

from flan_jax import aggregation
from flan_jax import checkpoints as checkpoints_lib
from flan_jax import eval_data
from flan_jax import partitioning
from flan_jax import reports
from flan_jax import scoring
from flan_jax.data import mixtures
from flan_jax.data import rank_classification
from flan_jax.data import registry

log = logging.getLogger("flan_jax")

SEEN, HELD_OUT = aggregation.SEEN, aggregation.HELD_OUT
# Kept for callers of the first version of this module.
length_sorted_batches = scoring.length_sorted_batches


class EvalJobError(ValueError):
  """The job cannot run as configured (e.g. its output dir holds another job)."""


# --- checkpoints ----------------------------------------------------------------


def resolve_checkpoint(path: str, step: int | None = None) -> tuple[str, int]:
  """Accepts a model dir, its checkpoints dir, or a step dir; returns both.

  With a model or checkpoints directory the newest step is used unless
  `step` is given.
  """
  directory, steps = checkpoint_steps(path)
  head, tail = os.path.split(os.path.abspath(path.rstrip("/")))
  if tail.isdigit() and step is None and directory == head:
    return head, int(tail)
  if step is not None and step not in steps:
    raise checkpoints_lib.CheckpointNotFoundError(
        f"no checkpoint for step {step} under {directory} (found: {steps})")
  return directory, steps[-1] if step is None else step


def checkpoint_steps(path: str) -> tuple[str, list[int]]:
  """(checkpoints directory, its steps) for a model, checkpoints or step dir."""
  path = os.path.abspath(path.rstrip("/"))
  if not os.path.isdir(path):
    raise checkpoints_lib.CheckpointNotFoundError(
        f"checkpoint path {path} does not exist")
  head, tail = os.path.split(path)
  directory = path
  if tail.isdigit() and not os.path.isdir(os.path.join(path, "checkpoints")):
    directory = head
  elif os.path.isdir(os.path.join(path, "checkpoints")):
    directory = os.path.join(path, "checkpoints")
  steps = checkpoints_lib.Checkpointer(directory, read_only=True).all_steps()
  if not steps:
    raise checkpoints_lib.CheckpointNotFoundError(
        f"no checkpoints under {directory}")
  return directory, steps


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


# --- one task ---------------------------------------------------------------------


def text_of(value) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _scalar(value) -> float:
  return float(getattr(value, "value", value))


def _metrics(fns, targets, outputs) -> dict[str, float]:
  result = {}
  for fn in fns:
    result.update({k: _scalar(v) for k, v in fn(targets, outputs).items()})
  return result


def _targets(task: seqio.Task, rows: Sequence[eval_data.Example]) -> list:
  return [task.postprocess_fn(text_of(r["targets_pretokenized"]), example=r,
                              is_target=True) for r in rows]


def evaluate_task(task: seqio.Task, runner: scoring.ModelRunner, split: str,
                  *, few_shot: eval_data.FewShot = eval_data.FewShot(),
                  feature_lengths: Mapping[str, int] | None = None,
                  max_examples: int | None = None
                  ) -> tuple[dict[str, float], list[dict[str, Any]]]:
  """One task on one split: (metrics, per-example outputs)."""
  rows = eval_data.load_examples(task, split, few_shot=few_shot,
                                 feature_lengths=dict(feature_lengths or {}),
                                 max_examples=max_examples)
  return evaluate_rows(task, runner, rows, feature_lengths)


def evaluate_rows(task: seqio.Task, runner: scoring.ModelRunner,
                  rows: Sequence[eval_data.Example],
                  feature_lengths: Mapping[str, int] | None = None
                  ) -> tuple[dict[str, float], list[dict[str, Any]]]:
  """Metrics and per-example outputs for rows from `eval_data.load_examples`."""
  if eval_data.has_option_rows(rows):
    return _evaluate_options(task, runner, rows)
  return _evaluate_generation(task, runner, rows, feature_lengths)


def _evaluate_options(task, runner, rows):
  examples = eval_data.group_options(rows)
  scores = runner.option_scores(examples)
  flat_rows = [r for e in examples for r in e.rows]
  flat_scores = [float(s) for per in scores for s in per]
  targets = _targets(task, flat_rows)
  metrics = _metrics(task.score_metric_fns, targets, flat_scores)
  outputs = []
  for example, per in zip(examples, scores):
    option_rows = [rank_classification.OptionRow(
        idx=example.idx, option_idx=k, is_correct=bool(r["is_correct"]),
        char_length=len(text_of(r["targets_pretokenized"])),
        token_length=int(np.count_nonzero(r["targets"])))
                   for k, r in enumerate(example.rows)]
    chosen = {name: rank_classification.predictions(option_rows, per, method)[
        example.idx][0]
              for method, name in rank_classification.NORMALISATIONS.items()}
    outputs.append({
        "idx": example.idx,
        "inputs": text_of(example.rows[0]["inputs_pretokenized"]),
        "options": [text_of(r["targets_pretokenized"]) for r in example.rows],
        "correct": [k for k, r in enumerate(example.rows) if r["is_correct"]],
        "log_likelihoods": [float(s) for s in per],
        "predicted": chosen,
    })
  return metrics, outputs


def _evaluate_generation(task, runner, rows, feature_lengths):
  lengths = feature_lengths or {}
  # Rounded up to a power of two so that tasks share compiled programs;
  # decoding still stops once every row has produced EOS.
  decode_length = lengths.get("targets") or scoring.bucket(
      max(len(r["targets"]) for r in rows))
  vocabulary = task.output_features["targets"].vocabulary
  tokens = runner.predict(rows, decode_length)
  decoded = [vocabulary.decode(t.tolist()) for t in tokens]
  predictions = [task.postprocess_fn(d, example=r, is_target=False)
                 for d, r in zip(decoded, rows)]
  targets = _targets(task, rows)
  metrics = _metrics(task.predict_metric_fns, targets, predictions)
  if task.score_metric_fns:
    scores = runner.option_scores(eval_data.single_option_examples(rows))
    metrics.update(_metrics(task.score_metric_fns, targets,
                            [float(s[0]) for s in scores]))
  outputs = [{"index": i, "inputs": text_of(r["inputs_pretokenized"]),
              "target": text_of(r["targets_pretokenized"]), "prediction": p}
             for i, (r, p) in enumerate(zip(rows, decoded))]
  return metrics, outputs


# --- files -------------------------------------------------------------------------


def write_atomic(path: str, text: str) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "w") as f:
    f.write(text)
  os.replace(tmp, path)


def _read_json(path: str) -> Any:
  with open(path) as f:
    return json.load(f)


def _task_file(output_dir: str, task_name: str) -> str:
  return os.path.join(output_dir, "tasks", task_name.replace("/", "_") + ".json")


def write_results(results: Mapping[str, Any], output_dir: str) -> None:
  """Writes results.json (atomically) and the markdown tables beside it."""
  write_atomic(os.path.join(output_dir, "results.md"),
                reports.results_markdown(results))
  write_atomic(os.path.join(output_dir, "results.json"),
                json.dumps(results, indent=2, sort_keys=True) + "\n")


def _check_job(output_dir: str, config: Mapping[str, Any]) -> None:
  """A restart must be the same job, or its finished tasks would mix in."""
  path = os.path.join(output_dir, "job.json")
  if os.path.exists(path):
    before = _read_json(path)
    changed = sorted(k for k in set(before) | set(config)
                     if before.get(k) != config.get(k))
    if changed:
      raise EvalJobError(
          f"{output_dir} holds results of a different eval job (differs in: "
          f"{', '.join(changed)}); use another output_dir or delete it")
  else:
    write_atomic(path, json.dumps(config, indent=2, sort_keys=True) + "\n")


# --- the job --------------------------------------------------------------------------


def _describe(task_name: str) -> tuple[str, str]:
  try:
    info = registry.describe_task(task_name)
  except KeyError:  # a plain seqio task: its own dataset, one template
    return task_name, "0"
  return f"{info.collection}:{info.dataset}", str(info.template)


def _seen_datasets(training_mixture: str | None) -> set[str] | None:
  if not training_mixture:
    return None
  try:
    return mixtures.datasets_in_mixture(training_mixture)
  except KeyError as e:
    raise EvalJobError(f"training_mixture '{training_mixture}': {e}") from None


def eval_tasks(mixture_or_task_name: str) -> list[seqio.Task]:
  """The tasks of a mixture (or the task itself), sorted by name."""
  # An unknown name raises UnknownTaskOrMixtureError naming the closest ones.
  task_or_mixture = registry.get_task_or_mixture(mixture_or_task_name)
  return sorted(seqio.get_subtasks(task_or_mixture), key=lambda t: t.name)


def evaluate(*,
             model,
             checkpoint: str,
             mixture_or_task_name: str,
             output_dir: str,
             split: str = "test",
             selection_split: str | None = "validation",
             batch_size: int = 64,
             step: int | None = None,
             training_mixture: str | None = None,
             partitioner: partitioning.Partitioner | None = None,
             task_feature_lengths: Mapping[str, int] | None = None,
             few_shot: int = 0,
             few_shot_seed: int = 0,
             max_examples: int | None = None,
             write_examples: bool = False,
             host_index: int | None = None,
             host_count: int | None = None,
             on_task_done: Callable[[str], None] | None = None
             ) -> dict[str, Any] | None:
  """Evaluates one checkpoint; writes results.json and results.md.

  Args:
    model: the model API object the checkpoint was trained with.
    checkpoint: a model dir, its `checkpoints` dir, or a step directory.
    mixture_or_task_name: eval mixture (e.g. "demo:eval:all") or task.
    output_dir: where the job's files go (see the module docstring).
    split: the split whose scores are reported ("test").
    selection_split: split used to pick each dataset's best template
      ("validation"); None skips it (no best-dev-template numbers).
    batch_size: option rows (or generated sequences) per forward pass.
    step: checkpoint step when `checkpoint` is not a step directory
      (default: the newest).
    training_mixture: mixture the checkpoint was tuned on; labels each
      dataset seen or held out.
    partitioner: mesh and rules (data parallel over all devices by default).
    task_feature_lengths: truncate inputs/targets to these many tokens
      (default: no truncation).
    few_shot: k exemplars from each task's train split before every query.
    few_shot_seed: seed choosing the exemplars.
    max_examples: evaluate only the first examples of each split.
    write_examples: also write per-example outputs (JSONL per task/split).
    host_index, host_count: this host's share of the tasks (default: JAX's
      process index and count).
    on_task_done: called with each task name once its file is written.

  Returns:
    The results, or None when other hosts still have tasks to finish.
  """
  directory, step = resolve_checkpoint(checkpoint, step)
  tasks = eval_tasks(mixture_or_task_name)
  if not tasks:
    raise EvalJobError(f"'{mixture_or_task_name}' has no tasks")
  host_index = jax.process_index() if host_index is None else host_index
  host_count = jax.process_count() if host_count is None else host_count
  lengths = dict(task_feature_lengths or {})
  config = {
      "checkpoint": os.path.join(directory, str(step)),
      "step": step,
      "eval_mixture": mixture_or_task_name,
      "tasks": [t.name for t in tasks],
      "training_mixture": training_mixture,
      "split": split,
      "selection_split": selection_split,
      "few_shot": {"k": few_shot, "seed": few_shot_seed},
      "task_feature_lengths": lengths or None,
      "max_examples": max_examples,
      "normalisations": dict(rank_classification.NORMALISATIONS),
  }
  results_path = os.path.join(output_dir, "results.json")
  if os.path.exists(results_path):
    done = _read_json(results_path)
    if done.get("config") == config:
      log.info("already evaluated: %s", results_path)
      return done
  _check_job(output_dir, config)
  seen = _seen_datasets(training_mixture)

  mine = [t for i, t in enumerate(tasks) if i % host_count == host_index]
  todo = [t for t in mine if not os.path.exists(_task_file(output_dir, t.name))]
  log.info("step %d: %d tasks of %s, %d for this host, %d left (%s split)",
           step, len(tasks), mixture_or_task_name, len(mine), len(todo), split)
  if todo:
    partitioner = partitioner or partitioning.Partitioner()
    if host_count > 1 and jax.process_count() > 1:
      # Each host evaluates its own tasks on its own devices.
      partitioner.mesh = partitioning.make_mesh(partitioner.mesh_shape,
                                                jax.local_devices())
    params = load_params(model, directory, step, partitioner)
    runner = scoring.ModelRunner(model, params, partitioner, batch_size)
    if not runner.has_fast_scoring:
      log.info("the model has no score_options: scoring options one by one")
    shots = eval_data.FewShot(few_shot, few_shot_seed)
    splits = [split] + ([selection_split] if selection_split else [])
    for task in todo:
      started = time.perf_counter()
      entry: dict[str, Any] = {"task": task.name}
      for which in splits:
        if which not in task.splits:
          continue
        metrics, outputs = evaluate_task(task, runner, which, few_shot=shots,
                                         feature_lengths=lengths,
                                         max_examples=max_examples)
        key = "metrics" if which == split else "selection_metrics"
        entry[key] = metrics
        entry[f"{key}_examples"] = len(outputs)
        if write_examples:
          write_atomic(
              os.path.join(output_dir, "examples", f"{task.name}.{which}.jsonl"),
              "".join(json.dumps(o, sort_keys=True) + "\n" for o in outputs))
      if "metrics" not in entry:
        raise EvalJobError(f"task '{task.name}' has no '{split}' split")
      entry["seconds"] = round(time.perf_counter() - started, 2)
      write_atomic(_task_file(output_dir, task.name),
                    json.dumps(entry, indent=2, sort_keys=True) + "\n")
      log.info("%s: %s (%.1f s)", task.name, _headline(entry["metrics"]),
               entry["seconds"])
      if on_task_done is not None:
        on_task_done(task.name)

  missing = [t.name for t in tasks
             if not os.path.exists(_task_file(output_dir, t.name))]
  if missing:
    log.info("%d tasks left to other hosts; the last host to finish writes "
             "results.json", len(missing))
    return None
  task_results = {t.name: _read_json(_task_file(output_dir, t.name))
                  for t in tasks}
  results = {
      "config": config,
      "checkpoint": config["checkpoint"],
      "step": step,
      "eval_mixture": mixture_or_task_name,
      "training_mixture": training_mixture,
      "split": split,
      "selection_split": selection_split,
      "few_shot": few_shot,
      **aggregation.aggregate(task_results, describe=_describe,
                              clusters_of=mixtures.clusters_of,
                              seen_datasets=seen),
  }
  write_results(results, output_dir)
  log.info("wrote %s", results_path)
  return results


def _headline(metrics: Mapping[str, float]) -> str:
  return ", ".join(f"{k} {v:.1f}" for k, v in metrics.items())


def checkpoints_to_evaluate(checkpoints: str | Sequence[str], output_dir: str,
                            *, all_steps: bool = False
                            ) -> list[tuple[str, int, str]]:
  """(checkpoints directory, step, output dir) for each checkpoint to run.

  `checkpoints` is one path or a list (model, checkpoints or step dirs).
  With `all_steps`, every step of each model dir is included. Output dirs
  are `<output_dir>/step_<N>`, under `<output_dir>/<model dir name>/` when
  several model dirs are given.
  """
  paths = [checkpoints] if isinstance(checkpoints, str) else list(checkpoints)
  chosen = []
  for path in paths:
    directory, steps = checkpoint_steps(path)
    if all_steps:
      wanted = steps
    else:
      wanted = [resolve_checkpoint(path)[1]]
    chosen += [(directory, s) for s in wanted]
  model_dirs = {os.path.dirname(d) for d, _ in chosen}
  out = []
  for directory, step in chosen:
    base = output_dir
    if len(model_dirs) > 1:
      base = os.path.join(output_dir, os.path.basename(os.path.dirname(directory)))
    out.append((directory, step, os.path.join(base, f"step_{step}")))
  return out


def evaluate_checkpoints(*, checkpoints: str | Sequence[str], output_dir: str,
                         all_steps: bool = False, **kwargs
                         ) -> list[dict[str, Any] | None]:
  """Runs `evaluate` over several checkpoints; finished ones are skipped."""
  results = []
  for directory, step, out in checkpoints_to_evaluate(
      checkpoints, output_dir, all_steps=all_steps):
    results.append(evaluate(checkpoint=directory, step=step, output_dir=out,
                            **kwargs))
  return results

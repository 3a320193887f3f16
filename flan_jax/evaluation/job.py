"""`evaluate(...)`: one checkpoint on an eval mixture, results.json out.

`evaluate(...)` restores one checkpoint's parameters and runs every task of
an eval mixture through `task_eval` (rank classification or generation).
Tasks run on the reported split (test) and, for FLAN's best-dev-template
number, on the selection split (validation). Results are aggregated FLAN's
way (`aggregation`): task -> dataset (mean over templates, best dev
template) -> cluster, each dataset labelled seen or held out by the training
mixture.

The job is restartable and shardable. Its output directory (`outputs`)
holds job.json, one file per finished task, and results.json once all are
done. A killed job restarted with the same arguments skips finished tasks and
writes the same results.json. With several hosts, host i evaluates tasks
i, i+n, i+2n, ... on its own devices (parameters replicated per host); the
host that finishes last writes results.json. `evaluate_checkpoints` runs
the job over several checkpoints, skipping those already done.

Given a contamination report (`contamination`, scripts/contamination.py),
every task is also scored on its clean examples, those sharing no n-gram
with the report's training data: tasks get `clean_metrics` and
`clean_examples`, datasets and clusters a `clean_score` beside `score`.
"""

from __future__ import annotations

import difflib
import logging
import os
import time
from typing import Any, Callable, Mapping, Sequence

import jax
import seqio

from flan_jax import errors
from flan_jax import storage
from flan_jax.checkpoints import loading
from flan_jax.checkpoints import run_lock
from flan_jax.data import lookup
from flan_jax.data import mixtures
from flan_jax.data import rank_classification
from flan_jax.data import registry
from flan_jax.evaluation import aggregation
from flan_jax.evaluation import contamination as contamination_lib
from flan_jax.evaluation import examples as examples_lib
from flan_jax.evaluation import outputs
from flan_jax.evaluation import runner as runner_lib
from flan_jax.evaluation import statistics
from flan_jax.evaluation import task_eval
from flan_jax.models import api
from flan_jax.parallel import partitioning

log = logging.getLogger("flan_jax")

# The split whose scores pick each dataset's best template (FLAN: dev).
DEFAULT_SELECTION_SPLIT = "validation"


class EvalJobError(errors.FlanJaxError, ValueError):
  """The job cannot run as configured (e.g. its output dir holds another job)."""


def _describe(task_name: str) -> tuple[str, str]:
  try:
    info = registry.describe_task(task_name)
  except KeyError:  # a plain seqio task: its own dataset, one template
    return task_name, "0"
  return f"{info.collection}:{info.dataset}", str(info.template)


def _template_groups(dataset_key: str) -> dict[str, list[str]]:
  try:
    spec = registry.get_dataset(dataset_key).spec
  except KeyError:  # a plain seqio task
    return {}
  return {group: [str(t) for t in templates]
          for group, templates in spec.template_groups.items()}


def _seen_datasets(training_mixture: str | None) -> set[str] | None:
  if not training_mixture:
    return None
  try:
    lookup.get_task_or_mixture(training_mixture)
  except lookup.UnknownTaskOrMixtureError as e:
    raise EvalJobError(
        f"evaluate.training_mixture '{training_mixture}' is not registered "
        f"({str(e).split('; ', 1)[-1]}): name the mixture the checkpoint "
        f"was tuned on (TRAINING_MIXTURE), or None") from None
  return mixtures.datasets_in_mixture(training_mixture)


def _check_splits(tasks: Sequence[seqio.Task], split: str,
                  selection_split: str | None) -> None:
  """The reported split must exist in every task, the selection split in
  some (tasks without it get no best-dev-template number); the default one
  may be in none (BIG-Bench Hard has only a test split), a name the user
  typed may not."""
  lacking = [t for t in tasks if split not in t.splits]
  if lacking:
    raise EvalJobError(
        f"evaluate.split '{split}' is not a split of {lacking[0].name} (it "
        f"has {', '.join(lacking[0].splits)}; {len(lacking)} of {len(tasks)} "
        f"tasks lack it): use one of those, usually 'test'")
  if selection_split and not any(selection_split in t.splits for t in tasks):
    if selection_split == DEFAULT_SELECTION_SPLIT:
      log.info("no task has a '%s' split: no best-dev-template numbers",
               selection_split)
      return
    raise EvalJobError(
        f"evaluate.selection_split '{selection_split}' is a split of none of "
        f"the tasks: use 'validation', or None for no best-dev-template "
        f"numbers")


def _require_metrics(name: str, tasks: Sequence[seqio.Task]) -> None:
  """An eval job scores tasks with metrics; a training task or mixture has
  none (it would fail later, without saying why)."""
  unscored = [t.name for t in tasks if not t.metric_objs]
  if not unscored:
    return
  evaluable = [m for m in seqio.MixtureRegistry.names() if ":eval" in m]
  close = difflib.get_close_matches(name.replace(":train", ":eval"),
                                    evaluable, n=3, cutoff=0.3)
  hint = (f"closest eval mixtures: {', '.join(close)}" if close else
          "name an eval mixture or task (scripts/catalogue.py lists them)")
  raise EvalJobError(
      f"'{name}' cannot be evaluated: {unscored[0]}"
      f"{f' and {len(unscored) - 1} more tasks' if len(unscored) > 1 else ''}"
      f" have no metrics (a training task or mixture); {hint}")


def _scored(task_or_mixture: seqio.Task | seqio.Mixture) -> bool:
  return all(t.metric_objs for t in seqio.get_subtasks(task_or_mixture))


def eval_tasks(mixture_or_task_name: str) -> list[seqio.Task]:
  """The tasks of a mixture (or the task itself), sorted by name."""
  # An unknown name raises UnknownTaskOrMixtureError naming the closest
  # ones an eval job can score (no training mixtures).
  task_or_mixture = lookup.get_task_or_mixture(mixture_or_task_name,
                                                 suggest=_scored)
  return sorted(seqio.get_subtasks(task_or_mixture), key=lambda t: t.name)


def _lock_file(kwargs) -> str:
  """Hosts sharing a job through jax.distributed are one holder; hosts given
  their share by hand (host_index/host_count) each hold their own lock."""
  host_count = kwargs.get("host_count")
  if host_count and host_count > 1 and jax.process_count() == 1:
    return f"{run_lock.LOCK_FILE}.host{kwargs.get('host_index', 0)}"
  return run_lock.LOCK_FILE


@run_lock.holding_lock("evaluation", "output_dir", file_name=_lock_file)
def evaluate(*,
             model: api.Model,
             checkpoint: str,
             mixture_or_task_name: str,
             output_dir: str,
             split: str = "test",
             selection_split: str | None = DEFAULT_SELECTION_SPLIT,
             batch_size: int = 64,
             step: int | None = None,
             training_mixture: str | None = None,
             partitioner: partitioning.Partitioner | None = None,
             task_feature_lengths: Mapping[str, int] | None = None,
             few_shot: int = 0,
             few_shot_seed: int = 0,
             max_examples: int | None = None,
             cache_dir: str | None = None,
             write_examples: bool = False,
             host_index: int | None = None,
             host_count: int | None = None,
             on_task_done: Callable[[str], None] | None = None,
             contamination: str | None = None,
             config_text: str | None = None,
             tensorboard_dir: str | None = None
             ) -> dict[str, Any] | None:
  """Evaluates one checkpoint; writes results.json and results.md.

  Args:
    model: the model the checkpoint was trained with.
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
    cache_dir: an example cache (scripts/cache_tasks.py); tasks whose rows
      it holds are read from it instead of being rebuilt (same results).
    write_examples: also write per-example outputs (JSONL per task/split).
    host_index: this host's index among the hosts sharing the tasks
      (default: JAX's process index).
    host_count: how many hosts share the tasks (default: JAX's process
      count).
    on_task_done: called with each task name once its file is written.
    contamination: a contamination report (JSON) of this eval mixture's
      datasets on `split`; tasks are also scored on their clean examples.
    config_text: the job's configuration (gin), written to
      `output_dir/eval_config.gin` once the job's settings are checked.
    tensorboard_dir: where the results go as TensorBoard scalars at the
      checkpoint's step (default: `<output_dir>/tensorboard`).

  Returns:
    The results, or None when other hosts still have tasks to finish.
  """
  directory, step = loading.resolve_checkpoint(checkpoint, step)
  tasks = eval_tasks(mixture_or_task_name)
  if not tasks:
    raise EvalJobError(f"'{mixture_or_task_name}' has no tasks: name an eval "
                       "mixture or task")
  _require_metrics(mixture_or_task_name, tasks)
  _check_splits(tasks, split, selection_split)
  errors.require_positive_int(batch_size, "evaluate.batch_size",
                              "option rows per forward pass")
  host_index = jax.process_index() if host_index is None else host_index
  host_count = jax.process_count() if host_count is None else host_count
  lengths = dict(task_feature_lengths or {})
  dirty = _dirty_examples(contamination, tasks, split)
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
      "stderr": {"bootstrap_samples": statistics.BOOTSTRAP_SAMPLES,
                 "bootstrap_seed": statistics.BOOTSTRAP_SEED},
  }
  if dirty is not None:  # only then, so earlier jobs' configs still match
    config["contamination"] = dirty[1]
  results_path = os.path.join(output_dir, outputs.RESULTS_FILE)
  done = outputs.finished_results(output_dir, config)
  if done is not None:
    log.info("already evaluated: %s", results_path)
    return done
  seen = _seen_datasets(training_mixture)
  changed = outputs.job_differences(output_dir, config)
  if changed:
    raise EvalJobError(
        f"{output_dir} holds results of a different eval job (differs in: "
        f"{', '.join(changed)}): use another evaluate.output_dir, or delete "
        f"that directory to start over")
  if config_text is not None and jax.process_index() == 0:
    outputs.write_atomic(os.path.join(output_dir, "eval_config.gin"),
                         config_text)

  mine = [t for i, t in enumerate(tasks) if i % host_count == host_index]
  todo = [t for t in mine
          if not storage.exists(outputs.task_file(output_dir, t.name))]
  log.info("step %d: %d tasks of %s, %d for this host, %d left (%s split)",
           step, len(tasks), mixture_or_task_name, len(mine), len(todo), split)
  if todo:
    partitioner = partitioner or partitioning.Partitioner()
    if host_count > 1 and jax.process_count() > 1:
      # Each host evaluates its own tasks on its own devices.
      partitioner = partitioner.for_local_devices()
    params = loading.load_params(model, directory, step, partitioner)
    runner = runner_lib.ModelRunner(model, params, partitioner, batch_size)
    shots = examples_lib.FewShot(few_shot, few_shot_seed)
    splits = [split] + ([selection_split] if selection_split else [])
    for task in todo:
      started = time.perf_counter()
      entry: dict[str, Any] = {"task": task.name}
      for which in splits:
        if which not in task.splits:
          continue
        unclean = (dirty[0][_describe(task.name)[0]]
                   if dirty is not None and which == split else None)
        result = task_eval.evaluate_task(
            task, runner, which, few_shot=shots, feature_lengths=lengths,
            max_examples=max_examples, cache_dir=cache_dir,
            subset=None if unclean is None else _NotIn(unclean))
        key = "metrics" if which == split else "selection_metrics"
        entry[key] = result.metrics
        entry[f"{key}_stderr"] = result.stderr
        entry[f"{key}_examples"] = result.num_examples
        if unclean is not None:
          entry["clean_metrics"] = result.subset_metrics
          entry["clean_examples"] = sum(
              1 for e in result.outputs
              if e.get("idx", e.get("index")) not in unclean)
        if write_examples:
          outputs.write_jsonl(
              outputs.examples_file(output_dir, task.name, which),
              result.outputs)
      if "metrics" not in entry:
        raise EvalJobError(f"task '{task.name}' has no '{split}' split")
      entry["seconds"] = round(time.perf_counter() - started, 2)
      outputs.write_json(outputs.task_file(output_dir, task.name), entry)
      log.info("%s: %s (%.1f s)", task.name, _headline(entry["metrics"]),
               entry["seconds"])
      if on_task_done is not None:
        on_task_done(task.name)

  missing = [t.name for t in tasks
             if not storage.exists(outputs.task_file(output_dir, t.name))]
  if missing:
    log.info("%d tasks left to other hosts; the last host to finish writes "
             "results.json", len(missing))
    return None
  task_results = {t.name: outputs.read_json(outputs.task_file(output_dir,
                                                             t.name))
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
                              seen_datasets=seen,
                              template_groups_of=_template_groups),
  }
  outputs.write_summaries(results, tensorboard_dir or
                          os.path.join(output_dir, outputs.TENSORBOARD_DIR))
  outputs.write_results(results, output_dir)
  log.info("wrote %s", results_path)
  return results


class _NotIn:
  """The indices not in a set: the clean examples, given the dirty ones."""

  def __init__(self, excluded: frozenset[int]):
    self._excluded = excluded

  def __contains__(self, index: int) -> bool:
    return index not in self._excluded


def _dirty_examples(path: str | None, tasks: Sequence[seqio.Task], split: str
                    ) -> tuple[dict[str, frozenset[int]], dict] | None:
  """(dataset -> dirty indices, what the config records), checked before
  any work: the report must cover every task's dataset on `split`."""
  if not path:
    return None
  try:
    report = contamination_lib.read_report(path)
    dirty = {key: contamination_lib.dirty_examples(report, key, split)
             for key in {_describe(t.name)[0] for t in tasks}}
  except contamination_lib.ContaminationError as e:
    raise EvalJobError(f"contamination={path}: {e}") from None
  return dirty, {"path": os.path.abspath(path),
                 "training": report["training"], "ngram": report["ngram"],
                 "min_words": report["min_words"],
                 "digest": contamination_lib.digest(report)}


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
    directory, steps = loading.checkpoint_steps(path)
    if all_steps:
      wanted = steps
    else:
      wanted = [loading.resolve_checkpoint(path)[1]]
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
  """Runs `evaluate` over several checkpoints; finished ones are skipped.

  The steps of one run write TensorBoard scalars into one folder (beside
  their `step_<N>` folders), so each metric is a curve over the steps.
  """
  results = []
  for directory, step, out in checkpoints_to_evaluate(
      checkpoints, output_dir, all_steps=all_steps):
    results.append(evaluate(
        checkpoint=directory, step=step, output_dir=out,
        tensorboard_dir=os.path.join(os.path.dirname(out),
                                     outputs.TENSORBOARD_DIR), **kwargs))
  return results

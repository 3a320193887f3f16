"""Inference jobs: a checkpoint's predictions or scores for any task, as JSONL.

    mode="predict"  generation tasks: the greedy output text per example;
                    rank-classification tasks: the chosen option per example
                    (under every normalisation convention) with its scores.
    mode="score"    the log-likelihood of each example's target (generation
                    tasks) or of each of its options (rank classification).

One JSON object per line, in example order; the file is written atomically.
"""

from __future__ import annotations

import logging
from typing import Mapping

from flan_jax import errors
from flan_jax import storage
from flan_jax.checkpoints import loading
from flan_jax.evaluation import examples as examples_lib
from flan_jax.evaluation import job
from flan_jax.evaluation import outputs as outputs_lib
from flan_jax.evaluation import runner as runner_lib
from flan_jax.evaluation import task_eval
from flan_jax.models import api
from flan_jax.parallel import partitioning

log = logging.getLogger("flan_jax")

MODES = ("predict", "score")


def infer(*,
          model: api.Model,
          checkpoint: str,
          task_name: str,
          output_path: str,
          mode: str = "predict",
          split: str = "test",
          step: int | None = None,
          batch_size: int = 64,
          partitioner: partitioning.Partitioner | None = None,
          task_feature_lengths: Mapping[str, int] | None = None,
          few_shot: int = 0,
          few_shot_seed: int = 0,
          max_examples: int | None = None,
          cache_dir: str | None = None) -> int:
  """Writes one JSONL line per example of `task_name`; returns the count."""
  if mode not in MODES:
    raise errors.ConfigError(f"infer.mode is {mode!r}: use one of "
                             f"{', '.join(MODES)}", setting="infer.mode")
  if not storage.is_uri(output_path):  # a bucket's writability shows on write
    errors.require_writable_file(output_path, "infer.output_path")
  tasks = job.eval_tasks(task_name)
  if len(tasks) != 1 or tasks[0].name != task_name:
    raise job.EvalJobError(
        f"infer.task_name '{task_name}' is a mixture: infer takes one task "
        f"(e.g. {tasks[0].name})")
  task = tasks[0]
  directory, step = loading.resolve_checkpoint(checkpoint, step)
  partitioner = partitioner or partitioning.Partitioner()
  params = loading.load_params(model, directory, step, partitioner)
  runner = runner_lib.ModelRunner(model, params, partitioner, batch_size)
  shots = examples_lib.FewShot(few_shot, few_shot_seed)
  rows = examples_lib.load_examples(
      task, split, few_shot=shots,
      feature_lengths=dict(task_feature_lengths or {}),
      max_examples=max_examples, cache_dir=cache_dir)
  if mode == "predict" or examples_lib.has_option_rows(rows):
    outputs = task_eval.evaluate_rows(task, runner, rows,
                                      task_feature_lengths).outputs
  else:
    outputs = [{"index": i,
                "inputs": task_eval.text_of(r["inputs_pretokenized"]),
                "target": task_eval.text_of(r["targets_pretokenized"]),
                "log_likelihood": score}
               for i, (r, score) in enumerate(
                   zip(rows, task_eval.target_scores(runner, rows)))]
  for output in outputs:
    output.update({"task": task.name, "step": step})
  outputs_lib.write_jsonl(output_path, outputs)
  log.info("wrote %d %s lines to %s", len(outputs), mode, output_path)
  return len(outputs)

"""Inference jobs: a checkpoint's predictions or scores for any task, as JSONL.

    mode="predict"  generation tasks: the greedy output text per example;
                    rank-classification tasks: the chosen option per example
                    (under every normalisation convention) with its scores.
    mode="score"    the log-likelihood of each example's target (generation
                    tasks) or of each of its options (rank classification).

One JSON object per line, in example order; the file is written atomically.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Mapping

from flan_jax import eval_data
from flan_jax import evaluation
from flan_jax import partitioning
from flan_jax import scoring

log = logging.getLogger("flan_jax")

MODES = ("predict", "score")


def infer(*,
          model,
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
          max_examples: int | None = None) -> int:
  """Writes one JSONL line per example of `task_name`; returns the count."""
  if mode not in MODES:
    raise ValueError(f"unknown mode '{mode}'; choose one of {', '.join(MODES)}")
  tasks = evaluation.eval_tasks(task_name)
  if len(tasks) != 1 or tasks[0].name != task_name:
    raise evaluation.EvalJobError(
        f"'{task_name}' is a mixture; infer takes one task (e.g. "
        f"{tasks[0].name})")
  task = tasks[0]
  directory, step = evaluation.resolve_checkpoint(checkpoint, step)
  partitioner = partitioner or partitioning.Partitioner()
  params = evaluation.load_params(model, directory, step, partitioner)
  runner = scoring.ModelRunner(model, params, partitioner, batch_size)
  shots = eval_data.FewShot(few_shot, few_shot_seed)
  rows = eval_data.load_examples(task, split, few_shot=shots,
                                 feature_lengths=dict(task_feature_lengths or {}),
                                 max_examples=max_examples)
  if mode == "predict" or eval_data.has_option_rows(rows):
    _, outputs = evaluation.evaluate_rows(task, runner, rows,
                                          task_feature_lengths)
  else:
    scores = runner.option_scores(eval_data.single_option_examples(rows))
    outputs = [{"index": i,
                "inputs": evaluation.text_of(r["inputs_pretokenized"]),
                "target": evaluation.text_of(r["targets_pretokenized"]),
                "log_likelihood": float(s[0])}
               for i, (r, s) in enumerate(zip(rows, scores))]
  for output in outputs:
    output.update({"task": task.name, "step": step})
  evaluation.write_atomic(
      output_path, "".join(json.dumps(o, sort_keys=True) + "\n"
                           for o in outputs))
  log.info("wrote %d %s lines to %s", len(outputs), mode, output_path)
  return len(outputs)

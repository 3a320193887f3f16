"""An eval job's output directory: what is written where, always atomically.

    job.json                        the job's configuration (a restart must
                                    match it)
    tasks/<task>.json               one finished task's metrics
    examples/<task>.<split>.jsonl   per-example outputs (write_examples=True)
    results.json, results.md        everything aggregated, once all tasks
                                    are done
    results_lm_eval.json            the same in lm-evaluation-harness's
                                    layout (`lm_eval_export`)
    tensorboard/                    the numbers as TensorBoard scalars at
                                    the checkpoint's step (`write_summaries`;
                                    several steps of a run share one folder,
                                    see `job.evaluate_checkpoints`)

Every file is written whole or not at all (`storage.write_atomic`: locally
under a temporary name, then renamed; in a bucket as one upload), so a
killed job leaves each file either whole or absent. `output_dir` may be a
local path or a ``gs://`` URI.
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping, Sequence

from flan_jax import storage
from flan_jax.evaluation import lm_eval_export
from flan_jax.evaluation import reports

JOB_FILE = "job.json"
RESULTS_FILE = "results.json"
TENSORBOARD_DIR = "tensorboard"


def write_atomic(path: str, text: str) -> None:
  storage.write_atomic(path, text)


def write_json(path: str, value: Any) -> None:
  write_atomic(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def write_jsonl(path: str, rows: Sequence[Mapping[str, Any]]) -> None:
  write_atomic(path, "".join(json.dumps(r, sort_keys=True) + "\n"
                             for r in rows))


def read_json(path: str) -> Any:
  return json.loads(storage.read_text(path))


def task_file(output_dir: str, task_name: str) -> str:
  return os.path.join(output_dir, "tasks", task_name.replace("/", "_") + ".json")


def examples_file(output_dir: str, task_name: str, split: str) -> str:
  return os.path.join(output_dir, "examples", f"{task_name}.{split}.jsonl")


def finished_results(output_dir: str,
                     config: Mapping[str, Any]) -> dict[str, Any] | None:
  """The directory's results.json if it is this job's, else None."""
  path = os.path.join(output_dir, RESULTS_FILE)
  if storage.exists(path):
    done = read_json(path)
    if done.get("config") == config:
      return done
  return None


def job_differences(output_dir: str, config: Mapping[str, Any]) -> list[str]:
  """Settings in which the directory's job differs from `config`.

  A directory without a job file takes `config` as its job (written now).
  """
  path = os.path.join(output_dir, JOB_FILE)
  if not storage.exists(path):
    write_json(path, config)
    return []
  before = read_json(path)
  return sorted(k for k in set(before) | set(config)
                if before.get(k) != config.get(k))


def write_results(results: Mapping[str, Any], output_dir: str) -> None:
  """Writes results.json, the markdown tables and the harness-shaped copy."""
  write_atomic(os.path.join(output_dir, "results.md"),
               reports.results_markdown(results))
  write_json(os.path.join(output_dir, lm_eval_export.FILE),
             lm_eval_export.to_lm_eval(results))
  write_json(os.path.join(output_dir, RESULTS_FILE), results)


def summary_scalars(results: Mapping[str, Any]) -> dict[str, float]:
  """TensorBoard tag -> value: every task metric (and its stderr), every
  dataset, cluster and summary score (None values left out)."""
  scalars: dict[str, Any] = {}
  for name, task in results["tasks"].items():
    for metric, value in task["metrics"].items():
      scalars[f"tasks/{name}/{metric}"] = value
      scalars[f"tasks/{name}/{metric}_stderr"] = (task.get("stderr") or
                                                   {}).get(metric)
  groups = [("datasets", results["datasets"]),
            ("clusters", results["clusters"]),
            ("summary", results["summary"])]
  for kind, entries in groups:
    for name, entry in entries.items():
      for field in ("score", "score_stderr", "best_dev_score"):
        scalars[f"{kind}/{name}/{field}"] = entry.get(field)
      for metric, other in (entry.get("other_metrics") or {}).items():
        scalars[f"{kind}/{name}/{metric}"] = other.get("score")
  return {tag: float(v) for tag, v in scalars.items() if v is not None}


def write_summaries(results: Mapping[str, Any], directory: str) -> None:
  """Writes `summary_scalars` at the results' checkpoint step."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  writer = tf.summary.create_file_writer(directory)
  with writer.as_default():
    for tag, value in summary_scalars(results).items():
      tf.summary.scalar(tag, value, step=int(results["step"]))
  writer.close()

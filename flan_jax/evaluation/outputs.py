"""An eval job's output directory: what is written where, always atomically.

    job.json                        the job's configuration (a restart must
                                    match it)
    tasks/<task>.json               one finished task's metrics
    examples/<task>.<split>.jsonl   per-example outputs (write_examples=True)
    results.json, results.md        everything aggregated, once all tasks
                                    are done

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
from flan_jax.evaluation import reports

JOB_FILE = "job.json"
RESULTS_FILE = "results.json"


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
  """Writes results.json and the markdown tables beside it."""
  write_atomic(os.path.join(output_dir, "results.md"),
               reports.results_markdown(results))
  write_json(os.path.join(output_dir, RESULTS_FILE), results)

"""results.json in lm-evaluation-harness's layout: results_lm_eval.json.

The eval job writes this beside its own results.json, so tooling that reads
the harness's output (its `make_table`, leaderboards, notebooks) reads
ours. It follows the harness's documented keys: ``results`` and ``groups``
map a name to ``"<metric>,<filter>"`` values and ``"<metric>_stderr,<filter>"``
standard errors (filter ``none``); ``group_subtasks``, ``configs``,
``versions``, ``n-shot``, ``higher_is_better``, ``n-samples``, ``config``
(no ``date``: a restarted job writes the same file).

Metric names and scale follow the harness:

    ours                   harness      scale
    accuracy               acc          0-1 (ours / 100)
    accuracy_char_norm     acc_norm     0-1
    em                     exact_match  0-1
    other percentages      same name    0-1
    edit_distance          same name    characters (as ours)

Rows: each task (one template of one dataset), each dataset (the mean over
its templates, a group of its tasks) and each cluster (the mean of its
datasets' headline scores, as `score`, a group of its datasets). Example,
one task::

    "results": {"demo:nli_traits:t0:score": {
        "alias": "demo:nli_traits:t0:score", "sample_len": 100,
        "acc,none": 0.59, "acc_stderr,none": 0.0494, ...}}
"""

from __future__ import annotations

from typing import Any, Mapping

from flan_jax.evaluation import aggregation

FILE = "results_lm_eval.json"
FILTER = "none"
# Our metric name -> the harness's, where they name the same thing.
HARNESS_NAMES = {"accuracy": "acc", "accuracy_char_norm": "acc_norm",
                 "em": "exact_match"}


def harness_name(metric: str) -> str:
  return HARNESS_NAMES.get(metric, metric)


def _scale(metric: str) -> float:
  return 1.0 if metric in aggregation.OTHER_SCALES else 0.01


def _metrics(values: Mapping[str, float | None],
             stderr: Mapping[str, float | None] | None) -> dict[str, Any]:
  out: dict[str, Any] = {}
  for metric, value in values.items():
    if value is None:
      continue
    name, scale = harness_name(metric), _scale(metric)
    out[f"{name},{FILTER}"] = value * scale
    se = (stderr or {}).get(metric)
    out[f"{name}_stderr,{FILTER}"] = "N/A" if se is None else se * scale
  return out


def _row(name: str, values, stderr, n) -> dict[str, Any]:
  row: dict[str, Any] = {"alias": name}
  if n is not None:
    row["sample_len"] = n
  row.update(_metrics(values, stderr))
  return row


def _higher_is_better(metrics) -> dict[str, bool]:
  return {harness_name(m): m not in aggregation.LOWER_IS_BETTER
          for m in metrics}


def _cluster_row(name: str, entry: Mapping[str, Any]) -> dict[str, Any]:
  # A cluster mean is of its percent-scale datasets' headline scores.
  return _row(name, {"score": entry.get("score")},
              {"score": entry.get("score_stderr")}, entry.get("n"))


def to_lm_eval(results: Mapping[str, Any]) -> dict[str, Any]:
  """Our results.json contents -> the harness's results dict."""
  config = results["config"]
  shots = (config.get("few_shot") or {}).get("k", 0)
  tasks, datasets = results["tasks"], results["datasets"]
  rows: dict[str, Any] = {}
  groups: dict[str, Any] = {}
  configs, n_shot, higher, samples = {}, {}, {}, {}
  for name, task in tasks.items():
    rows[name] = _row(name, task["metrics"], task.get("stderr"), task.get("n"))
    n_shot[name] = shots
    higher[name] = _higher_is_better(task["metrics"])
    if task.get("n") is not None:
      samples[name] = {"original": task["n"], "effective": task["n"]}
    configs[name] = {
        "task": name, "dataset_name": task["dataset"],
        "template": task["template"],
        "output_type": ("multiple_choice" if name.endswith(":score") else
                        "generate_until"),
        "test_split": config["split"], "num_fewshot": shots,
        "fewshot_seed": (config.get("few_shot") or {}).get("seed"),
        "metric_list": [{"metric": harness_name(m),
                         "higher_is_better": m not in
                         aggregation.LOWER_IS_BETTER}
                        for m in task["metrics"]],
    }
  subtasks: dict[str, list[str]] = {}
  for name, task in sorted(tasks.items()):
    subtasks.setdefault(task["dataset"], []).append(name)
  for key, entry in datasets.items():
    groups[key] = _row(key, entry["mean_over_templates"],
                       entry.get("mean_over_templates_stderr"),
                       entry.get("n"))
    n_shot[key] = shots
    higher[key] = _higher_is_better(entry["mean_over_templates"])
  for cluster, entry in results["clusters"].items():
    groups[cluster] = _cluster_row(cluster, entry)
    subtasks[cluster] = list(entry["datasets"])
    n_shot[cluster] = shots
    higher[cluster] = {"score": True}
  return {
      "results": {**rows, **groups},
      "groups": groups,
      "group_subtasks": subtasks,
      "configs": configs,
      "versions": {name: None for name in [*rows, *groups]},
      "n-shot": n_shot,
      "higher_is_better": higher,
      "n-samples": samples,
      "config": {
          "model": "flan_jax",
          "model_args": config["checkpoint"],
          "limit": config.get("max_examples"),
          "bootstrap_iters": (config.get("stderr") or {}).get(
              "bootstrap_samples"),
          "fewshot_seed": (config.get("few_shot") or {}).get("seed"),
      },
  }

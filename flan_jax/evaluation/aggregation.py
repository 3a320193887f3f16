"""FLAN's aggregation: tasks -> datasets -> clusters, with seen/held-out labels.

A task is one template of one dataset. Its result holds metrics on the
reported split (test) and, when the job also ran the selection split
(validation), metrics there. Per dataset, two numbers::

    mean over templates        mean of every template's test score
    best dev template          the test score of the template whose
                               validation score is best (pick on validation,
                               report on test: no peeking at test)

Per cluster, the mean of its datasets' numbers. The headline metric of a
dataset is the first metric its tasks report (e.g. "accuracy", FLAN's
summed-log-likelihood rank classification); metrics in `LOWER_IS_BETTER`
are minimised when choosing the best template.

Tasks scored on a contamination check's clean examples as well (their
`clean_metrics`) give their dataset and cluster a `clean_score`, aggregated
the same way, and `clean_examples`.

Each dataset is labelled "seen" when the training mixture contains it and
"held_out" when not (None when no training mixture was given); a cluster
is labelled the same way when all of its datasets agree, else "mixed".
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

SEEN, HELD_OUT, MIXED = "seen", "held_out", "mixed"
NO_CLUSTER = "(no cluster)"
LOWER_IS_BETTER = frozenset({"edit_distance"})


def _mean(values) -> float | None:
  values = [v for v in values if v is not None]
  return float(np.mean(values)) if values else None


def best_template(per_template: Mapping[str, Mapping[str, float]],
                  per_template_selection: Mapping[str, Mapping[str, float]],
                  metric: str) -> str | None:
  """The template with the best selection-split score (ties: lowest index)."""
  candidates = [t for t in per_template if t in per_template_selection and
                metric in per_template_selection[t]]
  if not candidates:
    return None
  sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
  return max(sorted(candidates, key=_template_order),
             key=lambda t: sign * per_template_selection[t][metric])


def _template_order(template: str):
  return (0, int(template)) if template.isdigit() else (1, template)


def aggregate(task_results: Mapping[str, Mapping[str, Any]],
              *,
              describe: Callable[[str], tuple[str, str]],
              clusters_of: Callable[[str], list[str]],
              seen_datasets: set[str] | None) -> dict[str, Any]:
  """Per-task results -> per task, dataset and cluster numbers.

  Args:
    task_results: task name -> {"metrics": {...}, and optionally
      "selection_metrics": {...}} (the latter on the validation split).
    describe: task name -> (dataset key, template id).
    clusters_of: dataset key -> the clusters that list it.
    seen_datasets: dataset keys in the training mixture, or None.
  """
  tasks: dict[str, dict[str, Any]] = {}
  datasets: dict[str, dict[str, Any]] = {}
  for name in sorted(task_results):
    result = task_results[name]
    key, template = describe(name)
    metrics = {k: float(v) for k, v in result["metrics"].items()}
    selection = {k: float(v)
                 for k, v in (result.get("selection_metrics") or {}).items()}
    tasks[name] = {"dataset": key, "template": template, "metrics": metrics,
                   "selection_metrics": selection or None}
    entry = datasets.setdefault(
        key, {"per_template": {}, "per_template_selection": {}})
    entry.setdefault("metric", next(iter(metrics)))
    entry["per_template"][str(template)] = metrics
    if "clean_metrics" in result:
      tasks[name]["clean_metrics"] = result["clean_metrics"]
      entry.setdefault("per_template_clean", {})[str(template)] = (
          result["clean_metrics"])
      entry["clean_examples"] = result.get("clean_examples")
    if selection:
      entry["per_template_selection"][str(template)] = selection

  for key, entry in datasets.items():
    per_template = entry["per_template"]
    names = [m for m in next(iter(per_template.values()))
             if all(m in t for t in per_template.values())]
    entry["mean_over_templates"] = {
        m: _mean(t[m] for t in per_template.values()) for m in names}
    entry["score"] = entry["mean_over_templates"].get(entry["metric"])
    chosen = best_template(per_template, entry["per_template_selection"],
                           entry["metric"])
    entry["best_dev_template"] = chosen
    entry["best_dev_score"] = (None if chosen is None else
                               per_template[chosen][entry["metric"]])
    if "per_template_clean" in entry:
      clean = entry["per_template_clean"].values()
      entry["clean_score"] = (None if None in clean else
                              _mean(c.get(entry["metric"]) for c in clean))
    entry["clusters"] = list(clusters_of(key))
    entry["status"] = (None if seen_datasets is None else
                       SEEN if key in seen_datasets else HELD_OUT)

  clusters: dict[str, dict[str, Any]] = {}
  for key in sorted(datasets):
    for cluster in datasets[key]["clusters"] or [NO_CLUSTER]:
      clusters.setdefault(cluster, {"datasets": []})["datasets"].append(key)
  for entry in clusters.values():
    members = [datasets[d] for d in entry["datasets"]]
    entry["score"] = _mean(d["score"] for d in members)
    best = [d["best_dev_score"] for d in members]
    entry["best_dev_score"] = None if None in best else _mean(best)
    if all("clean_score" in d for d in members):
      clean = [d["clean_score"] for d in members]
      entry["clean_score"] = None if None in clean else _mean(clean)
    statuses = {d["status"] for d in members}
    entry["status"] = statuses.pop() if len(statuses) == 1 else MIXED
  return {"tasks": tasks, "datasets": datasets, "clusters": clusters,
          "summary": summary(datasets)}


def summary(datasets: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
  """Mean over held-out and over seen datasets (the numbers a run is read by)."""
  out = {}
  for status in (HELD_OUT, SEEN):
    members = [d for d in datasets.values() if d["status"] == status]
    out[status] = {
        "datasets": len(members),
        "score": _mean(d["score"] for d in members),
        "best_dev_score": _mean(d["best_dev_score"] for d in members),
    }
  return out

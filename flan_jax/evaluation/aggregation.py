"""FLAN's aggregation: tasks -> datasets -> clusters, with seen/held-out labels.

A task is one template of one dataset. Its result holds metrics on the
reported split (test), their standard errors and example count, and, when
the job also ran the selection split (validation), the same there. Per
dataset, two numbers::

    mean over templates        mean of every template's test score
    best dev template          the test score of the template whose
                               validation score is best (pick on validation,
                               report on test: no peeking at test)

A dataset may name groups of its templates (translation: one group per
direction); each group gets the same two numbers over its own templates.

Per cluster, the mean of its datasets' numbers, but only over datasets
whose headline metric is a percentage where higher is better (accuracy,
BLEU, ROUGE, F1, ...). A dataset scored on another scale (text
formatting's character edit distance, lower is better) is reported beside
the mean, under `other_metrics`, never averaged into it. The same holds for
the held-out and seen summaries. The headline metric of a dataset is the
first metric its tasks report (e.g. "accuracy", FLAN's summed-log-likelihood
rank classification); metrics in `LOWER_IS_BETTER` are minimised when
choosing the best template.

Standard errors (`statistics`) travel with every number: a mean over
templates takes the mean of the template stderrs (they share examples: an
upper bound), a mean over datasets sqrt(sum of squares) / count (different
examples, taken as independent); `n` counts the examples behind a number.

Tasks scored on a contamination check's clean examples as well (their
`clean_metrics`) give their dataset and cluster a `clean_score`, aggregated
the same way, and `clean_examples`.

Each dataset is labelled "seen" when the training mixture contains it and
"held_out" when not (None when no training mixture was given); a cluster
is labelled the same way when all of its datasets agree, else "mixed".
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from flan_jax.evaluation import statistics

SEEN, HELD_OUT, MIXED = "seen", "held_out", "mixed"
NO_CLUSTER = "(no cluster)"
LOWER_IS_BETTER = frozenset({"edit_distance"})
# Metrics not on the 0-100 higher-is-better scale, and what their unit is.
OTHER_SCALES = {"edit_distance": "characters, lower is better"}


def on_percent_scale(metric: str) -> bool:
  """True for metrics that cluster means may average (0-100, higher better)."""
  return metric not in OTHER_SCALES and metric not in LOWER_IS_BETTER


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


def _floats(values: Mapping[str, Any] | None) -> dict[str, Any]:
  return {k: None if v is None else float(v) for k, v in (values or {}).items()}


def _task_entry(result: Mapping[str, Any], key: str, template: str):
  return {
      "dataset": key, "template": template,
      "metrics": _floats(result["metrics"]),
      "stderr": _floats(result.get("metrics_stderr")),
      "n": result.get("metrics_examples"),
      "selection_metrics": _floats(result.get("selection_metrics")) or None,
      "selection_stderr": _floats(result.get("selection_metrics_stderr")) or
                          None,
      "selection_n": result.get("selection_metrics_examples"),
  }


def _over_templates(entry: Mapping[str, Any], templates: Sequence[str]
                    ) -> dict[str, Any]:
  """Mean over `templates` and their best dev template, headline metric."""
  metric = entry["metric"]
  per = {t: entry["per_template"][t] for t in templates}
  stderr = entry["per_template_stderr"]
  names = [m for m in next(iter(per.values()))
           if all(m in t for t in per.values())]
  mean = {m: _mean(t[m] for t in per.values()) for m in names}
  mean_stderr = {m: statistics.correlated_mean_stderr(
      [stderr.get(t, {}).get(m) for t in per]) for m in names}
  selection = {t: v for t, v in entry["per_template_selection"].items()
               if t in per}
  chosen = best_template(per, selection, metric)
  return {
      "templates": list(templates),
      "mean_over_templates": mean,
      "mean_over_templates_stderr": mean_stderr,
      "score": mean.get(metric),
      "score_stderr": mean_stderr.get(metric),
      "best_dev_template": chosen,
      "best_dev_score": None if chosen is None else per[chosen][metric],
      "best_dev_score_stderr": (None if chosen is None else
                                stderr.get(chosen, {}).get(metric)),
  }


def _template_groups(entry, groups: Mapping[str, Sequence[Any]]):
  out = {}
  for group, members in groups.items():
    members = [str(t) for t in members if str(t) in entry["per_template"]]
    if members:
      out[group] = _over_templates(entry, members)
  return out


def _combine(members: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
  """Mean (and stderr, example count) over datasets on one scale."""
  best = [d["best_dev_score"] for d in members]
  return {
      "score": _mean(d["score"] for d in members),
      "score_stderr": statistics.independent_mean_stderr(
          [d["score_stderr"] for d in members]),
      "best_dev_score": None if None in best else _mean(best),
      "best_dev_score_stderr": (None if None in best else
                                statistics.independent_mean_stderr(
                                    [d["best_dev_score_stderr"]
                                     for d in members])),
      "n": sum(d["n"] or 0 for d in members),
      **_clean_score(members),
  }


def _clean_score(members: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
  """{"clean_score": mean} when every member was scored on a clean subset."""
  if not members or not all("clean_score" in d for d in members):
    return {}
  clean = [d["clean_score"] for d in members]
  return {"clean_score": None if None in clean else _mean(clean)}


def _by_scale(keys: Sequence[str], datasets: Mapping[str, Mapping[str, Any]]
              ) -> dict[str, Any]:
  """Percent-scale datasets averaged; the others by metric, beside them."""
  percent = [k for k in keys if on_percent_scale(datasets[k]["metric"])]
  out = {"averaged": percent, **_combine([datasets[k] for k in percent])}
  if not percent:
    out["score"] = out["best_dev_score"] = None
  other: dict[str, Any] = {}
  for key in keys:
    metric = datasets[key]["metric"]
    if not on_percent_scale(metric):
      other.setdefault(metric, []).append(key)
  out["other_metrics"] = {
      metric: {"datasets": members, "scale": OTHER_SCALES.get(metric, ""),
               **_combine([datasets[k] for k in members])}
      for metric, members in sorted(other.items())}
  return out


def aggregate(task_results: Mapping[str, Mapping[str, Any]],
              *,
              describe: Callable[[str], tuple[str, str]],
              clusters_of: Callable[[str], list[str]],
              seen_datasets: set[str] | None,
              template_groups_of: Callable[[str], Mapping[str, Sequence[Any]]]
              | None = None) -> dict[str, Any]:
  """Per-task results -> per task, dataset and cluster numbers.

  Args:
    task_results: task name -> {"metrics": {...}, "metrics_stderr": {...},
      "metrics_examples": n, and optionally the same with "selection_"
      prefixes (on the validation split)}.
    describe: task name -> (dataset key, template id).
    clusters_of: dataset key -> the clusters that list it.
    seen_datasets: dataset keys in the training mixture, or None.
    template_groups_of: dataset key -> {group name: template ids} (e.g. a
      translation direction's templates), or None for no groups.
  """
  tasks: dict[str, dict[str, Any]] = {}
  datasets: dict[str, dict[str, Any]] = {}
  for name in sorted(task_results):
    key, template = describe(name)
    template = str(template)
    task = _task_entry(task_results[name], key, template)
    tasks[name] = task
    entry = datasets.setdefault(
        key, {"per_template": {}, "per_template_stderr": {},
              "per_template_selection": {}, "n": task["n"]})
    entry.setdefault("metric", next(iter(task["metrics"])))
    entry["per_template"][template] = task["metrics"]
    entry["per_template_stderr"][template] = task["stderr"]
    if "clean_metrics" in task_results[name]:
      task["clean_metrics"] = task_results[name]["clean_metrics"]
      entry.setdefault("per_template_clean", {})[template] = (
          task["clean_metrics"])
      entry["clean_examples"] = task_results[name].get("clean_examples")
    if task["selection_metrics"]:
      entry["per_template_selection"][template] = task["selection_metrics"]

  for key, entry in datasets.items():
    metric = entry["metric"]
    entry["higher_is_better"] = metric not in LOWER_IS_BETTER
    entry["scale"] = OTHER_SCALES.get(metric, "percent")
    over_all = _over_templates(entry, sorted(entry["per_template"],
                                             key=_template_order))
    del over_all["templates"]
    entry.update(over_all)
    if "per_template_clean" in entry:
      clean = list(entry["per_template_clean"].values())
      entry["clean_score"] = (None if None in clean else
                              _mean(c.get(metric) for c in clean))
    groups = template_groups_of(key) if template_groups_of else {}
    if groups:
      entry["template_groups"] = _template_groups(entry, groups)
    entry["clusters"] = list(clusters_of(key))
    entry["status"] = (None if seen_datasets is None else
                       SEEN if key in seen_datasets else HELD_OUT)

  clusters: dict[str, dict[str, Any]] = {}
  for key in sorted(datasets):
    for cluster in datasets[key]["clusters"] or [NO_CLUSTER]:
      clusters.setdefault(cluster, {"datasets": []})["datasets"].append(key)
  for entry in clusters.values():
    entry.update(_by_scale(entry["datasets"], datasets))
    statuses = {datasets[d]["status"] for d in entry["datasets"]}
    entry["status"] = statuses.pop() if len(statuses) == 1 else MIXED
  return {"tasks": tasks, "datasets": datasets, "clusters": clusters,
          "summary": summary(datasets)}


def summary(datasets: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
  """Mean over held-out and over seen datasets (the numbers a run is read by).

  `datasets` counts the percent-scale datasets in `score`; the others are
  under `other_metrics`, as in a cluster.
  """
  out = {}
  for status in (HELD_OUT, SEEN):
    members = sorted(k for k, d in datasets.items() if d["status"] == status)
    combined = _by_scale(members, datasets)
    out[status] = {"datasets": len(combined.pop("averaged")), **combined}
  return out

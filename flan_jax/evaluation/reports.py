"""Readable tables and figures from results.json files.

Tables (markdown), every number as `score ± stderr` where results.json
holds a standard error (runs written before stderrs existed print the score
alone):
  `results_markdown(results)`        one run: per dataset and per cluster
  `comparison_markdown(runs, labels)` several runs side by side

Figures (matplotlib PNG, error bars of one standard error):
  `plot_cluster_bars`       per-cluster score of each run (base vs tuned ...),
                            held-out clusters marked
  `plot_template_spread`    per dataset: each template's score, their mean and
                            the best-dev template
  `plot_held_out_vs_clusters`  held-out score against the number of training
                            clusters, for a series of runs (FLAN's Fig. 6)

`write_report(...)` writes all of them into one directory with a README-ready
`report.md` that embeds the figures. Paths may be ``gs://`` URIs (each file
is rendered in memory and written whole, `storage.write_atomic`).
"""

from __future__ import annotations

import io
import os
from typing import Any, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only, no display needed

import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from flan_jax import errors  # pylint: disable=g-import-not-at-top
from flan_jax import storage  # pylint: disable=g-import-not-at-top

Results = Mapping[str, Any]


class ReportError(errors.FlanJaxError, ValueError):
  """The runs given cannot make a report (mismatched labels, bad files)."""

STATUS_LABEL = {"seen": "seen", "held_out": "HELD OUT", "mixed": "mixed",
                None: "-"}


def _fmt(value: float | None) -> str:
  return "-" if value is None else f"{value:.1f}"


def _fmt_se(value: float | None, stderr: float | None) -> str:
  """`65.0 ± 3.4`, or the value alone when there is no standard error."""
  if value is None or stderr is None:
    return _fmt(value)
  return f"{value:.1f} ± {stderr:.1f}"


def _other_metrics(entry: Mapping[str, Any]) -> str:
  """Datasets on another scale, reported beside a mean (e.g. edit distance)."""
  parts = [f"{metric} {_fmt_se(o['score'], o.get('score_stderr'))} "
           f"({o.get('scale') or 'not a percentage'}; "
           f"{len(o['datasets'])} datasets)"
           for metric, o in sorted((entry.get("other_metrics") or {}).items())]
  return "; ".join(parts) or "-"


def _title(results: Results) -> str:
  shots = results.get("few_shot") or 0
  mode = f"{shots}-shot" if shots else "Zero-shot"
  return (f"{mode} results: step {results['step']}, "
          f"{results['eval_mixture']} ({results['split']} split)")


def results_markdown(results: Results) -> str:
  """One run: a row per dataset and per cluster."""
  datasets = results["datasets"]
  # A contamination-checked job also scored each task's clean examples.
  clean = any("clean_score" in d for d in datasets.values())
  clean_head = " clean subset (examples) |" if clean else ""
  lines = [
      f"# {_title(results)}", "",
      f"Checkpoint: `{results['checkpoint']}`  ",
      f"Training mixture: `{results.get('training_mixture') or 'unknown'}`",
      "",
      "| cluster | dataset | status | metric | n | mean over templates | "
      "best dev template | templates (min-max) |" + clean_head,
      "|---|---|---|---|---:|---:|---:|---|" + ("---:|" if clean else "")
  ]
  for cluster, c_entry in sorted(results["clusters"].items()):
    for key in sorted(c_entry["datasets"]):
      d = datasets[key]
      per = [t[d["metric"]] for t in d["per_template"].values()]
      best = d.get("best_dev_template")
      best_text = ("-" if best is None else
                   _fmt_se(d["best_dev_score"],
                           d.get("best_dev_score_stderr")) + f" (t{best})")
      metric = d["metric"] + ("" if d.get("higher_is_better", True) else
                              " (lower is better)")
      score = _fmt_se(d["score"], d.get("score_stderr"))
      clean_text = (f" {_fmt(d.get('clean_score'))} "
                    f"({d.get('clean_examples', '-')}) |" if clean else "")
      lines.append(
          f"| {cluster} | {key} | {STATUS_LABEL[d['status']]} | {metric} "
          f"| {d.get('n') or '-'} | {score} | {best_text} | {len(per)} "
          f"({_fmt(min(per))}-{_fmt(max(per))}) |" + clean_text)
  lines += ["", "Clusters average their datasets scored in percent (higher is "
            "better); datasets on another scale are listed beside, not "
            "averaged in.", "",
            "| cluster | status | mean over templates | best dev template | "
            "on another scale |" + (" clean subset |" if clean else ""),
            "|---|---|---:|---:|---|" + ("---:|" if clean else "")]
  for cluster, c_entry in sorted(results["clusters"].items()):
    score = _fmt_se(c_entry["score"], c_entry.get("score_stderr"))
    best = _fmt_se(c_entry.get("best_dev_score"),
                   c_entry.get("best_dev_score_stderr"))
    lines.append(f"| {cluster} | {STATUS_LABEL[c_entry['status']]} | "
                 f"{score} | {best} | {_other_metrics(c_entry)} |" +
                 (f" {_fmt(c_entry.get('clean_score'))} |" if clean else ""))
  groups = _group_rows(results)
  if groups:
    lines += ["", "Template groups (e.g. one translation direction each):",
              "", "| dataset | group | templates | mean over templates | "
              "best dev template |", "|---|---|---|---:|---:|", *groups]
  normalised = _normalised_rows(results)
  if normalised:
    lines += ["", "Rank classification under each scoring convention "
              "(mean over templates): `accuracy` sums the option's "
              "log-likelihood (FLAN, T0), `accuracy_char_norm` divides it by "
              "the characters of the option itself (lm-evaluation-harness "
              "acc_norm), "
              "`accuracy_token_norm` by its tokens.", "",
              "| dataset | accuracy | accuracy_char_norm | accuracy_token_norm |",
              "|---|---:|---:|---:|", *normalised]
  return "\n".join(lines) + "\n"


def _group_rows(results: Results) -> list[str]:
  rows = []
  for key, d in sorted(results["datasets"].items()):
    for group, g in sorted((d.get("template_groups") or {}).items()):
      best = g.get("best_dev_template")
      best_text = ("-" if best is None else
                   _fmt_se(g["best_dev_score"],
                           g.get("best_dev_score_stderr")) + f" (t{best})")
      rows.append(f"| {key} | {group} | {', '.join(g['templates'])} | "
                  f"{_fmt_se(g['score'], g.get('score_stderr'))} | "
                  f"{best_text} |")
  return rows


def _normalised_rows(results: Results) -> list[str]:
  rows = []
  for key, d in sorted(results["datasets"].items()):
    mean = d.get("mean_over_templates", {})
    if "accuracy_char_norm" in mean:
      rows.append(f"| {key} | {_fmt(mean.get('accuracy'))} | "
                  f"{_fmt(mean['accuracy_char_norm'])} | "
                  f"{_fmt(mean.get('accuracy_token_norm'))} |")
  return rows


def comparison_markdown(runs: Sequence[Results],
                        labels: Sequence[str]) -> str:
  """Several runs side by side: per dataset, then per cluster.

  The status column comes from the last run (e.g. the tuned model).
  """
  last = runs[-1]
  header = "| cluster | dataset | status | metric | " + " | ".join(labels) + " |"
  rule = "|---|---|---|---|" + "---:|" * len(labels)
  lines = [header, rule]
  for cluster, c_entry in sorted(last["clusters"].items()):
    for key in sorted(c_entry["datasets"]):
      d = last["datasets"][key]
      scores = [_fmt_se(r["datasets"].get(key, {}).get("score"),
                        r["datasets"].get(key, {}).get("score_stderr"))
                for r in runs]
      lines.append(f"| {cluster} | {key} | {STATUS_LABEL[d['status']]} | "
                   f"{d['metric']} | " + " | ".join(scores) + " |")
  lines += ["", "| cluster | status | " + " | ".join(labels) + " |",
            "|---|---|" + "---:|" * len(labels)]
  for cluster, c_entry in sorted(last["clusters"].items()):
    scores = [_fmt_se(r["clusters"].get(cluster, {}).get("score"),
                      r["clusters"].get(cluster, {}).get("score_stderr"))
              for r in runs]
    lines.append(f"| {cluster} | {STATUS_LABEL[c_entry['status']]} | " +
                 " | ".join(scores) + " |")
  return "\n".join(lines) + "\n"


# --- figures --------------------------------------------------------------------


def _save(fig, path: str) -> str:
  fig.tight_layout()
  png = io.BytesIO()
  fig.savefig(png, format="png", dpi=110)
  plt.close(fig)
  storage.write_atomic(path, png.getvalue())
  return path


def plot_cluster_bars(runs: Sequence[Results], labels: Sequence[str],
                      path: str, *, use_best_dev: bool = False) -> str:
  """Grouped bars: one group per cluster, one bar per run.

  Held-out clusters (by the last run's labels) are named in upper case with
  "(held out)", so the zero-shot numbers stand out from the seen ones.
  """
  key = "best_dev_score" if use_best_dev else "score"
  last = runs[-1]
  clusters = sorted(last["clusters"],
                    key=lambda c: (last["clusters"][c]["status"] != "held_out",
                                   c))
  names = [f"{c.upper()}\n(held out)" if last["clusters"][c]["status"] ==
           "held_out" else c for c in clusters]
  width = 0.8 / len(runs)
  x = np.arange(len(clusters))
  fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(clusters) + 2), 4))
  for i, (run, label) in enumerate(zip(runs, labels)):
    values = [run["clusters"].get(c, {}).get(key) for c in clusters]
    heights = [np.nan if v is None else v for v in values]
    errors = [run["clusters"].get(c, {}).get(f"{key}_stderr")
              for c in clusters]
    bars = ax.bar(x + (i - (len(runs) - 1) / 2) * width, heights, width,
                  label=label,
                  yerr=[np.nan if e is None else e for e in errors],
                  capsize=2, error_kw={"elinewidth": 0.8})
    ax.bar_label(bars, labels=[_fmt(v) for v in values], fontsize=7,
                 padding=1)
  ax.set_xticks(x, names, fontsize=8)
  ax.set_ylabel("best-dev-template score" if use_best_dev else
                "score (mean over templates)")
  ax.set_title("Zero-shot score per task cluster (error bars: 1 stderr;\n"
               "only percent-scale datasets are averaged)", fontsize=9)
  ax.legend(fontsize=8)
  ax.margins(y=0.15)
  return _save(fig, path)


def plot_template_spread(results: Results, path: str) -> str:
  """Per dataset: a dot per template, the mean (bar) and best dev (star)."""
  datasets = sorted(results["datasets"],
                    key=lambda k: (results["datasets"][k]["status"] != "held_out",
                                   k))
  fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(datasets) + 2), 4))
  for i, key in enumerate(datasets):
    d = results["datasets"][key]
    templates = list(d["per_template"])
    scores = [d["per_template"][t][d["metric"]] for t in templates]
    errors = [(d.get("per_template_stderr") or {}).get(t, {}).get(d["metric"])
              for t in templates]
    colour = "tab:red" if d["status"] == "held_out" else "tab:blue"
    ax.bar(i, d["score"], 0.6, color=colour, alpha=0.25)
    ax.errorbar([i] * len(scores), scores,
                yerr=[np.nan if e is None else e for e in errors], fmt="o",
                color=colour, markersize=4, elinewidth=0.8, zorder=3)
    if d.get("best_dev_score") is not None:
      ax.scatter([i], [d["best_dev_score"]], marker="*", s=120, color="black",
                 zorder=4)
  ax.set_xticks(range(len(datasets)),
                [k.split(":", 1)[-1] for k in datasets], rotation=45,
                ha="right", fontsize=8)
  ax.set_ylabel("score")
  ax.set_title("Score of each template (dots, 1 stderr), their mean (bar)\n"
               "and the best-dev template (star); red = held out, blue = seen",
               fontsize=9)
  return _save(fig, path)


def plot_held_out_vs_clusters(runs: Sequence[Results],
                              num_clusters: Sequence[int], path: str, *,
                              labels: Sequence[str] | None = None) -> str:
  """Held-out score against the number of clusters seen in training."""
  order = np.argsort(num_clusters)
  xs = [num_clusters[i] for i in order]
  overall = [runs[i]["summary"]["held_out"]["score"] for i in order]
  overall_se = [runs[i]["summary"]["held_out"].get("score_stderr")
                for i in order]
  fig, ax = plt.subplots(figsize=(5.5, 4))
  held_out = sorted({c for r in runs for c, e in r["clusters"].items()
                     if e["status"] == "held_out"})
  for cluster in held_out:
    ys = [runs[i]["clusters"].get(cluster, {}).get("score") for i in order]
    ax.plot(xs, [np.nan if y is None else y for y in ys], "--", marker="o",
            alpha=0.6, label=cluster)
  ax.errorbar(xs, [np.nan if y is None else y for y in overall],
              yerr=[np.nan if e is None else e for e in overall_se], fmt="-s",
              color="black", linewidth=2, capsize=3, label="held-out average")
  if labels:
    for x, y, i in zip(xs, overall, order):
      if y is not None:
        ax.annotate(labels[i], (x, y), textcoords="offset points",
                    xytext=(0, 6), ha="center", fontsize=7)
  ax.set_xlabel("number of task clusters used for instruction tuning")
  ax.set_ylabel("held-out score (mean over templates)")
  ax.set_title("Zero-shot performance vs. clusters seen in training",
               fontsize=10)
  ax.set_xticks(sorted(set(xs)))
  ax.legend(fontsize=8)
  return _save(fig, path)


def write_report(runs: Sequence[Results], labels: Sequence[str],
                 output_dir: str, *,
                 num_clusters: Sequence[int] | None = None) -> dict[str, str]:
  """Writes report.md and the PNG figures for one or more runs.

  Args:
    runs: results.json contents (e.g. base first, tuned last).
    labels: one short name per run.
    output_dir: where report.md and the figures go.
    num_clusters: for a series of runs, the number of training clusters of
      each; adds the held-out-vs-clusters curve.

  Returns:
    name -> path of every file written.
  """
  if len(runs) != len(labels):
    raise ReportError(f"got {len(runs)} results but {len(labels)} labels: "
                      "give one label per results entry")
  storage.makedirs(output_dir)
  files = {
      "cluster_bars": plot_cluster_bars(
          runs, labels, os.path.join(output_dir, "clusters.png")),
      "template_spread": plot_template_spread(
          runs[-1], os.path.join(output_dir, "templates.png")),
  }
  parts = [f"# Report: {', '.join(labels)}", ""]
  if num_clusters is not None:
    if len(num_clusters) != len(runs):
      raise ReportError(f"got {len(num_clusters)} cluster counts for "
                        f"{len(runs)} runs: give one count per results entry")
    files["held_out_curve"] = plot_held_out_vs_clusters(
        runs, num_clusters, os.path.join(output_dir, "held_out_vs_clusters.png"),
        labels=labels)
    parts += ["## Held-out score vs. number of training clusters", "",
              "![held-out vs clusters](held_out_vs_clusters.png)", ""]
  parts += [
      "## Per cluster", "",
      "Bars give each run's mean score per cluster; HELD OUT clusters were "
      "not in that run's training mixture (zero-shot).", "",
      "![clusters](clusters.png)", "",
      comparison_markdown(runs, labels), "",
      f"## Templates of the last run ({labels[-1]})", "",
      "Each dot is one template; the bar is their mean; the star is the test "
      "score of the template that scored best on validation.", "",
      "![templates](templates.png)", "",
      results_markdown(runs[-1]).replace("# ", "### ", 1),
  ]
  path = os.path.join(output_dir, "report.md")
  storage.write_atomic(path, "\n".join(parts))
  files["markdown"] = path
  return files

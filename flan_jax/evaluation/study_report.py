"""Figures and tables of a study: the paper's plots from results.json files.

A study (`flan_jax.cli.study`) is a series of tuned runs, each evaluated on
the clusters it held out, plus the base model. `write_study_report` draws
the figure of its kind, with the base, and writes report.md:

    loco          per-cluster bars: base and the run that held it out (Fig. 5)
    num_clusters  held-out score against training clusters, 0 = base (Fig. 6)
    templates     held-out score against templates per dataset (Fig. 7's x)
    instructions  bars: base, full, dataset name, dataset name at eval too,
                  no template (Fig. 8)
    prompt_tuning bars: the pretrained base and the instruction-tuned run,
                  zero-shot and prompt-tuned on a few / all of the held-out
                  cluster's training examples (section 4.5, Fig. 10)

Every number is a held-out score: the mean over the held-out clusters of
their `score` (mean over datasets of the mean over templates). Error bars:
with several seeds, the standard deviation of that number over seeds; with
one seed, its standard deviation over templates, where "template j" reads
every held-out dataset with its j-th eval template (how much the number
moves with the wording). The table says which one each row has.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only, no display needed

import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

Results = Mapping[str, Any]
NAME_AT_EVAL = "dataset_name_at_eval"
_INSTRUCTION_BARS = (("full", "full"), ("dataset_name", "dataset name"),
                     (NAME_AT_EVAL, "dataset name\n(eval too)"),
                     ("no_template", "no template"))
TITLES = {
    "loco": "Zero-shot score of each cluster, held out in turn",
    "num_clusters": "Held-out score vs. clusters used for instruction tuning",
    "templates": "Held-out score vs. templates per dataset",
    "instructions": "Held-out score by what the tuning inputs looked like",
    "prompt_tuning": "Prompt tuning on the held-out cluster: pretrained base "
                     "vs. instruction tuned",
}
_PROMPT_MODELS = (("base", "pretrained base"),
                  ("tuned", "instruction tuned (cluster held out)"))


@dataclasses.dataclass(frozen=True)
class StudyPoint:
  """One tuned run: what it varies, its seed, what it held out, results."""
  value: str | int
  seed: int
  held_out: tuple[str, ...]
  results: Results
  extra: Mapping[str, Results] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Score:
  """A held-out score with its error bar and what the bar measures."""
  mean: float | None
  error: float | None
  spread_over: str  # "seeds" or "templates"
  per_seed: tuple[float, ...] = ()

  def text(self) -> str:
    if self.mean is None:
      return "-"
    error = "" if self.error is None else f" ± {self.error:.1f}"
    return f"{self.mean:.1f}{error}"


def _fmt(value: float | None) -> str:
  return "-" if value is None else f"{value:.1f}"


def _template_scores(results: Results, clusters: Sequence[str]
                     ) -> list[float]:
  """Held-out score when every dataset is read with its j-th template."""
  datasets = [results["datasets"][d] for c in clusters
              for d in results["clusters"].get(c, {}).get("datasets", [])]
  if not datasets:
    return []
  per_dataset = []
  for d in datasets:
    order = sorted(d["per_template"], key=lambda t: (not t.isdigit(),
                                                     int(t) if t.isdigit()
                                                     else 0, t))
    per_dataset.append([d["per_template"][t][d["metric"]] for t in order])
  count = min(len(p) for p in per_dataset)
  return [float(np.mean([p[j] for p in per_dataset])) for j in range(count)]


def held_out_score(results: Results, clusters: Sequence[str]) -> float | None:
  """Mean over `clusters` of their score in `results` (None if absent)."""
  scores = [results["clusters"][c]["score"] for c in clusters
            if c in results["clusters"] and
            results["clusters"][c]["score"] is not None]
  return float(np.mean(scores)) if scores and len(scores) == len(
      clusters) else None


def score_of(runs: Sequence[Results], clusters: Sequence[str]) -> Score:
  """The held-out score of runs that differ only in their seed."""
  values = [held_out_score(r, clusters) for r in runs]
  values = [v for v in values if v is not None]
  if not values:
    return Score(None, None, "seeds")
  if len(values) > 1:
    return Score(float(np.mean(values)), float(np.std(values, ddof=1)),
                 "seeds", tuple(values))
  spread = _template_scores(runs[0], clusters)
  return Score(values[0], float(np.std(spread, ddof=1)) if len(spread) > 1
               else None, "templates", tuple(values))


def _base_results(base: Sequence[Results], clusters: Sequence[str]
                  ) -> Results | None:
  for results in base:
    if all(c in results["clusters"] for c in clusters):
      return results
  return None


def base_score(base: Sequence[Results], clusters: Sequence[str]) -> Score:
  results = _base_results(base, clusters)
  return (Score(None, None, "templates") if results is None
          else score_of([results], clusters))


def _grouped(points: Sequence[StudyPoint]) -> dict[Any, list[StudyPoint]]:
  groups: dict[Any, list[StudyPoint]] = {}
  for point in points:
    groups.setdefault((point.value, point.held_out), []).append(point)
  return groups


# --- figures ------------------------------------------------------------------


def _errorbar_args(scores: Sequence[Score]):
  heights = [np.nan if s.mean is None else s.mean for s in scores]
  errors = [0.0 if s.error is None else s.error for s in scores]
  return heights, errors


def _save(fig, path: str) -> str:
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def _bars(groups: Sequence[str], series: Mapping[str, Sequence[Score]],
          title: str, path: str) -> str:
  """Grouped bars with error bars: one group per entry of `groups`."""
  x = np.arange(len(groups))
  width = 0.8 / len(series)
  fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(groups) + 2.5), 4))
  for i, (label, scores) in enumerate(series.items()):
    heights, errors = _errorbar_args(scores)
    bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, heights, width,
                  yerr=errors, capsize=3, label=label)
    ax.bar_label(bars, labels=[s.text().split(" ")[0] for s in scores],
                 fontsize=7, padding=2)
  ax.set_xticks(x, groups, fontsize=8)
  ax.set_ylabel("held-out score (mean over templates)")
  ax.set_title(title, fontsize=10)
  ax.legend(fontsize=8)
  ax.margins(y=0.15)
  return _save(fig, path)


def _curve(xs: Sequence[int], scores: Sequence[Score], base: Score,
           xlabel: str, title: str, path: str, *, base_at_zero: bool) -> str:
  fig, ax = plt.subplots(figsize=(5.5, 4))
  heights, errors = _errorbar_args(scores)
  if base_at_zero:
    heights, errors = [_errorbar_args([base])[0][0], *heights], [
        _errorbar_args([base])[1][0], *errors]
    xs = [0, *xs]
  ax.errorbar(xs, heights, yerr=errors, marker="o", capsize=3,
              color="black", label="instruction tuned")
  if base.mean is not None:
    ax.axhline(base.mean, linestyle="--", color="tab:gray",
               label=f"base (untuned): {base.mean:.1f}")
  for x, y in zip(xs, heights):
    if not np.isnan(y):
      ax.annotate(f"{y:.1f}", (x, y), textcoords="offset points",
                  xytext=(0, 7), ha="center", fontsize=7)
  ax.set_xticks(list(xs))
  ax.set_xlabel(xlabel)
  ax.set_ylabel("held-out score (mean over templates)")
  ax.set_title(title, fontsize=10)
  ax.legend(fontsize=8)
  return _save(fig, path)


# --- the report -----------------------------------------------------------------


def _rows(labels: Sequence[str], scores: Sequence[Score]) -> list[str]:
  rows = ["| run | held-out score | error bar over | per seed |",
          "|---|---:|---|---|"]
  for label, score in zip(labels, scores):
    seeds = ", ".join(f"{v:.1f}" for v in score.per_seed) or "-"
    rows.append(f"| {label} | {score.text()} | {score.spread_over} | "
                f"{seeds} |")
  return rows


def _study_loco(points, base, output_dir):
  groups = _grouped(points)
  clusters = [held[0] for (_, held) in groups]
  tuned = [score_of([p.results for p in ps], held)
           for (_, held), ps in groups.items()]
  bases = [base_score(base, (c,)) for c in clusters]
  path = _bars(clusters, {"base (untuned)": bases,
                          "tuned, cluster held out": tuned},
               TITLES["loco"], os.path.join(output_dir, "loco.png"))
  labels = [f"{c}: base" for c in clusters] + [f"{c}: tuned without it"
                                               for c in clusters]
  return path, _rows(labels, bases + tuned)


def _study_curve(kind, points, base, output_dir):
  groups = _grouped(points)
  held = points[0].held_out
  xs = [int(value) for (value, _) in groups]
  scores = [score_of([p.results for p in ps], h)
            for (_, h), ps in groups.items()]
  b = base_score(base, held)
  xlabel = ("number of task clusters used for instruction tuning"
            if kind == "num_clusters" else "templates per dataset in tuning")
  path = _curve(xs, scores, b, xlabel, f"{TITLES[kind]}\n(held out: "
                f"{', '.join(held)})", os.path.join(output_dir,
                                                    f"{kind}.png"),
                base_at_zero=kind == "num_clusters")
  unit = "clusters" if kind == "num_clusters" else "templates"
  return path, _rows(["base (untuned)"] + [f"{x} {unit}" for x in xs],
                     [b] + scores)


def _study_instructions(points, base, output_dir):
  held_outs = list(dict.fromkeys(p.held_out for p in points))
  series: dict[str, list[Score]] = {"base (untuned)": []}
  for _, label in _INSTRUCTION_BARS:
    series[label.replace("\n", " ")] = []
  for held in held_outs:
    series["base (untuned)"].append(base_score(base, held))
    mine = [p for p in points if p.held_out == held]
    for mode, label in _INSTRUCTION_BARS:
      if mode == NAME_AT_EVAL:
        runs = [p.extra[NAME_AT_EVAL] for p in mine
                if p.value == "dataset_name" and NAME_AT_EVAL in p.extra]
      else:
        runs = [p.results for p in mine if p.value == mode]
      series[label.replace("\n", " ")].append(score_of(runs, held))
  groups = [", ".join(h) for h in held_outs]
  path = _bars(groups, series, TITLES["instructions"],
               os.path.join(output_dir, "instructions.png"))
  labels, scores = [], []
  for label, values in series.items():
    for group, score in zip(groups, values):
      labels.append(f"{label} ({group})")
      scores.append(score)
  return path, _rows(labels, scores)


def _setting_label(setting: str) -> str:
  if setting == "zero_shot":
    return "zero-shot (no prompt tuning)"
  if setting == "full":
    return "prompt tuned, full training sets"
  return f"prompt tuned, {setting.removeprefix('first')} examples per dataset"


def _study_prompt_tuning(points, base, output_dir):
  """Fig. 10's shape: per setting, the base's bar and the tuned run's.

  A point's value is "<model>:<setting>" (model base or tuned; setting
  zero_shot, first<n> or full); the base's zero-shot bar is the base's own
  evaluation.
  """
  held_outs = list(dict.fromkeys(p.held_out for p in points))
  settings = list(dict.fromkeys(
      ["zero_shot", *(str(p.value).split(":")[1] for p in points)]))
  series: dict[str, list[Score]] = {label: [] for _, label in _PROMPT_MODELS}
  groups, labels, scores = [], [], []
  for held in held_outs:
    for setting in settings:
      groups.append(_setting_label(setting).replace(", ", ",\n") +
                    (f"\n({', '.join(held)})" if len(held_outs) > 1 else ""))
      for model, label in _PROMPT_MODELS:
        if model == "base" and setting == "zero_shot":
          score = base_score(base, held)
        else:
          score = score_of([p.results for p in points if p.held_out == held
                            and p.value == f"{model}:{setting}"], held)
        series[label].append(score)
        labels.append(f"{label}, {_setting_label(setting)} "
                      f"({', '.join(held)})")
        scores.append(score)
  path = _bars(groups, series, TITLES["prompt_tuning"],
               os.path.join(output_dir, "prompt_tuning.png"))
  return path, _rows(labels, scores)


def write_study_report(kind: str, points: Sequence[StudyPoint],
                       base: Sequence[Results], output_dir: str, *,
                       collection: str = "") -> dict[str, str]:
  """Writes the study's figure and report.md; returns name -> path.

  Args:
    kind: "loco", "num_clusters", "templates", "instructions" or
      "prompt_tuning".
    points: every tuned run, with its held-out results.
    base: the base model's results on the eval mixtures the runs used.
    output_dir: where the figure and report.md go.
  """
  if not points:
    raise ValueError("a study report needs at least one run")
  os.makedirs(output_dir, exist_ok=True)
  if kind == "loco":
    figure, rows = _study_loco(points, base, output_dir)
  elif kind in ("num_clusters", "templates"):
    figure, rows = _study_curve(kind, points, base, output_dir)
  elif kind == "instructions":
    figure, rows = _study_instructions(points, base, output_dir)
  elif kind == "prompt_tuning":
    figure, rows = _study_prompt_tuning(points, base, output_dir)
  else:
    raise ValueError(f"unknown study kind '{kind}'")
  seeds = sorted({p.seed for p in points})
  lines = [f"# Study: {kind}" + (f" on {collection}" if collection else ""),
           "", f"{TITLES[kind]}. {len(points)} tuned runs (seeds "
           f"{', '.join(map(str, seeds))}); scores are the mean over the "
           "held-out clusters of their mean over datasets and templates. "
           "Error bars: standard deviation over seeds when there are "
           "several, else over templates (see each row).", "",
           f"![{kind}]({os.path.basename(figure)})", "", *rows, ""]
  per_run = ["## Every run", "", "| run | seed | held out | held-out score |",
             "|---|---:|---|---:|"]
  for p in points:
    per_run.append(f"| {p.value} | {p.seed} | {', '.join(p.held_out)} | "
                   f"{_fmt(held_out_score(p.results, p.held_out))} |")
  path = os.path.join(output_dir, "report.md")
  with open(path, "w") as f:
    f.write("\n".join(lines + per_run) + "\n")
  return {"figure": figure, "markdown": path}

"""Readable tables from results.json files."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

STATUS_LABEL = {"seen": "seen", "held_out": "HELD OUT", "mixed": "mixed",
                None: "-"}


def _fmt(value: float | None) -> str:
  return "-" if value is None else f"{value:.1f}"


def results_markdown(results: Mapping[str, Any]) -> str:
  """One run: a row per dataset (mean over templates) and per cluster."""
  lines = [
      f"# Zero-shot results: step {results['step']}, "
      f"{results['eval_mixture']} ({results['split']} split)", "",
      f"Checkpoint: `{results['checkpoint']}`  ",
      f"Training mixture: `{results.get('training_mixture') or 'unknown'}`",
      "", "| cluster | dataset | status | metric | mean over templates | "
      "templates (min-max) |", "|---|---|---|---|---:|---|"
  ]
  datasets = results["datasets"]
  for cluster, c_entry in sorted(results["clusters"].items()):
    for key in sorted(c_entry["datasets"]):
      d = datasets[key]
      per = [t[d["metric"]] for t in d["per_template"].values()]
      lines.append(
          f"| {cluster} | {key} | {STATUS_LABEL[d['status']]} | {d['metric']} "
          f"| {_fmt(d['score'])} | {len(per)} ({_fmt(min(per))}-"
          f"{_fmt(max(per))}) |")
  lines += ["", "| cluster | status | mean over datasets |", "|---|---|---:|"]
  for cluster, c_entry in sorted(results["clusters"].items()):
    lines.append(f"| {cluster} | {STATUS_LABEL[c_entry['status']]} | "
                 f"{_fmt(c_entry['score'])} |")
  return "\n".join(lines) + "\n"


def comparison_markdown(runs: Sequence[Mapping[str, Any]],
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
      scores = [_fmt(r["datasets"].get(key, {}).get("score")) for r in runs]
      lines.append(f"| {cluster} | {key} | {STATUS_LABEL[d['status']]} | "
                   f"{d['metric']} | " + " | ".join(scores) + " |")
  lines += ["", "| cluster | status | " + " | ".join(labels) + " |",
            "|---|---|" + "---:|" * len(labels)]
  for cluster, c_entry in sorted(last["clusters"].items()):
    scores = [_fmt(r["clusters"].get(cluster, {}).get("score")) for r in runs]
    lines.append(f"| {cluster} | {STATUS_LABEL[c_entry['status']]} | " +
                 " | ".join(scores) + " |")
  return "\n".join(lines) + "\n"

"""Report generation: markdown tables and PNG figures from results.json."""

import json
import os
import subprocess
import sys

import pytest

from flan_jax.evaluation import aggregation
from flan_jax.evaluation import reports

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CLUSTERS = {"a": ["nli"], "b": ["nli"], "c": ["qa"]}


def _results(scores, held_out=("a", "b"), step=100):
  """A results dict built the way the eval job builds it."""
  tasks = {f"{d}/{t}": {"metrics": {"accuracy": s, "accuracy_char_norm": s / 2},
                        "metrics_stderr": {"accuracy": 3.0,
                                           "accuracy_char_norm": 2.0},
                        "metrics_examples": 200,
                        "selection_metrics": {"accuracy": s + t}}
           for d, per in scores.items() for t, s in enumerate(per)}
  out = aggregation.aggregate(
      tasks, describe=lambda n: tuple(n.split("/")),
      clusters_of=lambda k: CLUSTERS[k],
      seen_datasets={d for d in scores if d not in held_out})
  return {"checkpoint": "/run/checkpoints/100", "step": step,
          "eval_mixture": "x:eval:all", "training_mixture": "x:train:no_nli",
          "split": "test", "few_shot": 0, **out}


BASE = _results({"a": [30.0, 40.0], "b": [50.0, 52.0], "c": [10.0]}, step=0)
TUNED = _results({"a": [60.0, 70.0], "b": [65.0, 61.0], "c": [80.0]})


def _png(path):
  with open(path, "rb") as f:
    return f.read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(path) > 5000


def test_markdown_tables_say_what_a_reader_needs():
  text = reports.results_markdown(TUNED)
  assert ("| nli | a | HELD OUT | accuracy | 200 | 65.0 ± 3.0 | 70.0 ± 3.0 "
          "(t1) | 2 (60.0-70.0) |") in text
  # best dev: a -> t1 (dev 71) = 70, b -> t0 (dev 65 > 62) = 65; two
  # independent datasets of stderr 3: sqrt(18) / 2 = 2.1.
  assert "| nli | HELD OUT | 64.0 ± 2.1 | 67.5 ± 2.1 | - |" in text
  assert "| a | 65.0 | 32.5 |" in text  # the normalisation table
  table = reports.comparison_markdown([BASE, TUNED], ["base", "tuned"])
  assert "| nli | HELD OUT | 43.0 ± 2.1 | 64.0 ± 2.1 |" in table


def test_lower_is_better_datasets_are_listed_beside_the_mean():
  tasks = {"a/0": {"metrics": {"accuracy": 60.0}},
           "fix/0": {"metrics": {"edit_distance": 3.5, "accuracy": 10.0},
                     "metrics_stderr": {"edit_distance": 0.5}}}
  out = aggregation.aggregate(tasks, describe=lambda n: tuple(n.split("/")),
                              clusters_of=lambda k: ["mixed_bag"],
                              seen_datasets=None)
  text = reports.results_markdown({**TUNED, **out})
  assert "| mixed_bag | fix | - | edit_distance (lower is better) |" in text
  assert ("| mixed_bag | - | 60.0 | - | edit_distance 3.5 ± 0.5 (characters,"
          " lower is better; 1 datasets) |") in text


def test_write_report_produces_markdown_and_figures(tmp_path):
  files = reports.write_report([BASE, TUNED], ["base", "tuned"], str(tmp_path))
  assert set(files) == {"cluster_bars", "template_spread", "markdown"}
  assert _png(files["cluster_bars"]) and _png(files["template_spread"])
  text = open(files["markdown"]).read()
  assert "![clusters](clusters.png)" in text and "| nli | HELD OUT |" in text


def test_series_adds_the_held_out_vs_clusters_curve(tmp_path):
  series = [_results({"a": [40.0 + 5 * n], "b": [45.0 + 4 * n],
                      "c": [50.0]}) for n in range(3)]
  files = reports.write_report(series, ["1", "2", "3"], str(tmp_path),
                               num_clusters=[1, 2, 3])
  assert _png(files["held_out_curve"])
  with pytest.raises(ValueError, match="2 cluster counts for 3 runs"):
    reports.write_report(series, ["1", "2", "3"], str(tmp_path),
                         num_clusters=[1, 2])


def test_report_script(tmp_path):
  for name, run in (("base", BASE), ("tuned", TUNED)):
    (tmp_path / name).mkdir()
    (tmp_path / name / "results.json").write_text(json.dumps(run))
  out = tmp_path / "report"
  done = subprocess.run(
      [sys.executable, os.path.join(ROOT, "scripts", "report.py"),
       f"--results={tmp_path / 'base'},{tmp_path / 'tuned'}",
       f"--output_dir={out}"], capture_output=True, text=True, check=False,
      env={**os.environ, "PYTHONPATH": ROOT})
  assert done.returncode == 0, done.stderr
  assert "| nli | HELD OUT | 43.0 ± 2.1 | 64.0 ± 2.1 |" in done.stdout
  assert _png(out / "clusters.png")
  missing = subprocess.run(
      [sys.executable, os.path.join(ROOT, "scripts", "report.py"),
       f"--results={tmp_path / 'nothing'}", f"--output_dir={out}"],
      capture_output=True, text=True, check=False,
      env={**os.environ, "PYTHONPATH": ROOT})
  assert missing.returncode == 1
  assert "nothing does not exist" in missing.stderr

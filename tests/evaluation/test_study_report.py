"""Study figures and tables from results.json-shaped dicts."""

import numpy as np
import pytest

from flan_jax.evaluation import study_report


def _results(scores_by_cluster):
  """results.json with one dataset per cluster; scores are per template."""
  datasets, clusters = {}, {}
  for cluster, per_template in scores_by_cluster.items():
    key = f"t:{cluster}_data"
    datasets[key] = {"metric": "accuracy", "score": float(np.mean(
        per_template)), "per_template": {
            str(i): {"accuracy": s} for i, s in enumerate(per_template)}}
    clusters[cluster] = {"datasets": [key], "score": datasets[key]["score"]}
  return {"datasets": datasets, "clusters": clusters}


def test_error_bars_are_over_seeds_or_else_over_templates():
  one = study_report.score_of([_results({"a": [40.0, 60.0, 50.0]})], ["a"])
  assert one.mean == 50.0 and one.spread_over == "templates"
  assert one.error == pytest.approx(np.std([40, 60, 50], ddof=1))
  seeds = study_report.score_of([_results({"a": [50.0]}),
                                 _results({"a": [70.0]})], ["a"])
  assert seeds.mean == 60.0 and seeds.spread_over == "seeds"
  assert seeds.error == pytest.approx(np.std([50, 70], ddof=1))
  assert seeds.text() == f"60.0 ± {np.std([50, 70], ddof=1):.1f}"


def test_each_kind_of_study_writes_its_figure(tmp_path):
  base = [_results({"a": [50.0, 50.0], "b": [10.0, 20.0]})]
  point = lambda value, held, scores, seed=0, **kw: study_report.StudyPoint(
      value, seed, held, _results(scores), **kw)
  studies = {
      "loco": [point("a", ("a",), {"a": [60.0, 70.0]}),
               point("b", ("b",), {"b": [30.0, 30.0]})],
      "num_clusters": [point(1, ("a",), {"a": [55.0, 55.0]}),
                       point(2, ("a",), {"a": [65.0, 75.0]})],
      "instructions": [
          point("full", ("a",), {"a": [80.0, 80.0]}),
          point("dataset_name", ("a",), {"a": [60.0, 60.0]}, extra={
              study_report.NAME_AT_EVAL: _results({"a": [58.0, 58.0]})}),
          point("no_template", ("a",), {"a": [40.0, 44.0]})],
      "prompt_tuning": [
          point("tuned:zero_shot", ("a",), {"a": [55.0, 55.0]}),
          point("base:first32", ("a",), {"a": [52.0, 52.0]}),
          point("base:full", ("a",), {"a": [70.0, 70.0]}),
          point("tuned:first32", ("a",), {"a": [66.0, 66.0]}, seed=0),
          point("tuned:first32", ("a",), {"a": [68.0, 68.0]}, seed=1),
          point("tuned:full", ("a",), {"a": [80.0, 80.0]})],
  }
  for kind, points in studies.items():
    files = study_report.write_study_report(kind, points, base,
                                            str(tmp_path / kind))
    report = open(files["markdown"]).read()
    assert open(files["figure"], "rb").read(4) == b"\x89PNG"
    assert f"![{kind}]({kind}.png)" in report
  loco = open(tmp_path / "loco" / "report.md").read()
  assert "| a: base | 50.0 ± 0.0 |" in loco
  assert "| a: tuned without it | 65.0 ± 7.1 |" in loco
  assert "| 2 clusters | 70.0 ± 7.1 |" in open(
      tmp_path / "num_clusters" / "report.md").read()
  instructions = open(tmp_path / "instructions" / "report.md").read()
  assert "| dataset name (eval too) (a) | 58.0 ± 0.0 |" in instructions
  prompt = open(tmp_path / "prompt_tuning" / "report.md").read()
  assert ("| pretrained base, zero-shot (no prompt tuning) (a) | 50.0 ± 0.0 |"
          in prompt)
  assert ("| instruction tuned (cluster held out), prompt tuned, 32 examples "
          "per dataset (a) | 67.0 ± 1.4 | seeds | 66.0, 68.0 |") in prompt
  assert "| pretrained base, prompt tuned, full training sets (a) | 70.0" \
      in prompt

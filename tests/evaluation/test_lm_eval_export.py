"""results_lm_eval.json reads with lm-evaluation-harness's own helpers."""

import json

import pytest
from lm_eval import result_schema
from lm_eval import utils as lm_eval_utils

from flan_jax.evaluation import aggregation
from flan_jax.evaluation import lm_eval_export
from flan_jax.evaluation import outputs

TASKS = {
    "toy:a:t0:score": {"metrics": {"accuracy": 60.0, "accuracy_char_norm": 50.0},
                       "metrics_stderr": {"accuracy": 4.0,
                                          "accuracy_char_norm": 5.0},
                       "metrics_examples": 150},
    "toy:a:t1:score": {"metrics": {"accuracy": 70.0, "accuracy_char_norm": 40.0},
                       "metrics_stderr": {"accuracy": 2.0,
                                          "accuracy_char_norm": 3.0},
                       "metrics_examples": 150},
    "toy:fix:t0:gen": {"metrics": {"edit_distance": 3.5, "accuracy": 10.0},
                       "metrics_stderr": {"edit_distance": 0.5,
                                          "accuracy": 2.5},
                       "metrics_examples": 150},
}


@pytest.fixture(name="results")
def _results():
  out = aggregation.aggregate(
      TASKS, describe=lambda n: (":".join(n.split(":")[:2]), n[-7]),
      clusters_of=lambda key: ["mood"], seen_datasets={"toy:a"})
  config = {"checkpoint": "/run/checkpoints/7", "split": "test",
            "few_shot": {"k": 0, "seed": 0}, "max_examples": None,
            "stderr": {"bootstrap_samples": 1000, "bootstrap_seed": 0}}
  return {"config": config, "step": 7, "split": "test",
          "checkpoint": config["checkpoint"], "eval_mixture": "toy:eval:all",
          **out}


def test_export_uses_the_harness_names_scale_and_keys(results, tmp_path):
  exported = lm_eval_export.to_lm_eval(results)
  assert set(exported) <= set(result_schema.EvalResults.__annotations__)
  task = exported["results"]["toy:a:t0:score"]
  assert task["acc,none"] == pytest.approx(0.60)
  assert task["acc_stderr,none"] == pytest.approx(0.04)
  assert task["acc_norm,none"] == pytest.approx(0.50)
  assert task["sample_len"] == 150
  fix = exported["results"]["toy:fix:t0:gen"]
  assert fix["edit_distance,none"] == pytest.approx(3.5)  # characters
  assert exported["higher_is_better"]["toy:fix:t0:gen"] == {
      "edit_distance": False, "acc": True}
  dataset = exported["groups"]["toy:a"]
  assert dataset["acc,none"] == pytest.approx(0.65)
  assert dataset["acc_stderr,none"] == pytest.approx(0.03)
  assert exported["group_subtasks"]["toy:a"] == ["toy:a:t0:score",
                                                 "toy:a:t1:score"]
  assert exported["group_subtasks"]["mood"] == ["toy:a", "toy:fix"]
  # The cluster averages only toy:a (toy:fix is edit distance).
  assert exported["groups"]["mood"]["score,none"] == pytest.approx(0.65)
  assert exported["n-shot"]["toy:a:t0:score"] == 0
  assert exported["n-samples"]["toy:a:t0:score"]["effective"] == 150
  assert exported["configs"]["toy:a:t0:score"]["output_type"] == (
      "multiple_choice")

  outputs.write_results(results, str(tmp_path))
  path = str(tmp_path / lm_eval_export.FILE)
  assert lm_eval_utils.get_results_filenames([path]) == [path]
  with open(path) as f:
    loaded = json.load(f)
  table = lm_eval_utils.make_table(loaded)
  row = [c.strip() for c in next(
      line for line in table.splitlines() if "toy:a:t0:score" in line
  ).split("|")]
  assert row[5:10] == ["acc", "↑", "0.60", "±", "0.040"]
  groups = lm_eval_utils.make_table(loaded, "groups")
  row = [c.strip() for c in next(
      line for line in groups.splitlines() if line.startswith("|mood")
  ).split("|")]
  assert row[5] == "score" and float(row[7]) == pytest.approx(0.65)

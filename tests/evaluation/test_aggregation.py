"""FLAN aggregation on synthetic results: templates, best dev template, clusters."""

import pytest

from flan_jax.evaluation import aggregation

CLUSTERS = {"ds_a": ["nli"], "ds_b": ["nli"], "ds_c": ["qa"], "ds_d": []}


def _task(test, dev=None):
  return {"metrics": test, "selection_metrics": dev}


def _aggregate(task_results, seen=frozenset({"ds_c"})):
  return aggregation.aggregate(
      task_results,
      describe=lambda name: tuple(name.split("/")),
      clusters_of=lambda key: CLUSTERS[key],
      seen_datasets=None if seen is None else set(seen))


RESULTS = {
    # ds_a: template 1 is best on dev (80) but worst on test (40): the best
    # dev template number is 40, not the test-best 70.
    "ds_a/0": _task({"accuracy": 70.0, "f1": 1.0}, {"accuracy": 60.0}),
    "ds_a/1": _task({"accuracy": 40.0, "f1": 3.0}, {"accuracy": 80.0}),
    "ds_a/2": _task({"accuracy": 55.0, "f1": 5.0}, {"accuracy": 50.0}),
    "ds_b/0": _task({"accuracy": 20.0}, {"accuracy": 10.0}),
    "ds_b/1": _task({"accuracy": 30.0}, {"accuracy": 10.0}),  # tie: t0 wins
    "ds_c/0": _task({"bleu": 12.0}, {"bleu": 1.0}),
    "ds_d/0": _task({"edit_distance": 4.0}, {"edit_distance": 2.0}),
    "ds_d/1": _task({"edit_distance": 1.0}, {"edit_distance": 3.0}),
}


def test_mean_over_templates_and_best_dev_template():
  datasets = _aggregate(RESULTS)["datasets"]
  a = datasets["ds_a"]
  assert a["metric"] == "accuracy"
  assert a["score"] == pytest.approx(55.0)
  assert a["mean_over_templates"]["f1"] == pytest.approx(3.0)
  assert (a["best_dev_template"], a["best_dev_score"]) == ("1", 40.0)
  assert (datasets["ds_b"]["best_dev_template"],
          datasets["ds_b"]["best_dev_score"]) == ("0", 20.0)
  # Lower is better for edit distance: dev 2.0 (template 0) is the best.
  assert (datasets["ds_d"]["best_dev_template"],
          datasets["ds_d"]["best_dev_score"]) == ("0", 4.0)


def test_clusters_average_their_datasets_and_carry_status():
  out = _aggregate(RESULTS)
  nli = out["clusters"]["nli"]
  assert nli["datasets"] == ["ds_a", "ds_b"]
  assert nli["score"] == pytest.approx((55.0 + 25.0) / 2)
  assert nli["best_dev_score"] == pytest.approx((40.0 + 20.0) / 2)
  assert nli["status"] == "held_out"
  assert out["clusters"]["qa"]["status"] == "seen"
  assert out["clusters"][aggregation.NO_CLUSTER]["datasets"] == ["ds_d"]
  assert out["datasets"]["ds_c"]["status"] == "seen"
  summary = out["summary"]
  # ds_d's edit distance (lower is better, characters) is not averaged with
  # the accuracies: it is reported beside them.
  assert summary["held_out"]["datasets"] == 2
  assert summary["held_out"]["score"] == pytest.approx((55 + 25) / 2)
  beside = summary["held_out"]["other_metrics"]["edit_distance"]
  assert beside["datasets"] == ["ds_d"]
  assert beside["score"] == pytest.approx(2.5)
  assert "lower is better" in beside["scale"]
  assert summary["seen"]["score"] == pytest.approx(12.0)


def test_a_lower_is_better_cluster_has_no_percent_mean():
  out = _aggregate(RESULTS)
  d = out["clusters"][aggregation.NO_CLUSTER]
  assert d["score"] is None and d["averaged"] == []
  assert d["other_metrics"]["edit_distance"]["score"] == pytest.approx(2.5)
  assert d["other_metrics"]["edit_distance"]["best_dev_score"] == 4.0
  assert out["datasets"]["ds_d"]["higher_is_better"] is False
  assert out["datasets"]["ds_a"]["scale"] == "percent"


def _with_stderr(test, se, n, dev=None):
  return {"metrics": test, "metrics_stderr": se, "metrics_examples": n,
          "selection_metrics": dev}


def test_stderrs_and_counts_travel_to_datasets_clusters_and_summary():
  results = {
      "ds_a/0": _with_stderr({"accuracy": 70.0}, {"accuracy": 3.0}, 200,
                             {"accuracy": 60.0}),
      "ds_a/1": _with_stderr({"accuracy": 40.0}, {"accuracy": 5.0}, 200,
                             {"accuracy": 80.0}),
      "ds_b/0": _with_stderr({"accuracy": 20.0}, {"accuracy": 4.0}, 100,
                             {"accuracy": 10.0}),
  }
  out = _aggregate(results)
  a = out["datasets"]["ds_a"]
  assert out["tasks"]["ds_a/0"]["stderr"] == {"accuracy": 3.0}
  assert out["tasks"]["ds_a/0"]["n"] == 200
  assert a["n"] == 200
  # Templates share their examples: the mean of their stderrs (a bound).
  assert a["score_stderr"] == pytest.approx(4.0)
  assert a["mean_over_templates_stderr"]["accuracy"] == pytest.approx(4.0)
  assert a["best_dev_score_stderr"] == 5.0  # template 1's
  nli = out["clusters"]["nli"]
  # Datasets are independent: sqrt(4^2 + 4^2) / 2.
  assert nli["score_stderr"] == pytest.approx(32 ** 0.5 / 2)
  assert nli["best_dev_score_stderr"] == pytest.approx(41 ** 0.5 / 2)
  assert nli["n"] == 300
  assert out["summary"]["held_out"]["score_stderr"] == pytest.approx(
      32 ** 0.5 / 2)


def test_template_groups_get_their_own_scores():
  out = aggregation.aggregate(
      {k: v for k, v in RESULTS.items() if k.startswith("ds_a")},
      describe=lambda name: tuple(name.split("/")),
      clusters_of=lambda key: CLUSTERS[key], seen_datasets=None,
      template_groups_of=lambda key: {"even": [0, 2], "odd": [1]})
  groups = out["datasets"]["ds_a"]["template_groups"]
  assert groups["even"]["score"] == pytest.approx((70 + 55) / 2)
  assert groups["even"]["templates"] == ["0", "2"]
  assert groups["even"]["best_dev_template"] == "0"  # dev 60 beats 50
  assert groups["odd"]["score"] == 40.0


def test_mixed_cluster_and_unknown_training_mixture():
  out = _aggregate(RESULTS, seen={"ds_a"})
  assert out["clusters"]["nli"]["status"] == "mixed"
  out = _aggregate(RESULTS, seen=None)
  assert out["datasets"]["ds_a"]["status"] is None


def test_without_selection_split_there_is_no_best_dev_number():
  results = {k: _task(v["metrics"]) for k, v in RESULTS.items()}
  out = _aggregate(results)
  assert out["datasets"]["ds_a"]["best_dev_template"] is None
  assert out["clusters"]["nli"]["best_dev_score"] is None
  assert out["datasets"]["ds_a"]["score"] == pytest.approx(55.0)

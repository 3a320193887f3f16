"""A tiny train + zero-shot eval run, and the aggregation of its results."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import toy_training
from flan_jax.checkpoints import loading
from flan_jax.evaluation import job
from flan_jax.evaluation import reports


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory):
  model_dir = str(tmp_path_factory.mktemp("tuned"))
  result = toy_training.run(model_dir, steps=150, batch_size=16,
                            mixture="toy:train:no_copy", learning_rate=1e-2)
  return model_dir, result


@pytest.fixture(scope="module")
def results(tuned_run):
  model_dir, _ = tuned_run
  return job.evaluate(
      model=toy_training.tiny_model(), checkpoint=model_dir,
      mixture_or_task_name="toy:eval:all",
      output_dir=os.path.join(model_dir, "eval"),
      training_mixture="toy:train:no_copy", batch_size=32,
      selection_split=None)


def test_results_cover_every_task_template_dataset_and_cluster(results,
                                                               tuned_run):
  model_dir, train_result = tuned_run
  assert results["step"] == train_result.final_step == 150
  assert set(results["tasks"]) == {
      "toy:polarity:t0:score", "toy:polarity:t1:score", "toy:choice:t0:score",
      "toy:choice:t1:score", "toy:echo:t0:gen", "toy:echo:t1:gen",
      "toy:shout:t0:gen", "toy:shout:t1:gen"}
  datasets = results["datasets"]
  assert datasets["toy:polarity"]["status"] == "seen"
  assert datasets["toy:echo"]["status"] == "held_out"
  assert results["clusters"]["mood"]["status"] == "seen"
  assert results["clusters"]["copy"]["status"] == "held_out"
  polarity = datasets["toy:polarity"]
  assert set(polarity["per_template"]) == {"0", "1"}
  assert polarity["score"] == pytest.approx(
      (polarity["per_template"]["0"]["accuracy"] +
       polarity["per_template"]["1"]["accuracy"]) / 2)
  with open(os.path.join(model_dir, "eval", "results.json")) as f:
    assert json.load(f)["datasets"].keys() == datasets.keys()
  with open(os.path.join(model_dir, "eval", "results.md")) as f:
    assert "| mood | toy:polarity | seen | accuracy |" in f.read()


def test_tuning_learns_the_seen_classification_datasets(results):
  # Two-way polarity and three-way choice: chance is 50 and 33.
  assert results["datasets"]["toy:polarity"]["score"] >= 90
  assert results["datasets"]["toy:choice"]["score"] >= 70


def test_base_versus_tuned_comparison_table(results, tuned_run, tmp_path):
  model_dir, _ = tuned_run
  base = job.evaluate(
      model=toy_training.tiny_model(), checkpoint=model_dir, step=0,
      mixture_or_task_name="toy:eval:mood", output_dir=str(tmp_path),
      training_mixture="toy:train:no_copy", batch_size=32,
      selection_split=None)
  table = reports.comparison_markdown([base, results], ["base", "tuned"])
  assert "| mood | toy:polarity | seen | accuracy |" in table
  assert base["datasets"]["toy:polarity"]["score"] < results["datasets"][
      "toy:polarity"]["score"]


def test_missing_checkpoint_is_a_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError, match="does not exist"):
    loading.resolve_checkpoint(str(tmp_path / "nowhere"))


def _scalars(directory):
  """{tag: [(step, value)]} from the TensorBoard event files in `directory`."""
  found = {}
  for name in os.listdir(directory):
    for event in tf.compat.v1.train.summary_iterator(
        os.path.join(directory, name)):
      for value in event.summary.value:
        found.setdefault(value.tag, []).append(
            (event.step, float(tf.make_ndarray(value.tensor))))
  return found


def test_training_logs_the_learning_rate_and_eval_writes_tensorboard(
    results, tuned_run):
  model_dir, train_result = tuned_run
  assert all(m["learning_rate"] == pytest.approx(1e-2)
             for _, m in train_result.history)
  train = _scalars(os.path.join(model_dir, "train"))
  assert train["learning_rate"][-1] == (150, pytest.approx(1e-2))
  evaluated = _scalars(os.path.join(model_dir, "eval", "tensorboard"))
  polarity = results["datasets"]["toy:polarity"]
  assert evaluated["datasets/toy:polarity/score"] == [
      (150, pytest.approx(polarity["score"]))]
  assert evaluated["clusters/mood/score"][0][1] == pytest.approx(
      results["clusters"]["mood"]["score"])
  assert "summary/held_out/score" in evaluated
  task = results["tasks"]["toy:echo:t0:gen"]
  assert evaluated["tasks/toy:echo:t0:gen/accuracy_stderr"][0][1] == (
      pytest.approx(task["stderr"]["accuracy"]))
  assert np.isfinite(task["stderr"]["accuracy"])

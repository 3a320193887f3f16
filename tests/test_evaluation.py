"""A tiny train + zero-shot eval run, and the aggregation of its results."""

import json
import os

import pytest

import toy_training
from flan_jax import evaluation
from flan_jax import reports


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory):
  model_dir = str(tmp_path_factory.mktemp("tuned"))
  result = toy_training.run(model_dir, steps=150, batch_size=16,
                            mixture="toy:train:no_copy", learning_rate=1e-2)
  return model_dir, result


@pytest.fixture(scope="module")
def results(tuned_run):
  model_dir, _ = tuned_run
  return evaluation.evaluate(
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
  base = evaluation.evaluate(
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
    evaluation.resolve_checkpoint(str(tmp_path / "nowhere"))


def test_length_sorted_batches_trim_padding_and_keep_indices():
  import numpy as np  # pylint: disable=g-import-not-at-top
  from flan_jax import scoring  # pylint: disable=g-import-not-at-top

  lengths = [3, 20, 5, 17, 1]
  encoder = np.zeros((5, 32), np.int32)
  targets = np.zeros((5, 16), np.int32)
  for row, n in enumerate(lengths):
    encoder[row, :n] = row + 2
    targets[row, :2] = 7
  features = {
      "encoder_input_tokens": encoder, "decoder_target_tokens": targets,
      "decoder_input_tokens": targets, "decoder_loss_weights": targets > 0,
  }
  scored = list(scoring.length_sorted_batches(features, 2, trim_targets=True))
  assert [b[0].tolist() for b in scored] == [[4, 0], [2, 3], [1]]
  assert [b[1]["encoder_input_tokens"].shape for b in scored] == [
      (2, 8), (2, 32), (2, 32)]
  assert scored[0][1]["decoder_target_tokens"].shape == (2, 8)
  assert scored[2][2] == 1 and not scored[2][1]["encoder_input_tokens"][1].any()
  np.testing.assert_array_equal(scored[1][1]["encoder_input_tokens"][1, :17],
                                encoder[3, :17])
  generated = list(scoring.length_sorted_batches(features, 2,
                                                 trim_targets=False))
  assert generated[0][1]["decoder_target_tokens"].shape == (2, 16)

"""Rank classification: rows per option, grouping, argmax, accuracy per example."""

import numpy as np
import pytest
import seqio

import toy_tasks
from flan_jax.data import rank_classification as rc
from flan_jax.data import vocab


def _row(idx, option, correct):
  return rc.OptionRow(idx, option, correct, char_length=3, token_length=2)


def test_accuracy_is_per_example_argmax():
  rows = [_row(0, 0, False), _row(0, 1, True),            # right
          _row(1, 0, True), _row(1, 1, False), _row(1, 2, False),  # wrong
          _row(2, 0, False), _row(2, 1, True)]            # right
  scores = [-3.0, -1.0, -2.0, -0.5, -9.0, -1.0, -0.2]
  assert rc.rank_classification_accuracy(rows, scores)["accuracy"] == (
      pytest.approx(200 / 3))
  assert rc.predictions(rows, scores) == {0: (1, True), 1: (1, False),
                                          2: (1, True)}


def test_ties_go_to_the_first_option_whatever_the_row_order():
  rows = [_row(0, 1, True), _row(0, 0, False)]
  assert rc.predictions(rows, [-1.0, -1.0]) == {0: (0, False)}


def test_an_answer_missing_from_the_options_is_an_error():
  with pytest.raises(ValueError, match="not among its options"):
    rc.predictions([_row(0, 0, False), _row(0, 1, False)], [0.0, 1.0])


def _evaluate(task_name, score_of):
  """Runs seqio's Evaluator with a score function built from `score_of`."""
  evaluator = seqio.Evaluator(task_name,
                              seqio.EncDecFeatureConverter(pack=False),
                              eval_split="test")
  decode = vocab.default_vocabulary().decode

  def score_fn(dataset, model_feature_shapes=None):
    out = []
    for index, features in dataset.as_numpy_iterator():
      inputs = decode(features["encoder_input_tokens"].tolist())
      target = decode(features["decoder_target_tokens"].tolist())
      out.append((int(index), score_of(inputs, target)))
    return out

  metrics, _ = evaluator.evaluate(compute_metrics=True, score_fn=score_fn)
  return metrics.result()[task_name]


def test_end_to_end_a_model_that_knows_the_answer_scores_100():
  # "Pick <word>." -> the option equal to <word> gets the best score.
  knows = lambda inputs, target: 0.0 if inputs.split()[1].rstrip(".") == (
      target) else -5.0
  assert _evaluate("toy:choice:t0:score", knows) == {
      "accuracy": 100.0, "accuracy_char_norm": 100.0,
      "accuracy_token_norm": 100.0}


def test_end_to_end_a_model_preferring_the_first_option():
  first = seqio.get_mixture_or_task("toy:choice:t0:score").get_dataset(
      None, split="test", shuffle=False)
  rows = [r for r in first.as_numpy_iterator() if r["option_idx"] == 0]
  expected = 100.0 * np.mean([bool(r["is_correct"]) for r in rows])
  # Options are sorted, so preferring alphabetically first = option 0.
  prefers_first = lambda inputs, target: -float(sorted(toy_tasks.WORDS).index(
      target))
  assert _evaluate("toy:choice:t0:score", prefers_first)["accuracy"] == (
      pytest.approx(expected))
  assert 0 < expected < 100


def test_normalisations_by_hand():
  # Option 0: "no" (2 chars, 2 tokens), log-likelihood -2.0.
  # Option 1: "absolutely" (10 chars, 4 tokens), log-likelihood -3.0.
  rows = [rc.OptionRow(0, 0, False, char_length=2, token_length=2),
          rc.OptionRow(0, 1, True, char_length=10, token_length=4)]
  scores = [-2.0, -3.0]
  # summed: -2.0 > -3.0 -> "no"; per char: -1.0 < -0.3 -> "absolutely";
  # per token: -1.0 < -0.75 -> "absolutely".
  assert rc.rank_classification_accuracy(rows, scores) == {
      "accuracy": 0.0, "accuracy_char_norm": 100.0,
      "accuracy_token_norm": 100.0}
  assert rc.normalise(-3.0, rows[1], "char") == pytest.approx(-0.3)
  assert rc.normalise(-3.0, rows[1], "token") == pytest.approx(-0.75)
  with pytest.raises(ValueError, match="unknown normalisation 'bytes'"):
    rc.normalise(-3.0, rows[1], "bytes")


def test_char_norm_counts_the_option_not_the_whole_target():
  # lm-evaluation-harness's acc_norm divides by the choice's characters;
  # a target pattern around the answer must not change that.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from flan_jax.data.templates import Template  # pylint: disable=g-import-not-at-top
  template = Template("{text}\n{options_}", "The answer is {answer}.")
  ds = tf.data.Dataset.from_tensors({
      "text": "q", "answer": "yes", "options": tf.constant(["no", "yes"])})
  rows = list(rc.expand_options(template, "answer")(ds).as_numpy_iterator())
  assert [r["targets"] for r in rows] == [b"The answer is no.",
                                          b"The answer is yes."]
  option_rows = [rc.option_row_postprocessor(
      r["targets"].decode(), example={**r, "targets": [5, 6]}, is_target=True)
                 for r in rows]
  assert [r.char_length for r in option_rows] == [2, 3]
  assert [r.is_correct for r in option_rows] == [False, True]

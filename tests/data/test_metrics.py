"""Metrics against values worked out by hand or by the library directly."""

import math

import pytest
import sacrebleu
import scipy.stats
from rouge_score import rouge_scorer

from flan_jax.data import metrics


def test_exact_match_accuracy_trims_spaces():
  assert metrics.exact_match_accuracy(["a", "b ", "c"], [" a", "b", "x"]) == {
      "accuracy": pytest.approx(200 / 3)}


def test_length_mismatch_is_an_error():
  with pytest.raises(ValueError, match="2 targets but 1 predictions"):
    metrics.exact_match_accuracy(["a", "b"], ["a"])


def test_squad_normalisation_and_best_reference():
  assert metrics.normalize_squad_answer("The  Eiffel-Tower!") == "eiffeltower"
  result = metrics.squad([["the cat", "a dog"], "red house"],
                         ["Dog", "big red house"])
  # Example 1 matches "a dog" exactly; example 2: precision 2/3, recall 1.
  assert result["em"] == pytest.approx(50.0)
  assert result["f1"] == pytest.approx(100 * (1.0 + 0.8) / 2)


def test_trivia_qa_treats_underscores_as_spaces():
  assert metrics.trivia_qa([["New_York", "NYC"]], ["new york"])["em"] == 100.0


def test_bleu_equals_sacrebleu_with_ragged_references():
  targets = [["the cat sat on the mat", "a cat was on the mat"],
             "there is a dog in the garden"]
  predictions = ["the cat sat on a mat", "a dog is in the garden"]
  expected = sacrebleu.corpus_bleu(
      predictions, [[targets[0][0], targets[1]], [targets[0][1], None]],
      smooth_method="exp").score
  assert metrics.bleu(targets, predictions)["bleu"] == pytest.approx(expected)
  assert metrics.bleu(["a b c d"], ["a b c d"])["bleu"] == pytest.approx(100.0)


def test_rouge_takes_the_best_reference_per_example():
  scorer = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)
  good = scorer.score("the quick brown fox", "the quick fox")["rouge1"].fmeasure
  result = metrics.rouge([["nothing alike here", "the quick brown fox"]],
                         ["the quick fox"])
  assert result["rouge1"] == pytest.approx(100 * good)
  assert set(result) == {"rouge1", "rouge2", "rougeLsum"}


def test_edit_distance():
  result = metrics.mean_edit_distance(["kitten", "abc"], ["sitting", "abc"])
  assert result["edit_distance"] == pytest.approx((3 + 0) / 2)
  assert result["accuracy"] == pytest.approx(50.0)


def test_f1_variants_by_hand():
  targets = ["yes", "yes", "no", "no"]
  predictions = ["yes", "no", "yes", "no"]
  # positive "yes": tp 1, fp 1, fn 1 -> F1 0.5
  assert metrics.f1_binary(targets, predictions, positive="yes")["f1"] == (
      pytest.approx(50.0))
  # both classes F1 0.5 -> macro 0.5
  assert metrics.f1_macro(targets, predictions)["f1_macro"] == pytest.approx(
      50.0)


def test_matthews_correlation_by_hand():
  # tp=2 tn=1 fp=1 fn=0: (2*1 - 1*0) / sqrt(3*2*2*1)
  result = metrics.matthews_corrcoef(["1", "1", "0", "0"], ["1", "1", "1", "0"])
  assert result["mcc"] == pytest.approx(100 * 2 / math.sqrt(12))


def test_pearson_spearman_match_scipy_and_count_junk_as_zero():
  targets = ["0.0", "1.5", "3.0", "4.5", "5.0"]
  predictions = ["0.5", "1.0", "junk", "4.0", "5.0"]
  as_numbers = [0.5, 1.0, 0.0, 4.0, 5.0]
  y = [float(t) for t in targets]
  result = metrics.pearson_spearman(targets, predictions)
  assert result["pearson"] == pytest.approx(
      100 * scipy.stats.pearsonr(y, as_numbers)[0])
  assert result["spearman"] == pytest.approx(
      100 * scipy.stats.spearmanr(y, as_numbers)[0])


def test_classification_metrics_equal_scikit_learn():
  from sklearn import metrics as sk  # pylint: disable=g-import-not-at-top
  targets = ["a", "b", "c", "a", "b", "c", "a", "a"]
  predictions = ["a", "b", "a", "a", "c", "c", "b", "a"]
  assert metrics.f1_macro(targets, predictions)["f1_macro"] == pytest.approx(
      100 * sk.f1_score(targets, predictions, average="macro"))
  assert metrics.matthews_corrcoef(targets, predictions)["mcc"] == (
      pytest.approx(100 * sk.matthews_corrcoef(targets, predictions)))
  assert metrics.f1_binary(targets, predictions, positive="a")["f1"] == (
      pytest.approx(100 * sk.f1_score([t == "a" for t in targets],
                                      [p == "a" for p in predictions])))


def test_rouge_lsum_and_rouge2_equal_rouge_score_on_several_sentences():
  target = "the cat sat on the mat . it was happy there ."
  prediction = "a cat sat on a mat . the cat was happy ."
  scorer = rouge_scorer.RougeScorer(["rouge2", "rougeLsum"], use_stemmer=True)
  expected = scorer.score(target.replace(" . ", " .\n"),
                          prediction.replace(" . ", " .\n"))
  result = metrics.rouge([target], [prediction])
  assert result["rouge2"] == pytest.approx(100 * expected["rouge2"].fmeasure)
  assert result["rougeLsum"] == pytest.approx(
      100 * expected["rougeLsum"].fmeasure)


def test_edit_distance_equals_the_editdistance_library():
  import editdistance  # pylint: disable=g-import-not-at-top
  targets = ["Hello, World.", "fix punctuation", "abc"]
  predictions = ["hello world", "fix, punctuation!", ""]
  expected = sum(editdistance.eval(t, p) for t, p in zip(targets, predictions))
  assert metrics.mean_edit_distance(targets, predictions)[
      "edit_distance"] == pytest.approx(expected / 3)
  assert expected == 4 + 2 + 3  # by hand: H , W . / , ! / a b c


def test_squad_f1_by_hand_over_several_answers():
  # "in paris france" vs refs: "Paris" (P 1/3, R 1 -> 0.5) and
  # "Paris, France" (P 2/3, R 1 -> 0.8): best 0.8.
  result = metrics.squad([["Paris", "Paris, France"]], ["in Paris France"])
  assert result == {"em": 0.0, "f1": pytest.approx(80.0)}

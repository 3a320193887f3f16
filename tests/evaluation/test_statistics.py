"""Standard errors: analytic for means (binomial for accuracy), bootstrap else."""

import math

import numpy as np
import pytest

from flan_jax.data import metrics
from flan_jax.evaluation import statistics

TARGETS = ["the cat sat on the mat", "a big dog ran", "hello world",
           "green river stone", "seven clouds today", "an apple a day"]
PREDICTIONS = ["the cat is on the mat", "a dog ran", "hello world",
               "green stone", "seven clouds", "one apple per day"]


def test_accuracy_stderr_is_binomial_as_the_harness_reports_it():
  targets = ["a"] * 10
  predictions = ["a"] * 7 + ["b"] * 3
  values, stderr = statistics.metric_stderrs(
      [metrics.exact_match_accuracy], targets, predictions)
  assert values["accuracy"] == pytest.approx(70.0)
  # harness: sample std (ddof=1) of the 0/1 scores / sqrt(n), here x100.
  scores = np.array([1.0] * 7 + [0.0] * 3)
  harness = np.std(scores, ddof=1) / math.sqrt(10) * 100
  assert stderr["accuracy"] == pytest.approx(harness)
  assert stderr["accuracy"] == pytest.approx(
      statistics.binomial_stderr(70.0, 10))


def test_means_get_the_analytic_stderr_of_their_per_example_values():
  values, stderr = statistics.metric_stderrs([metrics.rouge], TARGETS,
                                             PREDICTIONS)
  per = [metrics.rouge([t], [p])["rouge1"] for t, p in zip(TARGETS,
                                                             PREDICTIONS)]
  assert values["rouge1"] == pytest.approx(np.mean(per))
  assert stderr["rouge1"] == pytest.approx(np.std(per, ddof=1) /
                                           math.sqrt(len(per)))


def test_corpus_metrics_are_bootstrapped_with_a_fixed_seed():
  _, first = statistics.metric_stderrs([metrics.bleu], TARGETS, PREDICTIONS)
  _, again = statistics.metric_stderrs([metrics.bleu], TARGETS, PREDICTIONS)
  assert first == again and first["bleu"] > 0
  # The fast path (summed sentence statistics) equals resampling through
  # sacrebleu itself on the same draws.
  through_sacrebleu = statistics.bootstrap_stderr(
      lambda t, p: metrics.bleu(t, p), TARGETS, PREDICTIONS, ["bleu"],
      samples=50, seed=3)
  fast = statistics.bootstrap_stderr(metrics.bleu, TARGETS, PREDICTIONS,
                                     ["bleu"], samples=50, seed=3)
  assert fast["bleu"] == pytest.approx(through_sacrebleu["bleu"], rel=1e-9)
  # F1 of one class is not a mean over examples: bootstrapped, F1 and the
  # accuracy beside it (a mean) analytic.
  targets = ["yes", "no", "yes", "yes", "no", "no", "yes", "no"]
  predictions = ["yes", "yes", "no", "yes", "no", "no", "yes", "yes"]
  _, stderr = statistics.metric_stderrs(
      [lambda t, p: metrics.f1_binary(t, p, positive="yes")], targets,
      predictions, samples=200)
  assert stderr["f1"] > 0
  assert stderr["accuracy"] == pytest.approx(
      statistics.binomial_stderr(62.5, 8))


def test_bleu_statistics_sum_to_corpus_bleu():
  stats = metrics.bleu_statistics(TARGETS, PREDICTIONS)
  assert stats.shape == (len(TARGETS), 10)
  assert metrics.bleu_from_statistics(stats.sum(0)) == pytest.approx(
      metrics.bleu(TARGETS, PREDICTIONS)["bleu"])
  two = [["x y z", "the cat sat"], ["a dog"]]
  assert metrics.bleu_from_statistics(
      metrics.bleu_statistics(two, ["the cat sat", "a dog"]).sum(0)) == (
          pytest.approx(metrics.bleu(two, ["the cat sat", "a dog"])["bleu"]))


def test_combining_stderrs():
  assert statistics.correlated_mean_stderr([3.0, 5.0]) == 4.0
  assert statistics.independent_mean_stderr([3.0, 4.0]) == pytest.approx(2.5)
  assert statistics.independent_mean_stderr([3.0, None]) is None
  assert statistics.mean_stderr([1.0]) is None

"""FLAN 2021 paraphrase cluster: labels, STS-B binning, metrics, mock runs."""

import pytest
import seqio
import tensorflow as tf

import mock_helpers
from flan_jax.data import metrics
from tasks.flan2021 import common
from tasks.flan2021 import paraphrase

DATASETS = ("glue_mrpc", "glue_qqp", "paws_wiki", "stsb")


def _prepare(name, raw):
  ds = tf.data.Dataset.from_tensor_slices(raw)
  for fn in common.get_flan_dataset(name).spec.prepare:
    ds = fn(ds)
  return [{k: v.decode() for k, v in ex.items()}
          for ex in ds.as_numpy_iterator()]


def test_cluster_holds_the_four_flan_datasets():
  assert tuple(mock_helpers.dataset_names("paraphrase")) == DATASETS
  for name in DATASETS:
    assert common.get_flan_dataset(name).spec.is_classification


@pytest.mark.parametrize("name", DATASETS)
def test_tasks_run_on_mock_data(name):
  # Training task + first generation task + first scoring task.
  assert mock_helpers.check_dataset(name) == 3


def _split_map(name):
  return common.get_flan_dataset(name).spec.source.split_map


def test_glue_test_labels_are_hidden_so_validation_is_the_test_set():
  for name in ("glue_mrpc", "glue_qqp", "stsb"):
    assert _split_map(name) == common.SPLITS_VALIDATION_AS_TEST, name
  assert _split_map("paws_wiki") == common.SPLITS_STANDARD


@pytest.mark.parametrize("name, first, second", [
    ("glue_mrpc", "sentence1", "sentence2"),
    ("glue_qqp", "question1", "question2"),
    ("paws_wiki", "sentence1", "sentence2"),
])
def test_binary_labels(name, first, second):
  rows = _prepare(name, {first: ["a", "b"], second: ["c", "d"],
                         "label": tf.constant([0, 1], tf.int64)})
  assert [r["answer"] for r in rows] == ["no", "yes"]
  assert [r["is_or_is_not"] for r in rows] == ["is not", "is"]
  assert rows[1]["first"] == "b" and rows[1]["second"] == "d"


def test_stsb_rounds_half_up_into_six_classes():
  scores = [0.0, 0.49, 0.5, 2.4, 2.5, 4.6, 5.0]
  rows = _prepare("stsb", {"sentence1": ["s"] * 7, "sentence2": ["t"] * 7,
                           "label": tf.constant(scores, tf.float32),
                           "idx": tf.range(7)})
  assert [r["answer"] for r in rows] == ["0", "0", "1", "2", "3", "5", "5"]
  assert common.get_flan_dataset("stsb").spec.options == \
      paraphrase.STSB_OPTIONS


def test_metrics():
  mrpc = seqio.get_mixture_or_task(
      common.get_flan_dataset("glue_mrpc").registered.generation_tasks[0])
  assert mrpc.metric_fns == [paraphrase.f1_of_yes]
  result = paraphrase.f1_of_yes(["yes", "yes", "no", "no"],
                                ["yes", "no", "no", "yes"])
  assert result == {"f1": pytest.approx(50.0), "accuracy": 50.0}
  stsb = seqio.get_mixture_or_task(
      common.get_flan_dataset("stsb").registered.generation_tasks[0])
  assert stsb.metric_fns == [metrics.exact_match_accuracy,
                             metrics.pearson_spearman]

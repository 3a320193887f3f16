"""FLAN 2021 read_comp_and_common_sense (ReCoRD, Cosmos QA) on mock data."""

import pytest
import tensorflow as tf

import mock_helpers
from flan_jax.data import metrics
from tasks.flan2021 import common
from tasks.flan2021 import read_comp_and_common_sense as rccs

EXPECTED = ("record", "cosmos_qa")


def test_cluster_has_the_two_datasets_of_flan():
  assert tuple(mock_helpers.dataset_names(
      "read_comp_and_common_sense")) == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_dataset_runs_on_mock_data(name):
  # ReCoRD runs every variant: 1 train + 7 generation + 7 scoring tasks.
  if name == "record":
    assert mock_helpers.check_dataset(name, every_variant=True) == 15
  else:
    assert mock_helpers.check_dataset(name) == 3


def _record(answers, entities):
  return tf.data.Dataset.from_tensors({
      "passage": "Ann met Bob in the U.S. today.\n@highlight\nThey talked",
      "query": "@placeholder is where they met",
      "entities": tf.constant(entities, tf.string),
      "answers": tf.constant(answers, tf.string),
      "idx": {"passage": 0, "query": 0}})


def test_record_groups_gold_spellings_into_one_option():
  ds = rccs.prepare_record(_record(
      ["U.S.", "United States"],
      ["Ann", "U.S.", "Bob", "United States", "Ann"]))
  ex = next(iter(ds.as_numpy_iterator()))
  assert ex["answer"] == b"U.S."
  # Generation scores against every gold spelling.
  assert list(ex["references"]) == [b"U.S.", b"United States"]
  # Duplicates merged, the other gold spelling removed, order kept.
  assert list(ex["options"]) == [b"Ann", b"U.S.", b"Bob"]
  assert ex["filled_query"] == b"U.S. is where they met"
  assert ex["passage"] == b"Ann met Bob in the U.S. today.\n- They talked"


def test_record_drops_queries_without_answers_and_adds_a_missing_answer():
  assert not list(rccs.prepare_record(_record([], ["Ann"])))
  ex = next(iter(rccs.prepare_record(_record(["Zed"], ["Ann", "Bob"]))))
  assert list(ex["options"].numpy()) == [b"Ann", b"Bob", b"Zed"]


def test_record_fills_answers_with_backslashes_literally():
  ex = next(iter(rccs.prepare_record(_record([r"A\1B"], ["x"]))))
  assert ex["filled_query"].numpy() == rb"A\1B is where they met"


def test_cosmos_qa_options_come_from_the_four_answers():
  ds = rccs.prepare_cosmos_qa(tf.data.Dataset.from_tensors({
      "id": "1", "context": "I missed the bus.", "question": "Why late?",
      "answer0": "a", "answer1": "b", "answer2": "c", "answer3": "d",
      "label": tf.constant(1, tf.int64)}))
  ex = next(iter(ds))
  assert ex["answer"].numpy() == b"b"
  assert list(ex["options"].numpy()) == [b"a", b"b", b"c", b"d"]


def test_record_generation_targets_reach_the_postprocessor_as_lists():
  assert mock_helpers.check_references("record") >= 1
  spec = common.get_flan_dataset("record").spec
  assert spec.postprocess_fn is metrics.strip_postprocessor
  # A prediction naming the second spelling gets full credit.
  assert metrics.squad([["U.S.", "United States"]],
                       ["United States"])["em"] == 100.0

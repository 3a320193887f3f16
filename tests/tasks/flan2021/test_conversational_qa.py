"""FLAN 2021 conversational_qa cluster on TFDS mock data."""

import pytest
import tensorflow as tf

import mock_helpers
from flan_jax.data import metrics
from tasks.flan2021 import common
from tasks.flan2021 import conversational_qa as cqa


@pytest.mark.parametrize("name", mock_helpers.dataset_names("conversational_qa"))
def test_tasks_run_on_mock_data(name):
  # Training task + first generation (+ first scoring) task; every template
  # rendered on every split.
  assert mock_helpers.check_dataset(name) >= 2


def test_quac_references_are_the_original_and_extra_answers():
  ds = cqa._prepare_quac(tf.data.Dataset.from_tensors({  # pylint: disable=protected-access
      "title": "T", "section_title": "S", "background": "B", "context": "C",
      "question": "Q", "followup": "y", "yesno": "x",
      "orig_answer": {"text": " in 1990 ", "answer_start": 0},
      "answers": {"text": tf.constant(["in 1990", "1990", "1990"]),
                  "answer_start": tf.constant([0, 3, 3], tf.int32)}}))
  ex = next(iter(ds.as_numpy_iterator()))
  assert ex["answer"] == b"in 1990"
  assert list(ex["references"]) == [b"in 1990", b"1990"]


def test_quac_generation_targets_reach_the_postprocessor_as_lists():
  assert mock_helpers.check_references("quac") >= 1
  assert common.get_flan_dataset("quac").spec.postprocess_fn is (
      metrics.strip_postprocessor)

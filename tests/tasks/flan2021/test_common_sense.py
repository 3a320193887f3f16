"""FLAN 2021 common-sense cluster: per-example options, labels, mock runs."""

import pytest
import tensorflow as tf

import mock_helpers
from tasks.flan2021 import common
from tasks.flan2021 import common_sense  # noqa: F401  (registers)

DATASETS = ("copa", "hellaswag", "story_cloze", "piqa")
# HellaSwag and Story Cloze store their label as a plain int (not a TFDS
# ClassLabel), which mock data draws below `max_value`: 4 keeps HellaSwag's
# labels valid. Story Cloze's labels are 1-based, so with 3 they fall in
# 0..2 and the preparation drops the rows labelled 0, as it would an
# unlabelled row; TFDS's fixed mock seed gives two labelled rows of six.
MOCK = {"hellaswag": (3, 4), "story_cloze": (6, 3)}  # (examples, max_value)


def _prepare(name, raw):
  ds = tf.data.Dataset.from_tensor_slices(raw)
  for fn in common.get_flan_dataset(name).spec.prepare:
    ds = fn(ds)
  return [{k: v.decode() if isinstance(v, bytes) else
           [o.decode() for o in v] for k, v in ex.items()}
          for ex in ds.as_numpy_iterator()]


def test_cluster_holds_the_four_flan_datasets():
  assert tuple(mock_helpers.dataset_names("common_sense")) == DATASETS
  for name in DATASETS:
    spec = common.get_flan_dataset(name).spec
    assert spec.is_classification and spec.options is None, name


@pytest.mark.parametrize("name", DATASETS)
def test_tasks_run_on_mock_data(name):
  count, max_value = MOCK.get(name, (mock_helpers.NUM_EXAMPLES, None))
  assert mock_helpers.check_dataset(name, count, max_value=max_value) == 3


def test_every_copa_task_runs():
  # Per-example options: each of the 8 plain templates gets a generation
  # and a rank-classification task, plus the training task.
  assert mock_helpers.check_dataset("copa", every_variant=True) == 17


def test_copa_choices_and_question():
  rows = _prepare("copa", {
      "premise": ["The man fell.", "It rained."],
      "question": ["cause", "effect"],
      "choice1": ["He slipped.", "The ground got wet."],
      "choice2": ["He sang.", "The sun rose."],
      "label": tf.constant([0, 0], tf.int64), "idx": [0, 1]})
  assert rows[0]["options"] == ["He slipped.", "He sang."]
  assert rows[0]["answer"] == "He slipped."
  assert [r["connective"] for r in rows] == ["because", "so"]
  assert rows[0]["premise_clause"] == "The man fell"
  assert rows[1]["question"] == "effect"
  [row] = _prepare("copa", {
      "premise": ["p"], "question": ["cause"], "choice1": ["a"],
      "choice2": ["b"], "label": tf.constant([1], tf.int64), "idx": [0]})
  assert row["answer"] == "b"


def test_hellaswag_picks_its_ending_and_drops_unlabelled_rows():
  rows = _prepare("hellaswag", {
      "context": ["A man", "A dog"], "activity_label": ["Cooking", "Pets"],
      "endings": [["e0", "e1", "e2", "e3"], ["f0", "f1", "f2", "f3"]],
      "label": tf.constant([2, -1], tf.int32),
      "source_id": ["s", "t"], "split_type": ["x", "y"]})
  assert len(rows) == 1
  assert rows[0]["answer"] == "e2" and rows[0]["activity"] == "Cooking"
  assert rows[0]["options"] == ["e0", "e1", "e2", "e3"]


def test_story_cloze_labels_are_one_based():
  rows = _prepare("story_cloze", {
      "context": ["Four sentences.", "Another story.", "No label."],
      "endings": [["first", "second"], ["one", "two"], ["x", "y"]],
      "label": tf.constant([2, 1, -1], tf.int32)})
  assert [r["answer"] for r in rows] == ["second", "one"]


def test_piqa_options_are_the_two_solutions():
  [row] = _prepare("piqa", {"goal": ["Open a jar"], "sol1": ["Twist lid"],
                            "sol2": ["Freeze it"], "id": ["i"],
                            "label": tf.constant([0], tf.int64)})
  assert row["options"] == ["Twist lid", "Freeze it"]
  assert row["answer"] == "Twist lid" and row["goal"] == "Open a jar"

"""FLAN 2021 reading_comprehension cluster on mock data and hand-made rows."""

import pytest
import tensorflow as tf

import mock_helpers
from flan_jax.data import metrics
from tasks.flan2021 import common
from tasks.flan2021 import reading_comprehension as rc

EXPECTED = ("squad_v1", "squad_v2", "drop", "multirc", "openbookqa",
            "bool_q")


def test_cluster_has_the_six_datasets_of_flan():
  assert tuple(mock_helpers.dataset_names("reading_comprehension")) == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_dataset_runs_on_mock_data(name):
  # Every variant of MultiRC, whose grouping is the most involved
  # preparation (1 train + 8 generation tasks); train + first eval tasks of
  # the others (every template is still rendered by the helper).
  if name == "multirc":
    assert mock_helpers.check_dataset(name, every_variant=True) == 9
  else:
    classification = name in ("openbookqa", "bool_q")
    assert mock_helpers.check_dataset(name) == (3 if classification else 2)


def _rows(rows):
  return tf.data.Dataset.from_tensor_slices({
      "paragraph": [r[0] for r in rows], "question": [r[1] for r in rows],
      "answer": [r[2] for r in rows],
      "label": tf.constant([r[3] for r in rows], tf.int64),
      "idx": {"paragraph": tf.constant([r[4] for r in rows], tf.int32),
              "question": tf.constant([r[5] for r in rows], tf.int32),
              "answer": tf.range(len(rows), dtype=tf.int32)}})


def test_multirc_groups_candidate_rows_per_question_in_first_row_order():
  # Rows of a question are interleaved, as in the shuffled TFDS files; the
  # same question number under another paragraph is another question.
  ds = rc.prepare_multirc(_rows([
      ("P1", "Q1", "red", 1, 1, 7),
      ("P2", "Q2", "two", 0, 2, 7),
      ("P1", "Q1", "blue", 0, 1, 7),
      ("P1", "Q1", "green", 1, 1, 7),
      ("P2", "Q2", "three", 0, 2, 7),
  ]))
  got = [{k: v.decode() for k, v in ex.items()} for ex in ds.as_numpy_iterator()]
  assert got == [
      {"paragraph": "P1", "question": "Q1",
       "candidates": "1. red\n2. blue\n3. green", "answer": "1, 3",
       "correct_answers": "red; green"},
      {"paragraph": "P2", "question": "Q2", "candidates": "1. two\n2. three",
       "answer": "none", "correct_answers": ""},
  ]


def test_multirc_metric_scores_exact_match_per_question_and_f1a():
  targets = ["1, 3", "2", "none"]
  predictions = ["3, 1", "1, 2", "none"]
  scores = rc.multirc_grouped(targets, predictions)
  assert list(scores) == ["f1a", "exact_match"]  # F1a is the headline
  # Questions 1 and 3 exactly right; over answers: 3 true positives,
  # 1 false positive, 0 false negatives -> F1a = 6 / 7.
  assert scores["exact_match"] == pytest.approx(200 / 3)
  assert scores["f1a"] == pytest.approx(600 / 7)
  spec = common.get_flan_dataset("multirc").spec
  assert list(spec.metric_fns) == [rc.multirc_grouped]


def test_squad_v2_unanswerable_and_drop_fallback():
  squad = rc.prepare_squad_v2(tf.data.Dataset.from_tensors({
      "title": "T", "context": "C", "question": "Q", "id": "1",
      "answers": {"text": tf.constant([], tf.string),
                  "answer_start": tf.constant([], tf.int32)}}))
  ex = next(iter(squad))
  assert ex["answer"].numpy() == b"unanswerable"
  assert list(ex["references"].numpy()) == [b"unanswerable"]
  drop = rc.prepare_drop(tf.data.Dataset.from_tensor_slices({
      "passage": ["P", "P"], "question": ["Q", "Q"], "query_id": ["1", "2"],
      "answer": ["12", ""], "validated_answers": [["12", "x"], ["May", "x"]]}))
  drop = list(drop.as_numpy_iterator())
  assert [ex["answer"] for ex in drop] == [b"12", b"May"]
  # The answer first, then the other validated answers, no repeats.
  assert [list(ex["references"]) for ex in drop] == [[b"12", b"x"],
                                                     [b"May", b"x"]]
  for name in ("squad_v1", "squad_v2", "drop"):
    assert list(common.get_flan_dataset(name).spec.metric_fns) == [
        rc.squad_f1_first]
  # Same numbers as the shared SQuAD metric, F1 first (the headline).
  targets, predictions = ["the Eiffel Tower", "1999"], ["Eiffel tower", "2000"]
  scores = rc.squad_f1_first(targets, predictions)
  assert list(scores) == ["f1", "em"]
  assert scores == metrics.squad(targets, predictions)


def test_openbookqa_and_bool_q_answers_are_their_options():
  obqa = rc.prepare_openbookqa(tf.data.Dataset.from_tensors({
      "fact1": "metals conduct heat", "answerKey": tf.constant(2, tf.int64),
      "question": {"stem": "Which warms fastest?", "choice_A": "wood",
                   "choice_B": "wool", "choice_C": "a copper pan",
                   "choice_D": "paper"}}))
  ex = next(iter(obqa))
  assert ex["answer"].numpy() == b"a copper pan"
  assert list(ex["options"].numpy()) == [b"wood", b"wool", b"a copper pan",
                                         b"paper"]
  boolq = rc.prepare_bool_q(tf.data.Dataset.from_tensor_slices({
      "title": ["t", "t"], "passage": ["p", "p"], "question": ["q", "q"],
      "answer": [True, False]}))
  assert [ex["answer"] for ex in boolq.as_numpy_iterator()] == [b"yes", b"no"]


def test_squad_references_hold_every_gold_answer_first_one_first():
  squad = rc.prepare_squad_v1(tf.data.Dataset.from_tensors({
      "title": "T", "context": "C", "question": "Q", "id": "1",
      "answers": {"text": tf.constant(["Denver Broncos", "Broncos",
                                       "Denver Broncos", " "]),
                  "answer_start": tf.constant([0, 7, 0, 0], tf.int32)}}))
  ex = next(iter(squad.as_numpy_iterator()))
  assert ex["answer"] == b"Denver Broncos"  # the training target
  assert list(ex["references"]) == [b"Denver Broncos", b"Broncos"]


@pytest.mark.parametrize("name", ("squad_v1", "squad_v2", "drop"))
def test_generation_targets_reach_the_postprocessor_as_reference_lists(name):
  assert mock_helpers.check_references(name) >= 1
  spec = common.get_flan_dataset(name).spec
  assert spec.postprocess_fn is metrics.strip_postprocessor

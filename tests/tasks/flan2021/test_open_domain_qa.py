"""FLAN 2021 open_domain_qa (closed-book QA) cluster on mock data."""

import pytest
import tensorflow as tf

import mock_helpers
from flan_jax.data import metrics
from tasks.flan2021 import common
from tasks.flan2021 import open_domain_qa as odqa

EXPECTED = ("trivia_qa", "natural_questions", "arc_challenge", "arc_easy")


def test_cluster_has_the_four_datasets_of_flan():
  assert tuple(mock_helpers.dataset_names("open_domain_qa")) == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_dataset_runs_on_mock_data(name):
  # ARC-Challenge runs every variant: 1 train + 8 generation + 8 runner.
  if name == "arc_challenge":
    assert mock_helpers.check_dataset(name, every_variant=True) == 17
  else:
    assert mock_helpers.check_dataset(name) == (3 if "arc" in name else 2)


def test_closed_book_templates_never_show_evidence():
  for name in ("trivia_qa", "natural_questions"):
    spec = common.get_flan_dataset(name).spec
    assert all(t.fields <= {"question", "answer"} for t in spec.templates)
    assert list(spec.metric_fns) == [metrics.trivia_qa]


def test_arc_answer_is_the_text_of_the_keyed_choice():
  ds = odqa.prepare_arc(tf.data.Dataset.from_tensor_slices({
      "id": ["a", "b"], "question": ["Which is a gas?", "empty"],
      "answerKey": tf.constant([2, 0], tf.int64),
      "choices": {"text": tf.ragged.constant([["ice", "water", "steam"], []]),
                  "label": tf.ragged.constant([[0, 1, 2], []], tf.int64)}}))
  got = list(ds.as_numpy_iterator())
  # The example without choices is dropped.
  assert len(got) == 1
  assert got[0]["answer"] == b"steam"
  assert list(got[0]["options"]) == [b"ice", b"water", b"steam"]


def test_natural_questions_takes_the_first_answer():
  ds = odqa.prepare_natural_questions(tf.data.Dataset.from_tensors(
      {"question": "who wrote hamlet",
       "answer": tf.constant(["William Shakespeare", "Shakespeare"])}))
  ex = next(iter(ds))
  assert ex["answer"].numpy() == b"William Shakespeare"
  assert list(ex["references"].numpy()) == [b"William Shakespeare",
                                            b"Shakespeare"]


def test_trivia_qa_references_add_aliases_and_normalized_aliases():
  ds = odqa.prepare_trivia_qa(tf.data.Dataset.from_tensors({
      "question": "Which planet is the Red Planet?",
      "answer": {"value": "Mars", "aliases": tf.constant(["Mars", "Planet Mars"]),
                 "normalized_aliases": tf.constant(["mars", "planet mars"]),
                 "normalized_value": "mars", "type": "WikipediaEntity",
                 "matched_wiki_entity_name": "",
                 "normalized_matched_wiki_entity_name": ""}}))
  ex = next(iter(ds.as_numpy_iterator()))
  assert ex["answer"] == b"Mars"
  assert list(ex["references"]) == [b"Mars", b"Planet Mars", b"mars",
                                    b"planet mars"]
  targets = [[r.decode() for r in ex["references"]]]
  assert metrics.trivia_qa(targets, ["planet mars"])["em"] == 100.0


@pytest.mark.parametrize("name", ("trivia_qa", "natural_questions"))
def test_generation_targets_reach_the_postprocessor_as_reference_lists(name):
  assert mock_helpers.check_references(name) >= 1
  spec = common.get_flan_dataset(name).spec
  assert spec.postprocess_fn is metrics.strip_postprocessor

"""FLAN 2021 structure-to-text cluster: mock pipelines, references, metric."""

import numpy as np
import pytest
import seqio
import tensorflow as tf

import mock_helpers
from flan_jax.data import metrics
from tasks.flan2021 import common
from tasks.flan2021 import structure_to_text

DATASETS = ("web_nlg_en", "common_gen", "e2e_nlg", "dart")


def _prepare(name, raw):
  ds = tf.data.Dataset.from_tensors(raw)
  for fn in common.get_flan_dataset(name).spec.prepare:
    ds = fn(ds)
  return list(ds.as_numpy_iterator())


def test_cluster_holds_the_four_gem_datasets():
  assert tuple(mock_helpers.dataset_names("structure_to_text")) == DATASETS
  for name in DATASETS:
    assert common.get_flan_dataset(name).tfds_name == f"gem/{name}"


@pytest.mark.parametrize("name", DATASETS)
def test_tasks_run_on_mock_data(name):
  assert mock_helpers.check_dataset(name) == 2
  task = seqio.get_mixture_or_task(
      common.get_flan_dataset(name).registered.generation_tasks[0])
  assert task.metric_fns == [metrics.rouge]
  spec = common.get_flan_dataset(name).spec
  assert spec.postprocess_fn is metrics.strip_postprocessor
  assert task.postprocess_fn(b" text ", example={}, is_target=True) == "text"


def test_web_nlg_triples_are_joined_and_readable():
  [row] = _prepare("web_nlg_en", {
      "input": ["Aarhus_Airport | cityServed | Aarhus",
                "Aarhus | country | Denmark"],
      "target": "Aarhus Airport serves Aarhus, Denmark.",
      "references": ["Aarhus Airport serves Aarhus, Denmark.", "Other."],
      "category": "Airport", "gem_id": "g", "gem_parent_id": "p",
      "webnlg_id": "w"})
  assert row["triples"] == (b"Aarhus Airport | cityServed | Aarhus; "
                            b"Aarhus | country | Denmark")
  assert row["answer"] == b"Aarhus Airport serves Aarhus, Denmark."


def test_blank_target_falls_back_to_first_reference():
  [row] = _prepare("common_gen", {
      "concepts": ["dog", "ball", "throw"], "concept_set_id": 1,
      "gem_id": "g", "gem_parent_id": "p", "target": "",
      "references": ["", "A man throws a ball to his dog.", "Second."]})
  assert row["concepts"] == b"dog, ball, throw"
  assert row["answer"] == b"A man throws a ball to his dog."
  assert row["references"].tolist() == [b"A man throws a ball to his dog.",
                                        b"Second."]


def test_e2e_keeps_the_meaning_representation():
  [row] = _prepare("e2e_nlg", {
      "meaning_representation": "name[The Eagle], food[French]",
      "target": "The Eagle serves French food.",
      "references": tf.constant([], tf.string),
      "gem_id": "g", "gem_parent_id": "p"})
  assert row["record"] == b"name[The Eagle], food[French]"
  assert row["answer"] == b"The Eagle serves French food."
  assert row["references"].tolist() == [b"The Eagle serves French food."]


def test_references_reach_the_metric_and_rouge_takes_the_best():
  post = metrics.strip_postprocessor
  example = {"references": np.array([b"the cat sat on the mat",
                                     b"a dog ran in the park", b""])}
  target = post(b"the cat sat on the mat", example=example, is_target=True)
  assert target == ["the cat sat on the mat", "a dog ran in the park"]
  # Without references the target stays one string; predictions are always
  # stripped text.
  assert post(" x ", example={}, is_target=True) == "x"
  assert post(" a dog ran in the park ", example=example) == \
      "a dog ran in the park"
  scores = metrics.rouge([target], ["a dog ran in the park"])
  assert scores["rouge1"] == pytest.approx(100.0)
  single = metrics.rouge(["the cat sat on the mat"], ["a dog ran in the park"])
  assert single["rouge1"] < 50.0

"""Generation tasks score against every reference an example carries."""

import numpy as np
import seqio
import tensorflow as tf

from flan_jax.data import metrics
from flan_jax.data.registry import DatasetSpec, register_dataset
from flan_jax.data.templates import Template


def _source(split, shuffle_files=False, seed=None):
  del split, shuffle_files, seed
  return tf.data.Dataset.from_tensor_slices({
      "question": ["Capital of France?", "Two plus two?"],
      "answer": ["Paris", "4"],
      "references": tf.ragged.constant([["Paris", "paris, France"],
                                        ["4", "four"]]).to_tensor(""),
  })


def test_generation_targets_become_the_reference_lists():
  register_dataset(DatasetSpec(
      name="multi_ref", collection="reftest",
      source=seqio.FunctionDataSource(_source, splits=("test",)),
      templates=[Template("{question}", "{answer}")],
      metric_fns=[metrics.squad]), overwrite=True)
  task = seqio.get_mixture_or_task("reftest:multi_ref:t0:gen")
  examples = list(task.get_dataset(None, split="test", shuffle=False)
                  .as_numpy_iterator())
  targets = [metrics.strip_postprocessor(ex["targets_pretokenized"], ex,
                                         is_target=True) for ex in examples]
  assert targets[0] == ["Paris", "paris, France"]
  assert targets[1] == ["4", "four"]  # padding "" dropped
  # A prediction matching the second reference counts.
  assert metrics.squad(targets, ["paris, France", "four"])["em"] == 100.0
  assert metrics.exact_match_accuracy(targets, ["Paris", "five"]) == {
      "accuracy": 50.0}
  # Without references, targets stay plain strings.
  plain = {"targets_pretokenized": b" x "}
  assert metrics.strip_postprocessor(b" x ", plain, is_target=True) == "x"
  assert np.isclose(metrics.exact_match_accuracy(["x"], ["x"])["accuracy"], 100)

"""Contamination check with planted overlaps, and the eval job's clean subset."""

import json
import os

import flax.linen as nn
import jax
import numpy as np
import pytest
import seqio
import tensorflow as tf

import toy_training
from flan_jax.checkpoints import checkpointer
from flan_jax.data import registry
from flan_jax.data.templates import Template
from flan_jax.evaluation import contamination
from flan_jax.evaluation import job

# The same 14 words of instructions in training and eval: template text
# must never make an example dirty, only the example's own fields.
PREAMBLE = ("Read the short text below with care and then answer the one "
            "question that follows it")
TRAIN_STORIES = [
    "the old farmer walked to the river every morning to watch the boats "
    "sail past the mill",
    "a small red kite flew over the hills until the wind dropped at night",
    "five quiet children sat in a row",
]
# index -> (text, dirty?)
EVAL_TEXTS = [
    # 13 words in a row from a training story
    ("yesterday the old farmer walked to the river every morning to watch "
     "the boats sail away", True),
    # only 12 in a row
    ("the old farmer walked to the river every morning to watch the geese "
     "fly past", False),
    # 10 words, whole, inside a training story (shorter than n: whole field)
    ("a small red kite flew over the hills until the wind", True),
    ("a big blue kite fell over the hills until the rain", False),
    # 5 words: too short to check (unchecked, counted clean)
    ("five quiet children sat in", False),
    # the same words as a training story, case and punctuation aside
    ("A SMALL, red kite -- flew over the hills until the wind dropped!",
     True),
]


def _source(rows):
  def dataset_fn(split, shuffle_files=False, seed=None):
    del shuffle_files, seed
    return tf.data.Dataset.from_tensor_slices(
        {k: [r[k] for r in rows] for k in rows[0]})
  return seqio.FunctionDataSource(
      dataset_fn, splits=("train", "test"),
      num_input_examples={"train": len(rows), "test": len(rows)})


def _register():
  if "plant:stories:train" in seqio.TaskRegistry.names():
    return
  train_rows = [{"text": s, "answer": "yes"} for s in TRAIN_STORIES]
  eval_rows = [{"text": t, "answer": "yes" if i % 2 else "no"}
               for i, (t, _) in enumerate(EVAL_TEXTS)]
  template = Template(PREAMBLE + ".\n{text}\nIs it long?\n{options_}",
                      "{answer}")
  for name, rows in (("stories", train_rows), ("questions", eval_rows)):
    registry.register_dataset(registry.DatasetSpec(
        name=name, collection="plant", source=_source(rows),
        templates=[template], options=("no", "yes")))


@pytest.fixture(scope="module")
def report():
  _register()
  return contamination.check("plant:stories:train", "plant:questions:t0:score",
                             n=13, min_words=8)


def test_planted_overlaps_are_found_and_nothing_else(report):
  found = report["datasets"]["plant:questions"]
  assert found["dirty"] == [i for i, (_, d) in enumerate(EVAL_TEXTS) if d]
  assert found["unchecked"] == 1
  assert found["fields"] == ["text"]  # not the options, not the template
  assert report["training_texts"] == 2 * len(TRAIN_STORIES)
  table = contamination.markdown(report)
  assert "| plant:questions | 6 | 3 | 3 | 1 | 50% |" in table


def test_the_eval_job_scores_the_clean_subset_too(report, tmp_path):
  path = str(tmp_path / "contamination.json")
  contamination.write_report(report, path)
  model = toy_training.tiny_model()
  shapes = {"encoder_input_tokens": (1, 8), "decoder_input_tokens": (1, 8)}
  params = jax.jit(lambda r: nn.unbox(model.init_variables(r, shapes)[
      "params"]))(jax.random.key(0))
  saver = checkpointer.Checkpointer(str(tmp_path / "run" / "checkpoints"))
  saver.save(0, params, {"count": np.zeros(1)}, force=True)
  saver.wait()
  saver.close()
  kwargs = dict(model=model, checkpoint=str(tmp_path / "run"),
                mixture_or_task_name="plant:questions:t0:score",
                selection_split=None, batch_size=16, write_examples=True)
  results = job.evaluate(output_dir=str(tmp_path / "eval"),
                         contamination=path, **kwargs)
  task = json.loads(open(tmp_path / "eval" / "tasks" /
                         "plant:questions:t0:score.json").read())
  assert task["clean_examples"] == 3
  rows = [json.loads(line) for line in open(
      tmp_path / "eval" / "examples" /
      "plant:questions:t0:score.test.jsonl")]
  clean = [r for r in rows if not EVAL_TEXTS[r["idx"]][1]]
  expected = 100 * np.mean([r["predicted"]["accuracy"] in r["correct"]
                            for r in clean])
  assert task["clean_metrics"]["accuracy"] == pytest.approx(expected)
  dataset = results["datasets"]["plant:questions"]
  assert dataset["clean_score"] == pytest.approx(expected)
  assert "clean subset" in open(tmp_path / "eval" / "results.md").read()
  assert results["config"]["contamination"]["training"] == (
      "plant:stories:train")
  # A report of another split, or without the task's dataset, is refused
  # before any work.
  other = dict(report, split="validation")
  contamination.write_report(other, path)
  with pytest.raises(job.EvalJobError, match="validation split"):
    job.evaluate(output_dir=str(tmp_path / "eval2"), contamination=path,
                 **kwargs)
  assert not os.path.exists(tmp_path / "eval2" / "tasks")

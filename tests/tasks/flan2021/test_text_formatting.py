"""FLAN 2021 text-formatting cluster: damage functions and mock pipelines."""

import pytest
import seqio
import tensorflow as tf

import mock_helpers
from flan_jax.data import metrics
from tasks.flan2021 import common
from tasks.flan2021 import text_formatting

DATASETS = ("true_case", "fix_punct", "word_segment")
SENTENCE = "Hello, World! It's Anna's café (in Århus)."


def _prepare(name, sentences):
  ds = tf.data.Dataset.from_tensor_slices(
      {"en": sentences, "da": ["x"] * len(sentences)})
  for fn in common.get_flan_dataset(name).spec.prepare:
    ds = fn(ds)
  return [{k: v.decode() for k, v in ex.items()}
          for ex in ds.as_numpy_iterator()]


def test_cluster_holds_three_datasets_over_one_source_split():
  assert tuple(mock_helpers.dataset_names("text_formatting")) == DATASETS
  sources = [common.get_flan_dataset(n).spec.source for n in DATASETS]
  assert {s.plain_tfds_name for s in sources} == {"para_crawl/enda"}
  # One split of sentences for all three: held out of one, held out of all.
  split_maps = [s.split_map for s in sources]
  assert all(m == text_formatting.SPLITS for m in split_maps)


@pytest.mark.parametrize("name", DATASETS)
def test_tasks_run_on_mock_data(name):
  assert mock_helpers.check_dataset(name) == 2
  task = seqio.get_mixture_or_task(
      common.get_flan_dataset(name).registered.generation_tasks[0])
  assert task.metric_fns == [metrics.mean_edit_distance]


@pytest.mark.parametrize("name, damaged", [
    ("true_case", "hello, world! it's anna's café (in århus)."),
    ("fix_punct", "Hello World Its Annas café in Århus"),
    ("word_segment", "Hello,World!It'sAnna'scafé(inÅrhus)."),
])
def test_damage_and_original_target(name, damaged):
  rows = _prepare(name, [SENTENCE, "   ", "Two  words"])
  assert rows[0] == {"text": damaged, "answer": SENTENCE}
  # The blank sentence is dropped; the original is the stripped sentence.
  assert len(rows) == 2 and rows[1]["answer"] == "Two  words"


def test_punctuation_removal_squeezes_spaces():
  text = text_formatting.strip_punctuation(tf.constant("Yes - no , maybe ."))
  assert text.numpy().decode() == "Yes no maybe"

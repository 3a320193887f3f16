"""FLAN 2021 sentiment cluster on TFDS mock data and hand-made examples."""

import pytest
import tensorflow as tf

import mock_helpers
from tasks.flan2021 import sentiment

EXPECTED = ("imdb_reviews", "sentiment140", "yelp_polarity_reviews", "sst2")


def test_cluster_has_the_four_datasets_of_flan():
  assert tuple(mock_helpers.dataset_names("sentiment")) == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_dataset_runs_on_mock_data(name):
  every = name == "imdb_reviews"
  # imdb: 1 training task + 7 generation + 7 scoring tasks (3 inverted).
  assert mock_helpers.check_dataset(name, every_variant=every) == (
      15 if every else 3)


def test_sentiment140_folds_five_labels_and_drops_neutral():
  tweets = {"text": ["awful", "meh bad", "neutral", "nice", "great"],
            "polarity": [0, 1, 2, 3, 4]}
  ds = sentiment.prepare_sentiment140(tf.data.Dataset.from_tensor_slices(
      tweets))
  got = [(ex["text"].decode(), ex["answer"].decode())
         for ex in ds.as_numpy_iterator()]
  assert got == [("awful", "negative"), ("meh bad", "negative"),
                 ("nice", "positive"), ("great", "positive")]


def test_binary_labels_map_to_options():
  ds = sentiment.prepare_binary_label("sentence")(
      tf.data.Dataset.from_tensor_slices({"sentence": ["bad", "good"],
                                          "label": [0, 1], "idx": [0, 1]}))
  assert [ex["answer"] for ex in ds.as_numpy_iterator()] == [b"negative",
                                                             b"positive"]

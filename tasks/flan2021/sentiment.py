"""FLAN 2021 cluster `sentiment`: IMDB, Sentiment140, Yelp polarity, SST-2.

All four are binary: the answer is "negative" or "positive", listed as
options. Sentiment140's labels run 0 (negative) .. 4 (positive); they are
folded to the two classes (below 2 -> negative, above 2 -> positive) and the
neutral middle (2) is dropped, as FLAN did.

Each dataset has its own ten templates, worded for what it holds (a movie
review, a tweet, a business review, a phrase from a film review); the last
two or three of each set are inverted ("write a positive tweet ..."), whose
targets are free text and so are trained on but not evaluated.
"""

from __future__ import annotations

import seqio
import tensorflow as tf

from flan_jax.data import metrics
from flan_jax.data.templates import Template
from tasks.flan2021 import common

CLUSTER = "sentiment"

# IMDB, Sentiment140 and Yelp have no validation split: it is carved from the
# tail of train (which training never reads), and their test split is kept.
SPLITS_TEST_WITH_VALIDATION_FROM_TRAIN = common.splits(
    train=f"train[:-{common.VALIDATION_SIZE}]",
    validation=f"train[-{common.VALIDATION_SIZE}:]",
    test="test")
OPTIONS = ("negative", "positive")

# Sentiment140 polarity value of a neutral tweet; lower is negative.
SENTIMENT140_NEUTRAL = 2


def prepare_binary_label(text_field: str):
  """{text_field, label (0 negative / 1 positive)} -> {text, answer}."""

  @seqio.map_over_dataset
  def prepare(ex):
    return {
        "text": ex[text_field],
        "answer": tf.gather(tf.constant(OPTIONS), tf.cast(ex["label"],
                                                          tf.int32)),
    }

  return prepare


def prepare_sentiment140(ds: tf.data.Dataset) -> tf.data.Dataset:
  """Drops neutral tweets and folds the 0..4 polarity to negative/positive."""
  ds = ds.filter(lambda ex: tf.not_equal(ex["polarity"], SENTIMENT140_NEUTRAL))

  def fold(ex):
    positive = tf.cast(ex["polarity"] > SENTIMENT140_NEUTRAL, tf.int32)
    return {"text": ex["text"], "answer": tf.gather(tf.constant(OPTIONS),
                                                    positive)}

  return ds.map(fold, num_parallel_calls=tf.data.AUTOTUNE)


IMDB_TEMPLATES = (
    Template("{text}\n\nDid the person who wrote this movie review like the "
             "film?\n{options_}", "{answer}"),
    Template("Here is a review of a film:\n{text}\n\nIs its tone negative "
             "or positive?\n{options_}", "{answer}"),
    Template("Movie review: {text}\nWhat is the sentiment of this review?\n"
             "{options_}", "{answer}"),
    Template("Read the following opinion about a movie and decide how the "
             "writer feels about it.\n\n{text}\n{options_}", "{answer}"),
    Template("{text}\nWould you say this critic recommends the movie? "
             "Answer with the sentiment.\n{options_}", "{answer}"),
    Template("Classify the sentiment of this IMDB review.\n\n{text}\n"
             "{options_}", "{answer}"),
    Template("What kind of review is this, judging by its attitude toward "
             "the film?\n{text}\n{options_}", "{answer}"),
    Template("Write a movie review that is {answer} in tone.", "{text}",
             inverted=True),
    Template("Compose a {answer} review of a film you have watched.",
             "{text}", inverted=True),
    Template("Someone wants to post a {answer} opinion of a movie online. "
             "Write it for them.", "{text}", inverted=True),
)

SENTIMENT140_TEMPLATES = (
    Template("Tweet: {text}\nWhat mood does this tweet express?\n"
             "{options_}", "{answer}"),
    Template("{text}\n\nIs the person who posted this feeling good or "
             "bad? Pick the sentiment.\n{options_}", "{answer}"),
    Template("Decide whether the following tweet is negative or "
             "positive.\n\n{text}\n{options_}", "{answer}"),
    Template("Here is a short social media post: \"{text}\"\nHow would you "
             "describe its sentiment?\n{options_}", "{answer}"),
    Template("{text}\nWhich sentiment fits this message best?\n{options_}",
             "{answer}"),
    Template("Label the emotion of this tweet as one of the options.\n"
             "{text}\n{options_}", "{answer}"),
    Template("What is the attitude of the author of this tweet?\n\n{text}"
             "\n{options_}", "{answer}"),
    Template("Read this tweet and tell me if it sounds upbeat or "
             "unhappy.\n{text}\n{options_}", "{answer}"),
    Template("Write a tweet that sounds {answer}.", "{text}",
             inverted=True),
    Template("Post a short {answer} message, the kind people share on "
             "Twitter.", "{text}", inverted=True),
)

YELP_TEMPLATES = (
    Template("{text}\n\nWas this customer happy with the business?\n"
             "{options_}", "{answer}"),
    Template("Review of a local business: {text}\nIs the review negative "
             "or positive?\n{options_}", "{answer}"),
    Template("Here is a Yelp review.\n\n{text}\n\nHow did the writer feel "
             "about their visit?\n{options_}", "{answer}"),
    Template("Determine the sentiment of the following review of a "
             "restaurant or shop.\n{text}\n{options_}", "{answer}"),
    Template("{text}\nBased on this review, would the reviewer come back? "
             "Give the overall sentiment.\n{options_}", "{answer}"),
    Template("What is the tone of this customer review?\n\n{text}\n"
             "{options_}", "{answer}"),
    Template("Sort this review into one of the sentiment classes.\n"
             "Review: {text}\n{options_}", "{answer}"),
    Template("Write a {answer} Yelp review of a place you visited.",
             "{text}", inverted=True),
    Template("Imagine you just left a restaurant and your experience was "
             "{answer}. Write the review you would post.", "{text}",
             inverted=True),
    Template("Give an example of a {answer} customer review for a local "
             "business.", "{text}", inverted=True),
)

SST2_TEMPLATES = (
    Template("Phrase from a film review: \"{text}\"\nIs this phrase "
             "negative or positive?\n{options_}", "{answer}"),
    Template("{text}\n\nWhat sentiment does this snippet about a movie "
             "convey?\n{options_}", "{answer}"),
    Template("Does the following sentence speak well or badly of the "
             "movie?\n{text}\n{options_}", "{answer}"),
    Template("Classify this movie review excerpt by its sentiment.\n\n"
             "{text}\n{options_}", "{answer}"),
    Template("A critic wrote: {text}\nHow does the critic feel here?\n"
             "{options_}", "{answer}"),
    Template("Sentence: {text}\nSentiment:\n{options_}", "{answer}"),
    Template("Is the writer of this line pleased or displeased with the "
             "film?\n\"{text}\"\n{options_}", "{answer}"),
    Template("Tell me the sentiment of the words below.\n{text}\n"
             "{options_}", "{answer}"),
    Template("Write a short {answer} sentence that could appear in a "
             "movie review.", "{text}", inverted=True),
    Template("Give me a {answer} remark about a film in a few words.",
             "{text}", inverted=True),
)


def _register_all() -> None:
  shared = dict(cluster=CLUSTER, options=OPTIONS,
                metric_fns=[metrics.exact_match_accuracy])
  common.register_flan_dataset(
      name="imdb_reviews",
      tfds_name="imdb_reviews/plain_text",
      splits=SPLITS_TEST_WITH_VALIDATION_FROM_TRAIN,
      prepare=[prepare_binary_label("text")],
      templates=IMDB_TEMPLATES,
      **shared)
  common.register_flan_dataset(
      name="sentiment140",
      tfds_name="sentiment140",
      splits=SPLITS_TEST_WITH_VALIDATION_FROM_TRAIN,
      prepare=[prepare_sentiment140],
      templates=SENTIMENT140_TEMPLATES,
      **shared)
  common.register_flan_dataset(
      name="yelp_polarity_reviews",
      tfds_name="yelp_polarity_reviews",
      splits=SPLITS_TEST_WITH_VALIDATION_FROM_TRAIN,
      prepare=[prepare_binary_label("text")],
      templates=YELP_TEMPLATES,
      **shared)
  common.register_flan_dataset(
      name="sst2",
      tfds_name="glue/sst2",
      splits=common.SPLITS_VALIDATION_AS_TEST,
      prepare=[prepare_binary_label("sentence")],
      templates=SST2_TEMPLATES,
      **shared)


_register_all()

"""FLAN 2021 cluster `text_formatting`: restore a damaged English sentence.

Three datasets made from the English side of ParaCrawl's English-Danish
corpus (TFDS ``para_crawl/enda``), each damaging the sentence a different
way; the target is always the original sentence:

* ``true_case``: every letter lower-cased;
* ``fix_punct``: every punctuation mark removed (spaces then squeezed);
* ``word_segment``: every space removed.

The damage is done in tf ops at preparation time, so the three share one
source and one split of sentences: a sentence held out of one is held out of
all three. Scored by character edit distance (lower is better) and exact
match.
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from flan_jax.data import metrics
from flan_jax.data.templates import Template
from tasks.flan2021 import common

CLUSTER = "text_formatting"
TFDS_NAME = "para_crawl/enda"

# ParaCrawl has only a train split: the last 1,200 sentences are held out,
# 200 for validation and 1,000 for test.
SPLITS = common.splits(train="train[:-1200]",
                       validation="train[-1200:-1000]",
                       test="train[-1000:]")


def lower_case(sentence: tf.Tensor) -> tf.Tensor:
  return tf.strings.lower(sentence, encoding="utf-8")


def strip_punctuation(sentence: tf.Tensor) -> tf.Tensor:
  """Drops Unicode punctuation (\\pP), then squeezes the spaces left over."""
  text = tf.strings.regex_replace(sentence, r"\pP", "")
  text = tf.strings.regex_replace(text, r"\s+", " ")
  return tf.strings.strip(text)


def remove_spaces(sentence: tf.Tensor) -> tf.Tensor:
  return tf.strings.regex_replace(sentence, r"\s+", "")


def _damaged_english(damage: Callable[[tf.Tensor], tf.Tensor]):
  """Preparation: {"text": damage(english), "answer": english}, skipping
  blank sentences."""

  def prepare(ds: tf.data.Dataset) -> tf.data.Dataset:
    ds = ds.map(lambda ex: tf.strings.strip(ex["en"]),
                num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.filter(lambda sentence: tf.strings.length(sentence) > 0)
    return ds.map(lambda sentence: {"text": damage(sentence),
                                    "answer": sentence},
                  num_parallel_calls=tf.data.AUTOTUNE)

  return prepare


_TRUE_CASE_TEMPLATES = [
    Template("{text}\n\nRewrite the sentence above with correct "
             "capitalisation.", "{answer}"),
    Template("Fix the upper and lower case letters in this text: {text}",
             "{answer}"),
    Template("This sentence was typed without capital letters:\n{text}\n"
             "Add the capitals where they belong.", "{answer}"),
    Template("Lower-case text: {text}\nProperly capitalised text:",
             "{answer}"),
    Template("Please capitalise this correctly.\n\n{text}", "{answer}"),
    Template("{text}\nHow should this be written with proper case?",
             "{answer}"),
    Template("Restore the capital letters (names, sentence starts and so "
             "on) in the following text.\n{text}", "{answer}"),
    Template("Correct the casing: {text}", "{answer}"),
    Template("Write this sentence entirely in lower case:\n{answer}",
             "{text}", inverted=True),
    Template("{answer}\n\nHow would this look if someone typed it without "
             "ever using the shift key?", "{text}", inverted=True),
]

_FIX_PUNCT_TEMPLATES = [
    Template("Add punctuation to this sentence:\n\n{text}", "{answer}"),
    Template("{text}\n\nThe text above has lost its punctuation. Put it "
             "back.", "{answer}"),
    Template("Insert the missing commas, full stops, apostrophes and other "
             "marks: {text}", "{answer}"),
    Template("Unpunctuated: {text}\nPunctuated:", "{answer}"),
    Template("Someone forgot every punctuation mark in this text. Fix it.\n"
             "{text}", "{answer}"),
    Template("How should the following be punctuated?\n{text}", "{answer}"),
    Template("Please correct the punctuation.\n\n{text}", "{answer}"),
    Template("{text}\nRewrite this with proper punctuation.", "{answer}"),
    Template("Remove all punctuation from this sentence:\n{answer}",
             "{text}", inverted=True),
    Template("{answer}\n\nWrite the same words with no punctuation marks "
             "at all.", "{text}", inverted=True),
]

_WORD_SEGMENT_TEMPLATES = [
    Template("Add spaces between the words: {text}", "{answer}"),
    Template("{text}\n\nThe spaces were removed from this sentence. Put "
             "them back.", "{answer}"),
    Template("Split this run-together text into separate words.\n{text}",
             "{answer}"),
    Template("Text without spaces: {text}\nText with spaces:", "{answer}"),
    Template("Please make this readable by inserting the missing spaces.\n\n"
             "{text}", "{answer}"),
    Template("{text}\nWhat does this say? Write it with normal word "
             "spacing.", "{answer}"),
    Template("Segment the following string into words: {text}", "{answer}"),
    Template("Here is a sentence whose words all run into each other:\n"
             "{text}\nSeparate them.", "{answer}"),
    Template("Delete every space from this sentence:\n{answer}", "{text}",
             inverted=True),
    Template("{answer}\n\nWrite the sentence above as one long string with "
             "no spaces.", "{text}", inverted=True),
]

for _name, _damage, _templates in (
    ("true_case", lower_case, _TRUE_CASE_TEMPLATES),
    ("fix_punct", strip_punctuation, _FIX_PUNCT_TEMPLATES),
    ("word_segment", remove_spaces, _WORD_SEGMENT_TEMPLATES),
):
  common.register_flan_dataset(
      name=_name, cluster=CLUSTER, tfds_name=TFDS_NAME, splits=SPLITS,
      prepare=[_damaged_english(_damage)], templates=_templates,
      metric_fns=[metrics.mean_edit_distance])

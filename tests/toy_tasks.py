"""A tiny registered collection ("toy") for tests: two clusters, four datasets.

    polarity  (cluster mood)   classification, constant options
    choice    (cluster mood)   classification, per-example options
    echo      (cluster copy)   generation: repeat the word
    shout     (cluster copy)   generation: the word's mapped partner

Import registers everything once.
"""

import random

import seqio
import tensorflow as tf

from flan_jax.data import mixtures
from flan_jax.data import registry
from flan_jax.data.templates import Template

SIZES = {"train": 64, "validation": 16, "test": 16}
GOOD = ["great", "happy", "fine", "nice"]
BAD = ["awful", "sad", "poor", "bleak"]
WORDS = ["apple", "river", "stone", "cloud", "green", "seven"]


def _source(make_example, name):

  def dataset_fn(split, shuffle_files=False, seed=None):
    del shuffle_files, seed
    rng = random.Random(f"toy-{name}-{split}")
    rows = [make_example(rng) for _ in range(SIZES[split])]
    return tf.data.Dataset.from_tensor_slices(
        {k: [r[k] for r in rows] for k in rows[0]})

  return seqio.FunctionDataSource(dataset_fn, splits=tuple(SIZES),
                                  num_input_examples=dict(SIZES))


def _polarity(rng):
  good = rng.random() < 0.5
  return {"text": " ".join(rng.sample(GOOD if good else BAD, 2)),
          "answer": "good" if good else "bad"}


def _choice(rng):
  word = rng.choice(WORDS)
  others = rng.sample([w for w in WORDS if w != word], 2)
  options = sorted([word, *others])
  return {"word": word, "options": options, "answer": word}


def _echo(rng):
  word = rng.choice(WORDS)
  return {"word": word, "answer": word}


def _shout(rng):
  i = rng.randrange(len(WORDS))
  return {"word": WORDS[i], "answer": WORDS[(i + 1) % len(WORDS)]}


SPECS = [
    registry.DatasetSpec(
        "polarity", _source(_polarity, "polarity"), collection="toy",
        options=("bad", "good"),
        templates=[
            Template("{text}\nGood or bad?\n{options_}", "{answer}"),
            Template("Is the mood of \"{text}\" good or bad? {options_}",
                     "{answer}"),
            Template("Write two {answer} words.", "{text}", inverted=True),
        ]),
    registry.DatasetSpec(
        "choice", _source(_choice, "choice"), collection="toy",
        templates=[
            Template("Pick {word}.\n{options_}", "{answer}"),
            Template("Which one is {word}? {options_}", "{answer}"),
        ]),
    registry.DatasetSpec(
        "echo", _source(_echo, "echo"), collection="toy",
        templates=[
            Template("Repeat: {word}", "{answer}"),
            Template("Say {word} again.", "{answer}"),
        ]),
    registry.DatasetSpec(
        "shout", _source(_shout, "shout"), collection="toy",
        templates=[
            Template("Partner of {word}?", "{answer}"),
            Template("{word} goes with", "{answer}"),
        ]),
]

CLUSTERS = {"mood": ("polarity", "choice"), "copy": ("echo", "shout")}

REGISTERED = [registry.register_dataset(spec) for spec in SPECS]
MIXTURES = mixtures.register_cluster_mixtures("toy", CLUSTERS)

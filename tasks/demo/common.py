"""Shared machinery of the demo suite: seeded example generation and sources.

Every demo dataset is a Python function ``make_example(rng) -> dict`` that
draws one example from a `random.Random`. `function_source` turns it into a
`seqio.FunctionDataSource` with train / validation / test splits:

* each split has its own generator, seeded by the string
  ``"<SEED>:<dataset>:<split>"`` (string seeds hash with SHA-512, so they are
  stable across processes and Python runs, unlike ``hash()``); datasets that
  are two views of the same examples (a translation pair) share one name
  here, so neither one's held-out splits occur in the other's train split;
* validation and test skip any example whose input already occurs in train
  (or in validation, for test), so evaluation never sees a training input.

Examples are plain dicts of strings; a per-example answer list is stored under
``options`` as a list of strings and becomes a 1-D string tensor.
"""

from __future__ import annotations

import functools
import random
from typing import Callable, Mapping

import seqio
import tensorflow as tf

SEED = 2021
TRAIN_SIZE = 2000
VALIDATION_SIZE = 100
TEST_SIZE = 100
SPLIT_SIZES = {"train": TRAIN_SIZE, "validation": VALIDATION_SIZE,
               "test": TEST_SIZE}
# Draws allowed per held-out example before the generator counts as too small.
_MAX_DRAWS_PER_EXAMPLE = 200

Example = dict[str, object]
MakeExample = Callable[[random.Random], Example]

# dataset name -> (seed name, generator), filled in by `function_source`.
_GENERATORS: dict[str, tuple[str, MakeExample]] = {}

# Small word lists shared by several clusters, so the whole suite keeps a
# vocabulary of a few hundred words.
NAMES = ("Anna", "Ben", "Carl", "Dora", "Emil", "Fay", "Gus", "Hana", "Ivan",
         "Jill", "Kurt", "Lena")
CITIES = ("Paris", "Rome", "Oslo", "Cairo", "Lima", "Tokyo", "Dublin",
          "Madrid", "Vienna", "Delhi")
COLOURS = ("red", "blue", "green", "black", "white", "yellow", "brown",
           "pink")
THINGS = ("bike", "car", "hat", "cup", "bag", "coat", "lamp", "kite", "boat",
          "desk")
JOBS = ("doctor", "baker", "pilot", "farmer", "teacher", "singer", "nurse",
        "painter", "driver", "writer")
TRAIT_PAIRS = (("tall", "short"), ("young", "old"), ("quiet", "loud"),
               ("rich", "poor"), ("strong", "weak"), ("kind", "rude"))
# What the NLI premises and reading passages say about a person.
FACT_KINDS = ("trait", "home", "job", "possession")
NOUNS = ("apple", "river", "stone", "cloud", "horse", "table", "garden",
         "window", "bread", "tiger", "pencil", "mountain", "flower", "candle",
         "forest", "rabbit", "bottle", "island", "ladder", "violin")


def input_key(example: Mapping[str, object], answer_field: str = "answer"):
  """What identifies an example's input: every field but the answer."""
  return tuple(sorted((k, str(v)) for k, v in example.items()
                      if k != answer_field))


def _draw_new(name: str, split: str, make_example: MakeExample, size: int,
              seen: set) -> list[Example]:
  """Draws `size` examples whose inputs are not in `seen` (updated)."""
  rng = random.Random(f"{SEED}:{name}:{split}")
  examples = []
  for _ in range(size * _MAX_DRAWS_PER_EXAMPLE):
    if len(examples) == size:
      return examples
    example = make_example(rng)
    key = input_key(example)
    if key not in seen:
      seen.add(key)
      examples.append(example)
  raise ValueError(f"demo dataset '{name}': could not draw {size} {split} "
                   "examples unseen in earlier splits; its generator space is "
                   "too small")


@functools.lru_cache(maxsize=None)
def split_examples(seed_name: str,
                   make_example: MakeExample) -> dict[str, list[Example]]:
  """Every split of a generator, made once per process and cached."""
  # Train may repeat an input (small generator spaces); held-out splits never
  # repeat one from an earlier split.
  rng = random.Random(f"{SEED}:{seed_name}:train")
  train = [make_example(rng) for _ in range(TRAIN_SIZE)]
  seen = {input_key(ex) for ex in train}
  validation = _draw_new(seed_name, "validation", make_example,
                         VALIDATION_SIZE, seen)
  test = _draw_new(seed_name, "test", make_example, TEST_SIZE, seen)
  return {"train": train, "validation": validation, "test": test}


def examples(name: str, split: str) -> list[Example]:
  """The examples of one split of a demo dataset, as Python dicts."""
  if name not in _GENERATORS:
    raise KeyError(f"no demo dataset '{name}'; known: "
                   f"{', '.join(sorted(_GENERATORS))}")
  if split not in SPLIT_SIZES:
    raise ValueError(f"demo dataset '{name}' has no split '{split}'; splits: "
                     f"{', '.join(SPLIT_SIZES)}")
  return split_examples(*_GENERATORS[name])[split]


def _to_dataset(rows: list[Example]) -> tf.data.Dataset:
  columns = {key: [row[key] for row in rows] for key in rows[0]}
  tensors = {key: tf.constant(values, tf.string)
             for key, values in columns.items()}
  return tf.data.Dataset.from_tensor_slices(tensors)


def function_source(name: str, make_example: MakeExample, *,
                    seed_name: str | None = None) -> seqio.FunctionDataSource:
  """A seqio source whose splits are generated by `make_example`.

  Args:
    name: the dataset's name.
    make_example: draws one example from a `random.Random`.
    seed_name: seeds the generator instead of `name`; datasets given the
      same seed_name and make_example get the very same examples.
  """
  generator = (seed_name or name, make_example)
  if _GENERATORS.setdefault(name, generator) != generator:
    raise ValueError(f"two demo datasets are named '{name}'")

  def dataset_fn(split: str, shuffle_files: bool = False,
                 seed: int | None = None) -> tf.data.Dataset:
    # One in-memory "file" per split: nothing to shuffle, and the examples
    # themselves come from the fixed per-split seed, not from `seed`.
    del shuffle_files, seed
    return _to_dataset(examples(name, split))

  return seqio.FunctionDataSource(dataset_fn, splits=tuple(SPLIT_SIZES),
                                  num_input_examples=dict(SPLIT_SIZES))


def random_fact(rng: random.Random, person: str, kind: str) -> str:
  """A sentence stating a random fact of one of FACT_KINDS about `person`."""
  if kind == "trait":
    return f"{person} is {rng.choice(rng.choice(TRAIT_PAIRS))}."
  if kind == "home":
    return f"{person} lives in {rng.choice(CITIES)}."
  if kind == "job":
    return f"{person} is a {rng.choice(JOBS)}."
  if kind == "possession":
    return f"{person} has a {rng.choice(COLOURS)} {rng.choice(THINGS)}."
  raise ValueError(f"unknown fact kind '{kind}'; known: {FACT_KINDS}")


def pick(rng: random.Random, pool, k: int) -> list:
  """k distinct items of `pool`, in random order."""
  return rng.sample(list(pool), k)

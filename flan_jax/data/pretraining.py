"""Pretraining objectives as seqio preprocessors, and plain-text tasks.

A pretraining task reads documents (a ``text`` field), tokenizes them and
turns each into an (inputs, targets) pair by one of two objectives; the
trainer, feature converters and checkpoints are the same as for
instruction tuning. Both objectives work on token ids, after tokenizing.

Span corruption (T5's objective): about `noise_density` of the tokens, in
spans of `mean_span_length` on average, are cut out of the input; each span
is replaced by its own sentinel id, and the target lists the sentinels, each
followed by the tokens it replaced. Tokens 1..8 with noise spans {3, 4} and {8}::

    tokens   1 2 3 4 5 6 7 8
    inputs   1 2 S0 5 6 7 S1
    targets  S0 3 4 S1 8

Prefix LM (T5's "LM adaptation"): the document is cut at a random point;
the input is the part before it and the target the rest::

    tokens   1 2 3 4 5 6 7 8 9      (cut after 4)
    inputs   1 2 3 4
    targets  5 6 7 8 9

Given the ids that end a sentence, the cut falls between two sentences, so
that the target is whole sentences and what they say follows from the
input (an encoder-decoder then learns to say in its decoder what its
encoder read, which is how it answers after instruction tuning).

Sentinel ids: with a vocabulary that has extra ids (T5's 100), sentinel i
is ``vocab_size - 1 - i`` as in T5; without extra ids (the shipped demo
vocabulary) it is ``vocab_size + i``, just past the vocabulary, so the
model's embedding must hold `vocab_size + MAX_SENTINELS` ids (the demo
model has 1024 for 900 pieces). `register_pretraining_task` checks neither
model nor vocabulary; `sentinel_ids` says which ids a vocabulary uses.

Randomness comes from seqio's per-example seeds, so the same task seed
gives the same spans and cuts on every run.
"""

from __future__ import annotations

import functools

import seqio
import tensorflow as tf

from flan_jax.data import vocab as vocab_lib

SPAN_CORRUPTION, PREFIX_LM, MIXED = "span_corruption", "prefix_lm", "mixed"
OBJECTIVES = (SPAN_CORRUPTION, PREFIX_LM, MIXED)
MAX_SENTINELS = 100
TEXT_FIELD = "text"


def sentinel_ids(vocabulary: seqio.Vocabulary, count: int = MAX_SENTINELS
                 ) -> list[int]:
  """The ids of sentinels 0..count-1 for `vocabulary` (see module doc)."""
  if vocabulary.extra_ids:
    if count > vocabulary.extra_ids:
      raise ValueError(f"{count} sentinels asked of a vocabulary with only "
                       f"{vocabulary.extra_ids} extra ids")
    return [vocabulary.vocab_size - 1 - i for i in range(count)]
  return [vocabulary.vocab_size + i for i in range(count)]


def _random_partition(total: tf.Tensor, parts: tf.Tensor, seed: tf.Tensor
                      ) -> tf.Tensor:
  """`parts` positive integers summing to `total`, uniformly at random.

  Cuts [0, total) at parts-1 distinct points drawn from 1..total-1.
  """
  order = tf.argsort(tf.random.stateless_uniform([total - 1], seed))
  cuts = tf.sort(order[:parts - 1] + 1)
  bounds = tf.concat([[0], cuts, [total]], axis=0)
  return bounds[1:] - bounds[:-1]


def random_span_mask(length: tf.Tensor, seed: tf.Tensor,
                     noise_density: float = 0.15,
                     mean_span_length: float = 3.0) -> tf.Tensor:
  """A boolean mask over `length` tokens: True where a token is cut out.

  The tokens alternate kept / noise spans, starting with a kept one, with
  `round(length * noise_density)` noise tokens (at least 1, at most
  length - 1) in `round(noise / mean_span_length)` spans (at least 1).
  Sequences of fewer than 2 tokens get no noise.
  """
  length = tf.cast(length, tf.int32)
  if_short = tf.zeros([length], tf.bool)

  def mask():
    noise = tf.cast(tf.round(tf.cast(length, tf.float32) * noise_density),
                    tf.int32)
    noise = tf.clip_by_value(noise, 1, length - 1)
    spans = tf.cast(tf.round(tf.cast(noise, tf.float32) / mean_span_length),
                    tf.int32)
    spans = tf.clip_by_value(spans, 1, tf.minimum(noise, length - noise))
    seeds = tf.random.experimental.stateless_split(seed, 2)
    noise_lengths = _random_partition(noise, spans, seeds[0])
    kept_lengths = _random_partition(length - noise, spans, seeds[1])
    # kept_0, noise_0, kept_1, noise_1, ...
    lengths = tf.reshape(tf.stack([kept_lengths, noise_lengths], axis=1), [-1])
    flags = tf.tile([False, True], [spans])
    return tf.repeat(flags, lengths)

  return tf.cond(length < 2, lambda: if_short, mask)


def _replace_spans(tokens: tf.Tensor, mask: tf.Tensor,
                   sentinels: tf.Tensor) -> tf.Tensor:
  """Each run of masked tokens becomes one sentinel (the k-th run: the k-th
  sentinel); unmasked tokens are kept."""
  previous = tf.concat([[False], mask[:-1]], axis=0)
  starts = tf.logical_and(mask, tf.logical_not(previous))
  span_index = tf.cumsum(tf.cast(starts, tf.int32)) - 1
  replaced = tf.where(starts, tf.gather(sentinels,
                                        tf.maximum(span_index, 0)), tokens)
  keep = tf.logical_or(tf.logical_not(mask), starts)
  return tf.boolean_mask(replaced, keep)


def span_corruption_pair(tokens: tf.Tensor, seed: tf.Tensor,
                         sentinels: tf.Tensor, noise_density: float = 0.15,
                         mean_span_length: float = 3.0
                         ) -> tuple[tf.Tensor, tf.Tensor]:
  """(inputs, targets) of span corruption for one token sequence."""
  mask = random_span_mask(tf.size(tokens), seed, noise_density,
                          mean_span_length)
  # Spans alternate kept, noise, kept, noise...: the k-th kept span, cut
  # from the target, becomes the sentinel announcing the k-th noise span.
  return (_replace_spans(tokens, mask, sentinels),
          _replace_spans(tokens, tf.logical_not(mask), sentinels))


def prefix_lm_pair(tokens: tf.Tensor, seed: tf.Tensor,
                   boundary_ids: tf.Tensor | None = None
                   ) -> tuple[tf.Tensor, tf.Tensor]:
  """(inputs, targets): a random cut, at least one token on each side.

  With `boundary_ids` (tokens that end a sentence), the cut falls after one
  of them, so the target starts with a whole sentence; a sequence with no
  such token inside is cut anywhere.
  """
  length = tf.size(tokens)
  anywhere = tf.random.stateless_uniform([], seed, 1, tf.maximum(length, 2),
                                         tf.int32)
  if boundary_ids is None:
    return tokens[:anywhere], tokens[anywhere:]
  ends = tf.reduce_any(tokens[:-1, None] == boundary_ids[None, :], axis=1)
  after = tf.cast(tf.where(ends)[:, 0], tf.int32) + 1  # cuts, none at the end
  pick = tf.random.stateless_uniform([], seed, 0,
                                     tf.maximum(tf.size(after), 1), tf.int32)
  cut = tf.cond(tf.size(after) > 0, lambda: after[pick], lambda: anywhere)
  return tokens[:cut], tokens[cut:]


def sentence_end_ids(vocabulary: seqio.Vocabulary) -> list[int]:
  """Ids of the pieces that end a sentence (their text ends in . ! or ?)."""
  ids = []
  for i in range(vocabulary.vocab_size):
    try:
      piece = vocabulary.decode([i])
    except Exception:  # pylint: disable=broad-except  (ids with no text)
      continue
    if piece.rstrip().endswith((".", "!", "?")):
      ids.append(i)
  return ids


def objective_preprocessor(objective: str, sentinels: list[int], *,
                           noise_density: float = 0.15,
                           mean_span_length: float = 3.0,
                           max_tokens: int | None = None,
                           boundary_ids: list[int] | None = None):
  """The seqio preprocessor turning tokenized `targets` into a pair.

  Args:
    objective: SPAN_CORRUPTION, PREFIX_LM, or MIXED (each document gets one
      of the two, half of the time each).
    sentinels: sentinel ids (`sentinel_ids(vocabulary)`).
    max_tokens: documents are cut to their first max_tokens tokens first
      (default: the task's input length minus one, so inputs never trim).
    boundary_ids: sentence-ending token ids; prefix LM then cuts between
      sentences (`sentence_end_ids`).
  """
  if objective not in OBJECTIVES:
    raise ValueError(f"unknown pretraining objective '{objective}'; choose "
                     f"one of {', '.join(OBJECTIVES)}")
  sentinels = tf.constant(sentinels, tf.int32)
  boundaries = (None if not boundary_ids else
                tf.constant(boundary_ids, tf.int32))

  def pair(tokens, seed):
    seeds = tf.random.experimental.stateless_split(seed, 3)
    span = lambda: span_corruption_pair(tokens, seeds[0], sentinels,
                                        noise_density, mean_span_length)
    prefix = lambda: prefix_lm_pair(tokens, seeds[1], boundaries)
    if objective == SPAN_CORRUPTION:
      return span()
    if objective == PREFIX_LM:
      return prefix()
    coin = tf.random.stateless_uniform([], seeds[2]) < 0.5
    return tf.cond(coin, span, prefix)

  def preprocess(ds: tf.data.Dataset, sequence_length=None
                 ) -> tf.data.Dataset:
    limit = max_tokens
    if limit is None and sequence_length and sequence_length.get("inputs"):
      limit = sequence_length["inputs"] - 1

    @seqio.map_over_dataset(num_seeds=1)
    def make_pair(ex, seed):
      tokens = tf.cast(ex["targets"], tf.int32)
      if limit is not None:
        tokens = tokens[:limit]
      inputs, targets = pair(tokens, seed)
      out = dict(ex)
      out["inputs"], out["targets"] = inputs, targets
      return out

    return make_pair(ds)

  return preprocess


def register_pretraining_task(name: str, source: seqio.DataSource, *,
                              objective: str = SPAN_CORRUPTION,
                              vocabulary: seqio.Vocabulary | None = None,
                              noise_density: float = 0.15,
                              mean_span_length: float = 3.0,
                              sentence_cuts: bool = True,
                              overwrite: bool = False) -> seqio.Task:
  """Registers a seqio task pretraining on `source`'s ``text`` field.

  With `sentence_cuts`, prefix LM cuts between sentences.

  Examples keep the document as ``targets_pretokenized``, so tools that
  read a task's text (the contamination check) see the whole document.
  """
  vocabulary = vocabulary or vocab_lib.default_vocabulary()
  if overwrite:
    seqio.TaskRegistry.remove(name)
  return seqio.TaskRegistry.add(
      name,
      source=source,
      preprocessors=[
          functools.partial(seqio.preprocessors.rekey,
                            key_map={"targets": TEXT_FIELD}),
          seqio.preprocessors.tokenize,
          objective_preprocessor(
              objective, sentinel_ids(vocabulary),
              noise_density=noise_density, mean_span_length=mean_span_length,
              boundary_ids=(sentence_end_ids(vocabulary) if sentence_cuts
                            else None)),
          seqio.preprocessors.append_eos_after_trim,
      ],
      output_features={
          "inputs": seqio.Feature(vocabulary, add_eos=True, required=False),
          "targets": seqio.Feature(vocabulary, add_eos=True),
      },
      metric_fns=[])

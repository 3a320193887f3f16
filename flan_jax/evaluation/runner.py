"""Running a model over eval examples: fast option scoring and generation.

`ModelRunner` holds a model, its parameters and a partitioner, and offers:

* `option_scores(examples)`: every option's summed target log-likelihood.
  Each example's input is computed once and shared by all of its options,
  the way the model says it scores options (`Model.option_scoring`):
  - "tree" (decoder-only, `score_tree`): one row per example, the prompt
    followed by every option's tokens (`flan_jax.models.option_tree`), run
    in one forward pass with a mask that lets each option see only the
    prompt and itself. Rows are sorted by length and cut to `fine_bucket`
    widths (under a quarter of padding); a pass holds about as many tokens
    as `batch_size` option rows would.
  - "grouped" (encoder-decoder, `score_options(params, batch) -> [B, K]`,
    batch = {"inputs": int32 [B, Li], "option_targets": int32 [B, K, Lt]},
    0-padded, EOS included): the encoder runs once per example and the K
    options are decoded against it together. Examples are sorted by length
    and each batch is trimmed to power-of-two widths.
  - "per_option": `naive_option_scores`.
  With `greedy=True` it also says, per option, whether the option is the
  model's greedy continuation (every token the argmax), as
  lm-evaluation-harness's `loglikelihood` reports (`is_greedy`).
* `naive_option_scores(examples)`: one full forward pass per (input, option)
  row through `score_batch`; the reference the fast paths must equal.
* `predict(rows, decode_length)`: generation through `predict_batch` (the
  model's `decode_method`: greedy, beam search or sampling).

Batch sizes count option rows per forward pass, so memory use is about the
same for scoring and generation.
"""

from __future__ import annotations

import functools
from typing import Any, Iterator, Mapping, Sequence

import jax
import numpy as np
import tensorflow as tf

from flan_jax.evaluation.examples import Example, OptionExample
from flan_jax.models import api
from flan_jax.models import option_tree
from flan_jax.parallel import partitioning
from flan_jax.steps.builder import StepBuilder

# Features laid out along the decoder's (target, or inputs+targets) axis: a
# generation batch keeps them at full width together.
_DECODER_FEATURES = ("decoder_input_tokens", "decoder_target_tokens",
                     "decoder_loss_weights", "decoder_causal_attention",
                     "decoder_segment_ids", "decoder_positions")


def bucket(length: int, cap: int | None = None) -> int:
  """Smallest power of two >= length (at least 8), capped at `cap`."""
  width = max(8, 1 << max(length - 1, 0).bit_length())
  return width if cap is None else min(cap, width)


def fine_bucket(length: int) -> int:
  """Smallest width >= length among 8, 10, 12, 14, 16, 20, 24, 28, 32, 40...

  Four widths per octave: padding stays under a quarter of a row, with a
  few more shapes (compilations) than powers of two.
  """
  if length <= 8:
    return 8
  step = (1 << (length.bit_length() - 1)) // 4
  return -(-length // step) * step


def _fit_width(values: np.ndarray, width: int) -> np.ndarray:
  """Rows cut or zero-padded to `width` columns."""
  if values.shape[1] >= width:
    return values[:, :width]
  return np.pad(values, ((0, 0), (0, width - values.shape[1])))


def _used_length(values: np.ndarray) -> np.ndarray:
  """Per row: position of the last non-zero entry + 1 (0 for empty rows)."""
  values = values.reshape(values.shape[0], -1) if values.ndim > 2 else values
  nonzero = values != 0
  last = values.shape[1] - np.argmax(nonzero[:, ::-1], axis=1)
  return np.where(nonzero.any(axis=1), last, 0)


def length_sorted_batches(features: Mapping[str, np.ndarray], batch_size: int,
                          *, trim_targets: bool
                          ) -> Iterator[tuple[np.ndarray, dict, int]]:
  """Yields (row indices, batch, real row count) in order of length.

  `features` are the model features of every row, stacked ([rows, width]).
  Each batch is cut to a power-of-two width per feature. Decoder features
  are cut only when `trim_targets` (scoring); generation keeps the full
  target width so decoding length never depends on the batch's references.
  The last batch is padded with empty rows to `batch_size`.
  """
  names = list(features)
  if not names or not len(features[names[0]]):
    return
  lengths = {k: _used_length(v) for k, v in features.items()}
  order = np.lexsort([lengths[k] for k in reversed(names)])
  for start in range(0, len(order), batch_size):
    chosen = order[start:start + batch_size]
    batch = {}
    for name, values in features.items():
      rows = values[chosen]
      if name not in _DECODER_FEATURES or trim_targets:
        rows = rows[:, :bucket(int(lengths[name][chosen].max()), rows.shape[1])]
      if len(chosen) < batch_size:
        pad = np.zeros((batch_size - len(chosen), *rows.shape[1:]), rows.dtype)
        rows = np.concatenate([rows, pad])
      batch[name] = rows
    yield chosen, batch, len(chosen)


def model_features(model: api.Model, rows: Sequence[Mapping[str, np.ndarray]],
                   lengths: Mapping[str, int]) -> dict[str, np.ndarray]:
  """Rows of {"inputs", "targets"} tokens -> the model's features, stacked.

  Uses the model's own seqio feature converter (unpacked), so any model
  family gets the features it expects.
  """

  def generate():
    for row in rows:
      yield {"inputs": row["inputs"], "targets": row["targets"]}

  spec = tf.TensorSpec([None], tf.int32)
  ds = tf.data.Dataset.from_generator(
      generate, output_signature={"inputs": spec, "targets": spec})
  converted = model.feature_converter(False)(ds, dict(lengths))
  examples = list(converted.as_numpy_iterator())
  return {k: np.stack([e[k] for e in examples]) for k in examples[0]}


_JITTED: dict[tuple[Any, ...], Any] = {}


def _jitted(model: api.Model, name: str, fn, builder: StepBuilder | None = None):
  """One jitted `fn` per (model, name, mesh, rules), so that runners of the
  same model (e.g. one per checkpoint) share compiled programs. With a
  builder, `fn(params, batch)` is a scoring step: compiled with the
  parameters and the batch in the shardings the builder gives them."""
  jit = jax.jit if builder is None else builder.jit_score_step
  key = (model, name)
  if builder is not None:
    key += (builder.partitioner.mesh, builder.partitioner.logical_axis_rules)
  try:
    return _JITTED.setdefault(key, jit(fn))
  except TypeError:  # an unhashable model: no sharing
    return jit(fn)


class ModelRunner:
  """A model with restored parameters, ready to score and generate."""

  def __init__(self, model: api.Model, params,
               partitioner: partitioning.Partitioner, batch_size: int = 64):
    if batch_size % partitioner.data_parallel_size:
      raise ValueError(f"batch_size {batch_size} is not divisible by the "
                       f"data-parallel size {partitioner.data_parallel_size}")
    builder = StepBuilder(model, partitioner)
    self.model = model
    # Already in place when loaded through the builder (a no-op then).
    self.params = jax.device_put(params, builder.param_shardings)
    self.partitioner = partitioner
    self.batch_size = batch_size
    scoring = lambda name, fn: _jitted(model, name, fn, builder)
    self._score_batch = scoring("score_batch", model.score_batch)
    self._predict_batch = _jitted(model, "predict_batch", model.predict_batch)
    self._option_scorer = {
        "tree": lambda: scoring("score_tree", model.score_tree),
        "grouped": lambda: scoring("score_options", model.score_options),
        "per_option": lambda: None,
    }[model.option_scoring]()
    self._greedy_scorer = {
        "tree": lambda: scoring("score_tree_greedy", functools.partial(
            model.score_tree, greedy=True)),
        "grouped": lambda: scoring("score_options_greedy", functools.partial(
            model.score_options, greedy=True)),
        "per_option": lambda: None,
    }[model.option_scoring]

  @property
  def has_fast_scoring(self) -> bool:
    return self.model.option_scoring != "per_option"

  def _run(self, fn, batch: Mapping[str, np.ndarray]) -> np.ndarray:
    with self.partitioner.context():
      if self.partitioner.mesh.size > 1 or jax.process_count() > 1:
        batch = self.partitioner.global_batch(batch)
      # else: jit moves host arrays to the one device itself, faster.
      return np.asarray(fn(self.params, batch))

  def option_scores(self, examples: Sequence[OptionExample], *,
                    greedy: bool = False) -> list[np.ndarray]:
    """Summed log-likelihood of every option, per example: [num_options].

    With `greedy`, per example [2, num_options]: the scores, then 1.0 where
    the option is the greedy continuation, else 0.0.
    """
    if not self.has_fast_scoring:
      if greedy:
        raise TypeError(f"{type(self.model).__name__} scores options per "
                        "option only; it cannot say which are greedy")
      return self.naive_option_scores(examples)
    if not examples:
      return []
    scorer = self._greedy_scorer() if greedy else self._option_scorer
    if self.model.option_scoring == "tree":
      return self._tree_option_scores(examples, scorer, greedy)
    num_options = max(e.num_options for e in examples)
    per_batch = self._rows_per_pass(self.batch_size // num_options)
    order = sorted(range(len(examples)), key=lambda i: (
        len(examples[i].inputs), max(len(o) for o in examples[i].options)))
    scores: list[np.ndarray | None] = [None] * len(examples)
    for start in range(0, len(order), per_batch):
      chosen = order[start:start + per_batch]
      batch = self.options_batch([examples[i] for i in chosen], per_batch,
                                 num_options)
      result = self._run(scorer, batch)
      for row, i in enumerate(chosen):
        scores[i] = result[..., row, :examples[i].num_options].astype(
            np.float64)
    return scores

  def _rows_per_pass(self, rows: int) -> int:
    """At least one row per data-parallel shard, a multiple of their count."""
    data_parallel = self.partitioner.data_parallel_size
    return max(data_parallel, rows - rows % data_parallel)

  def _tree_option_scores(self, examples: Sequence[OptionExample], scorer,
                          greedy: bool) -> list[np.ndarray]:
    """Decoder-only fast path: one option tree per row, rows sorted by
    length and cut to `fine_bucket` widths, so padding stays small.

    A pass holds about as many tokens as `batch_size` option rows (input
    + option) would: memory use matches the per-option layout's.
    """
    lengths = [option_tree.row_lengths(len(e.inputs),
                                       [len(o) for o in e.options])
               for e in examples]
    option_row = max(1 + len(e.inputs) + max(len(o) for o in e.options)
                     for e in examples)
    tree_row = max(slots for slots, _ in lengths)
    per_batch = self._rows_per_pass(self.batch_size * option_row // tree_row)
    order = sorted(range(len(examples)), key=lambda i: lengths[i])
    scores: list[np.ndarray | None] = [None] * len(examples)
    for start in range(0, len(order), per_batch):
      chosen = order[start:start + per_batch]
      width = fine_bucket(max(lengths[i][0] for i in chosen))
      gathers = fine_bucket(max(lengths[i][1] for i in chosen))
      tree = option_tree.layout(*option_tree.padded(
          [(examples[i].inputs, examples[i].options) for i in chosen],
          rows=per_batch))
      batch = {name: _fit_width(tree[name], width)
               for name in option_tree.TREE_FEATURES}
      batch.update({name: _fit_width(tree[name], gathers)
                    for name in ("gather_slots", "gather_tokens")})
      picked = self._run(scorer, batch)
      for row, i in enumerate(chosen):
        count = lengths[i][1]
        options = tree["gather_options"][row, :count]
        total = lambda values: np.bincount(
            options, values[row, :count], minlength=examples[i].num_options)
        if not greedy:
          scores[i] = total(picked)
        else:  # an option is greedy when none of its tokens is not
          scores[i] = np.stack([total(picked[0]),
                                (total(1.0 - picked[1]) == 0).astype(
                                    np.float64)])
    return scores

  @staticmethod
  def options_batch(examples: Sequence[OptionExample], batch_rows: int,
                    num_options: int) -> dict[str, np.ndarray]:
    """The `score_options` batch: inputs [B, Li], option_targets [B, K, Lt].

    Widths are the batch's longest input and option rounded up to a power
    of two; missing options and missing examples are all-zero rows.
    """
    input_width = bucket(max(len(e.inputs) for e in examples))
    target_width = bucket(max(len(o) for e in examples for o in e.options))
    inputs = np.zeros((batch_rows, input_width), np.int32)
    targets = np.zeros((batch_rows, num_options, target_width), np.int32)
    for row, example in enumerate(examples):
      inputs[row, :len(example.inputs)] = example.inputs
      for k, option in enumerate(example.options):
        targets[row, k, :len(option)] = option
    return {"inputs": inputs, "option_targets": targets}

  def naive_option_scores(self, examples: Sequence[OptionExample]
                          ) -> list[np.ndarray]:
    """Reference scoring: every (input, option) row is its own sequence."""
    rows = [{"inputs": e.inputs, "targets": o} for e in examples
            for o in e.options]
    if not rows:
      return []
    lengths = {"inputs": max(len(r["inputs"]) for r in rows),
               "targets": max(len(r["targets"]) for r in rows)}
    features = model_features(self.model, rows, lengths)
    flat = np.zeros(len(rows), np.float64)
    for chosen, batch, real in length_sorted_batches(
        features, self.batch_size, trim_targets=True):
      flat[chosen] = self._run(self._score_batch, batch)[:real]
    scores, start = [], 0
    for example in examples:
      scores.append(flat[start:start + example.num_options])
      start += example.num_options
    return scores

  def predict(self, rows: Sequence[Example], decode_length: int
              ) -> list[np.ndarray]:
    """Generated tokens per row (EOS included, then zeros)."""
    if not rows:
      return []
    lengths = {"inputs": max(len(r["inputs"]) for r in rows),
               "targets": decode_length}
    features = model_features(self.model, rows, lengths)
    outputs: list[Any] = [None] * len(rows)
    for chosen, batch, real in length_sorted_batches(
        features, self.batch_size, trim_targets=False):
      result = self._run(self._predict_batch, batch)[:real]
      for i, tokens in zip(chosen, result):
        outputs[i] = tokens
    return outputs

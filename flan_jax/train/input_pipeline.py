"""Training batches by index: mixed, packed, and resumed from a small state.

    examples = mixture_examples("demo:train:no_sentiment", cache_dir=None)
    layout = packing_layout(model.feature_converter(pack=True),
                            {"inputs": 128, "targets": 32})
    batches = PackedBatches(examples, layout, batch_size=16, seed=0)
    batch = next(batches)        # this host's rows of global batch 0
    saved = batches.state()      # JSON: goes into the checkpoint's meta
    ...
    resumed = PackedBatches(examples, layout, batch_size=16, seed=0,
                            state=saved)    # batch 1 next, nothing replayed

Why this design. The examples of every task are tokenised once
(flan_jax/data/example_cache.py: in memory, or read from the cache) and
then addressed by index, so the data position is a handful of integers and
restoring it costs nothing, whatever the step. The alternatives were
weighed: tf.data iterator checkpoints save the pipeline's buffers (shuffle
and prefetch buffers: large for a 60-task mixture), must be restored into
the same pipeline graph, and are one per host; grain's MapDataset with its
checkpointable iterator would also resume in constant time, but its state
is per host (a run resumes exactly only on the same host count), it adds a
dependency, and its packed rows would still have to be laid out as the
models' seqio converters expect. Here the state describes the global batch,
and packing looks at a whole batch's worth of examples at once.

The order, step by step (global batch b, R rows, seed s):

1. Mixing. Stream position i draws a task from the mixture's rates with a
   counter-based generator keyed by (s, i // 4096): the draw depends only
   on i, never on what came before.
2. Epochs. The k-th draw of task t is example perm(s, t, k // N_t)[k % N_t]
   of its N_t examples: every example once per epoch, a new permutation
   each epoch.
3. Packing. The batch's candidates are the previous batch's left-overs
   ("pending", first), then fresh draws until they would fill R rows 5%
   over. Largest first (pending before fresh), each goes to the row it
   fills most tightly (best fit, per feature length); what fits nowhere
   waits for the next batch. (The README gives the fill reached.)
4. Rows. Each example is trimmed to the feature lengths as seqio trims
   (length - 1 tokens, then EOS) and laid out in the model's features
   exactly as its seqio converter would (segment ids, positions, shifted
   decoder inputs, loss weights): `packing_layout` has the encoder-decoder
   and the prefix-LM layouts; tests compare them with seqio's output.

State after batch b: {"position": i, "draws": [k_t per task], "pending":
[[t, k], ...], "batches": b + 1}. It describes the global batch, not a
host's share.

Hosts. Every host plans the whole global batch (from lengths alone) and
assembles only its own rows, the ones its devices hold (`host_rows`). The
batches, and so the checkpointed state, do not depend on the number of
hosts: a run resumed on a different host count (any count whose devices
divide the batch) continues with exactly the batches the original run
would have seen. The price is that every host holds every task's tokens
(4 bytes a token) and plans every row; benchmarks/input_pipeline.py
measures both costs against a train step.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import queue
import threading
import time
from typing import Any, Mapping, Sequence

import jax
import numpy as np
import seqio

from flan_jax.data import example_cache
from flan_jax.data import lookup

log = logging.getLogger("flan_jax")

STATE_VERSION = 1
CHUNK = 4096  # stream positions per mixing-generator key
OVERSUPPLY = 0.05  # candidates fill this much more than a batch
_MIX, _EPOCH = 1, 2  # generator salts


@dataclasses.dataclass(frozen=True)
class MixtureExamples:
  """The tokenised examples of a mixture's tasks and their sampling rates."""
  names: tuple[str, ...]
  rates: np.ndarray  # normalised, one per task
  examples: tuple[example_cache.TokenizedExamples, ...]
  eos_ids: Mapping[str, int | None]  # feature -> EOS kept on trimming

  @property
  def num_examples(self) -> list[int]:
    return [e.num_examples for e in self.examples]


def mixture_examples(mixture_or_task_name: str, *, split: str = "train",
                     cache_dir: str | None = None,
                     require_cache: bool = False) -> MixtureExamples:
  """Every task's examples (cache first), with the mixture's rates.

  A task's rate is seqio's (`Mixture.get_rate`); a task alone has rate 1.
  Tasks with rate 0 or no examples are left out.
  """
  target = lookup.get_task_or_mixture(mixture_or_task_name)
  if isinstance(target, seqio.Mixture):
    pairs = [(t, float(target.get_rate(t))) for t in target.tasks]
  else:
    pairs = [(target, 1.0)]
  pairs = sorted((p for p in pairs if p[1] > 0), key=lambda p: p[0].name)
  tasks = [t for t, _ in pairs]
  started = time.perf_counter()
  examples, tokenised = example_cache.read_or_tokenize(
      tasks, split, cache_dir, require_cache=require_cache)
  log.info("%d tasks of %s: %d examples (%d tasks tokenised, %d read from "
           "the cache) in %.1f s", len(tasks), mixture_or_task_name,
           sum(e.num_examples for e in examples), len(tokenised),
           len(tasks) - len(tokenised), time.perf_counter() - started)
  keep = [i for i, e in enumerate(examples) if e.num_examples]
  if not keep:
    raise ValueError(f"'{mixture_or_task_name}' has no {split} examples")
  rates = np.array([pairs[i][1] for i in keep], np.float64)
  features = tasks[0].output_features
  eos_ids = {name: (f.vocabulary.eos_id if f.add_eos else None)
             for name, f in features.items()}
  return MixtureExamples(tuple(tasks[i].name for i in keep),
                         rates / rates.sum(),
                         tuple(examples[i] for i in keep), eos_ids)


# ---- layouts: examples -> the model's features ------------------------------


def _shift_right(x: np.ndarray, bos: int, segments: np.ndarray | None
                 ) -> np.ndarray:
  """seqio.utils.make_autoregressive_inputs for [rows, length] arrays."""
  shifted = np.concatenate([np.full_like(x[:, :1], bos), x[:, :-1]], axis=1)
  if segments is None:
    return shifted
  previous = np.concatenate([np.zeros_like(segments[:, :1]),
                             segments[:, :-1]], axis=1)
  return np.where(segments != previous, bos, shifted).astype(x.dtype)


@dataclasses.dataclass(frozen=True)
class PackingLayout:
  """How examples share a row and become a model's features.

  kind "encoder_decoder": inputs and targets are packed side by side into
  rows of (inputs length, targets length) (seqio EncDecFeatureConverter);
  kind "prefix_lm": each example's inputs + targets are one sequence, packed
  into rows of inputs + targets length (seqio PrefixLMFeatureConverter).
  """
  kind: str
  lengths: Mapping[str, int]
  pack: bool
  bos_id: int = 0
  loss_on_targets_only: bool = True

  @property
  def capacity(self) -> np.ndarray:
    if self.kind == "prefix_lm":
      return np.array([self.lengths["inputs"] + self.lengths["targets"]])
    return np.array([self.lengths["inputs"], self.lengths["targets"]])

  def sizes(self, inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """[n, dims] row space each example takes (after trimming)."""
    inputs = np.minimum(inputs, self.lengths["inputs"])
    targets = np.minimum(targets, self.lengths["targets"])
    if self.kind == "prefix_lm":
      return (inputs + targets)[:, None]
    return np.stack([inputs, targets], axis=1)

  def features(self, rows: Sequence[Sequence[tuple[np.ndarray, np.ndarray]]]
               ) -> dict[str, np.ndarray]:
    """Model features of rows of (inputs tokens, targets tokens) pairs."""
    if self.kind == "prefix_lm":
      return self._prefix_lm(rows)
    return self._encoder_decoder(rows)

  def _pack(self, rows, pick, length: int):
    """[rows, length] tokens, segment ids (from 1) and positions."""
    tokens = np.zeros([len(rows), length], np.int32)
    segments, positions = np.zeros_like(tokens), np.zeros_like(tokens)
    for r, row in enumerate(rows):
      at = 0
      for s, example in enumerate(row):
        seq = pick(example)
        tokens[r, at:at + len(seq)] = seq
        segments[r, at:at + len(seq)] = s + 1
        positions[r, at:at + len(seq)] = np.arange(len(seq))
        at += len(seq)
    return tokens, segments, positions

  def _encoder_decoder(self, rows) -> dict[str, np.ndarray]:
    inputs, in_seg, in_pos = self._pack(rows, lambda e: e[0],
                                        self.lengths["inputs"])
    targets, tg_seg, tg_pos = self._pack(rows, lambda e: e[1],
                                         self.lengths["targets"])
    out = {"encoder_input_tokens": inputs, "decoder_target_tokens": targets,
           "decoder_input_tokens": _shift_right(
               targets, self.bos_id, tg_seg if self.pack else None),
           "decoder_loss_weights": (targets != 0).astype(np.int32)}
    if self.pack:
      out.update(encoder_segment_ids=in_seg, encoder_positions=in_pos,
                 decoder_segment_ids=tg_seg, decoder_positions=tg_pos)
    return out

  def _prefix_lm(self, rows) -> dict[str, np.ndarray]:
    length = int(self.capacity[0])
    targets, segments, positions = self._pack(
        rows, lambda e: np.concatenate(e), length)
    # Each token's example's inputs width, and width + 1 (seqio's
    # inputs_width and inputs_width_add_pos); 0 on padding.
    widths, causal_widths = np.zeros_like(targets), np.zeros_like(targets)
    for r, row in enumerate(rows):
      at = 0
      for inputs, example_targets in row:
        end = at + len(inputs) + len(example_targets)
        widths[r, at:end] = len(inputs)
        causal_widths[r, at:end] = len(inputs) + 1
        at = end
    if not self.pack:
      positions = np.broadcast_to(np.arange(length), targets.shape)
    nonpad = targets != 0
    weights = nonpad
    if self.loss_on_targets_only:
      weights = np.logical_xor(positions < widths, nonpad)
    causal = positions < causal_widths
    out = {"decoder_target_tokens": targets,
           "decoder_input_tokens": _shift_right(
               targets, self.bos_id, segments if self.pack else None),
           "decoder_loss_weights": weights.astype(np.int32),
           "decoder_causal_attention": causal.astype(np.int32)}
    if self.pack:
      out.update(decoder_segment_ids=segments, decoder_positions=positions)
    return out


def packing_layout(converter: seqio.FeatureConverter,
                   task_feature_lengths: Mapping[str, int]) -> PackingLayout:
  """The layout that reproduces `converter`'s features."""
  lengths = dict(task_feature_lengths)
  if isinstance(converter, seqio.PrefixLMFeatureConverter):
    return PackingLayout("prefix_lm", lengths, converter.pack,
                         converter.bos_id, converter.loss_on_targets_only)
  if isinstance(converter, seqio.EncDecFeatureConverter):
    return PackingLayout("encoder_decoder", lengths, converter.pack,
                         converter.bos_id)
  raise TypeError(f"no packing layout for {type(converter).__name__}; the "
                  "input pipeline lays out EncDecFeatureConverter and "
                  "PrefixLMFeatureConverter features")


def trim(tokens: np.ndarray, length: int, eos_id: int | None) -> np.ndarray:
  """seqio's trimming: at most `length` tokens, the last one EOS if added."""
  if len(tokens) <= length:
    return tokens
  if eos_id is None:
    return tokens[:length]
  return np.concatenate([tokens[:length - 1], [eos_id]]).astype(tokens.dtype)


# ---- the order: mixing, epochs, packing -------------------------------------


def initial_state(num_tasks: int) -> dict[str, Any]:
  return {"version": STATE_VERSION, "position": 0, "draws": [0] * num_tasks,
          "pending": [], "batches": 0}


class _Order:
  """Which examples make up each global batch's rows (lengths only)."""

  def __init__(self, examples: MixtureExamples, layout: PackingLayout,
               batch_size: int, seed: int, state: Mapping[str, Any]):
    self._examples, self._layout = examples, layout
    self._rows, self._seed = batch_size, seed
    self._cumulative = np.cumsum(examples.rates)
    self._cumulative[-1] = 1.0
    self._sizes = [layout.sizes(e.lengths("inputs"), e.lengths("targets"))
                   for e in examples.examples]
    self._capacity_list = layout.capacity.tolist()
    self._fills = [np.max(sizes / layout.capacity, axis=1)
                   for sizes in self._sizes]
    self._remaining: list[list[int]] = []
    self._chunk = (-1, None)
    self._permutations: dict[tuple[int, int], np.ndarray] = {}
    self.position = int(state["position"])
    self.draws = list(state["draws"])
    self.pending = [tuple(p) for p in state["pending"]]
    self.batches = int(state["batches"])

  def state(self) -> dict[str, Any]:
    return {"version": STATE_VERSION, "position": self.position,
            "draws": list(self.draws), "pending": [list(p) for p in
                                                   self.pending],
            "batches": self.batches}

  def _task_at(self, position: int) -> int:
    chunk = position // CHUNK
    if self._chunk[0] != chunk:
      rng = np.random.default_rng([self._seed, _MIX, chunk])
      draws = np.searchsorted(self._cumulative, rng.random(CHUNK),
                              side="right")
      self._chunk = (chunk, np.minimum(draws, len(self._cumulative) - 1))
    return int(self._chunk[1][position % CHUNK])

  def example_index(self, task: int, draw: int) -> int:
    count = self._examples.examples[task].num_examples
    epoch = draw // count
    key = (task, epoch)
    if key not in self._permutations:
      if len(self._permutations) > 4 * len(self._sizes):
        self._permutations.clear()
      rng = np.random.default_rng([self._seed, _EPOCH, task, epoch])
      self._permutations[key] = rng.permutation(count)
    return int(self._permutations[key][draw % count])

  def _entry(self, ref: tuple[int, int]) -> tuple[tuple[int, int], list,
                                                  float]:
    """(ref, its row space per dimension, the largest share of a row)."""
    index = self.example_index(*ref)
    return (ref, self._sizes[ref[0]][index].tolist(),
            float(self._fills[ref[0]][index]))

  def _fresh(self) -> tuple[int, int]:
    task = self._task_at(self.position)
    self.position += 1
    ref = (task, self.draws[task])
    self.draws[task] += 1
    return ref

  def next_rows(self) -> list[list[tuple[int, int]]]:
    """The next global batch: per row, (task, draw) of its examples."""
    self.batches += 1
    if not self._layout.pack:
      return [[self._fresh()] for _ in range(self._rows)]
    largest_first = lambda entry: -entry[2]
    pending = sorted(map(self._entry, self.pending), key=largest_first)
    supplied = sum(e[2] for e in pending)
    fresh = []
    while supplied < (1 + OVERSUPPLY) * self._rows:
      fresh.append(self._entry(self._fresh()))
      supplied += fresh[-1][2]
    fresh.sort(key=largest_first)
    rows: list[list[tuple[int, int]]] = [[] for _ in range(self._rows)]
    self._remaining = [list(self._capacity_list) for _ in range(self._rows)]
    left = []
    for ref, size, _ in pending + fresh:
      row = self._best_row(size)
      if row is None:
        left.append(ref)
      else:
        rows[row].append(ref)
    self.pending = left
    return rows

  def _best_row(self, size: list[int]) -> int | None:
    """The row `size` fits most tightly (least space left, first on ties);
    takes the space. None when it fits in no row."""
    best, best_slack = None, float("inf")
    capacity = self._capacity_list
    for row, remaining in enumerate(self._remaining):
      slack = 0.0
      for left, need, whole in zip(remaining, size, capacity):
        if left < need:
          break
        slack += (left - need) / whole
      else:
        if slack < best_slack:
          best, best_slack = row, slack
    if best is not None:
      self._remaining[best] = [a - b for a, b in zip(self._remaining[best],
                                                     size)]
    return best


# ---- batches ------------------------------------------------------------------


def host_rows(batch_sharding: jax.sharding.Sharding, batch_size: int
              ) -> tuple[int, int]:
  """[first, last) rows of the global batch this process's devices hold."""
  if jax.process_count() == 1:
    return 0, batch_size
  indices = batch_sharding.addressable_devices_indices_map((batch_size, 1))
  starts = [s[0].start or 0 for s in indices.values()]
  stops = [batch_size if s[0].stop is None else s[0].stop
           for s in indices.values()]
  first, last = min(starts), max(stops)
  if sum(b - a for a, b in set(zip(starts, stops))) != last - first:
    raise ValueError("this process's devices hold rows that are not one "
                     "contiguous block; use a mesh whose data axis follows "
                     "process order")
  return first, last


class PackedBatches:
  """Endless iterator of this host's rows of each global batch.

  `state()` is the position after the last batch `next` returned (not the
  prefetched ones): save it with the checkpoint of that step. A background
  thread prepares up to `prefetch` batches ahead.
  """

  def __init__(self, examples: MixtureExamples, layout: PackingLayout, *,
               batch_size: int, seed: int,
               state: Mapping[str, Any] | None = None,
               rows: tuple[int, int] | None = None, prefetch: int = 2):
    state = state or initial_state(len(examples.names))
    if len(state["draws"]) != len(examples.names):
      raise ValueError(f"data state has {len(state['draws'])} tasks, the "
                       f"mixture {len(examples.names)}")
    self._examples, self._layout = examples, layout
    self._order = _Order(examples, layout, batch_size, seed, state)
    self._first, self._last = rows or (0, batch_size)
    self._state = self._order.state()
    self._queue: queue.Queue = queue.Queue(maxsize=max(1, prefetch))
    self._stop = threading.Event()
    self._thread = None

  def state(self) -> dict[str, Any]:
    return self._state

  def skip(self, batches: int) -> None:
    """Advances the order without building rows (before the first `next`)."""
    if self._thread is not None:
      raise RuntimeError("skip() must come before the first next()")
    for _ in range(batches):
      self._order.next_rows()
    self._state = self._order.state()

  def _tokens(self, ref: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    task, draw = ref
    split = self._examples.examples[task]
    index = self._order.example_index(task, draw)
    eos, lengths = self._examples.eos_ids, self._layout.lengths
    return tuple(trim(split.row(f, index), lengths[f], eos.get(f))
                 for f in ("inputs", "targets"))

  def build(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The next batch and the state after it (no prefetching)."""
    rows = self._order.next_rows()[self._first:self._last]
    batch = self._layout.features(
        [[self._tokens(ref) for ref in row] for row in rows])
    return batch, self._order.state()

  def _produce(self) -> None:
    try:
      while not self._stop.is_set():
        item = self.build()
        while not self._stop.is_set():
          try:
            self._queue.put(item, timeout=0.1)
            break
          except queue.Full:
            continue
    except BaseException as e:  # pylint: disable=broad-except
      self._queue.put(e)

  def __iter__(self):
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    if self._thread is None:
      self._thread = threading.Thread(target=self._produce, daemon=True,
                                      name="flan_jax-input")
      self._thread.start()
    item = self._queue.get()
    if isinstance(item, BaseException):
      raise item
    batch, self._state = item
    return batch

  def close(self) -> None:
    self._stop.set()
    if self._thread is not None:
      self._thread.join(timeout=5)


def packing_efficiency(batches: Sequence[Mapping[str, np.ndarray]]
                       ) -> dict[str, float]:
  """Non-padding tokens / all token slots, per packed feature and overall."""
  counts = collections.Counter()
  for batch in batches:
    for name in ("encoder_input_tokens", "decoder_target_tokens"):
      if name in batch:
        counts[name, "real"] += int(np.count_nonzero(batch[name]))
        counts[name, "all"] += batch[name].size
  result = {name: counts[name, "real"] / counts[name, "all"]
            for name, kind in counts if kind == "all"}
  result["overall"] = (sum(v for (n, k), v in counts.items() if k == "real") /
                       sum(v for (n, k), v in counts.items() if k == "all"))
  return result

"""Decoder-only (Llama-family) model behind the t5x-style model API.

Features come from `seqio.PrefixLMFeatureConverter`: inputs and targets are
concatenated into one sequence, the loss covers the targets only, and
"decoder_causal_attention" marks the inputs (plus one position), which a
prefix LM (`prefix_lm=True`) attends to bidirectionally; a causal LM ignores it.

Example (unpacked, inputs [9, 4, 1], targets [3, 1]):

    decoder_input_tokens      [0, 9, 4, 1, 3, 0]
    decoder_target_tokens     [9, 4, 1, 3, 1, 0]
    decoder_loss_weights      [0, 0, 0, 1, 1, 0]
    decoder_causal_attention  [1, 1, 1, 1, 0, 0]

Option scoring runs each prompt once with all of its options after it in
one row (`score_tree`, `option_tree_mask`), no cache. Generation uses the
key/value cache with prompts left-aligned to a common end: a row whose
prompt is `pad` tokens shorter than the widest sits in cache slots pad..,
its RoPE positions are slot - pad and the slots before `pad` are masked
out. All rows then step in lock-step.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import jax
import jax.numpy as jnp
import seqio

from flan_jax import decoding
from flan_jax import model as model_lib
from flan_jax.models import decoder

Array = jax.Array
Batch = Mapping[str, Array]


def cached_mask(query_slots: Array, pad: Array, cache_length: int,
                prompt_length: int, *, prefix_lm: bool,
                sliding_window: int | None = None) -> Array:
  """[batch, 1, queries, cache_length] mask for left-aligned cached rows.

  A query at slot q sees the row's real slots (>= pad) up to q; in a prefix
  LM a prompt query (q < prompt_length) also sees the rest of the prompt.
  Every query sees its own slot, so padding queries never have an empty row.
  """
  q = query_slots[None, :, None]
  k = jnp.arange(cache_length)[None, None, :]
  pad = pad[:, None, None]
  visible = k <= q
  if prefix_lm:
    visible = visible | ((q < prompt_length) & (k < prompt_length))
  allowed = (k >= pad) & visible
  if sliding_window is not None:
    allowed = allowed & (q - k < sliding_window)
  return (allowed | (k == q))[:, None]


def option_tree_mask(segments: Array, positions: Array, *, prefix_lm: bool,
                     sliding_window: int | None = None) -> Array:
  """[batch, 1, length, length] mask for a prompt followed by its options.

  `segments` is 1 on the prompt, 2 + k on option k and 0 on padding. A slot
  sees the prompt and its own segment up to its own position (in a prefix
  LM the prompt also sees itself bidirectionally); every slot sees itself,
  so padding rows are never empty.
  """
  seg_q, seg_k = segments[:, :, None], segments[:, None, :]
  pos_q, pos_k = positions[:, :, None], positions[:, None, :]
  visible = pos_k <= pos_q
  if prefix_lm:
    visible = visible | ((seg_q == 1) & (seg_k == 1))
  if sliding_window is not None:
    visible = visible & (pos_q - pos_k < sliding_window)
  allowed = (seg_q > 0) & ((seg_k == 1) | (seg_k == seg_q)) & visible
  length = segments.shape[1]
  return (allowed | jnp.eye(length, dtype=bool)[None])[:, None]


def left_align(tokens: Array, lengths: Array) -> tuple[Array, Array]:
  """Moves each row's first `lengths` tokens to the row's end; returns pad."""
  width = tokens.shape[1]
  pad = width - lengths
  source = jnp.arange(width)[None, :] - pad[:, None]
  aligned = jnp.take_along_axis(tokens, jnp.maximum(source, 0), axis=1)
  return jnp.where(source >= 0, aligned, 0), pad


@dataclasses.dataclass(frozen=True)
class DecoderOnlyModel(model_lib.ModelApi):
  """Llama-family decoder behind the model API (fields as EncoderDecoderModel).

  Attributes:
    prefix_lm: attend bidirectionally over the inputs (else fully causal).
    max_decode_length: tokens `predict_batch` generates (EOS included).
  """

  config: decoder.DecoderConfig
  prefix_lm: bool = True
  z_loss: float = 1e-4
  label_smoothing: float = 0.0
  loss_normalizing_factor: float | None = None
  max_decode_length: int = 32
  decode_method: str = "greedy"
  num_beams: int = 4
  length_penalty_alpha: float = 0.6
  temperature: float = 1.0
  top_k: int = 0
  top_p: float = 1.0
  decode_seed: int = 0
  eos_id: int = 1

  @property
  def module(self) -> decoder.Decoder:
    return decoder.Decoder(self.config)

  def feature_converter(self, pack: bool) -> seqio.FeatureConverter:
    return seqio.PrefixLMFeatureConverter(pack=pack,
                                          loss_on_targets_only=True)

  def init_variables(self, rng: Array,
                     input_shapes: Mapping[str, tuple[int, ...]]):
    """Initial variables; only the decoder_input_tokens shape matters."""
    shape = input_shapes["decoder_input_tokens"]
    tokens = jnp.ones(shape, jnp.int32)
    positions = jnp.broadcast_to(jnp.arange(shape[1]), shape)
    mask = decoder.decoder_mask(jnp.ones(shape, jnp.int32))
    return self.module.init(rng, tokens, positions, mask)

  def _logits(self, params, batch: Batch, *, dropout_rng=None) -> Array:
    tokens = batch["decoder_input_tokens"]
    segments = batch.get("decoder_segment_ids")
    if segments is None:  # unpacked: real wherever a target token exists
      segments = (batch["decoder_target_tokens"] > 0).astype(jnp.int32)
    positions = batch.get("decoder_positions")
    if positions is None:
      positions = jnp.broadcast_to(jnp.arange(tokens.shape[1]), tokens.shape)
    causal_attention = (batch.get("decoder_causal_attention")
                        if self.prefix_lm else None)
    mask = decoder.decoder_mask(segments, causal_attention, positions,
                                self.config.sliding_window)
    return self.module.apply(
        {"params": params}, tokens, positions, mask,
        deterministic=dropout_rng is None,
        rngs=None if dropout_rng is None else {"dropout": dropout_rng})

  def logits(self, params, tokens: Array) -> Array:
    """Plain causal logits of unpadded token rows (Hugging Face parity)."""
    positions = jnp.broadcast_to(jnp.arange(tokens.shape[1]), tokens.shape)
    mask = decoder.decoder_mask(jnp.ones_like(tokens), None, positions,
                                self.config.sliding_window)
    return self.module.apply({"params": params}, tokens, positions, mask)

  # ---- cached computation -------------------------------------------------

  def _empty_cache(self, params, rows: int, length: int):
    module = self.module
    tokens = jnp.zeros((rows, length), jnp.int32)
    positions = jnp.zeros((rows, length), jnp.int32)
    mask = jnp.ones((rows, 1, length, length), bool)
    shapes = jax.eval_shape(
        lambda p: module.apply({"params": p}, tokens, positions, mask,
                               decode=True, mutable=["cache"])[1]["cache"],
        params)
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

  def _extend(self, params, cache, tokens: Array, pad: Array, start: int,
              cache_length: int, prompt_length: int):
    """Runs `tokens` [rows, T] at cache slots start..start+T-1."""
    slots = start + jnp.arange(tokens.shape[1])
    positions = jnp.maximum(slots[None, :] - pad[:, None], 0)
    mask = cached_mask(slots, pad, cache_length, prompt_length,
                       prefix_lm=self.prefix_lm,
                       sliding_window=self.config.sliding_window)
    logits, updated = self.module.apply(
        {"params": params, "cache": cache}, tokens, positions, mask,
        decode=True, mutable=["cache"])
    return logits, updated["cache"]

  def _prefill(self, params, prompts: Array, prompt_lengths: Array,
               cache_length: int):
    """Left-aligns and runs the prompts; returns last logits, cache, pad."""
    aligned, pad = left_align(prompts, prompt_lengths)
    width = prompts.shape[1]
    cache = self._empty_cache(params, prompts.shape[0], cache_length)
    logits, cache = self._extend(params, cache, aligned, pad, 0, cache_length,
                                 width)
    return logits[:, -1], cache, pad

  def _reorder(self, state, rows: Array):
    axis = 1 if self.config.scan_layers else 0
    cache = jax.tree.map(
        lambda x: jnp.take(x, rows, axis=axis) if x.ndim > axis + 1 else x,
        state["cache"])
    return {**state, "cache": cache, "pad": jnp.take(state["pad"], rows)}

  def generate(self, params, prompts: Array, prompt_lengths: Array,
               max_length: int, rng: Array | None = None) -> Array:
    """Continues right-padded prompts [batch, P]; returns [batch, max_length]."""
    batch_size, width = prompts.shape
    cache_length = width + max_length
    first_logits, cache, pad = self._prefill(params, prompts, prompt_lengths,
                                             cache_length)
    state = {"cache": cache, "pad": pad, "slot": jnp.array(width, jnp.int32)}

    def step(tokens, state):
      slot = state["slot"]
      slots = slot[None]
      positions = jnp.maximum(slots[None, :] - state["pad"][:, None], 0)
      mask = cached_mask(slots, state["pad"], cache_length, width,
                         prefix_lm=self.prefix_lm,
                         sliding_window=self.config.sliding_window)
      logits, updated = self.module.apply(
          {"params": params, "cache": state["cache"]}, tokens, positions,
          mask, decode=True, mutable=["cache"])
      return logits[:, -1], {**state, "cache": updated["cache"],
                             "slot": slot + 1}

    def repeat_for_beams(state, n):
      axis = 1 if self.config.scan_layers else 0
      return {**state, "pad": jnp.repeat(state["pad"], n),
              "cache": jax.tree.map(
                  lambda x: jnp.repeat(x, n, axis=axis)
                  if x.ndim > axis + 1 else x, state["cache"])}

    return self._search(step, state, self._reorder, batch_size, max_length,
                        rng=rng, first_logits=first_logits,
                        repeat_for_beams=repeat_for_beams)

  def decode_length(self, batch: Batch) -> int:
    """Decoder-only batches hold inputs+targets in one row: use the field."""
    del batch
    return self.max_decode_length

  def predict_batch(self, params, batch: Batch,
                    rng: Array | None = None) -> Array:
    """Generates targets after each row's inputs: [batch, max_decode_length].

    The prompt is the row's "decoder_input_tokens" over its
    "decoder_causal_attention" span (the shift-right 0 and the inputs).
    """
    tokens = batch["decoder_input_tokens"]
    if "decoder_causal_attention" in batch:
      lengths = jnp.sum(batch["decoder_causal_attention"] > 0, axis=1)
    else:  # LM features without inputs: the prompt is the start token only
      lengths = jnp.ones(tokens.shape[:1], jnp.int32)
    return self.generate(params, tokens, lengths.astype(jnp.int32),
                         self.decode_length(batch), rng=rng)

  def score_tree(self, params, batch: Batch) -> Array:
    """Log-probabilities of chosen tokens in option-tree rows: [B, G].

    Each row holds one prompt and its options laid out as a tree (see
    `option_tree_mask`): "tokens", "positions" and "branches" [B, S] (branch
    1 on the prompt, 2 + k on option k, 0 on padding). Row b's entry g is
    log p("gather_tokens"[b, g]) at slot "gather_slots"[b, g], 0 where the
    token is 0 (padding). The output layer runs only at the gathered slots.
    `scoring.ModelRunner` builds these rows on the host, packed tightly.
    """
    mask = option_tree_mask(batch["branches"], batch["positions"],
                            prefix_lm=self.prefix_lm,
                            sliding_window=self.config.sliding_window)
    logits = self.module.apply({"params": params}, batch["tokens"],
                               batch["positions"], mask,
                               logits_at=batch["gather_slots"])
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32))
    tokens = batch["gather_tokens"]
    picked = jnp.take_along_axis(log_probs, tokens[..., None], axis=-1)
    return jnp.where(tokens > 0, picked[..., 0], 0.0)

  def score_options(self, params, batch: Batch) -> Array:
    """Summed log-likelihood of each answer option: [B, K] (see the model API).

    One forward pass over option-tree rows (`score_tree`): the prompt
    [0, inputs...] once, then every option's tokens but its last, each at
    positions continuing the prompt. The prompt's last slot predicts every
    option's first token; option k's j-th slot predicts its token j + 1.
    The prompt is computed once per example and no key/value cache is built.
    """
    inputs, options = batch["inputs"], batch["option_targets"]
    b, k, length = options.shape
    prompts = jnp.concatenate([jnp.zeros((b, 1), inputs.dtype), inputs], 1)
    width = prompts.shape[1]
    prompt_lengths = 1 + jnp.sum(inputs > 0, axis=1)  # [B]
    fed = options[:, :, :-1]
    option_ids = jnp.broadcast_to(jnp.arange(k)[:, None], (k, length - 1))
    branches = jnp.concatenate([
        jnp.where(jnp.arange(width)[None] < prompt_lengths[:, None], 1, 0),
        jnp.where(options[:, :, 1:] > 0, 2 + option_ids[None], 0
                  ).reshape(b, -1)], 1)
    positions = jnp.concatenate([
        jnp.broadcast_to(jnp.arange(width), (b, width)),
        prompt_lengths[:, None] + jnp.tile(jnp.arange(length - 1), k)[None]
    ], 1)
    option_slots = width + option_ids * (length - 1) + jnp.arange(length - 1)
    gather_slots = jnp.concatenate([
        jnp.broadcast_to((prompt_lengths - 1)[:, None, None], (b, k, 1)),
        jnp.broadcast_to(option_slots[None], (b, k, length - 1))], 2)
    picked = self.score_tree(params, {
        "tokens": jnp.concatenate([prompts, fed.reshape(b, -1)], 1),
        "positions": positions, "branches": branches,
        "gather_slots": gather_slots.reshape(b, k * length),
        "gather_tokens": options.reshape(b, k * length)})
    return jnp.sum(picked.reshape(b, k, length), axis=-1)

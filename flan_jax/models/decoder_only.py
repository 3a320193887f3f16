"""Decoder-only (Llama, Qwen, Gemma 3) model behind the model interface (`api.Model`).

Features come from `seqio.PrefixLMFeatureConverter`: inputs and targets are
concatenated into one sequence, the loss covers the targets only, and
"decoder_causal_attention" marks the inputs (plus one position), which a
prefix LM (`prefix_lm=True`) attends to bidirectionally; a causal LM ignores it.

Example (unpacked, inputs [9, 4, 1], targets [3, 1]):

    decoder_input_tokens      [0, 9, 4, 1, 3, 0]
    decoder_target_tokens     [9, 4, 1, 3, 1, 0]
    decoder_loss_weights      [0, 0, 0, 1, 1, 0]
    decoder_causal_attention  [1, 1, 1, 1, 0, 0]

Option scoring ("tree") runs each prompt once with all of its options after
it in one row (`score_tree` over `option_tree.layout` rows), no cache.
Generation uses the key/value cache with prompts left-aligned to a common
end: a row whose prompt is `pad` tokens shorter than the widest sits in
cache slots pad.., its RoPE positions are slot - pad and the slots before
`pad` are masked out. All rows then step in lock-step.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import jax
import jax.numpy as jnp
import seqio

from flan_jax.models import api
from flan_jax.models import decoder
from flan_jax.models import kv_cache
from flan_jax.models import lora
from flan_jax.models import masks
from flan_jax.models import option_tree
from flan_jax.models import prompt_tuning

Array = jax.Array
Batch = api.Batch


def left_align(tokens: Array, lengths: Array) -> tuple[Array, Array]:
  """Moves each row's first `lengths` tokens to the row's end; returns pad."""
  width = tokens.shape[1]
  pad = width - lengths
  source = jnp.arange(width)[None, :] - pad[:, None]
  aligned = jnp.take_along_axis(tokens, jnp.maximum(source, 0), axis=1)
  return jnp.where(source >= 0, aligned, 0), pad


@dataclasses.dataclass(frozen=True)
class DecoderOnlyModel(api.Model):
  """A `decoder.Decoder` (other fields: see `api.Model`).

  Attributes:
    prefix_lm: attend bidirectionally over the inputs (else fully causal).
    max_decode_length: tokens `predict_batch` generates (EOS included).
  """

  config: decoder.DecoderConfig
  prefix_lm: bool = True

  option_scoring = "tree"

  @property
  def module(self) -> decoder.Decoder:
    return decoder.Decoder(self.config)

  def feature_converter(self, pack: bool) -> seqio.FeatureConverter:
    return seqio.PrefixLMFeatureConverter(pack=pack,
                                          loss_on_targets_only=True)

  def _masks(self, build) -> dict[str, Array]:
    """{layer kind: build(window)} for each kind of layer the network has
    (one mask, or Gemma 3's global and sliding-window pair)."""
    return {kind: build(window)
            for kind, window in self.config.attention_windows.items()}

  def init_variables(self, rng: Array, input_shapes: api.InputShapes):
    """Initial variables; only the decoder_input_tokens shape matters."""
    shape = input_shapes["decoder_input_tokens"]
    tokens = jnp.ones(shape, jnp.int32)
    positions = jnp.broadcast_to(jnp.arange(shape[1]), shape)
    mask = masks.decoder_mask(jnp.ones(shape, jnp.int32))
    variables = self.module.init(rng, tokens, positions,
                                 self._masks(lambda window: mask))
    if self.config.lora is not None:
      lora.check_targets(self.config.lora, variables["params"])
    return variables

  @property
  def _prompt_length(self) -> int:
    return 0 if self.config.prompt is None else self.config.prompt.length

  def _prompt_start(self, rows: int, start=1) -> Array | None:
    if self.config.prompt is None:
      return None
    return jnp.broadcast_to(jnp.asarray(start, jnp.int32), (rows,))

  def _with_prompt_slots(self, batch: Batch) -> Batch:
    """Unpacked features with P placeholder slots after the start token."""
    n = self._prompt_length
    prompt_tuning.refuse_packing(batch.get("decoder_segment_ids"))
    out = {"decoder_input_tokens": prompt_tuning.insert_after_first(
        batch["decoder_input_tokens"], n, 0)}
    # The targets only mark real slots (unpacked segments): a copy of the
    # start token's target keeps the prompt slots in the example.
    out["decoder_target_tokens"] = prompt_tuning.insert_after_first(
        batch["decoder_target_tokens"], n)
    if "decoder_causal_attention" in batch:  # the prompt is input
      out["decoder_causal_attention"] = prompt_tuning.insert_after_first(
          batch["decoder_causal_attention"], n, 1)
    return out

  def _logits(self, params, batch: Batch, *, dropout_rng=None) -> Array:
    n = self._prompt_length
    if n:
      batch = self._with_prompt_slots(batch)
    tokens = batch["decoder_input_tokens"]
    segments = batch.get("decoder_segment_ids")
    if segments is None:  # unpacked: real wherever a target token exists
      segments = (batch["decoder_target_tokens"] > 0).astype(jnp.int32)
    positions = batch.get("decoder_positions")
    if positions is None:
      positions = jnp.broadcast_to(jnp.arange(tokens.shape[1]), tokens.shape)
    causal_attention = (batch.get("decoder_causal_attention")
                        if self.prefix_lm else None)
    mask = self._masks(lambda window: masks.decoder_mask(
        segments, causal_attention, positions, window))
    logits = self.module.apply(
        {"params": params}, tokens, positions, mask,
        deterministic=dropout_rng is None,
        prompt_start=self._prompt_start(tokens.shape[0]),
        rngs=None if dropout_rng is None else {"dropout": dropout_rng})
    # The slot after the last prompt vector predicts what the start token
    # predicted without a prompt.
    return logits[:, n:]

  def logits(self, params, tokens: Array) -> Array:
    """Plain causal logits of unpadded token rows (Hugging Face parity);
    with a prompt, it follows each row's first token."""
    n = self._prompt_length
    if n:
      tokens = prompt_tuning.insert_after_first(tokens, n, 0)
    positions = jnp.broadcast_to(jnp.arange(tokens.shape[1]), tokens.shape)
    mask = self._masks(lambda window: masks.decoder_mask(
        jnp.ones_like(tokens), None, positions, window))
    logits = self.module.apply({"params": params}, tokens, positions, mask,
                               prompt_start=self._prompt_start(
                                   tokens.shape[0]))
    return logits[:, n:]

  # ---- cached computation -------------------------------------------------

  def _empty_cache(self, params, rows: int, length: int):
    module = self.module
    tokens = jnp.zeros((rows, length), jnp.int32)
    positions = jnp.zeros((rows, length), jnp.int32)
    mask = self._masks(
        lambda window: jnp.ones((rows, 1, length, length), bool))
    shapes = jax.eval_shape(
        lambda p: module.apply({"params": p}, tokens, positions, mask,
                               decode=True, mutable=["cache"])[1]["cache"],
        params)
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

  def _extend(self, params, cache, tokens: Array, pad: Array, start,
              cache_length: int, prompt_length: int,
              prompt_start: Array | None = None):
    """Runs `tokens` [rows, T] at cache slots start..start+T-1."""
    slots = start + jnp.arange(tokens.shape[1])
    positions = jnp.maximum(slots[None, :] - pad[:, None], 0)
    mask = self._masks(lambda window: masks.cached_decoding_mask(
        slots, pad, cache_length, prompt_length, prefix_lm=self.prefix_lm,
        sliding_window=window))
    logits, updated = self.module.apply(
        {"params": params, "cache": cache}, tokens, positions, mask,
        decode=True, mutable=["cache"], prompt_start=prompt_start)
    return logits, updated["cache"]

  def _prefill(self, params, prompts: Array, prompt_lengths: Array,
               cache_length: int):
    """Left-aligns and runs the prompts; returns last logits, cache, pad.

    With prompt tuning the prompts already hold P placeholder slots after
    their start token (`generate`); after alignment they sit at pad + 1.
    """
    aligned, pad = left_align(prompts, prompt_lengths)
    width = prompts.shape[1]
    cache = self._empty_cache(params, prompts.shape[0], cache_length)
    prompt_start = None if self.config.prompt is None else pad + 1
    logits, cache = self._extend(params, cache, aligned, pad, 0, cache_length,
                                 width, prompt_start)
    return logits[:, -1], cache, pad

  def _reorder(self, state, rows: Array):
    return {**state, "pad": jnp.take(state["pad"], rows),
            "cache": kv_cache.gather_rows(state["cache"], rows,
                                          scanned=self.config.scan_layers)}

  def generate(self, params, prompts: Array, prompt_lengths: Array,
               max_length: int, rng: Array | None = None) -> Array:
    """Continues right-padded prompts [batch, P]; returns [batch, max_length]."""
    if self._prompt_length:  # the cache holds the prompt vectors too
      prompts = prompt_tuning.insert_after_first(prompts, self._prompt_length,
                                                 0)
      prompt_lengths = prompt_lengths + self._prompt_length
    batch_size, width = prompts.shape
    cache_length = width + max_length
    first_logits, cache, pad = self._prefill(params, prompts, prompt_lengths,
                                             cache_length)
    state = {"cache": cache, "pad": pad, "slot": jnp.array(width, jnp.int32)}

    def step(tokens, state):
      logits, cache = self._extend(params, state["cache"], tokens,
                                   state["pad"], state["slot"], cache_length,
                                   width)
      return logits[:, -1], {**state, "cache": cache,
                             "slot": state["slot"] + 1}

    def repeat_for_beams(state, n):
      return {**state, "pad": jnp.repeat(state["pad"], n),
              "cache": kv_cache.repeat_rows(state["cache"], n,
                                            scanned=self.config.scan_layers)}

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

  def score_tree(self, params, batch: Batch, greedy: bool = False) -> Array:
    """Log-probabilities of chosen tokens in option-tree rows: [B, G].

    Each row holds one prompt and its options (`option_tree.layout`):
    "tokens", "positions" and "branches" [B, S]. Row b's entry g is
    log p("gather_tokens"[b, g]) at slot "gather_slots"[b, g], 0 where the
    token is 0 (padding). The output layer runs only at the gathered slots.
    With `greedy`: [2, B, G], then 1.0 where the token is the argmax (and
    at padding).
    """
    tokens, positions = batch["tokens"], batch["positions"]
    branches, gather_slots = batch["branches"], batch["gather_slots"]
    n = self._prompt_length
    if n:  # the prompt vectors join the prompt's branch after slot 0
      tokens = prompt_tuning.insert_after_first(tokens, n, 0)
      positions = prompt_tuning.insert_positions(positions, n)
      branches = prompt_tuning.insert_after_first(branches, n)
      gather_slots = gather_slots + n
    mask = self._masks(lambda window: masks.option_tree_mask(
        branches, positions, prefix_lm=self.prefix_lm,
        sliding_window=window))
    logits = self.module.apply({"params": params}, tokens, positions, mask,
                               logits_at=gather_slots,
                               prompt_start=self._prompt_start(
                                   tokens.shape[0]))
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32))
    tokens = batch["gather_tokens"]
    picked = jnp.take_along_axis(log_probs, tokens[..., None], axis=-1)
    scores = jnp.where(tokens > 0, picked[..., 0], 0.0)
    if not greedy:
      return scores
    is_best = (jnp.argmax(log_probs, -1) == tokens) | (tokens == 0)
    return jnp.stack([scores, is_best.astype(jnp.float32)])

  def score_options(self, params, batch: Batch, greedy: bool = False
                    ) -> Array:
    """Every option's summed log-likelihood, [B, K] (see `api.Model`).

    One forward pass over option-tree rows (`score_tree`), laid out on
    device by the same builder the eval runner uses on the host: the prompt
    is computed once per example and no key/value cache is built.
    """
    inputs, options = batch["inputs"], batch["option_targets"]
    b, k, _ = options.shape
    tree = option_tree.layout(inputs, options, xp=jnp)
    picked = self.score_tree(params, tree, greedy=greedy)
    rows = jnp.arange(b)[:, None]
    at = jnp.zeros((b, k), jnp.float32).at[rows, tree["gather_options"]]
    if not greedy:
      return at.add(picked)
    # Padding gathers point at option 0 with flag 1: `min` leaves it be.
    flags = jnp.ones((b, k), jnp.float32).at[rows, tree["gather_options"]]
    return jnp.stack([at.add(picked[0]), flags.min(picked[1])])

  def train_flops(self, input_shapes: api.InputShapes) -> float:
    return self.config.train_flops(*input_shapes["decoder_input_tokens"])

  def activation_bytes(self, feature_lengths: Mapping[str, int], *,
                       batch_per_device: int, tensor_parallel: int) -> int:
    return self.config.activation_bytes(
        batch_per_device=batch_per_device,
        length=feature_lengths["decoder_target_tokens"],
        tensor_parallel=tensor_parallel)

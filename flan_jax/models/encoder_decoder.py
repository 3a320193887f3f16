"""The T5-style encoder-decoder behind the model interface (`api.Model`).

Features are seqio's `EncDecFeatureConverter` ones: "encoder_input_tokens",
"decoder_input_tokens" (targets shifted right), "decoder_target_tokens",
"decoder_loss_weights" (and segment ids and positions when packed).

Rank classification (`score_options`, option scoring "grouped") encodes each
input once and decodes its K options together against that one encoding.
Generation (`predict_batch`) encodes once, then steps the decoder over its
key/value cache with greedy search, beam search or sampling
(`decode_method`).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import jax
import jax.numpy as jnp
import seqio

from flan_jax.models import api
from flan_jax.models import kv_cache
from flan_jax.models import lora
from flan_jax.models import t5

Array = jax.Array
Batch = api.Batch


@dataclasses.dataclass(frozen=True)
class EncoderDecoderModel(api.Model):
  """T5-style encoder-decoder (fields: see `api.Model`)."""

  config: t5.T5Config

  option_scoring = "grouped"

  @property
  def module(self) -> t5.Transformer:
    return t5.Transformer(self.config)

  def feature_converter(self, pack: bool) -> seqio.FeatureConverter:
    return seqio.EncDecFeatureConverter(pack=pack)

  def init_variables(self, rng: Array, input_shapes: api.InputShapes):
    enc = jnp.ones(input_shapes["encoder_input_tokens"], jnp.int32)
    dec = jnp.ones(input_shapes["decoder_input_tokens"], jnp.int32)
    variables = self.module.init(rng, enc, dec)
    if self.config.lora is not None:
      lora.check_targets(self.config.lora, variables["params"])
    return variables

  def _logits(self, params, batch: Batch, *, dropout_rng=None) -> Array:
    return self.module.apply(
        {"params": params},
        batch["encoder_input_tokens"],
        batch["decoder_input_tokens"],
        batch.get("encoder_segment_ids"),
        batch.get("decoder_segment_ids"),
        deterministic=dropout_rng is None,
        rngs=None if dropout_rng is None else {"dropout": dropout_rng})

  def score_options(self, params, batch: Batch, greedy: bool = False
                    ) -> Array:
    """Every option's summed log-likelihood, [B, K] (see `api.Model`).

    The input is encoded once per example and the K options are decoded
    together as a batch of B*K sequences attending to that one encoding.
    """
    inputs, options = batch["inputs"], batch["option_targets"]
    b, k, length = options.shape
    module = self.module
    encoded = module.apply({"params": params}, inputs, method=module.encode)
    encoder_segments = t5.encoder_segments(self.config, inputs)
    encoded = jnp.repeat(encoded, k, axis=0)  # [B*K, Li, D], option-major
    encoder_segments = jnp.repeat(encoder_segments, k, axis=0)
    targets = options.reshape(b * k, length)
    decoder_inputs = api.shift_right(targets)
    logits = module.apply({"params": params}, encoded, encoder_segments,
                          decoder_inputs, method=module.decode)
    weights = (targets > 0).astype(jnp.float32)
    scores = api.sequence_log_likelihood(logits, targets,
                                         weights).reshape(b, k)
    if not greedy:
      return scores
    is_best = (jnp.argmax(logits, -1) == targets) | (targets == 0)
    return jnp.stack([scores, jnp.all(is_best, -1).reshape(b, k).astype(
        jnp.float32)])

  def decode_length(self, batch: Batch) -> int:
    """Tokens to generate: the batch's target width, else max_decode_length.

    seqio's Evaluator pads every target to the longest target of the eval
    mixture, so generation stops where the longest reference would.
    """
    if "decoder_input_tokens" in batch:
      return batch["decoder_input_tokens"].shape[1]
    return self.max_decode_length

  def predict_batch(self, params, batch: Batch,
                    rng: Array | None = None) -> Array:
    """Generates targets with the key/value cache: [batch, decode_length]."""
    module = self.module
    length = self.decode_length(batch)
    encoder_tokens = batch["encoder_input_tokens"]
    batch_size = encoder_tokens.shape[0]
    encoded = module.apply({"params": params}, encoder_tokens,
                           method=module.encode)
    encoder_segments = t5.encoder_segments(self.config, encoder_tokens)

    def make_cache(rows_per_example):
      enc = jnp.repeat(encoded, rows_per_example, axis=0)
      segs = jnp.repeat(encoder_segments, rows_per_example, axis=0)
      dummy = jnp.zeros((enc.shape[0], length), jnp.int32)
      _, initial = module.apply({"params": params}, enc, segs, dummy,
                                decode=True, mutable=["cache"],
                                method=module.decode)
      return {"cache": initial["cache"], "encoded": enc, "segments": segs}

    def step(tokens, state):
      logits, updated = module.apply(
          {"params": params, "cache": state["cache"]}, state["encoded"],
          state["segments"], tokens, decode=True, mutable=["cache"],
          method=module.decode)
      return logits[:, -1, :], {**state, "cache": updated["cache"]}

    def reorder(state, rows):
      return {**state, "cache": kv_cache.gather_rows(
          state["cache"], rows, scanned=self.config.scan_layers)}

    beams = self.num_beams if self.decode_method == "beam" else 1
    return self._search(step, make_cache(beams), reorder, batch_size, length,
                        rng=rng, repeat_for_beams=lambda cache, n: cache)

  def train_flops(self, input_shapes: api.InputShapes) -> float:
    batch, inputs_length = input_shapes["encoder_input_tokens"]
    _, targets_length = input_shapes["decoder_input_tokens"]
    return self.config.train_flops(batch, inputs_length, targets_length)

  def activation_bytes(self, feature_lengths: Mapping[str, int], *,
                       batch_per_device: int, tensor_parallel: int) -> int:
    return self.config.activation_bytes(
        batch_per_device=batch_per_device,
        inputs_length=feature_lengths["encoder_input_tokens"],
        targets_length=feature_lengths["decoder_target_tokens"],
        tensor_parallel=tensor_parallel)

"""The model API the trainer and the eval job call (t5x style).

`EncoderDecoderModel` wraps a flax module with three functions over seqio
model features (see `seqio.EncDecFeatureConverter`):

    loss_fn(params, batch, dropout_rng) -> (loss, metrics)
    score_batch(params, batch)          -> [batch] summed target log-likelihood
    predict_batch(params, batch)        -> [batch, max_decode_length] tokens
    score_options(params, batch)        -> [batch, K] rank-classification scores

`DecoderOnlyModel` (flan_jax/decoder_only_model.py, re-exported here) offers
the same API over seqio PrefixLM features, plus `score_tree(params, batch)`:
log-probabilities of chosen tokens in rows that hold a prompt and all of its
options, which the eval job uses to score options in one pass.

Generation (`predict_batch`) is greedy, beam search or sampling, chosen by
the model's `decode_method` field (gin: `EncoderDecoderModel.decode_method`).

Loss normalisation: the summed token cross-entropy is divided by the number
of target tokens in the batch (`loss_normalizing_factor=None`), or by a fixed
constant when one is given (t5x's choice for comparable losses across
batches with different amounts of padding).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import jax
import jax.numpy as jnp
import optax
import seqio

from flan_jax import decoding
from flan_jax.models import t5

Array = jax.Array
Batch = Mapping[str, Array]


def cross_entropy(logits: Array, targets: Array, weights: Array, *,
                  z_loss: float = 0.0,
                  label_smoothing: float = 0.0) -> tuple[Array, Array, Array]:
  """Token cross-entropy, summed over weighted tokens.

  Returns:
    (summed loss including z-loss, summed z-loss, number of correct tokens).
  """
  vocab = logits.shape[-1]
  confidence = 1.0 - label_smoothing
  off_value = label_smoothing / (vocab - 1)
  soft_targets = jax.nn.one_hot(targets, vocab) * (confidence - off_value)
  soft_targets += off_value
  # Subtract the entropy of the smoothed targets so a perfect model has loss 0.
  normalizing_constant = -(confidence * jnp.log(confidence) +
                           (vocab - 1) * off_value * jnp.log(off_value + 1e-20))
  log_z = jax.nn.logsumexp(logits, axis=-1)
  token_loss = optax.softmax_cross_entropy(logits, soft_targets)
  token_loss -= normalizing_constant
  token_z_loss = z_loss * jnp.square(log_z)
  correct = (jnp.argmax(logits, -1) == targets) * weights
  return (jnp.sum((token_loss + token_z_loss) * weights),
          jnp.sum(token_z_loss * weights), jnp.sum(correct))


def sequence_log_likelihood(logits: Array, targets: Array,
                            weights: Array) -> Array:
  """Summed log P(target token) per sequence: [batch]."""
  log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  token_ll = jnp.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
  return jnp.sum(token_ll * weights, axis=-1)


def shift_right(targets: Array, start_id: int = 0) -> Array:
  """Teacher-forcing decoder inputs: [start, t0, t1, ...] (unpacked rows)."""
  start = jnp.full_like(targets[:, :1], start_id)
  return jnp.concatenate([start, targets[:, :-1]], axis=1)


DECODE_METHODS = ("greedy", "beam", "sample")


class ModelApi:
  """Loss, scoring and search shared by both model classes.

  Subclasses define `_logits(params, batch, dropout_rng=None)` and the
  dataclass fields used here (z_loss, label_smoothing,
  loss_normalizing_factor, decode_method, num_beams, length_penalty_alpha,
  temperature, top_k, top_p, eos_id).
  """

  def loss_fn(self, params, batch: Batch,
              dropout_rng: Array | None = None
              ) -> tuple[Array, dict[str, Array]]:
    logits = self._logits(params, batch, dropout_rng=dropout_rng)
    weights = batch["decoder_loss_weights"].astype(jnp.float32)
    loss, z_loss, correct = cross_entropy(
        logits, batch["decoder_target_tokens"], weights, z_loss=self.z_loss,
        label_smoothing=self.label_smoothing)
    num_tokens = jnp.sum(weights)
    denominator = (self.loss_normalizing_factor
                   if self.loss_normalizing_factor is not None else
                   jnp.maximum(num_tokens, 1.0))
    metrics = {
        "loss": loss / denominator,
        "z_loss": z_loss / denominator,
        "accuracy": correct / jnp.maximum(num_tokens, 1.0),
        "num_target_tokens": num_tokens,
    }
    return loss / denominator, metrics

  def score_batch(self, params, batch: Batch) -> Array:
    """Summed log-likelihood of each example's target tokens: [batch]."""
    logits = self._logits(params, batch)
    return sequence_log_likelihood(logits, batch["decoder_target_tokens"],
                                   batch["decoder_loss_weights"])

  def _check_decode_method(self) -> None:
    if self.decode_method not in DECODE_METHODS:
      raise ValueError(f"decode_method {self.decode_method!r}: use one of "
                       f"{DECODE_METHODS}")

  def _search(self, step, cache, reorder, batch_size: int, length: int, *,
              rng: Array | None, first_logits: Array | None = None,
              repeat_for_beams=None) -> Array:
    """Runs the configured search. `repeat_for_beams(cache, n)` gives a
    cache with every row repeated n times (beam search only)."""
    self._check_decode_method()
    if self.decode_method == "greedy":
      return decoding.greedy_search(step, cache, batch_size, length,
                                    eos_id=self.eos_id,
                                    first_logits=first_logits)
    if self.decode_method == "sample":
      rng = rng if rng is not None else jax.random.key(self.decode_seed)
      return decoding.sample(step, cache, batch_size, length, rng=rng,
                             eos_id=self.eos_id, temperature=self.temperature,
                             top_k=self.top_k, top_p=self.top_p,
                             first_logits=first_logits)
    tokens, _ = decoding.beam_search(
        step, repeat_for_beams(cache, self.num_beams), reorder, batch_size,
        length, num_beams=self.num_beams, eos_id=self.eos_id,
        alpha=self.length_penalty_alpha, first_logits=first_logits)
    return tokens


@dataclasses.dataclass(frozen=True)
class EncoderDecoderModel(ModelApi):
  """T5-style encoder-decoder behind the model API.

  Attributes:
    config: the network's shape.
    z_loss: weight of log(Z)^2, which keeps the softmax normaliser near 1.
    label_smoothing: mass moved from the target token to the others.
    loss_normalizing_factor: divide the summed loss by this constant instead
      of by the number of target tokens.
    max_decode_length: longest generated target (tokens, EOS included) when
      the batch does not say (see `decode_length`).
    decode_method: "greedy", "beam" or "sample".
    num_beams, length_penalty_alpha: beam search; hypotheses are ranked by
      log P / ((5 + length) / 6) ** alpha.
    temperature, top_k, top_p, decode_seed: sampling (top_k 0 and top_p 1
      switch those filters off; temperature 0 is greedy).
    eos_id: generation stops after this token.
  """

  config: t5.T5Config
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

  FEATURE_CONVERTER_CLS = seqio.EncDecFeatureConverter

  @property
  def module(self) -> t5.Transformer:
    return t5.Transformer(self.config)

  def feature_converter(self, pack: bool) -> seqio.FeatureConverter:
    return self.FEATURE_CONVERTER_CLS(pack=pack)

  def init_variables(self, rng: Array, input_shapes: Mapping[str, tuple[int, ...]]):
    """Initial variables (params boxed with logical axis metadata)."""
    enc = jnp.ones(input_shapes["encoder_input_tokens"], jnp.int32)
    dec = jnp.ones(input_shapes["decoder_input_tokens"], jnp.int32)
    return self.module.init(rng, enc, dec)

  def _logits(self, params, batch: Batch, *, dropout_rng=None) -> Array:
    return self.module.apply(
        {"params": params},
        batch["encoder_input_tokens"],
        batch["decoder_input_tokens"],
        batch.get("encoder_segment_ids"),
        batch.get("decoder_segment_ids"),
        deterministic=dropout_rng is None,
        rngs=None if dropout_rng is None else {"dropout": dropout_rng})

  def score_options(self, params, batch: Batch) -> Array:
    """Summed log-likelihood of every answer option of every example: [B, K].

    Rank classification scores K options against one input. Here the input
    is encoded once per example and the K options are decoded together as a
    batch of B*K sequences attending to that one encoding.

    Args:
      batch: "inputs" int32 [B, Li] (0-padded) and "option_targets" int32
        [B, K, Lt] (0-padded, EOS included). All-padding option rows
        score 0.
    """
    inputs, options = batch["inputs"], batch["option_targets"]
    b, k, length = options.shape
    module = self.module
    encoded = module.apply({"params": params}, inputs, method=module.encode)
    encoder_segments = (inputs > 0).astype(jnp.int32)
    encoded = jnp.repeat(encoded, k, axis=0)  # [B*K, Li, D], option-major
    encoder_segments = jnp.repeat(encoder_segments, k, axis=0)
    targets = options.reshape(b * k, length)
    decoder_inputs = shift_right(targets)
    logits = module.apply({"params": params}, encoded, encoder_segments,
                          decoder_inputs, method=module.decode)
    weights = (targets > 0).astype(jnp.float32)
    return sequence_log_likelihood(logits, targets, weights).reshape(b, k)

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
    encoder_segments = (encoder_tokens > 0).astype(jnp.int32)

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
      return {"cache": t5.reorder_cache(state["cache"], rows,
                                         self.config.scan_layers),
              "encoded": state["encoded"], "segments": state["segments"]}

    beams = self.num_beams if self.decode_method == "beam" else 1
    return self._search(step, make_cache(beams), reorder, batch_size, length,
                        rng=rng, repeat_for_beams=lambda cache, n: cache)


# The decoder-only model lives in its own module; import it from here too.
from flan_jax.decoder_only_model import DecoderOnlyModel  # pylint: disable=g-import-not-at-top,wrong-import-position

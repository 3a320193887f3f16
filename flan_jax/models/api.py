"""The model interface: what training, evaluation and planning ask of a model.

`Model` is the base of both model families (t5x's `BaseTransformerModel`
shape): it owns the fields they share (loss options and decoding options)
and implements, once, everything that only needs logits:

    loss_fn(params, batch, dropout_rng) -> (loss, metrics)
    score_batch(params, batch)          -> [batch] summed target log-likelihood

A family (`EncoderDecoderModel`, `DecoderOnlyModel`) adds its network and
says what it offers, explicitly; callers never probe:

    config                              the network's shape (`NetworkConfig`)
    feature_converter(pack)             the seqio converter its features need
    init_variables(rng, input_shapes)   initial (boxed) variables
    predict_batch(params, batch, rng)   [batch, length] generated tokens
    score_options(params, batch)        [B, K] rank-classification scores
    option_scoring                      how the eval runner scores options:
      "grouped"   `score_options` over {"inputs", "option_targets"}: the
                  input computed once per example, its options batched;
      "tree"      `score_tree` over option-tree rows (`option_tree`): the
                  prompt once, every option after it, one forward pass;
      "per_option"  `score_batch` on every (input, option) pair: the
                  reference, for a model with no shared-input scoring.
    train_flops(input_shapes)           model FLOPs of one train step
    activation_bytes(...)               planner's activation estimate

and, from those, `abstract_params()` (shapes and logical axes, nothing
allocated), `num_params` and `compute_dtype`.

Loss normalisation: the summed token cross-entropy is divided by the number
of target tokens in the batch (`loss_normalizing_factor=None`), or by a fixed
constant when one is given (t5x's choice for comparable losses across
batches with different amounts of padding).
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar, Literal, Mapping, Protocol

import flax.linen
import jax
import jax.numpy as jnp
import optax
import seqio

from flan_jax.models import decoding

Array = jax.Array
Batch = Mapping[str, Array]
InputShapes = Mapping[str, tuple[int, ...]]
OptionScoring = Literal["grouped", "tree", "per_option"]

DECODE_METHODS = ("greedy", "beam", "sample")
# Feature lengths of the smallest batch that defines every parameter shape.
_SHAPE_PROBE_LENGTHS = {"inputs": 4, "targets": 4}


class NetworkConfig(Protocol):
  """What every network config (`T5Config`, `DecoderConfig`) states."""
  vocab_size: int
  dtype: str
  scan_layers: bool
  remat_policy: str

  @property
  def num_params(self) -> int: ...


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


@dataclasses.dataclass(frozen=True)
class Model(abc.ABC):
  """Loss, scoring and search shared by every model family.

  Attributes:
    config: the network's shape (each family narrows the type).
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

  config: NetworkConfig
  _: dataclasses.KW_ONLY
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

  option_scoring: ClassVar[OptionScoring]

  # ---- what each family defines ---------------------------------------------

  @abc.abstractmethod
  def feature_converter(self, pack: bool) -> seqio.FeatureConverter:
    """The seqio converter whose features this model reads."""

  @abc.abstractmethod
  def init_variables(self, rng: Array, input_shapes: InputShapes):
    """Initial variables (params boxed with logical axis metadata)."""

  @abc.abstractmethod
  def _logits(self, params, batch: Batch, *, dropout_rng=None) -> Array:
    """Teacher-forced logits [batch, target length, vocab] of model features."""

  @abc.abstractmethod
  def predict_batch(self, params, batch: Batch,
                    rng: Array | None = None) -> Array:
    """Generated target tokens [batch, decode length] (EOS, then zeros)."""

  @abc.abstractmethod
  def score_options(self, params, batch: Batch, greedy: bool = False
                    ) -> Array:
    """Summed log-likelihood of every answer option of every example: [B, K].

    Args:
      batch: "inputs" int32 [B, Li] (0-padded) and "option_targets" int32
        [B, K, Lt] (0-padded, EOS included). All-padding option rows
        score 0.
      greedy: also say whether each option is the greedy continuation
        (every token the argmax): returns [2, B, K], the scores, then 1.0
        where greedy else 0.0 (lm-evaluation-harness's `is_greedy`).
    """

  @abc.abstractmethod
  def train_flops(self, input_shapes: InputShapes) -> float:
    """Model FLOPs (matmuls, forward + backward) of one train step."""

  @abc.abstractmethod
  def activation_bytes(self, feature_lengths: Mapping[str, int], *,
                       batch_per_device: int, tensor_parallel: int) -> int:
    """Activations one device keeps for the backward pass (an estimate)."""

  def score_tree(self, params, batch: Batch, greedy: bool = False) -> Array:
    """Log-probabilities of chosen tokens in option-tree rows (`"tree"` models);
    with `greedy`, [2, ...]: also 1.0 where the token is the argmax."""
    raise TypeError(f"{type(self).__name__} scores options as "
                    f"{self.option_scoring!r}, not over option trees")

  # ---- derived from the above -------------------------------------------------

  @property
  def compute_dtype(self) -> jnp.dtype:
    return jnp.dtype(self.config.dtype)

  @property
  def num_params(self) -> int:
    return self.config.num_params

  def _probe_shapes(self) -> InputShapes:
    lengths = self.feature_converter(False).get_model_feature_lengths(
        _SHAPE_PROBE_LENGTHS)
    return {name: (1, length) for name, length in lengths.items()}

  def abstract_params(self) -> Any:
    """Parameter shapes with logical axis metadata; nothing is allocated."""
    shapes = self._probe_shapes()
    return jax.eval_shape(lambda r: self.init_variables(r, shapes)["params"],
                          jax.random.key(0))

  def initial_params(self, rng: Array) -> Any:
    """Initial parameters (unboxed) for `rng`; the same values whatever the
    batch shape a trainer initialises with."""
    shapes = self._probe_shapes()
    return flax.linen.unbox(jax.jit(
        lambda r: self.init_variables(r, shapes)["params"])(rng))

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

  def _search(self, step: decoding.StepFn, cache, reorder: decoding.ReorderFn,
              batch_size: int, length: int, *, rng: Array | None,
              first_logits: Array | None = None,
              repeat_for_beams=None) -> Array:
    """Runs the configured search. `repeat_for_beams(cache, n)` gives a
    cache with every row repeated n times (beam search only)."""
    if self.decode_method not in DECODE_METHODS:
      raise ValueError(f"decode_method {self.decode_method!r}: use one of "
                       f"{DECODE_METHODS}")
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

"""T5 v1.1-style encoder-decoder (the FLAN-T5 shape) in flax.linen.

Gated-GELU MLP (gated SiLU for UL2; the original T5's plain ReLU MLP with
`mlp_gated=False`), RMSNorm, bucketed relative position bias
shared by the layers of each stack, no biases, attention logits unscaled (T5
folds the 1/sqrt(d) into the query initialisation), untied or tied output
layer, decoder outputs optionally multiplied by d_model**-0.5 before it.

Decoding uses a key/value cache in the flax "cache" collection: call
`Transformer.decode` once with `decode=True` on a full-length dummy target to
create the cache (the cross-attention keys and values are projected then, once
per example), then once per generated token with one token each.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import flax.linen as nn

from flan_jax.models import kv_cache
from flan_jax.models import layers
from flan_jax.models import lora as lora_lib
from flan_jax.models import masks
from flan_jax.models import prompt_tuning
from flan_jax.models import sizing

Array = jax.Array


MLP_ACTIVATIONS = layers.MLP_ACTIVATIONS


@dataclasses.dataclass(frozen=True)
class T5Config:
  """Shape of a T5 v1.1 model (names follow the paper/t5x, not Hugging Face)."""
  vocab_size: int = 1024
  d_model: int = 128
  num_heads: int = 4
  head_dim: int = 32
  d_ff: int = 512
  num_encoder_layers: int = 2
  num_decoder_layers: int = 2
  relative_attention_num_buckets: int = 32
  relative_attention_max_distance: int = 128
  dropout_rate: float = 0.0
  layer_norm_epsilon: float = 1e-6
  tie_word_embeddings: bool = False
  # Multiply the final decoder states by d_model**-0.5 before the output
  # layer. None: exactly when tied (the original T5 and t5x convention);
  # transformers 5 records it apart (its `scale_decoder_outputs`), so a
  # tied T5 v1.1-shaped model can be unscaled.
  scale_decoder_outputs: bool | None = None
  # The MLP's activation: "gelu_tanh" (T5 v1.1, FLAN-T5, mT5), "silu"
  # (UL2, Flan-UL2) or "relu" (the original T5).
  mlp_activation: str = "gelu_tanh"
  # act(x W_0) * (x W_1) (T5 v1.1 and later) or act(x W_i) (the original
  # T5 1.0: t5-small/base/large, with tied embeddings and scaled outputs).
  mlp_gated: bool = True
  dtype: str = "float32"  # compute dtype; parameters are always float32
  # Run each stack's layers with nn.scan (stacked "layers" parameters) and
  # rematerialise them in the backward pass ("none", "full", "dots",
  # "dots_no_batch"); both leave the numbers unchanged.
  scan_layers: bool = False
  remat_policy: str = "none"
  # Parameter-efficient tuning: LoRA adapters on the dense layers the
  # pattern names, and/or P trainable vectors before the encoder input.
  lora: lora_lib.LoraConfig | None = None
  prompt: prompt_tuning.PromptConfig | None = None

  def __post_init__(self):
    if self.mlp_activation not in MLP_ACTIVATIONS:
      raise ValueError(f"mlp_activation {self.mlp_activation!r} is not "
                       f"supported; use one of {tuple(MLP_ACTIVATIONS)}")

  @property
  def compute_dtype(self):
    return jnp.dtype(self.dtype)

  @property
  def family(self) -> str:
    """The Hugging Face model_type an export writes (see models/hf_t5.py)."""
    return "t5"

  @property
  def layers_per_scan_step(self) -> int:
    """Scanned, one step runs one layer (see `layers.run_layers`)."""
    return 1

  @property
  def scales_decoder_outputs(self) -> bool:
    """`scale_decoder_outputs` with its default resolved."""
    if self.scale_decoder_outputs is None:
      return self.tie_word_embeddings
    return self.scale_decoder_outputs

  @property
  def num_params(self) -> int:
    """Parameters `Transformer(self).init` creates for the base network
    (LoRA adapters and a prompt are not counted; `trainable` sizes them)."""
    d, hk = self.d_model, self.num_heads * self.head_dim
    attention = 4 * d * hk
    mlp = (3 if self.mlp_gated else 2) * d * self.d_ff
    encoder_layer = attention + mlp + 2 * d
    decoder_layer = 2 * attention + mlp + 3 * d
    return (self.vocab_size * d * (1 if self.tie_word_embeddings else 2) +
            2 * self.relative_attention_num_buckets * self.num_heads +
            self.num_encoder_layers * encoder_layer +
            self.num_decoder_layers * decoder_layer + 2 * d)

  def train_flops(self, batch_size: int, inputs_length: int,
                  targets_length: int) -> float:
    """Matmul FLOPs of one train step (forward + backward = 3 x forward).

    Per token and layer: attention projections 4 * 2 * d * (heads *
    head_dim), gated MLP 3 * 2 * d * d_ff; attention scores and weighted
    sum 2 * 2 * length * (heads * head_dim); cross-attention projects keys
    and values of every encoder token in every decoder layer; logits
    2 * d * vocab.
    """
    d, hk = self.d_model, self.num_heads * self.head_dim
    le, ld = inputs_length, targets_length
    mlp = (3 if self.mlp_gated else 2) * 2 * d * self.d_ff
    proj = 2 * d * hk
    encoder = self.num_encoder_layers * le * (4 * proj + mlp + 4 * le * hk)
    decoder = self.num_decoder_layers * (
        ld * (4 * proj + mlp + 4 * ld * hk)       # self-attention + MLP
        + ld * 2 * proj + le * 2 * proj           # cross q, o and k, v
        + 4 * ld * le * hk)                       # cross scores
    logits = ld * 2 * d * self.vocab_size
    return 3.0 * batch_size * (encoder + decoder + logits)

  def activation_bytes(self, *, batch_per_device: int, inputs_length: int,
                       targets_length: int, tensor_parallel: int) -> int:
    """Activations kept for the backward pass (`sizing.activation_bytes`)."""
    return sizing.activation_bytes(
        d_model=self.d_model, num_heads=self.num_heads,
        head_dim=self.head_dim, d_ff=self.d_ff, vocab_size=self.vocab_size,
        encoder_layers=self.num_encoder_layers,
        decoder_layers=self.num_decoder_layers, dtype=self.dtype,
        remat_policy=self.remat_policy, batch_per_device=batch_per_device,
        encoder_length=inputs_length, decoder_length=targets_length,
        tensor_parallel=tensor_parallel)


def relative_position_bucket(relative_position: Array, *, bidirectional: bool,
                             num_buckets: int, max_distance: int) -> Array:
  """Maps key-minus-query distances to T5's log-spaced buckets.

  Half of the buckets (all of them when unidirectional) hold exact small
  distances; the rest grow logarithmically up to `max_distance`. A
  bidirectional bias gives keys after the query the upper half of the buckets.
  """
  bucket = jnp.zeros_like(relative_position)
  if bidirectional:
    num_buckets //= 2
    bucket += (relative_position > 0).astype(jnp.int32) * num_buckets
    distance = jnp.abs(relative_position)
  else:
    distance = -jnp.minimum(relative_position, 0)
  max_exact = num_buckets // 2
  is_small = distance < max_exact
  # Clamp before the log so that distance 0 gives no warning; it is "small".
  log_ratio = jnp.log(jnp.maximum(distance, 1).astype(jnp.float32) / max_exact)
  large = max_exact + (log_ratio / math.log(max_distance / max_exact) *
                       (num_buckets - max_exact)).astype(jnp.int32)
  large = jnp.minimum(large, num_buckets - 1)
  return bucket + jnp.where(is_small, distance, large)


class RelativePositionBias(nn.Module):
  """Learned per-head bias for each distance bucket; [1, heads, q, k]."""
  num_heads: int
  num_buckets: int
  max_distance: int
  bidirectional: bool

  @nn.compact
  def __call__(self, query_positions: Array, key_positions: Array) -> Array:
    table = layers.param_with_axes(
        self, "rel_embedding", nn.initializers.normal(stddev=1.0),
        (self.num_buckets, self.num_heads), ("relpos_buckets", "heads"))
    buckets = relative_position_bucket(
        key_positions[None, :] - query_positions[:, None],
        bidirectional=self.bidirectional, num_buckets=self.num_buckets,
        max_distance=self.max_distance)
    bias = jnp.take(table, buckets, axis=0)  # [q, k, heads]
    return jnp.transpose(bias, (2, 0, 1))[None]


class Attention(nn.Module):
  """Multi-head attention with T5 initialisation and an optional KV cache."""
  config: T5Config
  is_cross_attention: bool = False

  @nn.compact
  def __call__(self, inputs_q: Array, inputs_kv: Array, *, bias: Array | None,
               mask: Array | None, decode: bool = False,
               deterministic: bool = True) -> Array:
    cfg = self.config
    heads_axes = ("heads", "kv")
    projection = lambda name, stddev: layers.DenseGeneral(
        (cfg.num_heads, cfg.head_dim), ("embed",), heads_axes,
        kernel_init=nn.initializers.normal(stddev), dtype=cfg.compute_dtype,
        lora=cfg.lora, name=name)
    query = projection("query", (cfg.d_model * cfg.head_dim)**-0.5)(
        inputs_q, deterministic=deterministic)
    key_value_axes = ("batch", "length", "heads", "kv")
    query = layers.constrain(query, key_value_axes)

    if decode and self.is_cross_attention and self.has_variable(
        "cache", "cross_key"):
      # Encoder keys/values were projected once, when the cache was created.
      key = self.get_variable("cache", "cross_key")
      value = self.get_variable("cache", "cross_value")
    else:
      key = projection("key", cfg.d_model**-0.5)(
          inputs_kv, deterministic=deterministic)
      value = projection("value", cfg.d_model**-0.5)(
          inputs_kv, deterministic=deterministic)
      key = layers.constrain(key, key_value_axes)
      value = layers.constrain(value, key_value_axes)
      if decode:
        key, value = self._update_cache(key, value)

    out = jax.nn.dot_product_attention(query, key, value, bias=bias,
                                       mask=mask, scale=1.0)
    out = layers.constrain(out, key_value_axes)
    out = layers.DenseGeneral(
        (cfg.d_model,), heads_axes, ("embed",),
        kernel_init=nn.initializers.normal((cfg.num_heads * cfg.head_dim)**-0.5),
        dtype=cfg.compute_dtype, lora=cfg.lora, name="out")(
            out, deterministic=deterministic)
    return nn.Dropout(cfg.dropout_rate)(out, deterministic=deterministic)

  def _update_cache(self, key: Array, value: Array) -> tuple[Array, Array]:
    if not self.is_cross_attention:
      return kv_cache.write(self, key, value)
    # Cross-attention: the encoder's keys and values, projected once.
    self.put_variable("cache", "cross_key", key)
    self.put_variable("cache", "cross_value", value)
    return key, value


def _mlp_block(cfg: T5Config, x: Array, deterministic: bool) -> Array:
  """The residual MLP block that ends every layer (call it inside a
  compact method: its submodules join the calling layer)."""
  h = layers.RMSNorm(cfg.layer_norm_epsilon, cfg.compute_dtype,
                     name="pre_mlp_layer_norm")(x)
  mlp_cls = layers.GatedMlp if cfg.mlp_gated else layers.Mlp
  h = mlp_cls(cfg.d_ff, MLP_ACTIVATIONS[cfg.mlp_activation],
              cfg.dropout_rate, cfg.compute_dtype, lora=cfg.lora, name="mlp")(
                  h, deterministic=deterministic)
  x = x + nn.Dropout(cfg.dropout_rate)(h, deterministic=deterministic)
  return layers.constrain(x, ("batch", "length", "embed"))


class EncoderLayer(nn.Module):
  config: T5Config
  decode: bool = False  # unused; keeps the stack signature uniform
  deterministic: bool = True

  @nn.compact
  def __call__(self, x, bias, mask):
    cfg = self.config
    deterministic = self.deterministic
    norm = lambda name: layers.RMSNorm(cfg.layer_norm_epsilon,
                                       cfg.compute_dtype, name=name)
    h = norm("pre_attention_layer_norm")(x)
    x = x + Attention(cfg, name="attention")(
        h, h, bias=bias, mask=mask, deterministic=deterministic)
    return _mlp_block(cfg, x, deterministic), None


class DecoderLayer(nn.Module):
  config: T5Config
  decode: bool = False
  deterministic: bool = True

  @nn.compact
  def __call__(self, x, encoded, self_bias, self_mask, cross_mask):
    cfg = self.config
    decode, deterministic = self.decode, self.deterministic
    norm = lambda name: layers.RMSNorm(cfg.layer_norm_epsilon,
                                       cfg.compute_dtype, name=name)
    h = norm("pre_self_attention_layer_norm")(x)
    x = x + Attention(cfg, name="self_attention")(
        h, h, bias=self_bias, mask=self_mask, decode=decode,
        deterministic=deterministic)
    h = norm("pre_cross_attention_layer_norm")(x)
    x = x + Attention(cfg, is_cross_attention=True,
                      name="encoder_decoder_attention")(
                          h, encoded, bias=None, mask=cross_mask,
                          decode=decode, deterministic=deterministic)
    return _mlp_block(cfg, x, deterministic), None


class LayerStack(nn.Module):
  """The layers of one stack, looped or scanned ("layers_{i}" / "layers")."""
  config: T5Config
  layer_cls: type
  num_layers: int

  @nn.compact
  def __call__(self, x, *args, decode: bool = False,
               deterministic: bool = True):
    return layers.run_layers(self.layer_cls, self.config, x, *args,
                             num_layers=self.num_layers, decode=decode,
                             deterministic=deterministic)


def _segments(tokens: Array, segment_ids: Array | None) -> Array:
  return segment_ids if segment_ids is not None else (tokens > 0).astype(
      jnp.int32)


def encoder_segments(config: T5Config, tokens: Array,
                     segment_ids: Array | None = None) -> Array:
  """Segment ids of the encoder's output rows (what cross-attention sees):
  with a prompt, its P positions come first and belong to the example."""
  segments = _segments(tokens, segment_ids)
  if config.prompt is None:
    return segments
  ones = jnp.ones((tokens.shape[0], config.prompt.length), segments.dtype)
  return jnp.concatenate([ones, segments], axis=1)


class Transformer(nn.Module):
  """The encoder-decoder. Inputs are seqio EncDecFeatureConverter features."""
  config: T5Config

  def setup(self):
    cfg = self.config
    self.token_embedder = layers.Embed(cfg.vocab_size, cfg.d_model,
                                       cfg.compute_dtype, name="token_embedder")
    bias = lambda bidirectional, name: RelativePositionBias(
        cfg.num_heads, cfg.relative_attention_num_buckets,
        cfg.relative_attention_max_distance, bidirectional, name=name)
    self.encoder_relpos = bias(True, "encoder_relpos_bias")
    self.decoder_relpos = bias(False, "decoder_relpos_bias")
    self.encoder = LayerStack(cfg, EncoderLayer, cfg.num_encoder_layers)
    self.decoder = LayerStack(cfg, DecoderLayer, cfg.num_decoder_layers)
    norm = lambda name: layers.RMSNorm(cfg.layer_norm_epsilon,
                                       cfg.compute_dtype, name=name)
    self.encoder_norm = norm("encoder_norm")
    self.decoder_norm = norm("decoder_norm")
    self.dropout = nn.Dropout(cfg.dropout_rate)
    if cfg.prompt is not None:
      self.prompt = layers.PromptEmbedding(
          cfg.prompt.length, cfg.d_model,
          prompt_tuning.uniform_init(cfg.prompt), name="prompt")
    if not cfg.tie_word_embeddings:
      self.logits_dense = layers.DenseGeneral(
          (cfg.vocab_size,), ("embed",), ("vocab",),
          kernel_init=nn.initializers.normal(cfg.d_model**-0.5),
          dtype=cfg.compute_dtype, lora=cfg.lora, name="logits_dense")

  def encode(self, encoder_input_tokens: Array,
             encoder_segment_ids: Array | None = None, *,
             deterministic: bool = True) -> Array:
    """[batch, in_len] tokens -> [batch, in_len, embed] encodings.

    With a prompt: [batch, P + in_len, embed], the prompt's encodings first.
    """
    cfg = self.config
    if cfg.prompt is not None:
      prompt_tuning.refuse_packing(encoder_segment_ids)
    segments = encoder_segments(cfg, encoder_input_tokens,
                                encoder_segment_ids)
    positions = jnp.arange(segments.shape[1])
    bias = self.encoder_relpos(positions, positions)
    mask = masks.segment_mask(segments, segments)
    x = self.token_embedder(encoder_input_tokens)
    if cfg.prompt is not None:
      prompt = self.prompt().astype(x.dtype)
      prompt = jnp.broadcast_to(prompt, (x.shape[0], *prompt.shape))
      x = jnp.concatenate([prompt, x], axis=1)
    x = self.dropout(x, deterministic=deterministic)
    x = layers.constrain(x, ("batch", "length", "embed"))
    x = self.encoder(x, bias, mask, deterministic=deterministic)
    x = self.encoder_norm(x)
    return self.dropout(x, deterministic=deterministic)

  def decode(self, encoded: Array, encoder_segments: Array,
             decoder_input_tokens: Array,
             decoder_segment_ids: Array | None = None, *,
             decode: bool = False, deterministic: bool = True) -> Array:
    """Returns [batch, length, vocab] logits for the decoder inputs.

    Args:
      encoded: encoder output.
      encoder_segments: [batch, in_len] segment ids of the encoder input
        (non-padding > 0), for the cross-attention mask.
      decoder_input_tokens: targets shifted right; one token when stepping
        with a cache.
      decoder_segment_ids: packing segment ids of the targets.
      decode: use and update the key/value cache.
    """
    length = decoder_input_tokens.shape[1]
    stepping = decode and self.has_variable("cache", "position")
    if stepping:
      position = self.get_variable("cache", "position")
      key_positions = self.get_variable("cache", "key_positions")
      self.put_variable("cache", "position", position + length)
      query_positions = position + jnp.arange(length)
      self_mask = masks.causal_step_mask(query_positions, key_positions)
      query_segments = jnp.ones(decoder_input_tokens.shape, jnp.int32)
    else:
      if decode:  # creating the cache: remember the full length
        self.put_variable("cache", "position", jnp.array(0, jnp.int32))
        self.put_variable("cache", "key_positions", jnp.arange(length))
      query_positions = key_positions = jnp.arange(length)
      segments = (decoder_segment_ids if decoder_segment_ids is not None else
                  jnp.ones(decoder_input_tokens.shape, jnp.int32))
      self_mask = masks.segment_mask(segments, segments, causal=True)
      query_segments = segments
    self_bias = self.decoder_relpos(query_positions, key_positions)
    if decoder_segment_ids is not None and not stepping:
      cross_mask = masks.segment_mask(query_segments, encoder_segments)
    else:  # unpacked: every target position sees every real input token
      cross_mask = masks.key_padding_mask(encoder_segments)

    x = self.token_embedder(decoder_input_tokens)
    x = self.dropout(x, deterministic=deterministic)
    x = layers.constrain(x, ("batch", "length", "embed"))
    x = self.decoder(x, encoded, self_bias, self_mask, cross_mask,
                     decode=decode, deterministic=deterministic)
    x = self.decoder_norm(x)
    x = self.dropout(x, deterministic=deterministic)
    if self.config.scales_decoder_outputs:
      x = x * self.config.d_model**-0.5
    if self.config.tie_word_embeddings:
      logits = self.token_embedder.attend(x)
    else:
      logits = self.logits_dense(x)
    return layers.constrain(logits.astype(jnp.float32),
                            ("batch", "length", "vocab"))

  def __call__(self, encoder_input_tokens: Array, decoder_input_tokens: Array,
               encoder_segment_ids: Array | None = None,
               decoder_segment_ids: Array | None = None, *,
               deterministic: bool = True) -> Array:
    """Teacher-forced logits [batch, target_len, vocab]."""
    encoded = self.encode(encoder_input_tokens, encoder_segment_ids,
                          deterministic=deterministic)
    return self.decode(encoded,
                       encoder_segments(self.config, encoder_input_tokens,
                                        encoder_segment_ids),
                       decoder_input_tokens, decoder_segment_ids,
                       deterministic=deterministic)

"""Decoder-only transformers: Llama, Mistral, Qwen2, Qwen3 and Gemma 3.

RMSNorm before attention and MLP, rotary position embeddings (RoPE, with the
"linear" and "llama3" frequency scalings those configs use), grouped-query
attention (`num_kv_heads` < `num_heads`; 1 is multi-query), SwiGLU MLP,
optional q/k/v and output biases (Qwen2 has the former), tied or untied
output layer, optional sliding-window attention (Mistral). What Qwen3 and
Gemma 3 add are fields of `DecoderConfig`: RMSNorm over each head's queries
and keys (`qk_norm`), and for Gemma 3 embeddings scaled by sqrt(d_model),
(1 + w) norms, norms after attention and MLP too, GeGLU, its own query
scale, a final logit soft cap, and local sliding-window layers interleaved
with global ones (`layer_types`, a repeating pattern), each kind with its
own RoPE base.

Masks come per layer kind: callers pass {"full_attention": mask,
"sliding_attention": mask} holding the kinds `DecoderConfig.attention_windows`
lists, and each layer takes its own. Scanned, a patterned stack scans over
whole repeats of the pattern (`layers.run_layers`), so every layer's kind,
mask and RoPE base are fixed when it is traced.

The module is mask-agnostic: callers pass token positions and boolean
attention masks, so one network serves causal LM, prefix LM (bidirectional
over the inputs), packing and left-padded cached decoding (`flan_jax.models.masks` builds
them all).

Key/value cache (`flan_jax.models.kv_cache`): call with `decode=True` under
`mutable=["cache"]`. The first such call on [batch, max_length] tokens only
creates the cache (do it under `jax.eval_shape` and fill with zeros, see
`DecoderOnlyModel`); later calls write their T keys/values at the cache
index, advance it by T, and attend to the whole cache with the given
[batch, 1, T, max_length] mask.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import flax.linen as nn
import numpy as np

from flan_jax.models import kv_cache
from flan_jax.models import layers
from flan_jax.models import lora as lora_lib
from flan_jax.models import prompt_tuning
from flan_jax.models import sizing

Array = jax.Array

ROPE_SCALINGS = ("default", "linear", "llama3")
REMAT_POLICIES = layers.REMAT_POLICIES
LAYER_TYPES = ("full_attention", "sliding_attention")


@dataclasses.dataclass(frozen=True)
class DecoderConfig:
  """Shape of a Llama-family decoder. Field names follow flan_jax, not HF.

  Attributes:
    num_kv_heads: key/value heads; `num_heads` is a multiple of it.
    rope_scaling: "default", "linear" (positions divided by the factor) or
      "llama3" (low frequencies divided by the factor, smoothly).
    qkv_bias / out_bias / mlp_bias: Qwen2 sets qkv_bias; Llama's
      `attention_bias` sets both qkv_bias and out_bias.
    sliding_window: attend only to the last N keys (Mistral), None for all.
    layer_types: a repeating pattern of layer kinds, "full_attention" or
      "sliding_attention" (Gemma 3: five sliding, then one full); layer i
      is pattern[i % len(pattern)]. Empty: every layer is sliding when
      `sliding_window` is set, else full.
    rope_local_theta: RoPE base of the sliding layers (Gemma 3's
      rope_local_base_freq, unscaled); None: the same RoPE as the others.
    qk_norm: RMSNorm over head_dim on queries and keys, before RoPE
      (Qwen3, Gemma 3).
    mlp_activation: "silu" (SwiGLU) or "gelu_tanh" (Gemma's GeGLU).
    norm_plus_one: norms multiply by (1 + scale) (Gemma).
    post_norms: norms on the attention and MLP outputs too, before the
      residual sum (Gemma 2 and 3).
    scale_embeddings: embeddings times sqrt(d_model) (Gemma).
    query_pre_attn_scalar: attention scores scaled by its -1/2 power
      instead of head_dim's (Gemma 3).
    final_logit_softcap: logits become cap * tanh(logits / cap) (Gemma).
    family: the Hugging Face model_type an export produces ("llama",
      "mistral", "qwen2", "qwen3", "gemma3_text"; `models/hf_config.py`
      FAMILIES); the network itself depends only on the fields.
    dtype: compute dtype; parameters are always float32.
    scan_layers: run the layers with `nn.scan` (one compiled layer, stacked
      parameters with a leading "layers" axis); numbers are unchanged.
    remat_policy: recompute activations in the backward pass: "none",
      "full" (save nothing), "dots" or "dots_no_batch" (save matmuls).
    lora: LoRA adapters on the dense layers its pattern names.
    prompt: P trainable vectors after the start token (prompt tuning).
  """
  vocab_size: int = 1024
  d_model: int = 128
  num_layers: int = 2
  num_heads: int = 4
  num_kv_heads: int = 2
  head_dim: int = 32
  d_ff: int = 384
  rope_theta: float = 10000.0
  rope_scaling: str = "default"
  rope_factor: float = 1.0
  rope_low_freq_factor: float = 1.0
  rope_high_freq_factor: float = 4.0
  rope_original_max_positions: int = 8192
  rms_norm_eps: float = 1e-6
  tie_word_embeddings: bool = False
  qkv_bias: bool = False
  out_bias: bool = False
  mlp_bias: bool = False
  sliding_window: int | None = None
  layer_types: tuple[str, ...] = ()
  rope_local_theta: float | None = None
  qk_norm: bool = False
  mlp_activation: str = "silu"
  norm_plus_one: bool = False
  post_norms: bool = False
  scale_embeddings: bool = False
  query_pre_attn_scalar: float | None = None
  final_logit_softcap: float | None = None
  family: str = "llama"
  dropout_rate: float = 0.0
  dtype: str = "float32"
  scan_layers: bool = False
  remat_policy: str = "none"
  lora: lora_lib.LoraConfig | None = None
  prompt: prompt_tuning.PromptConfig | None = None

  def __post_init__(self):
    if self.num_heads % self.num_kv_heads:
      raise ValueError(f"num_heads ({self.num_heads}) must be a multiple of "
                       f"num_kv_heads ({self.num_kv_heads})")
    if self.rope_scaling not in ROPE_SCALINGS:
      raise ValueError(f"rope_scaling {self.rope_scaling!r} is not supported; "
                       f"use one of {ROPE_SCALINGS}")
    if self.remat_policy not in REMAT_POLICIES:
      raise ValueError(f"remat_policy {self.remat_policy!r}: use one of "
                       f"{REMAT_POLICIES}")
    if self.mlp_activation not in layers.MLP_ACTIVATIONS:
      raise ValueError(f"mlp_activation {self.mlp_activation!r}: use one of "
                       f"{tuple(layers.MLP_ACTIVATIONS)}")
    object.__setattr__(self, "layer_types", tuple(self.layer_types))
    if not set(self.layer_types) <= set(LAYER_TYPES):
      raise ValueError(f"layer_types {self.layer_types}: use {LAYER_TYPES}")
    if "sliding_attention" in self.layer_types and not self.sliding_window:
      raise ValueError("layer_types has sliding_attention layers but "
                       "sliding_window is not set")

  @property
  def compute_dtype(self):
    return jnp.dtype(self.dtype)

  @property
  def layer_pattern(self) -> tuple[str, ...]:
    """The repeating kinds of layers (one kind when every layer is alike)."""
    if self.layer_types:
      return self.layer_types
    return ("sliding_attention" if self.sliding_window else
            "full_attention",)

  @property
  def layers_per_scan_step(self) -> int:
    """Scanned, one step runs a whole repeat of the layer pattern."""
    return len(self.layer_pattern)

  @property
  def attention_windows(self) -> dict[str, int | None]:
    """{layer kind: its window} for the kinds the layers use: the masks a
    caller passes to `Decoder`."""
    return {kind: self.sliding_window if kind == "sliding_attention" else None
            for kind in sorted(set(self.layer_pattern))}

  @property
  def num_params(self) -> int:
    """Parameters `Decoder(self).init` creates for the base network
    (LoRA adapters and a prompt are not counted; `trainable` sizes them)."""
    d, q = self.d_model, self.num_heads * self.head_dim
    kv = self.num_kv_heads * self.head_dim
    attention = 2 * d * q + 2 * d * kv
    attention += (q + 2 * kv) * self.qkv_bias + d * self.out_bias
    attention += 2 * self.head_dim * self.qk_norm
    mlp = 3 * d * self.d_ff + (2 * self.d_ff + d) * self.mlp_bias
    layer = attention + mlp + (4 if self.post_norms else 2) * d
    return (self.vocab_size * d * (1 if self.tie_word_embeddings else 2) +
            self.num_layers * layer + d)

  def train_flops(self, batch_size: int, length: int) -> float:
    """Matmul FLOPs of one train step (forward + backward = 3 x forward).

    Grouped-query attention projects keys and values to `num_kv_heads`
    heads; attention scores are counted over the whole (masked) length.
    """
    d, hd = self.d_model, self.head_dim
    q, kv = self.num_heads * hd, self.num_kv_heads * hd
    per_token = self.num_layers * (
        2 * d * (2 * q + 2 * kv)            # q, o and k, v projections
        + 3 * 2 * d * self.d_ff             # gated MLP
        + 4 * length * q)                   # scores and weighted sum
    per_token += 2 * d * self.vocab_size    # logits
    return 3.0 * batch_size * length * per_token

  def activation_bytes(self, *, batch_per_device: int, length: int,
                       tensor_parallel: int) -> int:
    """Activations kept for the backward pass (`sizing.activation_bytes`)."""
    return sizing.activation_bytes(
        d_model=self.d_model, num_heads=self.num_heads,
        head_dim=self.head_dim, d_ff=self.d_ff, vocab_size=self.vocab_size,
        encoder_layers=0, decoder_layers=self.num_layers, dtype=self.dtype,
        remat_policy=self.remat_policy, batch_per_device=batch_per_device,
        encoder_length=0, decoder_length=length,
        tensor_parallel=tensor_parallel)


def rope_inverse_frequencies(cfg: DecoderConfig,
                             kind: str = "full_attention") -> np.ndarray:
  """Per-pair rotation speeds [head_dim // 2], as Hugging Face computes them.

  Sliding layers of a config with `rope_local_theta` use that base, unscaled.
  """
  exponents = np.arange(0, cfg.head_dim, 2).astype(np.float32) / cfg.head_dim
  if kind == "sliding_attention" and cfg.rope_local_theta is not None:
    return (1.0 / (np.float32(cfg.rope_local_theta)**exponents)).astype(
        np.float32)
  inv_freq = (1.0 / (np.float32(cfg.rope_theta)**exponents)).astype(np.float32)
  if cfg.rope_scaling == "linear":
    inv_freq = inv_freq / np.float32(cfg.rope_factor)
  elif cfg.rope_scaling == "llama3":
    old_len = cfg.rope_original_max_positions
    low_wavelen = old_len / cfg.rope_low_freq_factor
    high_wavelen = old_len / cfg.rope_high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    scaled = np.where(wavelen > low_wavelen, inv_freq / cfg.rope_factor,
                      inv_freq)
    smooth = ((old_len / wavelen - cfg.rope_low_freq_factor) /
              (cfg.rope_high_freq_factor - cfg.rope_low_freq_factor))
    smoothed = (1 - smooth) * scaled / cfg.rope_factor + smooth * scaled
    medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
    inv_freq = np.where(medium, smoothed, scaled).astype(np.float32)
  return inv_freq


def apply_rope(x: Array, positions: Array, inv_freq: np.ndarray) -> Array:
  """Rotates [batch, length, heads, head_dim] by position (half-split pairs)."""
  angles = positions.astype(jnp.float32)[..., None] * jnp.asarray(inv_freq)
  angles = jnp.concatenate([angles, angles], axis=-1)[:, :, None, :]
  cos, sin = jnp.cos(angles).astype(x.dtype), jnp.sin(angles).astype(x.dtype)
  half = x.shape[-1] // 2
  rotated = jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)
  return x * cos + rotated * sin


class Attention(nn.Module):
  """Grouped-query self-attention with RoPE and an optional KV cache."""
  config: DecoderConfig
  decode: bool = False
  kind: str = "full_attention"
  deterministic: bool = True  # LoRA dropout only; attention has none

  @nn.compact
  def __call__(self, x: Array, positions: Array, mask: Array) -> Array:
    cfg = self.config
    dense = lambda name, heads, axis: layers.DenseGeneral(
        (heads, cfg.head_dim), ("embed",), (axis, "kv"),
        kernel_init=nn.initializers.normal(0.02), dtype=cfg.compute_dtype,
        use_bias=cfg.qkv_bias, lora=cfg.lora, name=name)
    query = dense("query", cfg.num_heads, "heads")(
        x, deterministic=self.deterministic)
    key = dense("key", cfg.num_kv_heads, "kv_heads")(
        x, deterministic=self.deterministic)
    value = dense("value", cfg.num_kv_heads, "kv_heads")(
        x, deterministic=self.deterministic)
    if cfg.qk_norm:
      head_norm = lambda name: layers.RMSNorm(
          cfg.rms_norm_eps, cfg.compute_dtype, cfg.norm_plus_one, "kv",
          name=name)
      query = head_norm("query_norm")(query)
      key = head_norm("key_norm")(key)
    inv_freq = rope_inverse_frequencies(cfg, self.kind)
    query = layers.constrain(apply_rope(query, positions, inv_freq),
                             ("batch", "length", "heads", "kv"))
    key = layers.constrain(apply_rope(key, positions, inv_freq),
                           ("batch", "length", "kv_heads", "kv"))
    value = layers.constrain(value, ("batch", "length", "kv_heads", "kv"))
    if self.decode:
      key, value = kv_cache.write(self, key, value)
    scale = (None if cfg.query_pre_attn_scalar is None else
             cfg.query_pre_attn_scalar**-0.5)
    out = jax.nn.dot_product_attention(query, key, value, mask=mask,
                                       scale=scale)
    out = layers.constrain(out, ("batch", "length", "heads", "kv"))
    return layers.DenseGeneral(
        (cfg.d_model,), ("heads", "kv"), ("embed",),
        kernel_init=nn.initializers.normal(0.02), dtype=cfg.compute_dtype,
        use_bias=cfg.out_bias, lora=cfg.lora, name="out")(
            out, deterministic=self.deterministic)


class DecoderLayer(nn.Module):
  """Pre-norm attention and gated-MLP blocks (and post-norms for Gemma);
  returns (x, None) so nn.scan can stack it. `kind` picks the layer's mask
  from the {kind: mask} the stack receives, and its RoPE."""
  config: DecoderConfig
  decode: bool = False
  deterministic: bool = True
  kind: str | None = None  # None: the one kind of an unpatterned stack

  @nn.compact
  def __call__(self, x: Array, positions: Array, masks: dict[str, Array]):
    cfg = self.config
    kind = self.kind or cfg.layer_pattern[0]
    norm = lambda name: layers.RMSNorm(cfg.rms_norm_eps, cfg.compute_dtype,
                                       cfg.norm_plus_one, name=name)
    dropout = nn.Dropout(cfg.dropout_rate)
    h = Attention(cfg, self.decode, kind, self.deterministic,
                  name="attention")(
        norm("pre_attention_norm")(x), positions, masks[kind])
    if cfg.post_norms:
      h = norm("post_attention_norm")(h)
    x = x + dropout(h, deterministic=self.deterministic)
    h = layers.GatedMlp(cfg.d_ff, layers.MLP_ACTIVATIONS[cfg.mlp_activation],
                        cfg.dropout_rate, cfg.compute_dtype,
                        gate_name="gate", up_name="up", down_name="down",
                        use_bias=cfg.mlp_bias, lora=cfg.lora, name="mlp")(
                            norm("pre_mlp_norm")(x),
                            deterministic=self.deterministic)
    if cfg.post_norms:
      h = norm("post_mlp_norm")(h)
    x = x + dropout(h, deterministic=self.deterministic)
    return layers.constrain(x, ("batch", "length", "embed")), None


class Decoder(nn.Module):
  """Token ids -> float32 logits [batch, length, vocab]."""
  config: DecoderConfig

  @nn.compact
  def __call__(self, tokens: Array, positions: Array,
               masks: dict[str, Array], *, decode: bool = False,
               deterministic: bool = True,
               logits_at: Array | None = None,
               prompt_start: Array | None = None) -> Array:
    """Args:
      tokens: [batch, length] int32.
      positions: [batch, length] RoPE positions.
      masks: {layer kind: boolean [batch, 1, length, keys]} for each kind in
        `config.attention_windows`; keys = length, or the cache length when
        decoding.
      logits_at: optional [batch, n] slots: logits only there ([batch, n,
        vocab]), which spares the output layer on positions nobody reads.
      prompt_start: with `config.prompt`, [batch] slot where each row's P
        placeholder slots begin (`DecoderOnlyModel` lays them out); the
        prompt vectors replace those slots' embeddings. None: no slot holds
        the prompt (e.g. a cached step after the prompt).
    """
    cfg = self.config
    embedder = layers.Embed(cfg.vocab_size, cfg.d_model, cfg.compute_dtype,
                            embedding_init=nn.initializers.normal(0.02),
                            name="token_embedder")
    x = embedder(tokens)
    if cfg.prompt is not None:
      # Created even when unused, so init makes it.
      prompt = layers.PromptEmbedding(cfg.prompt.length, cfg.d_model,
                                      prompt_tuning.uniform_init(cfg.prompt),
                                      name="prompt")()
      if prompt_start is not None:
        x = prompt_tuning.place(x, prompt, prompt_start)
    if cfg.scale_embeddings:  # in the compute dtype, as transformers does
      x = x * jnp.asarray(math.sqrt(cfg.d_model), cfg.compute_dtype)
    x = nn.Dropout(cfg.dropout_rate)(x, deterministic=deterministic)
    x = layers.constrain(x, ("batch", "length", "embed"))
    pattern = cfg.layer_pattern
    x = layers.run_layers(DecoderLayer, cfg, x, positions, dict(masks),
                          num_layers=cfg.num_layers, decode=decode,
                          deterministic=deterministic,
                          pattern=pattern if len(pattern) > 1 else ())
    if logits_at is not None:
      x = jnp.take_along_axis(x, logits_at[:, :, None], axis=1)
    x = layers.RMSNorm(cfg.rms_norm_eps, cfg.compute_dtype,
                       cfg.norm_plus_one, name="final_norm")(x)
    if cfg.tie_word_embeddings:
      logits = embedder.attend(x)
    else:
      logits = layers.DenseGeneral(
          (cfg.vocab_size,), ("embed",), ("vocab",),
          kernel_init=nn.initializers.normal(0.02), dtype=cfg.compute_dtype,
          lora=cfg.lora, name="logits_dense")(x, deterministic=deterministic)
    logits = logits.astype(jnp.float32)
    if cfg.final_logit_softcap is not None:
      cap = cfg.final_logit_softcap
      logits = jnp.tanh(logits / cap) * cap
    return layers.constrain(logits, ("batch", "length", "vocab"))

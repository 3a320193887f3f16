"""Transformer building blocks shared by the model families.

Every parameter is created with logical axis names (`nn.with_logical_partitioning`)
and every large activation passes through `nn.with_logical_constraint`, so the
mapping to a device mesh lives in one rule table (`flan_jax.parallel.partitioning`) and
never in model code. Logical names used here:

    batch, length, embed, heads, kv, mlp, vocab, relpos_buckets
    kv_heads   key/value heads of grouped-query attention (decoder-only)
    layers     the stacked layer dimension when layers are scanned
    lora_rank  the inner dimension of a LoRA adapter (`flan_jax.models.lora`)
    prompt     the trainable prompt vectors (`flan_jax.models.prompt_tuning`)
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import flax.linen as nn

from flan_jax.models import lora as lora_lib

Array = jax.Array
DType = jnp.dtype
Initializer = Callable[..., Array]

constrain = nn.with_logical_constraint


def param_with_axes(module: nn.Module, name: str, init: Initializer,
                    shape: Sequence[int], axes: Sequence[str],
                    dtype=jnp.float32) -> Array:
  """Declares a parameter whose dimensions carry logical axis names."""
  return module.param(name, nn.with_logical_partitioning(init, tuple(axes)),
                      tuple(shape), dtype)


class RMSNorm(nn.Module):
  """Root-mean-square layer norm (T5 / Llama): scale only, no mean, no bias.

  `plus_one` (Gemma): the stored scale is an offset from 1, so the norm
  multiplies by (1 + scale) and a zero-initialised scale is the identity.
  `axis` names the normalised dimension ("kv" for per-head q/k norms).
  """
  epsilon: float = 1e-6
  dtype: DType = jnp.float32
  plus_one: bool = False
  axis: str = "embed"

  @nn.compact
  def __call__(self, x: Array) -> Array:
    init = nn.initializers.zeros if self.plus_one else nn.initializers.ones
    scale = param_with_axes(self, "scale", init, (x.shape[-1],), (self.axis,))
    x32 = x.astype(jnp.float32)
    variance = jnp.mean(jnp.square(x32), axis=-1, keepdims=True)
    normed = x32 * jax.lax.rsqrt(variance + self.epsilon)
    if self.plus_one:
      scale = 1.0 + scale
    return (normed * scale).astype(self.dtype)


class DenseGeneral(nn.Module):
  """x @ kernel over the last `len(in_axes)` dims; no bias (T5 v1.1 style).

  Attributes:
    features: output dims, e.g. (heads, head_dim).
    in_axes: logical names of the contracted input dims.
    out_axes: logical names of `features`.
    lora: when set and its pattern matches this module's path, a LoRA
      adapter (`flan_jax.models.lora`) is added beside the kernel.
  """
  features: Sequence[int]
  in_axes: Sequence[str]
  out_axes: Sequence[str]
  kernel_init: Initializer = nn.initializers.lecun_normal()
  dtype: DType = jnp.float32
  use_bias: bool = False  # Qwen2's q/k/v projections carry one
  lora: lora_lib.LoraConfig | None = None

  @nn.compact
  def __call__(self, x: Array, *, deterministic: bool = True) -> Array:
    n_in = len(self.in_axes)
    in_shape = x.shape[-n_in:]
    kernel = param_with_axes(
        self, "kernel", _fan_in_init(self.kernel_init, n_in),
        (*in_shape, *self.features), (*self.in_axes, *self.out_axes))
    contract = (tuple(range(x.ndim - n_in, x.ndim)), tuple(range(n_in)))
    x = x.astype(self.dtype)
    y = jax.lax.dot_general(x, kernel.astype(self.dtype),
                            (contract, ((), ())))
    if self.lora is not None and self.lora.targets(self.path):
      y = y + self._lora_update(x, in_shape, contract, deterministic)
    if self.use_bias:
      bias = param_with_axes(self, "bias", nn.initializers.zeros,
                             tuple(self.features), tuple(self.out_axes))
      y = y + bias.astype(self.dtype)
    return y

  def _lora_update(self, x: Array, in_shape, contract,
                   deterministic: bool) -> Array:
    """(alpha/r) * (dropout(x) A) B; A starts as PEFT's (uniform, bound
    1/sqrt(fan_in)), B at zero so the model starts as the base."""
    cfg = self.lora
    n_in = len(self.in_axes)
    a_init = _fan_in_init(
        nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform"), n_in)
    lora_a = param_with_axes(self, "lora_a", a_init, (*in_shape, cfg.rank),
                             (*self.in_axes, "lora_rank"))
    lora_b = param_with_axes(self, "lora_b", nn.initializers.zeros,
                             (cfg.rank, *self.features),
                             ("lora_rank", *self.out_axes))
    x = nn.Dropout(cfg.dropout_rate, name="lora_dropout")(
        x, deterministic=deterministic)
    h = jax.lax.dot_general(x, lora_a.astype(self.dtype),
                            (contract, ((), ())))
    y = jnp.tensordot(h, lora_b.astype(self.dtype), axes=1)
    return (y * cfg.scale).astype(self.dtype)


def _fan_in_init(init: Initializer, n_in: int) -> Initializer:
  """Initialises a multi-dim kernel as if its in/out dims were flattened."""

  def wrapped(key, shape, dtype=jnp.float32):
    fan_in, fan_out = math.prod(shape[:n_in]), math.prod(shape[n_in:])
    return init(key, (fan_in, fan_out), dtype).reshape(shape)

  return wrapped


class Embed(nn.Module):
  """Token embedding table (vocab, embed); `attend` gives tied output logits."""
  num_embeddings: int
  features: int
  dtype: DType = jnp.float32
  embedding_init: Initializer = nn.initializers.normal(stddev=1.0)

  def setup(self):
    self.embedding = param_with_axes(self, "embedding", self.embedding_init,
                                     (self.num_embeddings, self.features),
                                     ("vocab", "embed"))

  def __call__(self, tokens: Array) -> Array:
    return jnp.take(self.embedding, tokens, axis=0).astype(self.dtype)

  def attend(self, x: Array) -> Array:
    return jnp.einsum("...e,ve->...v", x.astype(self.dtype),
                      self.embedding.astype(self.dtype))


def _gelu_tanh(x):
  return nn.gelu(x, approximate=True)


# MLP activations by name; each is the same function as transformers' of
# the names the Hugging Face adapters map to it (gelu_new,
# gelu_pytorch_tanh -> gelu_tanh; silu, swish -> silu; relu).
MLP_ACTIVATIONS = {"gelu_tanh": _gelu_tanh, "silu": nn.silu, "relu": nn.relu}


class Mlp(nn.Module):
  """act(x W_in) then W_out: the original T5's ReLU feed-forward."""
  d_ff: int
  activation: Callable[[Array], Array] = nn.relu
  dropout_rate: float = 0.0
  dtype: DType = jnp.float32
  lora: lora_lib.LoraConfig | None = None

  @nn.compact
  def __call__(self, x: Array, *, deterministic: bool = True) -> Array:
    hidden = DenseGeneral((self.d_ff,), ("embed",), ("mlp",),
                          dtype=self.dtype, name="wi", lora=self.lora)(
                              x, deterministic=deterministic)
    hidden = constrain(self.activation(hidden), ("batch", "length", "mlp"))
    hidden = nn.Dropout(self.dropout_rate)(hidden, deterministic=deterministic)
    return DenseGeneral((x.shape[-1],), ("mlp",), ("embed",),
                        dtype=self.dtype, name="wo", lora=self.lora)(
                            hidden, deterministic=deterministic)


class PromptEmbedding(nn.Module):
  """The P trainable vectors of prompt tuning, [P, embed] ("prompt", "embed")."""
  length: int
  features: int
  embedding_init: Initializer

  @nn.compact
  def __call__(self) -> Array:
    return param_with_axes(self, "embedding", self.embedding_init,
                           (self.length, self.features), ("prompt", "embed"))


class GatedMlp(nn.Module):
  """act(x W_gate) * (x W_up) then W_down: T5 v1.1's gated-GELU, Llama's SwiGLU."""
  d_ff: int
  activation: Callable[[Array], Array] = nn.gelu
  dropout_rate: float = 0.0
  dtype: DType = jnp.float32
  gate_name: str = "wi_0"
  up_name: str = "wi_1"
  down_name: str = "wo"
  use_bias: bool = False
  lora: lora_lib.LoraConfig | None = None

  @nn.compact
  def __call__(self, x: Array, *, deterministic: bool = True) -> Array:
    dense = lambda name, features, in_axes, out_axes: DenseGeneral(
        (features,), in_axes, out_axes, dtype=self.dtype, name=name,
        use_bias=self.use_bias, lora=self.lora)
    gate = dense(self.gate_name, self.d_ff, ("embed",), ("mlp",))(
        x, deterministic=deterministic)
    up = dense(self.up_name, self.d_ff, ("embed",), ("mlp",))(
        x, deterministic=deterministic)
    hidden = self.activation(gate) * up
    hidden = constrain(hidden, ("batch", "length", "mlp"))
    hidden = nn.Dropout(self.dropout_rate)(hidden, deterministic=deterministic)
    return dense(self.down_name, x.shape[-1], ("mlp",), ("embed",))(
        hidden, deterministic=deterministic)


REMAT_POLICIES = ("none", "full", "dots", "dots_no_batch")


def remat_policy(name: str):
  """jax.checkpoint policy: what the backward pass keeps instead of recomputing."""
  return {
      "full": None,  # keep nothing
      "dots": jax.checkpoint_policies.checkpoint_dots,
      "dots_no_batch": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
  }[name]


def layer_stack(layer_cls, *, num_layers: int, scan: bool, remat: str,
                broadcast_args: int):
  """Wraps a layer class for rematerialisation and/or scan over layers.

  The layer returns (x, None) and takes `broadcast_args` arguments after x
  that are the same for every layer. Scanned parameters and caches gain a
  leading "layers" axis; the numbers do not change.
  """
  if remat not in REMAT_POLICIES:
    raise ValueError(f"remat_policy {remat!r}: use one of {REMAT_POLICIES}")
  if remat != "none":
    layer_cls = nn.remat(layer_cls, policy=remat_policy(remat),
                         prevent_cse=not scan)
  if scan:
    layer_cls = nn.scan(
        layer_cls, variable_axes={"params": 0, "cache": 0},
        split_rngs={"params": True, "dropout": True},
        in_axes=(nn.broadcast,) * broadcast_args, length=num_layers,
        metadata_params={nn.PARTITION_NAME: "layers"})
  return layer_cls


class LayerBlock(nn.Module):
  """One repeat of a layer pattern: layer j built with kind `kinds[j]`."""
  layer_cls: type
  config: object
  decode: bool
  deterministic: bool
  kinds: tuple[str, ...]

  @nn.compact
  def __call__(self, x: Array, *args):
    for j, kind in enumerate(self.kinds):
      x, _ = self.layer_cls(self.config, self.decode, self.deterministic,
                            kind, name=f"layers_{j}")(x, *args)
    return x, None


def run_layers(layer_cls, config, x: Array, *args, num_layers: int,
               decode: bool = False, deterministic: bool = True,
               pattern: Sequence[str] = ()) -> Array:
  """Runs `num_layers` layers over x, looped or scanned as `config` says.

  Call it inside a compact method: the layers become submodules of the
  caller, named "layers_0", "layers_1", ... (looped) or "layers" (scanned,
  parameters stacked), with `config.remat_policy` applied. Each layer is
  built as `layer_cls(config, decode, deterministic)` and called as
  `layer(x, *args) -> (x, None)`; `args` are the same for every layer.

  With a `pattern` of P layer kinds, layer i is built as `layer_cls(config,
  decode, deterministic, pattern[i % P])` (Gemma 3: five sliding-window
  layers, then a global one). Looped, the names stay "layers_{i}". Scanned,
  as MaxText does, one scan step runs a whole block of P layers (kinds, and
  so masks and RoPE, fixed at trace time): "blocks" holds the block's
  "layers_0".."layers_{P-1}" stacked over the num_layers // P blocks, and
  the num_layers % P layers left over run after them unscanned, keeping
  their own names "layers_{i}". Worked example, 8 layers, P = 3:

      blocks/layers_0 = stack(layers_0, layers_3)   kinds[0]
      blocks/layers_1 = stack(layers_1, layers_4)   kinds[1]
      blocks/layers_2 = stack(layers_2, layers_5)   kinds[2]
      layers_6, layers_7                           kinds[0], kinds[1]
  """
  if pattern:
    return _run_pattern(layer_cls, config, x, args, num_layers, decode,
                        deterministic, tuple(pattern))
  stack = layer_stack(layer_cls, num_layers=num_layers,
                      scan=config.scan_layers, remat=config.remat_policy,
                      broadcast_args=len(args))
  if config.scan_layers:
    x, _ = stack(config, decode, deterministic, name="layers")(x, *args)
  else:
    for i in range(num_layers):
      x, _ = stack(config, decode, deterministic, name=f"layers_{i}")(x, *args)
  return x


def _run_pattern(layer_cls, config, x, args, num_layers, decode,
                 deterministic, pattern):
  """`run_layers` with a pattern of layer kinds (see there)."""
  period = len(pattern)
  scanned_layers = (num_layers // period * period if config.scan_layers
                    else 0)
  if scanned_layers:
    inner = layer_stack(layer_cls, num_layers=period, scan=False,
                        remat=config.remat_policy, broadcast_args=len(args))
    block = layer_stack(LayerBlock, num_layers=scanned_layers // period,
                        scan=True, remat="none", broadcast_args=len(args))
    x, _ = block(inner, config, decode, deterministic, pattern,
                 name="blocks")(x, *args)
  single = layer_stack(layer_cls, num_layers=1, scan=False,
                       remat=config.remat_policy, broadcast_args=len(args))
  for i in range(scanned_layers, num_layers):
    x, _ = single(config, decode, deterministic, pattern[i % period],
                  name=f"layers_{i}")(x, *args)
  return x

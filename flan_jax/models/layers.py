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
  """Root-mean-square layer norm (T5 / Llama): scale only, no mean, no bias."""
  epsilon: float = 1e-6
  dtype: DType = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    scale = param_with_axes(self, "scale", nn.initializers.ones,
                            (x.shape[-1],), ("embed",))
    x32 = x.astype(jnp.float32)
    variance = jnp.mean(jnp.square(x32), axis=-1, keepdims=True)
    normed = x32 * jax.lax.rsqrt(variance + self.epsilon)
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


def run_layers(layer_cls, config, x: Array, *args, num_layers: int,
               decode: bool = False, deterministic: bool = True) -> Array:
  """Runs `num_layers` layers over x, looped or scanned as `config` says.

  Call it inside a compact method: the layers become submodules of the
  caller, named "layers_0", "layers_1", ... (looped) or "layers" (scanned,
  parameters stacked), with `config.remat_policy` applied. Each layer is
  built as `layer_cls(config, decode, deterministic)` and called as
  `layer(x, *args) -> (x, None)`; `args` are the same for every layer.
  """
  stack = layer_stack(layer_cls, num_layers=num_layers,
                      scan=config.scan_layers, remat=config.remat_policy,
                      broadcast_args=len(args))
  if config.scan_layers:
    x, _ = stack(config, decode, deterministic, name="layers")(x, *args)
  else:
    for i in range(num_layers):
      x, _ = stack(config, decode, deterministic, name=f"layers_{i}")(x, *args)
  return x

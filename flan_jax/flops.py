"""Model FLOPs per train step and model FLOPs utilisation (MFU).

MFU = (model FLOPs per step x steps per second) / (peak FLOP/s x devices).

Model FLOPs count the matrix multiplies the architecture needs (forward x 3
for forward + backward), not what the compiler happens to run (no credit for
rematerialisation). For T5-style and decoder-only configs they come from the
config (`t5_train_flops`, `decoder_train_flops`); for any other model class
from XLA's cost analysis of the model's forward pass (`xla_train_flops`),
which counts the same matmuls.

Peak FLOP/s comes from a table of accelerators (dense, per JAX device) or,
on CPU, from a measured float32 matmul (`measured_matmul_peak`).
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

log = logging.getLogger("flan_jax")

# Dense peak FLOP/s per JAX device, (bfloat16, float32). TPU v2/v3 expose one
# device per core; later TPUs and GPUs one per chip. float32 on TPU runs
# through the bfloat16 units in several passes: peak listed as bf16 / 3.
PEAK_FLOPS: Mapping[str, tuple[float, float]] = {
    "TPU v2": (22.5e12, 7.5e12),
    "TPU v3": (61.5e12, 20.5e12),
    "TPU v4": (275e12, 91.7e12),
    "TPU v5 lite": (197e12, 65.7e12),
    "TPU v5e": (197e12, 65.7e12),
    "TPU v5p": (459e12, 153e12),
    "TPU v5": (459e12, 153e12),
    "TPU v6 lite": (918e12, 306e12),
    "NVIDIA H200": (989e12, 67e12),
    "NVIDIA H100": (989e12, 67e12),
    "NVIDIA A100": (312e12, 19.5e12),
    "NVIDIA L4": (121e12, 30.3e12),
    "NVIDIA A10": (125e12, 31.2e12),
    "Tesla V100": (125e12, 15.7e12),
}


def t5_train_flops(config: Any, batch_size: int, inputs_length: int,
                   targets_length: int) -> float:
  """Matmul FLOPs of one encoder-decoder train step (forward + backward).

  Per token and layer: attention projections 4 * 2 * d * (heads * head_dim),
  gated MLP 3 * 2 * d * d_ff; attention scores and weighted sum
  2 * 2 * length * (heads * head_dim); cross-attention projects keys and
  values of every encoder token in every decoder layer; logits 2 * d * vocab.
  """
  d, hk = config.d_model, config.num_heads * config.head_dim
  le, ld = inputs_length, targets_length
  mlp = 3 * 2 * d * config.d_ff
  proj = 2 * d * hk
  encoder = config.num_encoder_layers * le * (4 * proj + mlp + 4 * le * hk)
  decoder = config.num_decoder_layers * (
      ld * (4 * proj + mlp + 4 * ld * hk)       # self-attention + MLP
      + ld * 2 * proj + le * 2 * proj           # cross q, o and k, v
      + 4 * ld * le * hk)                       # cross scores
  logits = ld * 2 * d * config.vocab_size
  return 3.0 * batch_size * (encoder + decoder + logits)


def decoder_train_flops(config: Any, batch_size: int, length: int) -> float:
  """Matmul FLOPs of one decoder-only train step (forward + backward).

  Grouped-query attention projects keys and values to `num_kv_heads` heads;
  attention scores are counted over the whole (masked) length.
  """
  d, hd = config.d_model, config.head_dim
  q = config.num_heads * hd
  kv = getattr(config, "num_kv_heads", config.num_heads) * hd
  per_token = config.num_layers * (
      2 * d * (2 * q + 2 * kv)            # q, o and k, v projections
      + 3 * 2 * d * config.d_ff           # gated MLP
      + 4 * length * q)                   # scores and weighted sum
  per_token += 2 * d * config.vocab_size  # logits
  return 3.0 * batch_size * length * per_token


def xla_train_flops(model, abstract_params: Any,
                    batch_shapes: Mapping[str, tuple[int, ...]]) -> float:
  """3 x XLA's FLOP count of the model's forward loss, for any model class."""
  batch = {k: jax.ShapeDtypeStruct(v, jnp.int32) for k, v in batch_shapes.items()}
  forward = jax.jit(lambda p, b: model.loss_fn(p, b, None)[0])
  analysis = forward.lower(abstract_params, batch).compile().cost_analysis()
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0]
  return 3.0 * float(analysis.get("flops", 0.0))


def train_flops(model, abstract_params: Any,
                batch_shapes: Mapping[str, tuple[int, ...]]) -> float:
  """Model FLOPs of one train step: from the config when it is T5-shaped."""
  config = getattr(model, "config", None)
  if config is not None and all(hasattr(config, a) for a in (
      "num_encoder_layers", "num_decoder_layers", "d_ff", "head_dim")) and (
          "encoder_input_tokens" in batch_shapes):
    batch, le = batch_shapes["encoder_input_tokens"]
    _, ld = batch_shapes["decoder_input_tokens"]
    return t5_train_flops(config, batch, le, ld)
  if config is not None and all(hasattr(config, a) for a in (
      "num_layers", "d_ff", "head_dim", "num_heads")) and (
          "encoder_input_tokens" not in batch_shapes):
    batch, length = batch_shapes["decoder_input_tokens"]
    return decoder_train_flops(config, batch, length)
  return xla_train_flops(model, abstract_params, batch_shapes)


@functools.lru_cache(maxsize=None)
def measured_matmul_peak(size: int = 1024, repeats: int = 5) -> float:
  """Best float32 matmul FLOP/s of one device, measured (for CPUs)."""
  x = jnp.ones((size, size), jnp.float32)
  f = jax.jit(lambda a: a @ a)
  f(x).block_until_ready()
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    f(x).block_until_ready()
    best = min(best, time.perf_counter() - start)
  return 2.0 * size**3 / best


def peak_flops_per_device(dtype: str = "bfloat16",
                          device: jax.Device | None = None) -> tuple[float, str]:
  """(peak FLOP/s, where the figure came from) for one device."""
  device = device or jax.devices()[0]
  kind = device.device_kind
  for name, (bf16, f32) in PEAK_FLOPS.items():
    if kind.startswith(name):
      return (f32 if jnp.dtype(dtype) == jnp.float32 else bf16), f"table:{name}"
  if device.platform == "cpu":
    return measured_matmul_peak(), "measured float32 matmul"
  log.warning("no peak FLOP/s known for device kind %r; MFU not reported", kind)
  return float("nan"), "unknown"


def mfu(flops_per_step: float, seconds_per_step: float, num_devices: int,
        peak_per_device: float) -> float:
  return flops_per_step / seconds_per_step / (num_devices * peak_per_device)


def summarize(flops_per_step: float, seconds_per_step: float,
              num_devices: int, peak_per_device: float) -> dict[str, float]:
  achieved = flops_per_step / seconds_per_step
  return {"model_tflops_per_second": achieved / 1e12,
          "mfu": achieved / (num_devices * peak_per_device)
                 if np.isfinite(peak_per_device) else float("nan")}

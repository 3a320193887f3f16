"""Model FLOPs per train step and model FLOPs utilisation (MFU).

MFU = (model FLOPs per step x steps per second) / (peak FLOP/s x devices).

Model FLOPs count the matrix multiplies the architecture needs (forward x 3
for forward + backward), not what the compiler happens to run (no credit for
rematerialisation). Each model states them (`Model.train_flops`, from its
config's formula); `xla_train_flops` counts the same matmuls from XLA's cost
analysis of the forward pass, a cross-check for any model.

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

from flan_jax.models import api

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


def xla_train_flops(model: api.Model, abstract_params: Any,
                    batch_shapes: Mapping[str, tuple[int, ...]]) -> float:
  """3 x XLA's FLOP count of the model's forward loss, for any model class."""
  batch = {k: jax.ShapeDtypeStruct(v, jnp.int32) for k, v in batch_shapes.items()}
  forward = jax.jit(lambda p, b: model.loss_fn(p, b, None)[0])
  analysis = forward.lower(abstract_params, batch).compile().cost_analysis()
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0]
  return 3.0 * float(analysis.get("flops", 0.0))


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

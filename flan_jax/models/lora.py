"""LoRA (Hu et al. 2021): low-rank updates beside chosen dense kernels.

A targeted `layers.DenseGeneral` with kernel W [*in, *out] gains two
parameters beside it, "lora_a" [*in, rank] and "lora_b" [rank, *out], and
computes

    y = x W + (alpha / rank) * (dropout(x) A) B

B starts at zero, so a fresh adapter leaves the base model's numbers exactly
as they were. Which layers are targeted is a regular expression searched in
each dense layer's module path, "/"-joined; the paths read the same looped
or scanned except for the stack's own name ("encoder/layers_0/attention/
query" looped, "encoder/layers/attention/query" scanned), so patterns name
the layer kinds, not their positions:

    T5       attention/query key value out  (also self_attention/,
             encoder_decoder_attention/), mlp/wi_0 wi_1 wo
    decoder  attention/query key value out, mlp/gate up down

`DEFAULT_TARGETS` is Hugging Face PEFT's default for both families (T5's q
and v, Llama's q_proj and v_proj); `ALL_DENSE_TARGETS` adds every other
projection of the layers (PEFT's "all-linear" less the output layer).

Why not a library: qwix (Google's LoRA for flax) was tried on these
networks (qwix 0.1.8, flax 0.12, nn.scan + nn.remat): it builds and
differentiates, but it applies LoRA dropout whatever the module's
`deterministic` flag (evaluation would drop units and needs a dropout rng),
gives the rank dimension no logical axis name (so the one rule table cannot
place it) and flattens multi-dimensional kernels such as (heads, kv) into one
dimension named after the first. Written here, the adapter axes are
("...in axes", "lora_rank") and ("lora_rank", "...out axes"), scanned stacks
add their "layers" axis like any parameter, and dropout follows the model.

Example, rank 4, alpha 8, on a T5 query kernel [embed=16, heads=2, kv=8]:
lora_a [16, 4] with axes (embed, lora_rank), lora_b [4, 2, 8] with axes
(lora_rank, heads, kv); the merged kernel is W + 2 * einsum("er,rhk->ehk").
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping

import jax
import jax.numpy as jnp

from flan_jax import errors

Params = Mapping[str, Any]

DEFAULT_TARGETS = r"attention/(query|value)$"
ALL_DENSE_TARGETS = (r"(attention/(query|key|value|out)|"
                     r"mlp/(wi_0|wi_1|wo|gate|up|down))$")
ADAPTER_NAMES = ("lora_a", "lora_b")


class LoraError(errors.FlanJaxError, ValueError):
  """A LoRA setting that cannot apply to this model or checkpoint."""


@dataclasses.dataclass(frozen=True)
class LoraConfig:
  """Which dense layers get an adapter, and its shape.

  Attributes:
    rank: r, the inner dimension of A [*in, r] and B [r, *out].
    alpha: the update is scaled by alpha / rank (PEFT's `lora_alpha`).
    dropout_rate: dropout on the adapter's input only (PEFT's
      `lora_dropout`); the base path is untouched.
    target_pattern: regular expression searched in each dense layer's
      "/"-joined module path.
  """
  rank: int = 8
  alpha: float = 16.0
  dropout_rate: float = 0.0
  target_pattern: str = DEFAULT_TARGETS

  def __post_init__(self):
    if self.rank < 1:
      raise LoraError(f"LoraConfig.rank is {self.rank}; use 1 or more")
    try:
      re.compile(self.target_pattern)
    except re.error as e:
      raise LoraError(f"LoraConfig.target_pattern {self.target_pattern!r} is "
                      f"not a regular expression ({e})") from None

  @property
  def scale(self) -> float:
    return self.alpha / self.rank

  def targets(self, module_path: tuple[str, ...]) -> bool:
    return re.search(self.target_pattern, "/".join(module_path)) is not None


def adapter_paths(params: Params) -> list[tuple[str, ...]]:
  """Module paths (tuples of keys) of every dense layer holding an adapter."""
  found = []

  def walk(tree, path):
    if not isinstance(tree, Mapping):
      return
    if "lora_a" in tree:
      found.append(path)
    for key, value in tree.items():
      walk(value, (*path, key))

  walk(params, ())
  return found


def check_targets(config: LoraConfig, params: Params) -> None:
  """Refuses a pattern that put an adapter on no layer."""
  if not adapter_paths(params):
    raise LoraError(
        f"LoraConfig.target_pattern {config.target_pattern!r} matches no "
        f"dense layer of this model; name layer kinds such as "
        f"{DEFAULT_TARGETS!r} (T5 also has mlp/wi_0|wi_1|wo, decoders "
        f"mlp/gate|up|down)")


def delta(lora_a: jax.Array, lora_b: jax.Array, kernel_ndim: int,
          scale: float) -> jax.Array:
  """scale * A B as a kernel-shaped update; A and B may carry a layers axis.

  Unscanned, kernel dims = (A dims - 1) + (B dims - 1); scanned, A and B
  each carry the leading "layers" axis once more than that count allows.
  """
  a, b = jnp.asarray(lora_a), jnp.asarray(lora_b)
  if a.ndim - 1 + b.ndim - 1 == kernel_ndim:
    return scale * jnp.tensordot(a, b, axes=1)
  return scale * jax.vmap(lambda x, y: jnp.tensordot(x, y, axes=1))(a, b)


def merge(params: Params, config: LoraConfig) -> dict[str, Any]:
  """The base parameters with every adapter folded in: W + (alpha/r) A B.

  The result has the base model's tree (no "lora_a"/"lora_b" leaves), so it
  runs, exports and evaluates as a plain model.
  """

  def walk(tree):
    if not isinstance(tree, Mapping):
      return tree
    out = {k: walk(v) for k, v in tree.items() if k not in ADAPTER_NAMES}
    if "lora_a" in tree:
      kernel = tree["kernel"]
      update = delta(tree["lora_a"], tree["lora_b"], jnp.ndim(kernel),
                     config.scale)
      out["kernel"] = (jnp.asarray(kernel, jnp.float32) +
                       update.astype(jnp.float32))
    return out

  return walk(params)

"""The self-attention key/value cache, written once for both model families.

The cache lives in flax's "cache" collection, per attention layer:

    cached_key, cached_value   [batch, cache length, kv heads, head dim]
    cache_index                int32 scalar: the next slot to write

Life cycle (both families): one call with `decode=True` on a full-length
dummy input creates the cache (`write` returns the inputs unchanged then);
every later call writes its T new keys/values at `cache_index`, advances it
by T and attends over the whole cache (the caller's mask hides unwritten
slots). With scanned layers each leaf gains a leading "layers" axis, so the
batch is axis 1 inside `.../layers/...` (and `.../blocks/...`, a scanned
stack of layer blocks; the layers left over after the blocks are not
stacked).

Beam search keeps `num_beams` rows per example and, after every step,
reorders them to follow the surviving hypotheses: `gather_rows` and
`repeat_rows` do that for every leaf that has a batch axis, leaving the
per-sequence bookkeeping (`BOOKKEEPING`) alone.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array

# Cache entries shared by all rows: the write index, and the T5 decoder's
# step position and key positions.
BOOKKEEPING = ("cache_index", "position", "key_positions")
# Scopes whose leaves carry a leading layer axis when layers are scanned:
# a stack of layers, or of repeating blocks of layers (`layers.run_layers`).
SCANNED = ("layers", "blocks")


def write(module: nn.Module, key: Array, value: Array) -> tuple[Array, Array]:
  """Stores `key`/`value` [batch, T, heads, dim] at the cache index.

  Returns the keys and values to attend over: the whole cache, or the
  inputs themselves on the call that creates the cache.
  """
  initialised = module.has_variable("cache", "cached_key")
  cached_key = module.variable("cache", "cached_key", jnp.zeros, key.shape,
                               key.dtype)
  cached_value = module.variable("cache", "cached_value", jnp.zeros,
                                 value.shape, value.dtype)
  index = module.variable("cache", "cache_index",
                          lambda: jnp.array(0, jnp.int32))
  if not initialised:  # the shape-defining call: nothing cached yet
    return key, value
  start = (0, index.value, 0, 0)
  cached_key.value = jax.lax.dynamic_update_slice(
      cached_key.value, key.astype(cached_key.value.dtype), start)
  cached_value.value = jax.lax.dynamic_update_slice(
      cached_value.value, value.astype(cached_value.value.dtype), start)
  index.value = index.value + key.shape[1]
  return cached_key.value, cached_value.value


def _map_rows(cache: Any, fn: Callable[[Array, int], Array], *,
              scanned: bool) -> Any:
  """Applies fn(leaf, batch axis) to every leaf that holds one row per sequence."""

  def per_leaf(path, x):
    name = getattr(path[-1], "key", None)
    if name in BOOKKEEPING or x.ndim == 0:
      return x
    in_scan = scanned and any(getattr(p, "key", None) in SCANNED
                              for p in path)
    return fn(x, 1 if in_scan else 0)

  return jax.tree_util.tree_map_with_path(per_leaf, cache)


def gather_rows(cache: Any, rows: Array, *, scanned: bool) -> Any:
  """The cache with its batch rows replaced by rows `rows` [new batch]."""
  return _map_rows(cache, lambda x, axis: jnp.take(x, rows, axis=axis),
                   scanned=scanned)


def repeat_rows(cache: Any, n: int, *, scanned: bool) -> Any:
  """Every row repeated n times in place (row b -> rows b*n .. b*n+n-1)."""
  return _map_rows(cache, lambda x, axis: jnp.repeat(x, n, axis=axis),
                   scanned=scanned)

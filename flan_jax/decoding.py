"""Autoregressive decoding over a key/value cache.

A decoder is given as a step function ``step(tokens [batch, 1], cache) ->
(logits [batch, vocab], cache)``; the cache is whatever pytree the model keeps
(for flax models, the "cache" collection).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

Array = jax.Array
StepFn = Callable[[Array, Any], tuple[Array, Any]]


def greedy_search(step: StepFn, cache: Any, batch_size: int, max_length: int,
                  *, eos_id: int, start_id: int = 0) -> Array:
  """Picks the likeliest token at every step.

  Returns [batch, max_length] tokens; each row stops at its first EOS
  (included) and is padded with 0 after it. The loop ends early once every
  row has produced EOS.
  """

  def cond(state):
    position, _, _, done, _ = state
    return (position < max_length) & ~jnp.all(done)

  def body(state):
    position, last, cache, done, out = state
    logits, cache = step(last[:, None], cache)
    token = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    token = jnp.where(done, 0, token)
    out = out.at[:, position].set(token)
    done = done | (token == eos_id)
    return position + 1, token, cache, done, out

  state = (jnp.array(0, jnp.int32),
           jnp.full((batch_size,), start_id, jnp.int32), cache,
           jnp.zeros((batch_size,), bool),
           jnp.zeros((batch_size, max_length), jnp.int32))
  *_, out = jax.lax.while_loop(cond, body, state)
  return out

"""Autoregressive decoding over a key/value cache.

A decoder is given as a step function ``step(tokens [batch, 1], cache) ->
(logits [batch, vocab], cache)``; the cache is whatever pytree the model keeps
(for flax models, the "cache" collection plus any per-row state). Every
search returns [batch, max_length] tokens; a row stops at its first EOS
(included) and is padded with 0 after it.

    greedy_search   argmax at every step
    sample          temperature, then top-k and/or top-p (nucleus) filtering
    beam_search     keeps `num_beams` hypotheses; finished ones are ranked by
                    log-probability / ((5 + length) / 6) ** alpha (GNMT)
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

Array = jax.Array
StepFn = Callable[[Array, Any], tuple[Array, Any]]
# reorder(cache, indices [batch * beams]) -> cache with rows gathered.
ReorderFn = Callable[[Any, Array], Any]

NEG_INF = -1e9


def _token_loop(step: StepFn, cache: Any, batch_size: int, max_length: int,
                choose: Callable[[Array, Array], Array], *, eos_id: int,
                start_id: int = 0, first_logits: Array | None = None) -> Array:
  """Shared greedy/sampling loop; `choose(logits, position) -> tokens`.

  `first_logits` [batch, vocab], when given, predicts the first token (a
  decoder-only model gets it from prefilling the prompt), so the loop calls
  `step` only on generated tokens.
  """

  def cond(state):
    position, _, _, done, _ = state
    return (position < max_length) & ~jnp.all(done)

  def body(state):
    position, last, cache, done, out = state
    if first_logits is None:
      logits, cache = step(last[:, None], cache)
    else:
      logits, cache = jax.lax.cond(
          position == 0, lambda c: (first_logits, c),
          lambda c: step(last[:, None], c), cache)
    token = choose(logits.astype(jnp.float32), position).astype(jnp.int32)
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


def greedy_search(step: StepFn, cache: Any, batch_size: int, max_length: int,
                  *, eos_id: int, start_id: int = 0,
                  first_logits: Array | None = None) -> Array:
  """Picks the likeliest token at every step; ends early once all rows hit EOS."""
  return _token_loop(step, cache, batch_size, max_length,
                     lambda logits, _: jnp.argmax(logits, axis=-1),
                     eos_id=eos_id, start_id=start_id,
                     first_logits=first_logits)


def filter_logits(logits: Array, *, top_k: int = 0,
                  top_p: float = 1.0) -> Array:
  """Sets logits outside the top-k and outside the top-p mass to -inf.

  Top-p keeps the smallest set of likeliest tokens whose probability reaches
  `top_p` (always at least the likeliest token).
  """
  if top_k and top_k < logits.shape[-1]:
    kth = jax.lax.top_k(logits, top_k)[0][..., -1:]
    logits = jnp.where(logits < kth, NEG_INF, logits)
  if top_p < 1.0:
    sorted_logits = jnp.sort(logits, axis=-1)[..., ::-1]
    probs = jax.nn.softmax(sorted_logits, axis=-1)
    mass_before = jnp.cumsum(probs, axis=-1) - probs
    keep = mass_before < top_p
    # The smallest kept logit is the threshold.
    threshold = jnp.min(jnp.where(keep, sorted_logits, jnp.inf), axis=-1,
                        keepdims=True)
    logits = jnp.where(logits < threshold, NEG_INF, logits)
  return logits


def sample(step: StepFn, cache: Any, batch_size: int, max_length: int, *,
           rng: Array, eos_id: int, temperature: float = 1.0, top_k: int = 0,
           top_p: float = 1.0, start_id: int = 0,
           first_logits: Array | None = None) -> Array:
  """Samples each token from softmax(logits / temperature), filtered.

  temperature 0 is greedy. The same rng gives the same tokens.
  """
  if temperature == 0.0:
    return greedy_search(step, cache, batch_size, max_length, eos_id=eos_id,
                         start_id=start_id, first_logits=first_logits)

  def choose(logits, position):
    logits = filter_logits(logits / temperature, top_k=top_k, top_p=top_p)
    return jax.random.categorical(jax.random.fold_in(rng, position), logits)

  return _token_loop(step, cache, batch_size, max_length, choose,
                     eos_id=eos_id, start_id=start_id,
                     first_logits=first_logits)


def length_penalty(length: Array, alpha: float) -> Array:
  return ((5.0 + length) / 6.0)**alpha


def beam_search(step: StepFn, cache: Any, reorder: ReorderFn, batch_size: int,
                max_length: int, *, num_beams: int, eos_id: int,
                alpha: float = 0.0, start_id: int = 0,
                first_logits: Array | None = None) -> tuple[Array, Array]:
  """Beam search; returns (best tokens [batch, max_length], scores [batch]).

  `cache` must already hold batch * num_beams rows (beam-major within each
  example: row b * num_beams + w); `reorder` gathers its rows. With
  num_beams=1 and alpha=0 the result equals greedy search.
  """
  b, w = batch_size, num_beams
  rows = b * w

  first = (None if first_logits is None else
           jnp.repeat(first_logits, w, axis=0))

  # Only the first beam is live at the start, so the first step does not
  # pick the same token w times.
  alive_logp = jnp.tile(jnp.array([0.0] + [NEG_INF] * (w - 1)), (b, 1))
  state = dict(
      position=jnp.array(0, jnp.int32),
      alive_seqs=jnp.zeros((b, w, max_length), jnp.int32),
      alive_logp=alive_logp,
      last=jnp.full((rows,), start_id, jnp.int32),
      cache=cache,
      finished_seqs=jnp.zeros((b, w, max_length), jnp.int32),
      finished_scores=jnp.full((b, w), NEG_INF),
  )

  def cond(s):
    # Stop when no live beam can still beat the worst kept finished beam:
    # log-probabilities only fall, and the penalty is largest at max_length.
    best_possible = s["alive_logp"][:, 0] / length_penalty(
        jnp.float32(max_length), alpha)
    worst_finished = s["finished_scores"][:, -1]
    done = jnp.all(worst_finished > best_possible)
    return (s["position"] < max_length) & ~done

  def body(s):
    position = s["position"]
    if first is None:
      logits, cache = step(s["last"][:, None], s["cache"])
    else:
      logits, cache = jax.lax.cond(
          position == 0, lambda c: (first, c),
          lambda c: step(s["last"][:, None], c), s["cache"])
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32)).reshape(b, w, -1)
    vocab = log_probs.shape[-1]
    candidates = (s["alive_logp"][..., None] + log_probs).reshape(b, w * vocab)
    top_logp, top_idx = jax.lax.top_k(candidates, 2 * w)
    beam, token = top_idx // vocab, top_idx % vocab
    seqs = jnp.take_along_axis(s["alive_seqs"], beam[..., None], axis=1)
    seqs = seqs.at[:, :, position].set(token)
    is_eos = token == eos_id

    # Finished: candidates ending in EOS join the finished pool.
    new_scores = jnp.where(is_eos, top_logp / length_penalty(
        (position + 1).astype(jnp.float32), alpha), NEG_INF)
    pool_scores = jnp.concatenate([s["finished_scores"], new_scores], axis=1)
    pool_seqs = jnp.concatenate([s["finished_seqs"], seqs], axis=1)
    keep_scores, keep = jax.lax.top_k(pool_scores, w)
    finished_seqs = jnp.take_along_axis(pool_seqs, keep[..., None], axis=1)

    # Alive: the best w candidates that did not end.
    alive_scores = jnp.where(is_eos, NEG_INF, top_logp)
    alive_logp, pick = jax.lax.top_k(alive_scores, w)
    alive_seqs = jnp.take_along_axis(seqs, pick[..., None], axis=1)
    parent = jnp.take_along_axis(beam, pick, axis=1)
    last = jnp.take_along_axis(token, pick, axis=1).reshape(rows)
    flat_parent = (parent + jnp.arange(b)[:, None] * w).reshape(rows)
    return dict(position=position + 1, alive_seqs=alive_seqs,
                alive_logp=alive_logp, last=last,
                cache=reorder(cache, flat_parent),
                finished_seqs=finished_seqs, finished_scores=keep_scores)

  s = jax.lax.while_loop(cond, body, state)
  any_finished = s["finished_scores"][:, 0] > NEG_INF / 2
  alive_scores = s["alive_logp"][:, 0] / length_penalty(
      jnp.float32(max_length), alpha)
  tokens = jnp.where(any_finished[:, None], s["finished_seqs"][:, 0],
                     s["alive_seqs"][:, 0])
  scores = jnp.where(any_finished, s["finished_scores"][:, 0], alive_scores)
  return tokens, scores

"""Every attention mask the models use, in one place.

A mask is boolean, True where a query may attend to a key, shaped
[batch, 1, queries, keys] (the 1 broadcasts over heads), as
`jax.nn.dot_product_attention` takes it. Which mask serves where:

    mask                  used by                         keys are
    segment_mask          T5 encoder, T5 decoder (train)  the same packed row
    decoder_mask          decoder-only train and score    the same packed row
    key_padding_mask      T5 cross-attention, unpacked    the encoder's tokens
    causal_step_mask      T5 decoder, cached stepping     the cache's slots
    cached_decoding_mask  decoder-only prefill and steps  the cache's slots
    option_tree_mask      decoder-only option scoring     the tree row

Worked example: one packed decoder-only row of two examples, the first
a prefix LM with inputs [a, b] and target [c]:

    tokens              [0, a, b, c | 0, d]
    segment_ids         [1, 1, 1, 1 | 2, 2]
    causal_attention    [1, 1, 1, 0 | 0, 0]   (inputs plus one position)

    decoder_mask:   row = query, column = key
         0 a b c 0 d
      0  1 1 1 . . .     the prefix (0, a, b) sees itself both ways,
      a  1 1 1 . . .
      b  1 1 1 . . .
      c  1 1 1 1 . .     a target sees what came before it,
      0  . . . . 1 .     and nothing crosses into the other segment.
      d  . . . . 1 1

Every mask that can have a query with nothing to see (padding, left-aligned
cache rows) lets each query see itself, so no softmax row is empty.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def segment_mask(query_segments: Array, key_segments: Array,
                 causal: bool = False) -> Array:
  """Same non-zero segment (and, if `causal`, key not after query)."""
  mask = (query_segments[:, :, None] == key_segments[:, None, :])
  mask &= (query_segments[:, :, None] > 0) & (key_segments[:, None, :] > 0)
  if causal:
    q_len, k_len = query_segments.shape[1], key_segments.shape[1]
    mask &= jnp.tril(jnp.ones((q_len, k_len), bool), k=k_len - q_len)
  return mask[:, None, :, :]


def key_padding_mask(key_segments: Array) -> Array:
  """Every query sees every real (non-zero) key: [batch, 1, 1, keys]."""
  return (key_segments > 0)[:, None, None, :]


def causal_step_mask(query_positions: Array, key_positions: Array) -> Array:
  """Cached stepping: a query sees the cache slots up to its own position.

  Returns [1, 1, queries, keys]; the same for every row.
  """
  return (key_positions[None, :] <= query_positions[:, None])[None, None]


def decoder_mask(segment_ids: Array, causal_attention: Array | None = None,
                 positions: Array | None = None,
                 sliding_window: int | None = None) -> Array:
  """Training/scoring mask over packed decoder-only rows (see the example).

  Causal within each segment; with `causal_attention` (seqio PrefixLM's
  "decoder_causal_attention", 1 over the inputs) the input positions also
  see each other bidirectionally (prefix LM). `sliding_window` keeps only
  keys fewer than that many positions back (Mistral).
  """
  length = segment_ids.shape[1]
  idx = jnp.arange(length)
  allowed = (idx[None, :, None] >= idx[None, None, :])
  if causal_attention is not None:
    prefix = causal_attention > 0
    allowed = allowed | (prefix[:, :, None] & prefix[:, None, :])
  if sliding_window is not None:
    pos = positions if positions is not None else jnp.broadcast_to(
        idx, segment_ids.shape)
    allowed = allowed & (pos[:, :, None] - pos[:, None, :] < sliding_window)
  same = segment_ids[:, :, None] == segment_ids[:, None, :]
  real = (segment_ids[:, :, None] > 0) & (segment_ids[:, None, :] > 0)
  return (allowed & same & real)[:, None]


def cached_decoding_mask(query_slots: Array, pad: Array, cache_length: int,
                         prompt_length: int, *, prefix_lm: bool,
                         sliding_window: int | None = None) -> Array:
  """[batch, 1, queries, cache_length] for left-aligned cached rows.

  A row whose prompt is `pad` slots shorter than the widest starts at slot
  `pad`. A query at slot q sees the row's real slots (>= pad) up to q; in a
  prefix LM a prompt query (q < prompt_length) also sees the rest of the
  prompt.
  """
  q = query_slots[None, :, None]
  k = jnp.arange(cache_length)[None, None, :]
  pad = pad[:, None, None]
  visible = k <= q
  if prefix_lm:
    visible = visible | ((q < prompt_length) & (k < prompt_length))
  allowed = (k >= pad) & visible
  if sliding_window is not None:
    allowed = allowed & (q - k < sliding_window)
  return (allowed | (k == q))[:, None]


def option_tree_mask(branches: Array, positions: Array, *, prefix_lm: bool,
                     sliding_window: int | None = None) -> Array:
  """[batch, 1, length, length] for a prompt followed by its options.

  `branches` is 1 on the prompt, 2 + k on option k and 0 on padding (see
  `flan_jax.models.option_tree`). A slot sees the prompt and its own branch
  up to its own position (in a prefix LM the prompt also sees itself
  bidirectionally).
  """
  seg_q, seg_k = branches[:, :, None], branches[:, None, :]
  pos_q, pos_k = positions[:, :, None], positions[:, None, :]
  visible = pos_k <= pos_q
  if prefix_lm:
    visible = visible | ((seg_q == 1) & (seg_k == 1))
  if sliding_window is not None:
    visible = visible & (pos_q - pos_k < sliding_window)
  allowed = (seg_q > 0) & ((seg_k == 1) | (seg_k == seg_q)) & visible
  length = branches.shape[1]
  return (allowed | jnp.eye(length, dtype=bool)[None])[:, None]

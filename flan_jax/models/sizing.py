"""Activation memory of a train step, from a transformer's shape.

Each network config owns its numbers (`T5Config.train_flops`,
`DecoderConfig.num_params`, ...); the activation estimate is one formula
for both families, called by each config with its own fields:

    per layer and token (elements), t = tensor-parallel ways
    self-attention  2 d + (4 heads*head_dim + 2 heads*length) / t
    gated MLP       d + 4 d_ff / t
    cross-attention d + (4 heads*head_dim + 2 heads*encoder_length) / t
    logits          vocab / t, twice (logits and their gradient), float32

With remat policy "full" a layer keeps only its input (plus one layer
rebuilt at a time); with "dots" its matmul outputs.
"""

from __future__ import annotations

import jax.numpy as jnp


def activation_bytes(*, d_model: int, num_heads: int, head_dim: int,
                     d_ff: int, vocab_size: int, encoder_layers: int,
                     decoder_layers: int, dtype: str, remat_policy: str,
                     batch_per_device: int, encoder_length: int,
                     decoder_length: int, tensor_parallel: int) -> int:
  """Estimated activations kept for the backward pass, per device.

  An encoder-decoder runs `encoder_layers` over `encoder_length` tokens and
  `decoder_layers` (with cross-attention) over `decoder_length`; a
  decoder-only model has `encoder_layers=0` and one sequence.
  """
  d, t = d_model, tensor_parallel
  hk = num_heads * head_dim
  itemsize = jnp.dtype(dtype).itemsize

  def layer(length, kv_length=None):
    """(elements per token one layer keeps, all it computes) under remat."""
    full = 3 * d + (4 * hk + 2 * num_heads * length + 4 * d_ff) / t
    if kv_length is not None:  # cross-attention of a decoder layer
      full += d + (4 * hk + 2 * num_heads * kv_length) / t
    if remat_policy == "full":  # only the layer's input survives
      return d, full
    if remat_policy in ("dots", "dots_no_batch"):  # matmul outputs kept
      return (2 * d + (4 * hk + num_heads * length + 2 * d_ff) / t, full)
    return full, full

  if encoder_layers:
    kept, peak = layer(encoder_length)
    encoder = encoder_length * encoder_layers * kept
    kept, decoder_peak = layer(decoder_length, encoder_length)
    peak = max(peak * encoder_length, decoder_peak * decoder_length)
  else:
    encoder = 0
    kept, decoder_peak = layer(decoder_length)
    peak = decoder_peak * decoder_length
  decoder = decoder_length * decoder_layers * kept
  if remat_policy != "none":  # one layer's activations rebuilt in backward
    decoder += peak
  logits = decoder_length * 2 * vocab_size / t * 4
  return int(batch_per_device * ((encoder + decoder) * itemsize + logits))

"""Prompt tuning (Lester et al. 2021): P trainable vectors before the input.

The network holds one more parameter, "prompt/embedding" [P, embed] (logical
axes ("prompt", "embed")), and puts it where the paper does:

    T5        before the encoder input: the encoder runs on [p1..pP, x]
              and the decoder's cross-attention sees the P encodings too;
    decoders  right after the start token: [BOS, p1..pP, x, y], with
              positions, masks, option trees and the key/value cache laid
              out over the longer row (the model inserts P placeholder
              slots, the network fills them with the prompt).

Worked example (decoder, P = 2, unpacked row):

    decoder_input_tokens  [0, 9, 4, 3]        -> [0, _, _, 9, 4, 3]
    logits kept           slots 2.. (the slot after the last prompt vector
                          predicts what slot 0 predicted before)

Initialisations (the paper's three): "uniform" in [-range, range],
"vocab" (rows of the embedding table drawn from the `vocab_sample_size`
first ids, which for sentencepiece vocabularies are the most frequent
pieces), and "class_labels" (each label's embedding, averaged over its
pieces, then sampled vocabulary for the remaining slots). "tokens" copies
the embeddings of given ids, so a prompt made from tokens t1..tP computes
what the base computes on [t1..tP, x].

Packed batches are refused: a packed row holds several examples, and each
would need its own prompt.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from flan_jax import errors

INITS = ("uniform", "vocab", "class_labels", "tokens")


class PromptTuningError(errors.FlanJaxError, ValueError):
  """A prompt-tuning setting this model or batch cannot take."""


@dataclasses.dataclass(frozen=True)
class PromptConfig:
  """The trainable prompt (t5x's prompt tuning calls its length PROMPT_LENGTH).

  Attributes:
    length: P, the number of prompt vectors.
    init: one of `INITS`.
    uniform_range: "uniform" draws from [-uniform_range, uniform_range]
      (the paper's 0.5).
    vocab_sample_size: "vocab" (and "class_labels"' remainder) sample rows
      from ids 1..vocab_sample_size-1 (the paper's 5,000 most common).
    label_tokens: "class_labels": the token ids of each class label.
    init_tokens: "tokens": exactly P token ids.
  """
  length: int = 20
  init: str = "vocab"
  uniform_range: float = 0.5
  vocab_sample_size: int = 5000
  label_tokens: tuple[tuple[int, ...], ...] = ()
  init_tokens: tuple[int, ...] = ()

  def __post_init__(self):
    if self.length < 1:
      raise PromptTuningError(f"PromptConfig.length (PROMPT_LENGTH) is "
                              f"{self.length}; use 1 or more")
    if self.init not in INITS:
      raise PromptTuningError(f"PromptConfig.init {self.init!r}: use one of "
                              f"{INITS}")
    if self.init == "tokens" and len(self.init_tokens) != self.length:
      raise PromptTuningError(
          f"PromptConfig.init_tokens has {len(self.init_tokens)} ids for a "
          f"prompt of length {self.length}; give exactly {self.length}")
    if self.init == "class_labels" and not self.label_tokens:
      raise PromptTuningError("PromptConfig.init 'class_labels' needs "
                              "label_tokens (the token ids of each label)")


def uniform_init(config: PromptConfig):
  """The network's own initialiser (the "uniform" initialisation)."""

  def init(rng, shape, dtype=jnp.float32):
    return jax.random.uniform(rng, shape, dtype, -config.uniform_range,
                              config.uniform_range)

  return init


def initial_prompt(config: PromptConfig, embedding: np.ndarray | jax.Array,
                   rng: jax.Array) -> jax.Array:
  """[P, embed] initial prompt from the (base's) embedding table [V, embed]."""
  embedding = jnp.asarray(embedding, jnp.float32)
  shape = (config.length, embedding.shape[1])
  if config.init == "uniform":
    return uniform_init(config)(rng, shape)
  if config.init == "tokens":
    return embedding[jnp.asarray(config.init_tokens, jnp.int32)]
  high = min(config.vocab_sample_size, embedding.shape[0])
  ids = jax.random.randint(rng, (config.length,), 1, high)
  sampled = embedding[ids]
  if config.init == "vocab":
    return sampled
  labels = [embedding[jnp.asarray(t, jnp.int32)].mean(0)
            for t in config.label_tokens[:config.length]]
  return sampled.at[:len(labels)].set(jnp.stack(labels))


def initialize(params: Mapping[str, Any], config: PromptConfig,
               rng: jax.Array) -> dict[str, Any]:
  """`params` with "prompt/embedding" drawn as `config.init` says.

  Call it after the base's parameters are in place (the vocabulary
  initialisations read the base's embedding table).
  """
  embedding = params["token_embedder"]["embedding"]
  prompt = initial_prompt(config, embedding, rng)
  return {**params, "prompt": {"embedding": prompt}}


def refuse_packing(segment_ids) -> None:
  if segment_ids is not None:
    raise PromptTuningError(
        "prompt tuning needs unpacked batches (each example its own prompt): "
        "set pack=False for the run (gin/runs/prompt_tuning.gin does)")


def insert_after_first(rows: jax.Array, length: int,
                       fill: int | None = None) -> jax.Array:
  """[B, S] -> [B, S + length]: `length` slots after column 0, holding
  `fill`, or copies of column 0 when `fill` is None."""
  first = rows[:, :1]
  slots = (jnp.repeat(first, length, axis=1) if fill is None else
           jnp.full((rows.shape[0], length), fill, rows.dtype))
  return jnp.concatenate([first, slots, rows[:, 1:]], axis=1)


def insert_positions(positions: jax.Array, length: int) -> jax.Array:
  """Positions with the prompt's after column 0's: p0, p0+1..p0+P, then
  every later position moved on by P."""
  first = positions[:, :1]
  prompt = first + 1 + jnp.arange(length, dtype=positions.dtype)[None]
  return jnp.concatenate([first, prompt, positions[:, 1:] + length], axis=1)


def place(x: jax.Array, prompt: jax.Array, start: jax.Array) -> jax.Array:
  """Writes prompt [P, D] into x [B, S, D] at slots start[b]..start[b]+P-1."""
  offset = jnp.arange(x.shape[1])[None, :] - start[:, None]
  inside = (offset >= 0) & (offset < prompt.shape[0])
  vectors = jnp.take(prompt, jnp.clip(offset, 0, prompt.shape[0] - 1), axis=0)
  return jnp.where(inside[..., None], vectors.astype(x.dtype), x)

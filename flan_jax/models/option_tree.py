"""Option trees: a prompt and all of its answer options in one decoder row.

Rank classification scores K options against one prompt. A decoder-only
model can do it in one forward pass over one row per example: the prompt
[0, inputs...] once, then each option's tokens but its last, at positions
that continue the prompt, each option on its own branch (1 = prompt, 2 + k
= option k, 0 = padding). `masks.option_tree_mask` lets a slot see the
prompt and its own branch only. The prompt's last slot predicts every
option's first token; option k's j-th slot predicts its token j + 1, so
the gathered (slot, token) pairs give every option's log-likelihood.

Worked example, inputs [5, 6], options [7, 1] and [8, 9, 1]:

    slot             0  1  2  3  4  5
    tokens           0  5  6  7  8  9
    positions        0  1  2  3  3  4
    branches         1  1  1  2  3  3

    gather_slots     2  3  2  4  5       (slot whose logits predict ...)
    gather_tokens    7  1  8  9  1       (... this token)
    gather_options   0  0  1  1  1       (the option it belongs to)

`layout` builds this from padded arrays with numpy (the eval runner, on the
host, for exact-length rows) or jax.numpy (`DecoderOnlyModel.score_options`,
inside jit): one builder for both.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

TREE_FEATURES = ("tokens", "positions", "branches")
GATHER_FEATURES = ("gather_slots", "gather_tokens", "gather_options")


def _scatter(xp, rows: int, width: int, slots, values, valid):
  """[rows, width] zeros with `values` at (row, slot) where `valid`.

  Writes that are not valid go to a spare last column, cut off at the end,
  so the same code runs under numpy and inside jit.
  """
  row_ids = xp.arange(rows).reshape((rows,) + (1,) * (slots.ndim - 1))
  slots = xp.where(valid, slots, width)
  values = xp.broadcast_to(values, slots.shape).astype(np.int32)
  out = xp.zeros((rows, width + 1), np.int32)
  if xp is np:
    out[np.broadcast_to(row_ids, slots.shape), slots] = values
  else:
    out = out.at[row_ids, slots].set(values)
  return out[:, :width]


def layout(inputs, options, xp: Any = np) -> dict[str, Any]:
  """Option-tree rows of a batch (see the module docstring).

  Args:
    inputs: int32 [B, Li], each row's input tokens then 0s (EOS included).
    options: int32 [B, K, Lt], each option's tokens then 0s (EOS
      included); an all-zero option is absent.
    xp: numpy or jax.numpy.

  Returns:
    "tokens", "positions", "branches" [B, 1 + Li + K * (Lt - 1)] and
    "gather_slots", "gather_tokens", "gather_options" [B, K * Lt], filled
    from the left and 0 after each row's last entry.
  """
  b, li = inputs.shape
  _, k, lt = options.shape
  width, gathers = 1 + li + k * (lt - 1), k * lt
  prompt_len = 1 + (inputs > 0).sum(1)                       # [B]
  option_len = (options > 0).sum(2)                          # [B, K]
  fed_len = xp.maximum(option_len - 1, 0)                    # [B, K]
  fed_start = prompt_len[:, None] + xp.cumsum(fed_len, 1) - fed_len
  gather_start = xp.cumsum(option_len, 1) - option_len

  # The prompt, [0, inputs...], at slots 0 .. prompt_len - 1.
  prompt_slots = xp.broadcast_to(xp.arange(li + 1), (b, li + 1))
  in_prompt = prompt_slots < prompt_len[:, None]
  prompt_tokens = xp.concatenate(
      [xp.zeros((b, 1), inputs.dtype), inputs], axis=1)
  # Option k's tokens but its last, at the slots after the previous option's.
  j = xp.arange(lt - 1)[None, None, :]
  fed_slots = fed_start[:, :, None] + j                      # [B, K, Lt-1]
  fed = j < fed_len[:, :, None]
  option_ids = xp.arange(k)[None, :, None]

  def tree(prompt_values, fed_values):
    return (_scatter(xp, b, width, prompt_slots, prompt_values, in_prompt) +
            _scatter(xp, b, width, fed_slots, fed_values, fed))

  out = {
      "tokens": tree(prompt_tokens, options[:, :, :-1]),
      "positions": tree(prompt_slots, prompt_len[:, None, None] + j),
      "branches": tree(1, 2 + option_ids),
  }
  # Token t of option k is predicted at the prompt's last slot (t = 0) or
  # at the option's own slot t - 1.
  t = xp.arange(lt)[None, None, :]
  gather_at = gather_start[:, :, None] + t                   # [B, K, Lt]
  gathered = t < option_len[:, :, None]
  predicting = xp.where(t == 0, prompt_len[:, None, None] - 1,
                        fed_start[:, :, None] + t - 1)
  out["gather_slots"] = _scatter(xp, b, gathers, gather_at, predicting,
                                 gathered)
  out["gather_tokens"] = _scatter(xp, b, gathers, gather_at, options, gathered)
  out["gather_options"] = _scatter(xp, b, gathers, gather_at, option_ids,
                                   gathered)
  return out


def row_lengths(input_length: int, option_lengths: Sequence[int]
                ) -> tuple[int, int]:
  """(tree slots, gathered tokens) of one example, EOS counted in lengths."""
  return (1 + input_length + sum(n - 1 for n in option_lengths),
          sum(option_lengths))


def padded(examples: Sequence[tuple[np.ndarray, Sequence[np.ndarray]]],
           rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """(inputs [rows, Li], options [rows, K, Lt]) from unpadded examples.

  Rows past the examples stay empty (all zero).
  """
  rows = len(examples) if rows is None else rows
  input_width = max(len(inputs) for inputs, _ in examples)
  num_options = max(len(opts) for _, opts in examples)
  option_width = max(len(o) for _, opts in examples for o in opts)
  inputs = np.zeros((rows, input_width), np.int32)
  options = np.zeros((rows, num_options, option_width), np.int32)
  for row, (tokens, opts) in enumerate(examples):
    inputs[row, :len(tokens)] = tokens
    for k, option in enumerate(opts):
      options[row, k, :len(option)] = option
  return inputs, options


def layout_one(inputs: np.ndarray, options: Sequence[np.ndarray]
               ) -> dict[str, np.ndarray]:
  """One example's tree at its exact length (the worked example above)."""
  slots, gathers = row_lengths(len(inputs), [len(o) for o in options])
  tree = layout(*padded([(inputs, options)]))
  return {name: values[0, :slots if name in TREE_FEATURES else gathers]
          for name, values in tree.items()}

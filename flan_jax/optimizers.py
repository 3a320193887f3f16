"""Optimizers and learning-rate schedules (optax)."""

from __future__ import annotations

import optax


def learning_rate_schedule(*, base_learning_rate: float, warmup_steps: int = 0,
                           decay: str = "constant",
                           total_steps: int | None = None) -> optax.Schedule:
  """Linear warmup, then constant, reciprocal-square-root or cosine decay.

  "rsqrt" follows T5: lr = base * sqrt(max(warmup, 1) / max(step, warmup)).
  """
  if decay == "constant":
    after = optax.constant_schedule(base_learning_rate)
  elif decay == "rsqrt":
    offset = max(warmup_steps, 1)
    after = lambda step: base_learning_rate * (offset / (step + offset))**0.5
  elif decay == "cosine":
    if total_steps is None:
      raise ValueError("cosine decay needs total_steps")
    after = optax.cosine_decay_schedule(base_learning_rate,
                                        max(total_steps - warmup_steps, 1))
  else:
    raise ValueError(f"unknown decay '{decay}'; use constant, rsqrt or cosine")
  if not warmup_steps:
    return after
  warmup = optax.linear_schedule(0.0, base_learning_rate, warmup_steps)
  return optax.join_schedules([warmup, after], [warmup_steps])


def make_optimizer(*, name: str = "adafactor",
                   learning_rate: float | optax.Schedule = 1e-3,
                   weight_decay: float = 0.0,
                   multiply_by_parameter_scale: bool = True,
                   gradient_clip_norm: float | None = None
                   ) -> optax.GradientTransformation:
  """Adafactor (FLAN's choice, factored second moments) or AdamW.

  With `multiply_by_parameter_scale` (Adafactor only, T5's default) each
  update is scaled by the parameter's root-mean-square, so the learning rate
  is relative to the size of the weights.
  """
  if name == "adafactor":
    tx = optax.adafactor(learning_rate,
                         multiply_by_parameter_scale=multiply_by_parameter_scale,
                         weight_decay_rate=weight_decay or None)
  elif name == "adamw":
    tx = optax.adamw(learning_rate, weight_decay=weight_decay)
  else:
    raise ValueError(f"unknown optimizer '{name}'; use adafactor or adamw")
  if gradient_clip_norm:
    tx = optax.chain(optax.clip_by_global_norm(gradient_clip_norm), tx)
  return tx

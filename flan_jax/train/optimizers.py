"""Optimizers and learning-rate schedules (optax).

Adafactor (FLAN's optimizer) keeps, for a matrix-like parameter, only a row
and a column statistic of the squared gradients instead of a full second
moment. Which dimensions are "rows" and which "columns" is decided here by
the parameter's logical axis names (t5x's factor rules), not by guessing
from shapes: a query kernel (embed, heads, kv) keeps one statistic over
`embed` and one over (heads, kv); a `layers` axis of a scanned stack is kept
in both (each layer its own statistics).

The optimizer is a recipe (`OptimizerDef`): the trainer calls
`for_params(logical_axes)` once it knows the parameters' axis names, and gets
an ordinary `optax.GradientTransformation`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import optax

from flan_jax import errors

ROW, COLUMN, BATCH, NONE = "row", "column", "batch", "none"

DEFAULT_FACTOR_RULES: Mapping[str, str] = {
    "embed": ROW,
    "vocab": COLUMN,
    "mlp": COLUMN,
    "heads": COLUMN,
    "kv_heads": COLUMN,
    "kv": COLUMN,
    "joined_kv": COLUMN,
    "relpos_buckets": NONE,
    "length": NONE,
    "layers": BATCH,
}


def learning_rate_schedule(*, base_learning_rate: float, warmup_steps: int = 0,
                           decay: str = "constant",
                           total_steps: int | None = None) -> optax.Schedule:
  """Linear warmup, then constant, reciprocal-square-root or cosine decay.

  "rsqrt" follows T5: lr = base * sqrt(max(warmup, 1) / max(step, warmup)).
  """
  errors.require_number(base_learning_rate,
                        "learning_rate_schedule.base_learning_rate",
                        "e.g. 1e-3; bound to LEARNING_RATE in runs/*.gin")
  if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or (
      warmup_steps < 0):
    raise errors.ConfigError(
        f"learning_rate_schedule.warmup_steps is {warmup_steps!r}: it must be "
        f"a whole number, 0 or more", setting="learning_rate_schedule.warmup_steps")
  if decay == "constant":
    after = optax.constant_schedule(base_learning_rate)
  elif decay == "rsqrt":
    offset = max(warmup_steps, 1)
    after = lambda step: base_learning_rate * (offset / (step + offset))**0.5
  elif decay == "cosine":
    if total_steps is not None:
      errors.require_positive_int(total_steps,
                                  "learning_rate_schedule.total_steps",
                                  "steps the cosine decays over")
    if total_steps is None:
      raise errors.ConfigError(
          "learning_rate_schedule.decay is 'cosine' but total_steps is not "
          "set: bind learning_rate_schedule.total_steps = %TRAIN_STEPS",
          setting="learning_rate_schedule.total_steps")
    after = optax.cosine_decay_schedule(base_learning_rate,
                                        max(total_steps - warmup_steps, 1))
  else:
    raise errors.ConfigError(
        f"learning_rate_schedule.decay is {decay!r}: use 'constant', 'rsqrt' "
        f"or 'cosine'", setting="learning_rate_schedule.decay")
  if not warmup_steps:
    return after
  warmup = optax.linear_schedule(0.0, base_learning_rate, warmup_steps)
  return optax.join_schedules([warmup, after], [warmup_steps])


class AdafactorState(NamedTuple):
  """Trees like the parameters: row and column statistics (factored) or v.

  Unused entries are size-1 arrays of the parameter's rank, so every leaf has
  the parameter's rank and takes its sharding (reduced dims replicated).
  """
  count: jax.Array
  v_row: Any
  v_col: Any
  v: Any
  momentum: Any


def _factor_dims(axes: Sequence[str] | None, shape: Sequence[int],
                 rules: Mapping[str, str], min_dim_size: int
                 ) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
  """(row dims, column dims) when the parameter should be factored."""
  if axes is None or len(shape) < 2:
    return None
  rows = tuple(i for i, a in enumerate(axes) if rules.get(a) == ROW)
  cols = tuple(i for i, a in enumerate(axes) if rules.get(a) == COLUMN)
  if not rows or not cols:
    return None
  size = lambda dims: math.prod(shape[i] for i in dims)
  if min(size(rows), size(cols)) < min_dim_size:
    return None
  return rows, cols


def adafactor(learning_rate: float | optax.Schedule, param_axes: Any, *,
              factor_rules: Mapping[str, str] = DEFAULT_FACTOR_RULES,
              min_dim_size_to_factor: int = 128, decay_rate: float = 0.8,
              epsilon1: float = 1e-30, epsilon2: float = 1e-3,
              clipping_threshold: float | None = 1.0,
              multiply_by_parameter_scale: bool = True,
              beta1: float | None = None,
              weight_decay: float = 0.0) -> optax.GradientTransformation:
  """Adafactor (Shazeer & Stern, 2018) with factoring chosen by logical axes.

  Args:
    learning_rate: a float or a schedule of the step.
    param_axes: a tree like the parameters whose leaves are tuples of
      logical axis names (or None: factor nothing for that parameter).
    factor_rules: logical name -> "row" | "column" | "batch" | "none".
    min_dim_size_to_factor: factor only when rows and columns both hold at
      least this many elements (small matrices keep a full moment).
    decay_rate: second-moment decay 1 - (step + 1) ** -decay_rate.
    clipping_threshold: cap on the update's root-mean-square.
    multiply_by_parameter_scale: scale the update by the parameter's RMS, so
      the learning rate is relative to the size of the weights.
    beta1: first-moment decay (None keeps no momentum, FLAN's setting).
    weight_decay: decoupled weight decay, multiplied by the learning rate.
  """
  schedule = (learning_rate if callable(learning_rate)
              else optax.constant_schedule(learning_rate))
  is_axes = lambda x: x is None or (isinstance(x, tuple) and all(
      isinstance(a, (str, type(None))) for a in x))

  def plan(params):
    """Flat list of factoring decisions, in the parameters' leaf order."""
    axes = jax.tree.leaves(param_axes, is_leaf=is_axes)
    leaves = jax.tree.leaves(params)
    if len(axes) != len(leaves):
      raise ValueError(f"adafactor: {len(axes)} axis-name entries for "
                       f"{len(leaves)} parameters; pass the parameters' "
                       f"logical axes")
    return [_factor_dims(a, p.shape, factor_rules, min_dim_size_to_factor)
            for a, p in zip(axes, leaves)]

  def init(params):
    leaves, treedef = jax.tree.flatten(params)
    small = lambda p: jnp.zeros((1,) * p.ndim, jnp.float32)
    v_row, v_col, v = [], [], []
    for p, d in zip(leaves, plan(params)):
      if d is None:
        v_row.append(small(p))
        v_col.append(small(p))
        v.append(jnp.zeros(p.shape, jnp.float32))
        continue
      rows, cols = d
      v_row.append(jnp.zeros(
          tuple(1 if i in cols else s for i, s in enumerate(p.shape)),
          jnp.float32))
      v_col.append(jnp.zeros(
          tuple(1 if i in rows else s for i, s in enumerate(p.shape)),
          jnp.float32))
      v.append(small(p))
    momentum = (jax.tree.map(lambda p: jnp.zeros(p.shape, jnp.float32), params)
                if beta1 is not None else None)
    unflat = lambda xs: jax.tree.unflatten(treedef, xs)
    return AdafactorState(jnp.zeros([], jnp.int32), unflat(v_row),
                          unflat(v_col), unflat(v), momentum)

  def update(grads, state, params):
    if params is None:
      raise ValueError("adafactor needs the parameters in update()")
    step = state.count + 1
    beta2 = 1.0 - step.astype(jnp.float32)**(-decay_rate)
    lr = schedule(state.count)

    def one(g, p, d, v_row, v_col, v):
      g = g.astype(jnp.float32)
      g2 = jnp.square(g) + epsilon1
      if d is None:
        v = beta2 * v + (1 - beta2) * g2
        u = g * jax.lax.rsqrt(v)
      else:
        rows, cols = d
        v_row = beta2 * v_row + (1 - beta2) * jnp.mean(g2, cols, keepdims=True)
        v_col = beta2 * v_col + (1 - beta2) * jnp.mean(g2, rows, keepdims=True)
        row_mean = jnp.mean(v_row, rows, keepdims=True)
        u = g * jax.lax.rsqrt(v_row / row_mean) * jax.lax.rsqrt(v_col)
      if clipping_threshold is not None:
        rms = jnp.sqrt(jnp.mean(jnp.square(u)))
        u = u / jnp.maximum(1.0, rms / clipping_threshold)
      scale = lr
      if multiply_by_parameter_scale:
        scale = scale * jnp.maximum(
            epsilon2, jnp.sqrt(jnp.mean(jnp.square(p.astype(jnp.float32)))))
      return -scale * u, v_row, v_col, v

    flat_dims = plan(params)
    leaves_g, treedef = jax.tree.flatten(grads)
    results = [one(g, p, d, r, c, v) for g, p, d, r, c, v in zip(
        leaves_g, jax.tree.leaves(params), flat_dims,
        jax.tree.leaves(state.v_row), jax.tree.leaves(state.v_col),
        jax.tree.leaves(state.v))]
    unflat = lambda i: jax.tree.unflatten(treedef, [r[i] for r in results])
    updates = unflat(0)
    momentum = state.momentum
    if beta1 is not None:
      momentum = jax.tree.map(lambda m, u: beta1 * m + (1 - beta1) * u,
                              momentum, updates)
      updates = momentum
    if weight_decay:
      updates = jax.tree.map(lambda u, p: u - lr * weight_decay * p,
                             updates, params)
    updates = jax.tree.map(lambda u, p: u.astype(p.dtype), updates, params)
    return updates, AdafactorState(step, unflat(1), unflat(2), unflat(3),
                                   momentum)

  return optax.GradientTransformation(init, update)


@dataclasses.dataclass(frozen=True)
class OptimizerDef:
  """An optimizer recipe waiting for the parameters' logical axis names.

  `learning_rate` (a number or a schedule of the step) is kept so that the
  trainer can log the rate each step used.
  """
  build: Callable[[Any], optax.GradientTransformation]
  learning_rate: float | optax.Schedule | None = None

  def for_params(self, param_axes: Any) -> optax.GradientTransformation:
    return self.build(param_axes)


def learning_rate_at(optimizer: OptimizerDef | optax.GradientTransformation,
                     step: int) -> float | None:
  """The learning rate of update `step` (0-based); None when unknown (a
  plain optax transformation)."""
  if not isinstance(optimizer, OptimizerDef) or optimizer.learning_rate is None:
    return None
  rate = optimizer.learning_rate
  return float(rate(step) if callable(rate) else rate)


def resolve(optimizer: OptimizerDef | optax.GradientTransformation,
            param_axes: Any) -> optax.GradientTransformation:
  """The optax transformation for these parameters (plain optax passes through)."""
  if isinstance(optimizer, OptimizerDef):
    return optimizer.for_params(param_axes)
  return optimizer


def make_optimizer(*, name: str = "adafactor",
                   learning_rate: float | optax.Schedule = 1e-3,
                   weight_decay: float = 0.0,
                   multiply_by_parameter_scale: bool = True,
                   gradient_clip_norm: float | None = None,
                   factor_rules: Mapping[str, str] | None = None,
                   min_dim_size_to_factor: int = 128,
                   decay_rate: float = 0.8,
                   clipping_threshold: float | None = 1.0,
                   beta1: float | None = None,
                   adam_b1: float = 0.9, adam_b2: float = 0.999,
                   adam_eps: float = 1e-8) -> OptimizerDef:
  """Adafactor (FLAN's choice, factored second moments) or AdamW.

  `gradient_clip_norm` clips the global gradient norm first (after
  microbatch accumulation, so it sees the whole batch's gradient).
  """
  if name not in ("adafactor", "adamw"):
    raise errors.ConfigError(
        f"make_optimizer.name is {name!r}: use 'adafactor' or 'adamw'",
        setting="make_optimizer.name")
  if not callable(learning_rate):
    errors.require_number(learning_rate, "make_optimizer.learning_rate",
                          "a number or a schedule")
  rules = dict(factor_rules or DEFAULT_FACTOR_RULES)

  def build(param_axes):
    if name == "adafactor":
      tx = adafactor(learning_rate, param_axes, factor_rules=rules,
                     min_dim_size_to_factor=min_dim_size_to_factor,
                     decay_rate=decay_rate,
                     clipping_threshold=clipping_threshold,
                     multiply_by_parameter_scale=multiply_by_parameter_scale,
                     beta1=beta1, weight_decay=weight_decay)
    else:
      tx = optax.adamw(learning_rate, b1=adam_b1, b2=adam_b2, eps=adam_eps,
                       weight_decay=weight_decay)
    if gradient_clip_norm:
      tx = optax.chain(optax.clip_by_global_norm(gradient_clip_norm), tx)
    return tx

  return OptimizerDef(build, learning_rate)

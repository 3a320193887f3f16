"""The train step: gradients, microbatch accumulation, the optimizer update.

The trainer talks to a model only through its interface (`api.Model`):

    model.init_variables(rng, input_shapes) -> {"params": boxed params}
    model.loss_fn(params, batch, dropout_rng) -> (loss, metrics)
    model.feature_converter(pack) -> seqio.FeatureConverter

so encoder-decoder and decoder-only models plug in alike. Parameter sharding
comes from the logical axis names the model attaches to its parameters;
the state, its shardings and the jitted step come from the one step builder
(`flan_jax.steps.builder`).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec

from flan_jax import errors
from flan_jax.models import api
from flan_jax.models import trainable
from flan_jax.parallel import partitioning
from flan_jax.steps.builder import InputShapes, StepBuilder, TrainState
from flan_jax.train import optimizers

# Metrics that count things: summed over microbatches, not averaged.
_COUNT_PREFIX = "num_"
# Metrics normalised like the loss (combined with the loss's weights).
_LOSS_LIKE = ("loss", "z_loss")


def step_builder(model: api.Model, optimizer,
                 partitioner: partitioning.Partitioner, shapes: InputShapes,
                 seed: int = 0) -> StepBuilder:
  """The step builder of a training run: `optimizer` (a recipe or plain
  optax) resolved for the model's parameter axes."""
  return StepBuilder(model, partitioner, shapes, seed=seed,
                     optimizer=functools.partial(optimizers.resolve, optimizer))


def check_batch_split(batch_size: int, num_microbatches: int,
                      partitioner: partitioning.Partitioner,
                      where: str = "") -> None:
  """Refuses a batch that does not split evenly into microbatches over the
  mesh's data-parallel devices (`where` names the mesh in the message)."""
  data_parallel = partitioner.data_parallel_size
  if batch_size % (num_microbatches * data_parallel):
    raise errors.ConfigError(
        f"train.batch_size is {batch_size}, which does not split into "
        f"{num_microbatches} microbatch(es) over the {data_parallel} "
        f"data-parallel devices{' of ' + where if where else ''}: use a "
        f"multiple of {num_microbatches * data_parallel}",
        setting="train.batch_size")


def _split_microbatches(batch, num_microbatches: int):
  """[B, ...] -> [n, B/n, ...], microbatch i = rows i, i+n, i+2n, ...

  Taking strided rows keeps every microbatch spread over all data-parallel
  devices (each device's block of rows splits locally).
  """

  def split(x):
    if x.shape[0] % num_microbatches:
      raise ValueError(f"batch of {x.shape[0]} does not split into "
                       f"{num_microbatches} microbatches")
    x = x.reshape(x.shape[0] // num_microbatches, num_microbatches,
                  *x.shape[1:])
    x = jnp.swapaxes(x, 0, 1)
    return nn.with_logical_constraint(
        x, (None, "batch") + (None,) * (x.ndim - 2))

  return jax.tree.map(split, batch)


def loss_weight(model: api.Model, metrics: Mapping[str, jax.Array]) -> jax.Array:
  """How much one (micro)batch's normalised loss counts in the whole batch.

  The model normalises its summed loss either by the batch's target tokens
  (`loss_normalizing_factor=None`) or by a constant. For the first, the
  whole-batch loss is the token-weighted mean of microbatch losses; for the
  second, their plain sum. Either way microbatching equals the full batch.
  """
  if model.loss_normalizing_factor is not None:
    return jnp.ones((), jnp.float32)
  return metrics.get("num_target_tokens", jnp.ones((), jnp.float32))


def make_train_step(model: api.Model, tx: optax.GradientTransformation, dropout_seed: int,
                    num_microbatches: int = 1) -> Callable:
  """step(state, batch) -> (state, metrics); the update of the whole batch.

  With `num_microbatches > 1` the batch is split and gradients accumulate
  in a `lax.scan`, so activation memory is that of one microbatch while the
  update equals the full batch's (up to float summation order).
  """
  # Gradients of the trained parameters only; the frozen ones (None in full
  # finetuning, where this is model.loss_fn itself) are closed over.
  def loss_of_trained(params, frozen, batch, rng):
    return model.loss_fn(trainable.combine(params, frozen), batch, rng)

  grad_of_trained = jax.value_and_grad(loss_of_trained, has_aux=True)
  constant_norm = model.loss_normalizing_factor is not None

  def full_batch(params, frozen, batch, rng):
    (_, metrics), grads = grad_of_trained(params, frozen, batch, rng)
    return grads, metrics

  def accumulated(params, frozen, batch, rng):
    grad_fn = lambda p, b, r: grad_of_trained(p, frozen, b, r)
    micro = _split_microbatches(batch, num_microbatches)

    def body(carry, xs):
      index, mb = xs
      grads_sum, weight_sum, metric_sums = carry
      (_, metrics), grads = grad_fn(params, mb, jax.random.fold_in(rng, index))
      w = loss_weight(model, metrics)
      grads_sum = jax.tree.map(lambda a, g: a + w * g.astype(jnp.float32),
                               grads_sum, grads)
      token_w = metrics.get("num_target_tokens", jnp.ones((), jnp.float32))
      metric_sums = {
          k: metric_sums[k] + (v if k.startswith(_COUNT_PREFIX) else
                               (w if k in _LOSS_LIKE else token_w) * v)
          for k, v in metrics.items()}
      return (grads_sum, weight_sum + jnp.stack([w, token_w]), metric_sums), None

    zeros = jax.tree.map(lambda p: jnp.zeros(p.shape, jnp.float32), params)
    metric_shapes = jax.eval_shape(
        lambda: grad_fn(params, jax.tree.map(lambda x: x[0], micro), rng)[0][1])
    init_metrics = {k: jnp.zeros(v.shape, v.dtype)
                    for k, v in metric_shapes.items()}
    (grads, weights, sums), _ = jax.lax.scan(
        body, (zeros, jnp.zeros(2, jnp.float32), init_metrics),
        (jnp.arange(num_microbatches), micro))
    loss_w = 1.0 if constant_norm else weights[0]
    grads = jax.tree.map(lambda g, p: (g / loss_w).astype(p.dtype), grads,
                         params)
    metrics = {
        k: v if k.startswith(_COUNT_PREFIX) else
        v / (loss_w if k in _LOSS_LIKE else weights[1])
        for k, v in sums.items()}
    return grads, metrics

  def train_step(state: TrainState, batch):
    dropout_rng = jax.random.fold_in(jax.random.key(dropout_seed), state.step)
    if num_microbatches > 1:
      grads, metrics = accumulated(state.params, state.frozen, batch,
                                   dropout_rng)
    else:
      grads, metrics = full_batch(state.params, state.frozen, batch,
                                  dropout_rng)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = dict(metrics)
    metrics["grad_norm"] = optax.tree.norm(grads)
    # One pass over the new parameters: a bad update shows up here at the
    # step that made it, before anything saves those parameters.
    metrics["param_norm"] = optax.tree.norm(params)
    return TrainState(state.step + 1, params, opt_state, state.frozen), metrics

  return train_step


def bytes_per_device(tree: Any, shardings: Any, mesh_shape: Mapping[str, int]
                     ) -> int:
  """Bytes one device holds of `tree` laid out in `shardings` (specs or
  NamedShardings), from shapes alone."""
  total = 0
  for leaf, sharding in zip(jax.tree.leaves(tree), jax.tree.leaves(
      shardings, is_leaf=lambda x: isinstance(x, (NamedSharding,
                                                  PartitionSpec)))):
    spec = sharding.spec if isinstance(sharding, NamedSharding) else sharding
    count = int(np.prod(leaf.shape))
    for axes in spec:
      if axes is None:
        continue
      for a in (axes,) if isinstance(axes, str) else axes:
        count //= mesh_shape[a]
    total += count * jnp.dtype(leaf.dtype).itemsize
  return total

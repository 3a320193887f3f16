"""The training loop: seqio batches -> sharded jit step -> orbax checkpoints.

`train(...)` is the one entry point (scripts/train.py configures it with gin).
It resumes automatically from the latest checkpoint in `model_dir`; the data
pipeline is deterministic given the seed, so a resumed run skips the batches
it already consumed and continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
from typing import Any, Mapping

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
import seqio
import tensorflow as tf

from flan_jax import checkpoints as checkpoints_lib
from flan_jax import optimizers
from flan_jax import partitioning
from flan_jax.data import registry

log = logging.getLogger("flan_jax")


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any


@dataclasses.dataclass(frozen=True)
class TrainResult:
  model_dir: str
  final_step: int
  final_metrics: dict[str, float]
  checkpoint_steps: list[int]
  # (step, metrics averaged since the previous log line) at every log line.
  history: list[tuple[int, dict[str, float]]]


def model_input_shapes(feature_converter: seqio.FeatureConverter,
                       task_feature_lengths: Mapping[str, int],
                       batch_size: int) -> dict[str, tuple[int, int]]:
  lengths = feature_converter.get_model_feature_lengths(task_feature_lengths)
  return {k: (batch_size, v) for k, v in lengths.items()}


def training_batches(mixture_or_task_name: str, *,
                     task_feature_lengths: Mapping[str, int],
                     feature_converter: seqio.FeatureConverter,
                     batch_size: int, seed: int, skip_batches: int = 0,
                     shard_info: seqio.ShardInfo | None = None):
  """Endless iterator of this host's numpy batches, deterministic in `seed`."""
  ds = seqio.get_dataset(
      mixture_or_task_name,
      task_feature_lengths=task_feature_lengths,
      feature_converter=feature_converter,
      dataset_split="train",
      shuffle=True,
      num_epochs=None,
      seed=seed,
      shard_info=shard_info,
      batch_size=batch_size)
  if skip_batches:
    ds = ds.skip(skip_batches)
  return ds.prefetch(tf.data.AUTOTUNE).as_numpy_iterator()


def make_train_step(model, tx: optax.GradientTransformation, dropout_seed: int):

  def train_step(state: TrainState, batch):
    dropout_rng = jax.random.fold_in(jax.random.key(dropout_seed), state.step)
    grad_fn = jax.value_and_grad(model.loss_fn, has_aux=True)
    (_, metrics), grads = grad_fn(state.params, batch, dropout_rng)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics["grad_norm"] = optax.tree.norm(grads)
    return TrainState(state.step + 1, params, opt_state), metrics

  return train_step


class _SummaryWriter:
  """TensorBoard scalars; only process 0 writes."""

  def __init__(self, logdir: str):
    self._writer = (tf.summary.create_file_writer(logdir)
                    if jax.process_index() == 0 else None)

  def scalars(self, step: int, values: Mapping[str, float]) -> None:
    if self._writer is None:
      return
    with self._writer.as_default():
      for name, value in values.items():
        tf.summary.scalar(name, value, step=step)
    self._writer.flush()


def train(*,
          model,
          mixture_or_task_name: str,
          model_dir: str,
          num_train_steps: int,
          batch_size: int,
          task_feature_lengths: Mapping[str, int],
          optimizer: optax.GradientTransformation | None = None,
          partitioner: partitioning.Partitioner | None = None,
          pack: bool = True,
          seed: int = 0,
          log_every_steps: int = 50,
          checkpoint_every_steps: int = 1000,
          keep_checkpoints: int | None = None,
          initial_checkpoint: str | None = None) -> TrainResult:
  """Instruction-tunes `model` on a seqio mixture; resumes from `model_dir`.

  Args:
    model: a model API object (`flan_jax.model.EncoderDecoderModel`).
    mixture_or_task_name: registered seqio mixture or task to train on.
    model_dir: where checkpoints, TensorBoard summaries and the config go.
    num_train_steps: total number of optimizer steps.
    batch_size: global batch size (sequences, packed or not).
    task_feature_lengths: e.g. {"inputs": 128, "targets": 32}.
    optimizer: optax transformation; Adafactor when None.
    partitioner: mesh and logical axis rules; data parallel over every
      device when None.
    pack: pack several examples into each sequence (seqio packing).
    seed: data order and dropout seed.
    log_every_steps: console/TensorBoard interval.
    checkpoint_every_steps: checkpoint interval (plus step 0 and the last).
    keep_checkpoints: keep only the newest N checkpoints (None keeps all).
    initial_checkpoint: a checkpoint step directory whose params start a
      fresh run (ignored when `model_dir` already holds a checkpoint).
  """
  registry.get_task_or_mixture(mixture_or_task_name)  # unknown: clear error
  partitioner = partitioner or partitioning.Partitioner()
  tx = optimizer or optimizers.make_optimizer()
  if batch_size % partitioner.data_parallel_size:
    raise ValueError(f"batch_size {batch_size} is not divisible by the "
                     f"data-parallel size {partitioner.data_parallel_size}")
  if batch_size % jax.process_count():
    raise ValueError(f"batch_size {batch_size} is not divisible by the "
                     f"{jax.process_count()} processes")
  os.makedirs(model_dir, exist_ok=True)
  converter = model.feature_converter(pack=pack)
  shapes = model_input_shapes(converter, task_feature_lengths, batch_size)

  state, state_shardings = initial_state(model, tx, partitioner, shapes, seed)
  checkpointer = checkpoints_lib.Checkpointer(
      os.path.join(model_dir, "checkpoints"),
      save_interval_steps=1, max_to_keep=keep_checkpoints)
  start_step = checkpointer.latest_step()
  if start_step is not None:
    params, opt_state, _ = checkpointer.restore(start_step, state.params,
                                                state.opt_state)
    state = TrainState(jnp.asarray(start_step, jnp.int32), params, opt_state)
    log.info("resumed from step %d in %s", start_step, checkpointer.directory)
  else:
    start_step = 0
    if initial_checkpoint:
      state = _load_initial_params(initial_checkpoint, state)
    checkpointer.save(0, state.params, state.opt_state, force=True)

  per_host_batch = batch_size // jax.process_count()
  batches = training_batches(
      mixture_or_task_name, task_feature_lengths=task_feature_lengths,
      feature_converter=converter, batch_size=per_host_batch, seed=seed,
      skip_batches=start_step,
      shard_info=seqio.ShardInfo(jax.process_index(), jax.process_count()))
  step_fn = jax.jit(make_train_step(model, tx, seed),
                    out_shardings=(state_shardings, partitioner.replicated),
                    donate_argnums=0)
  writer = _SummaryWriter(os.path.join(model_dir, "train"))
  log.info("training %s for %d steps (batch %d, lengths %s) on a %s mesh",
           mixture_or_task_name, num_train_steps, batch_size,
           dict(task_feature_lengths), dict(partitioner.mesh.shape))

  final_metrics: dict[str, float] = {}
  history: list[tuple[int, dict[str, float]]] = []
  pending: list[dict[str, jax.Array]] = []
  interval_start, interval_tokens = time.perf_counter(), 0
  step = start_step
  with partitioner.context():
    while step < num_train_steps:
      host_batch = next(batches)
      interval_tokens += _real_tokens(host_batch) * jax.process_count()
      state, metrics = step_fn(state, partitioner.global_batch(host_batch))
      pending.append(metrics)
      step += 1
      if step % log_every_steps == 0 or step == num_train_steps:
        final_metrics = _mean_metrics(pending)
        elapsed = time.perf_counter() - interval_start
        final_metrics["step_time_ms"] = 1000 * elapsed / len(pending)
        final_metrics["tokens_per_second"] = interval_tokens / elapsed
        _report(step, num_train_steps, final_metrics)
        history.append((step, final_metrics))
        writer.scalars(step, final_metrics)
        pending, interval_tokens = [], 0
        interval_start = time.perf_counter()
      if step % checkpoint_every_steps == 0 or step == num_train_steps:
        checkpointer.save(step, state.params, state.opt_state, force=True)
  checkpointer.wait()
  steps = checkpointer.all_steps()
  checkpointer.close()
  return TrainResult(model_dir, step, final_metrics, steps, history)


def initial_state(model, tx, partitioner, shapes, seed):
  """Initialises parameters and optimizer state directly in their shardings."""

  def init(rng):
    params = model.init_variables(rng, shapes)["params"]
    return nn.unbox(params)

  abstract_boxed = jax.eval_shape(
      lambda rng: model.init_variables(rng, shapes)["params"],
      jax.random.key(seed))
  param_shardings = partitioner.logical_to_sharding(
      nn.get_partition_spec(abstract_boxed))

  def init_state(rng):
    params = init(rng)
    return TrainState(jnp.zeros((), jnp.int32), params, tx.init(params))

  with partitioner.context():
    abstract_state = jax.eval_shape(init_state, jax.random.key(seed))
    opt_shardings = _optimizer_shardings(abstract_state.opt_state,
                                         abstract_state.params,
                                         param_shardings, partitioner)
    shardings = TrainState(partitioner.replicated, param_shardings,
                           opt_shardings)
    state = jax.jit(init_state, out_shardings=shardings)(jax.random.key(seed))
  return state, shardings


def _optimizer_shardings(opt_state, params, param_shardings, partitioner):
  """Optimizer leaves shaped like a parameter share its sharding.

  Anything else (Adafactor's factored row/column statistics, counters) is
  replicated; these are small next to the parameters.
  """
  by_shape = {}
  for leaf, sharding in zip(jax.tree.leaves(params),
                            jax.tree.leaves(param_shardings)):
    by_shape.setdefault(leaf.shape, sharding)
  return jax.tree.map(
      lambda leaf: by_shape.get(leaf.shape, partitioner.replicated)
      if leaf.ndim else partitioner.replicated, opt_state)


def _load_initial_params(path: str, state: TrainState) -> TrainState:
  path = os.path.abspath(path.rstrip("/"))
  directory, step_name = os.path.split(path)
  if not step_name.isdigit():
    raise ValueError(f"initial_checkpoint must be a step directory "
                     f"(<model_dir>/checkpoints/<step>), got {path}")
  checkpointer = checkpoints_lib.Checkpointer(directory, read_only=True)
  params, _, _ = checkpointer.restore(int(step_name), state.params, None)
  log.info("initialised parameters from %s", path)
  return state.replace(params=params)


def _real_tokens(batch: Mapping[str, np.ndarray]) -> int:
  count = 0
  for name in ("encoder_input_tokens", "decoder_target_tokens"):
    if name in batch:
      count += int(np.count_nonzero(batch[name]))
  return count


def _mean_metrics(metrics: list[dict[str, jax.Array]]) -> dict[str, float]:
  fetched = jax.device_get(metrics)
  return {k: float(np.mean([m[k] for m in fetched])) for k in fetched[0]}


def _report(step: int, total: int, m: Mapping[str, float]) -> None:
  log.info("step %d/%d | loss %.4f | token accuracy %.3f | %.1f ms/step | "
           "%s tokens/s", step, total, m["loss"], m["accuracy"],
           m["step_time_ms"], f"{m['tokens_per_second']:,.0f}")

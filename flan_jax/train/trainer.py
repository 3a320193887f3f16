"""The training loop: seqio batches -> sharded jit step -> orbax checkpoints.

`train(...)` is the one entry point (scripts/train.py configures it with gin).

Exact resume. A checkpoint holds the state and the data position (batches
consumed). The data order is a pure function of (mixture, seed, batch size,
number of data shards), so a restarted run rebuilds the same pipeline, skips
the consumed batches and continues; killed at any moment (SIGKILL) and
restarted, it reaches the same parameters, bit for bit on CPU, as a run
never interrupted. SIGTERM (preemption) finishes the current step, saves,
and returns cleanly.

Multi-host. The global batch is made of `num_data_shards` equal parts, each
read from its own seqio shard (`seqio.ShardInfo`); process p reads the
contiguous block of shards it owns and contributes those rows to the global
arrays. With the default (one shard per process) each host reads only its
data; setting num_data_shards lets a 1-process run reproduce a multi-host
run's batches exactly. Only process 0 writes summaries.

A NaN or Inf loss stops the run (`NonFiniteLossError`, with the step and
metrics) before anything is checkpointed, so the last good checkpoint stays.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
import time
from typing import Any, Iterator, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax
import seqio
import tensorflow as tf
from jax.experimental import multihost_utils

from flan_jax.checkpoints import checkpointer as checkpointer_lib
from flan_jax.checkpoints import loading
from flan_jax.data import registry
from flan_jax.models import api
from flan_jax.parallel import partitioning
from flan_jax.train import mfu
from flan_jax.train import optimizers
from flan_jax.train.train_state import (TrainState, initial_state,
                                        jit_train_step, make_train_step,
                                        model_input_shapes)

log = logging.getLogger("flan_jax")


class NonFiniteLossError(FloatingPointError):
  """The loss became NaN or Inf; carries the step and the step's metrics."""

  def __init__(self, step: int, metrics: Mapping[str, float]):
    self.step, self.metrics = step, dict(metrics)
    shown = ", ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()))
    super().__init__(f"non-finite loss at step {step} ({shown}); stopped "
                     f"without checkpointing it. Lower the learning rate or "
                     f"enable gradient clipping, then resume from the last "
                     f"good checkpoint")


@dataclasses.dataclass(frozen=True)
class TrainResult:
  model_dir: str
  final_step: int
  final_metrics: dict[str, float]
  checkpoint_steps: list[int]
  # (step, metrics averaged since the previous log line) at every log line.
  history: list[tuple[int, dict[str, float]]]
  preempted: bool = False
  start_step: int = 0


def training_batches(mixture_or_task_name: str, *,
                     task_feature_lengths: Mapping[str, int],
                     feature_converter: seqio.FeatureConverter,
                     batch_size: int, seed: int, skip_batches: int = 0,
                     shard_info: seqio.ShardInfo | None = None
                     ) -> Iterator[dict[str, np.ndarray]]:
  """Endless iterator of one shard's numpy batches, deterministic in `seed`."""
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


def host_batches(mixture_or_task_name: str, *, task_feature_lengths,
                 feature_converter, global_batch_size: int, seed: int,
                 num_data_shards: int, skip_batches: int = 0
                 ) -> Iterator[dict[str, np.ndarray]]:
  """This process's rows of every global batch (its shards, concatenated)."""
  processes = jax.process_count()
  if num_data_shards % processes:
    raise ValueError(f"num_data_shards={num_data_shards} must be a multiple "
                     f"of the {processes} processes")
  if global_batch_size % num_data_shards:
    raise ValueError(f"batch_size {global_batch_size} is not divisible by "
                     f"num_data_shards={num_data_shards}")
  per_host = num_data_shards // processes
  first = jax.process_index() * per_host
  iterators = [
      training_batches(mixture_or_task_name,
                       task_feature_lengths=task_feature_lengths,
                       feature_converter=feature_converter,
                       batch_size=global_batch_size // num_data_shards,
                       seed=seed, skip_batches=skip_batches,
                       shard_info=(seqio.ShardInfo(i, num_data_shards)
                                   if num_data_shards > 1 else None))
      for i in range(first, first + per_host)]
  while True:
    parts = [next(it) for it in iterators]
    yield {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


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


class _PreemptionFlag:
  """Set by SIGTERM; every process agrees before acting on it."""

  def __init__(self):
    self.requested = False
    self._previous = None

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    return self

  def _handle(self, signum, frame):
    del signum, frame
    self.requested = True

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)

  def agreed(self) -> bool:
    if jax.process_count() == 1:
      return self.requested
    flags = multihost_utils.process_allgather(np.int32(self.requested))
    return bool(np.any(flags))


def train(*,
          model: api.Model,
          mixture_or_task_name: str,
          model_dir: str,
          num_train_steps: int,
          batch_size: int,
          task_feature_lengths: Mapping[str, int],
          optimizer: optimizers.OptimizerDef | optax.GradientTransformation
          | None = None,
          partitioner: partitioning.Partitioner | None = None,
          pack: bool = True,
          seed: int = 0,
          num_microbatches: int = 1,
          num_data_shards: int | None = None,
          log_every_steps: int = 50,
          checkpoint_every_steps: int = 1000,
          keep_checkpoints: int | None = None,
          keep_checkpoint_period: int | None = None,
          async_checkpoints: bool = True,
          initial_checkpoint: str | None = None) -> TrainResult:
  """Instruction-tunes `model` on a seqio mixture; resumes from `model_dir`.

  Args:
    model: the model (`EncoderDecoderModel`, `DecoderOnlyModel`, ...).
    mixture_or_task_name: registered seqio mixture or task to train on.
    model_dir: where checkpoints, TensorBoard summaries and the config go.
    num_train_steps: total number of optimizer steps.
    batch_size: global batch size (sequences, packed or not).
    task_feature_lengths: e.g. {"inputs": 128, "targets": 32}.
    optimizer: `optimizers.make_optimizer(...)` or any optax transformation;
      Adafactor when None.
    partitioner: mesh and logical axis rules; data parallel over every
      device when None.
    pack: pack several examples into each sequence (seqio packing).
    seed: data order and dropout seed.
    num_microbatches: split each batch and accumulate gradients (same update
      as the whole batch, less activation memory).
    num_data_shards: parts of the global batch read from separate seqio
      shards (default: one per process). Part of the data order.
    log_every_steps: console/TensorBoard interval (and NaN check interval).
    checkpoint_every_steps: checkpoint interval (plus step 0 and the last).
    keep_checkpoints: keep only the newest N checkpoints (None keeps all).
    keep_checkpoint_period: also keep every checkpoint whose step is a
      multiple of this.
    async_checkpoints: write checkpoints in the background.
    initial_checkpoint: a checkpoint step directory whose params start a
      fresh run (ignored when `model_dir` already holds a checkpoint).
  """
  registry.get_task_or_mixture(mixture_or_task_name)  # unknown: clear error
  partitioner = partitioner or partitioning.Partitioner()
  optimizer = optimizer or optimizers.make_optimizer()
  num_data_shards = num_data_shards or jax.process_count()
  if batch_size % partitioner.data_parallel_size:
    raise ValueError(f"batch_size {batch_size} is not divisible by the "
                     f"data-parallel size {partitioner.data_parallel_size}")
  if batch_size % (num_microbatches * partitioner.data_parallel_size):
    raise ValueError(f"batch_size {batch_size} does not split into "
                     f"{num_microbatches} microbatches of whole data-parallel "
                     f"batches; change train.num_microbatches")
  os.makedirs(model_dir, exist_ok=True)
  converter = model.feature_converter(pack=pack)
  shapes = model_input_shapes(converter, task_feature_lengths, batch_size)

  state, shardings, tx = initial_state(model, optimizer, partitioner, shapes,
                                       seed)
  checkpointer = checkpointer_lib.Checkpointer(
      os.path.join(model_dir, "checkpoints"), save_interval_steps=1,
      max_to_keep=keep_checkpoints, keep_period=keep_checkpoint_period,
      async_save=async_checkpoints)
  data_meta = {"mixture": mixture_or_task_name, "seed": seed,
               "batch_size": batch_size, "num_data_shards": num_data_shards,
               "task_feature_lengths": dict(task_feature_lengths),
               "pack": pack}
  restored = checkpointer.restore_latest(state.params, state.opt_state)
  if restored is not None:
    start_step, params, opt_state, meta = restored
    state = TrainState(jax.device_put(jnp.asarray(start_step, jnp.int32),
                                      partitioner.replicated),
                       params, opt_state)
    _check_data_meta(meta.get("data"), data_meta)
    log.info("resumed from step %d in %s", start_step, checkpointer.directory)
  else:
    start_step = 0
    if initial_checkpoint:
      state = _load_initial_params(initial_checkpoint, state)

  def save(step: int):
    meta = {"data": {**data_meta, "batches_consumed": step}}
    checkpointer.save(step, state.params, state.opt_state, meta, force=True)

  if restored is None:
    save(0)

  batches = host_batches(
      mixture_or_task_name, task_feature_lengths=task_feature_lengths,
      feature_converter=converter, global_batch_size=batch_size, seed=seed,
      num_data_shards=num_data_shards, skip_batches=start_step)
  step_fn = jit_train_step(make_train_step(model, tx, seed, num_microbatches),
                           shardings, partitioner)
  writer = _SummaryWriter(os.path.join(model_dir, "train"))
  flops_per_step = model.train_flops(shapes)
  peak, peak_source = mfu.peak_flops_per_device(model.compute_dtype)
  log.info("training %s for %d steps (batch %d, lengths %s, %d microbatches) "
           "on a %s mesh%s; %.3g model FLOPs/step, peak %.3g FLOP/s/device "
           "(%s)", mixture_or_task_name, num_train_steps, batch_size,
           dict(task_feature_lengths), num_microbatches,
           dict(partitioner.mesh.shape), " with FSDP" if partitioner.fsdp
           else "", flops_per_step, peak, peak_source)

  final_metrics: dict[str, float] = {}
  history: list[tuple[int, dict[str, float]]] = []
  pending: list[dict[str, jax.Array]] = []
  interval_start, interval_tokens, interval_steps = time.perf_counter(), 0, 0
  step, preempted = start_step, False
  try:
    with partitioner.context(), _PreemptionFlag() as preemption:
      while step < num_train_steps:
        host_batch = next(batches)
        state, metrics = step_fn(state, partitioner.global_batch(host_batch))
        if step == start_step:
          # The first step compiles: keep it out of tokens/s and MFU.
          jax.block_until_ready(metrics)
          log.info("first step (with compilation) took %.1f s",
                   time.perf_counter() - interval_start)
          interval_start = time.perf_counter()
        else:
          interval_tokens += _real_tokens(host_batch) * jax.process_count()
          interval_steps += 1
        pending.append(metrics)
        step += 1
        stop = preemption.agreed()
        due_log = step % log_every_steps == 0 or step == num_train_steps
        due_save = (step % checkpoint_every_steps == 0 or
                    step == num_train_steps or stop)
        if due_log or due_save:
          fetched = _fetch(pending)
          _raise_if_not_finite(step - len(fetched) + 1, fetched)
        if due_log:
          final_metrics = _mean(fetched)
          rate = optimizers.learning_rate_at(optimizer, step - 1)
          if rate is not None:  # the rate of this interval's last update
            final_metrics["learning_rate"] = rate
          elapsed = time.perf_counter() - interval_start
          if interval_steps:
            final_metrics["step_time_ms"] = 1000 * elapsed / interval_steps
            final_metrics["tokens_per_second"] = interval_tokens / elapsed
            final_metrics.update(mfu.summarize(
                flops_per_step, elapsed / interval_steps, jax.device_count(),
                peak))
          _report(step, num_train_steps, final_metrics)
          history.append((step, final_metrics))
          writer.scalars(step, final_metrics)
          pending, interval_tokens, interval_steps = [], 0, 0
          interval_start = time.perf_counter()
        if due_save:
          save(step)
        if stop:
          log.warning("SIGTERM: saved step %d, stopping", step)
          preempted = True
          break
  finally:
    # Let a pending (good) checkpoint finish even when stopping on an error.
    checkpointer.wait()

  steps = checkpointer.all_steps()
  checkpointer.close()
  return TrainResult(model_dir, step, final_metrics, steps, history,
                     preempted=preempted, start_step=start_step)


def _check_data_meta(saved: Mapping[str, Any] | None,
                     current: Mapping[str, Any]) -> None:
  if saved is None:
    log.warning("checkpoint has no data position; data restarts from the "
                "number of steps taken")
    return
  changed = {k: (saved.get(k), v) for k, v in current.items()
             if k in saved and saved[k] != v}
  if changed:
    log.warning("data settings changed since the checkpoint %s; the resumed "
                "run will not see the batches an uninterrupted run would",
                changed)


def _load_initial_params(path: str, state: TrainState) -> TrainState:
  directory, step = loading.step_directory(path)
  checkpointer = checkpointer_lib.Checkpointer(directory, read_only=True)
  params, _, _ = checkpointer.restore(step, state.params, None)
  checkpointer.close()
  log.info("initialised parameters from %s", path)
  return state.replace(params=params)


def _real_tokens(batch: Mapping[str, np.ndarray]) -> int:
  count = 0
  for name in ("encoder_input_tokens", "decoder_target_tokens"):
    if name in batch:
      count += int(np.count_nonzero(batch[name]))
  return count


def _fetch(metrics: list[dict[str, jax.Array]]) -> list[dict[str, float]]:
  """Replicated metric arrays to host floats (works across processes)."""
  local = lambda x: np.asarray(x.addressable_data(0))
  return [{k: float(local(v)) for k, v in m.items()} for m in metrics]


def _raise_if_not_finite(first_step: int, fetched: list[dict[str, float]]):
  for offset, m in enumerate(fetched):
    if not all(np.isfinite(m.get(k, 0.0))
               for k in ("loss", "grad_norm", "param_norm")):
      raise NonFiniteLossError(first_step + offset, m)


def _mean(fetched: list[dict[str, float]]) -> dict[str, float]:
  return {k: float(np.mean([m[k] for m in fetched])) for k in fetched[0]}


def _report(step: int, total: int, m: Mapping[str, float]) -> None:
  if "step_time_ms" not in m:  # an interval holding only the compiling step
    log.info("step %d/%d | loss %.4f | token accuracy %.3f", step, total,
             m["loss"], m.get("accuracy", float("nan")))
    return
  log.info("step %d/%d | loss %.4f | token accuracy %.3f | %.1f ms/step | "
           "%s tokens/s | MFU %.2f%%", step, total, m["loss"],
           m.get("accuracy", float("nan")), m["step_time_ms"],
           f"{m['tokens_per_second']:,.0f}", 100 * m.get("mfu", float("nan")))

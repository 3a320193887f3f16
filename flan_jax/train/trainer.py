"""The training loop: packed batches -> sharded jit step -> orbax checkpoints.

`train(...)` is the one entry point (scripts/train.py configures it with gin).

Exact resume. A checkpoint holds the state and the data position: the
input pipeline's state (`input_pipeline`: a few integers and the examples
waiting for a row), so a restarted run continues with the next batch at
once, whatever the step, without replaying the data. Killed at any moment
(SIGKILL) and restarted, it reaches the same parameters, bit for bit on CPU,
as a run never interrupted.

Preemption. SIGTERM sets a flag; the run finishes the current step, saves
and returns cleanly. One process acts at the next step. Several processes
must stop at the same step, so they agree on the flag, but not every step
(an all-gather each step would make the host wait for the devices): every
`preemption_check_every_steps` steps each host starts an agreement (a small
collective it does not wait for) and reads the one it started a check
earlier, long since done. A SIGTERM on any host stops every host within two
check intervals, at the same step.

Multi-host. The global batch does not depend on the number of processes:
every process plans it (lengths only) and builds the rows its devices hold.
A run resumed on a different number of hosts sees the same batches. Only
process 0 writes summaries.

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
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tensorflow as tf

from flan_jax import errors
from flan_jax import storage
from flan_jax.checkpoints import adapter_base
from flan_jax.checkpoints import checkpointer as checkpointer_lib
from flan_jax.checkpoints import loading
from flan_jax.checkpoints import run_lock
from flan_jax.data import lookup
from flan_jax.models import api
from flan_jax.models import prompt_tuning
from flan_jax.models import trainable
from flan_jax.parallel import partitioning
from flan_jax.steps.builder import TrainState, model_input_shapes
from flan_jax.train import input_pipeline
from flan_jax.train import mfu
from flan_jax.train import optimizers
from flan_jax.train.train_state import (check_batch_split, make_train_step,
                                        step_builder)

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
  """Set by SIGTERM; processes agree on it every `every` steps (see top)."""

  def __init__(self, every: int):
    self.requested = False
    self._every = max(1, every)
    self._previous = None
    self._agreement = None  # started at the previous check, not yet read

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

  def should_stop(self, step: int) -> bool:
    """Whether every process stops after `step` (same answer on each)."""
    if jax.process_count() == 1:
      return self.requested
    if step % self._every:
      return False
    started, self._agreement = self._agreement, _start_agreement(
        self.requested)
    return started is not None and bool(
        np.asarray(started.addressable_data(0)))


def _start_agreement(flag: bool) -> jax.Array:
  """Any process's flag, as a replicated array (dispatched, not awaited)."""
  mesh = jax.sharding.Mesh(np.array(jax.devices()), ("processes",))
  local = np.full([jax.local_device_count()], flag, np.int32)
  flags = jax.make_array_from_process_local_data(
      jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(
          "processes")), local)
  return _any(flags)


@jax.jit
def _any(flags: jax.Array) -> jax.Array:
  return jnp.max(flags) > 0


@run_lock.holding_lock("training", "model_dir")
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
          cache_dir: str | None = None,
          use_cached_tasks: bool = False,
          preemption_check_every_steps: int = 10,
          log_every_steps: int = 50,
          checkpoint_every_steps: int = 1000,
          keep_checkpoints: int | None = None,
          keep_checkpoint_period: int | None = None,
          async_checkpoints: bool = True,
          initial_checkpoint: str | None = None,
          config_text: str | None = None) -> TrainResult:
  """Instruction-tunes `model` on a seqio mixture; resumes from `model_dir`.

  Args:
    model: the model (`EncoderDecoderModel`, `DecoderOnlyModel`, ...).
    mixture_or_task_name: registered seqio mixture or task to train on.
    model_dir: where checkpoints, TensorBoard summaries and the config go: a
      local path or a ``gs://`` URI.
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
    cache_dir: where scripts/cache_tasks.py wrote the mixture's tokenised
      examples; tasks cached there are read, the others tokenised at start
      (the batches are the same either way). None: tokenise every task.
    use_cached_tasks: require every task to be in `cache_dir` (t5x's
      USE_CACHED_TASKS); stop with the command that caches them otherwise.
    preemption_check_every_steps: how often processes agree on a SIGTERM
      (multi-process runs; one process checks every step).
    log_every_steps: console/TensorBoard interval (and NaN check interval).
    checkpoint_every_steps: checkpoint interval (plus step 0 and the last).
    keep_checkpoints: keep only the newest N checkpoints (None keeps all).
    keep_checkpoint_period: also keep every checkpoint whose step is a
      multiple of this.
    async_checkpoints: write checkpoints in the background.
    initial_checkpoint: a checkpoint step directory whose params start a
      fresh run (ignored when `model_dir` already holds a checkpoint).
    config_text: the run's configuration (gin), written to
      `model_dir/config.gin` once the run has started (after its checkpoint,
      if any, restored); a resumed run whose configuration differs keeps the
      first and writes `config.resumed_at_<step>.gin` beside it.

  Settings are checked before any data is read or anything compiled, and
  the run holds `model_dir` (`run_lock`): a second run on it stops at once.
  """
  partitioner = partitioner or partitioning.Partitioner()
  optimizer = optimizer or optimizers.make_optimizer()
  converter = model.feature_converter(pack=pack)
  _check_settings(
      mixture_or_task_name=mixture_or_task_name,
      num_train_steps=num_train_steps, batch_size=batch_size,
      task_feature_lengths=task_feature_lengths, converter=converter,
      partitioner=partitioner, num_microbatches=num_microbatches,
      log_every_steps=log_every_steps,
      preemption_check_every_steps=preemption_check_every_steps,
      checkpoint_every_steps=checkpoint_every_steps,
      keep_checkpoints=keep_checkpoints,
      keep_checkpoint_period=keep_checkpoint_period, seed=seed)
  shapes = model_input_shapes(converter, task_feature_lengths, batch_size)
  if trainable.is_parameter_efficient(model.config):
    # A LoRA pattern that matches no layer stops here, from shapes alone,
    # before MODEL_DIR is created.
    model.abstract_params()

  checkpointer = checkpointer_lib.Checkpointer(
      os.path.join(model_dir, "checkpoints"), save_interval_steps=1,
      max_to_keep=keep_checkpoints, keep_period=keep_checkpoint_period,
      async_save=async_checkpoints)
  # A checkpoint written by another model or optimizer stops the run here,
  # from shapes alone, before anything is initialised or compiled.
  builder = step_builder(model, optimizer, partitioner, shapes, seed)
  checkpointer.check_latest_fits(builder.abstract_state.params,
                                 builder.abstract_state.opt_state)
  state = builder.init_state()
  data_meta = {"mixture": mixture_or_task_name, "seed": seed,
               "batch_size": batch_size,
               "task_feature_lengths": dict(task_feature_lengths),
               "pack": pack, "pipeline": input_pipeline.STATE_VERSION}
  restored = checkpointer.restore_latest(state.params, state.opt_state)
  base_meta = {}
  if restored is not None:
    start_step, params, opt_state, meta = restored
    state = TrainState(jax.device_put(jnp.asarray(start_step, jnp.int32),
                                      partitioner.replicated),
                       params, opt_state, state.frozen)
    saved_data = meta.get("data")
    _check_data_meta(saved_data, data_meta)
    if state.frozen is not None:
      state, base_meta = _load_frozen_base(model, state, initial_checkpoint,
                                           seed, meta.get("base"),
                                           checkpointer.directory)
    log.info("resumed from step %d in %s", start_step, checkpointer.directory)
  else:
    start_step, saved_data = 0, None
    if state.frozen is not None:
      state, base_meta = _load_frozen_base(model, state, initial_checkpoint,
                                           seed, None, None)
    elif initial_checkpoint:
      state = _load_initial_params(initial_checkpoint, state)
  if config_text is not None and jax.process_index() == 0:
    _write_config(model_dir, config_text,
                  None if restored is None else start_step)

  batches = _input_batches(
      mixture_or_task_name, converter, task_feature_lengths, batch_size,
      seed, partitioner, start_step, saved_data, cache_dir=cache_dir,
      require_cache=use_cached_tasks)

  def save(step: int):
    # batches.state(): the position after the `step` batches trained on.
    meta = {"data": {**data_meta, "batches_consumed": step,
                     "state": batches.state()}, **base_meta}
    checkpointer.save(step, state.params, state.opt_state, meta, force=True)

  if restored is None:
    save(0)
  step_fn = builder.jit_train_step(
      make_train_step(model, builder.tx, seed, num_microbatches))
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
    with partitioner.context(), _PreemptionFlag(
        preemption_check_every_steps) as preemption:
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
        stop = preemption.should_stop(step)
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
  except BaseException:
    # Let a pending (good) checkpoint finish even when stopping on an error,
    # without hiding that error behind a failed save.
    try:
      checkpointer.wait()
    except checkpointer_lib.CheckpointSaveError as save_error:
      log.error("%s", save_error)
    raise
  finally:
    batches.close()
  checkpointer.wait()

  steps = checkpointer.all_steps()
  checkpointer.close()
  return TrainResult(model_dir, step, final_metrics, steps, history,
                     preempted=preempted, start_step=start_step)


def _check_settings(*, mixture_or_task_name: str, num_train_steps,
                    batch_size, task_feature_lengths, converter,
                    partitioner: partitioning.Partitioner, num_microbatches,
                    log_every_steps, preemption_check_every_steps,
                    checkpoint_every_steps, keep_checkpoints,
                    keep_checkpoint_period, seed) -> None:
  """Every setting the run needs, checked before any work (ConfigError)."""
  lookup.get_task_or_mixture(mixture_or_task_name)  # unknown: clear error
  errors.require_positive_int(num_train_steps, "train.num_train_steps",
                              "optimizer steps of the whole run")
  errors.require_positive_int(batch_size, "train.batch_size",
                              "sequences per step, all hosts together")
  errors.require_positive_int(num_microbatches, "train.num_microbatches",
                              "1 for no gradient accumulation")
  errors.require_positive_int(preemption_check_every_steps,
                              "train.preemption_check_every_steps",
                              "steps between multi-host preemption checks")
  errors.require_positive_int(log_every_steps, "train.log_every_steps",
                              "steps between progress lines")
  errors.require_positive_int(checkpoint_every_steps,
                              "train.checkpoint_every_steps",
                              "steps between checkpoints")
  for value, setting in ((keep_checkpoints, "train.keep_checkpoints"),
                         (keep_checkpoint_period,
                          "train.keep_checkpoint_period")):
    if value is not None:
      errors.require_positive_int(value, setting, "or None")
  if isinstance(seed, bool) or not isinstance(seed, int):
    raise errors.ConfigError(f"train.seed is {seed!r}: it must be a whole "
                             "number", setting="train.seed")
  _check_feature_lengths(task_feature_lengths, converter)
  check_batch_split(batch_size, num_microbatches, partitioner)


def _check_feature_lengths(lengths, converter) -> None:
  needed = sorted(converter.TASK_FEATURES)
  if not isinstance(lengths, Mapping):
    raise errors.ConfigError(
        f"train.task_feature_lengths is {lengths!r}: give a dict of token "
        f"lengths, e.g. {{'inputs': 512, 'targets': 128}}",
        setting="train.task_feature_lengths")
  missing = [k for k in needed if k not in lengths]
  if missing:
    raise errors.ConfigError(
        f"train.task_feature_lengths {dict(lengths)} lacks {missing}: this "
        f"model's features need lengths for {needed}",
        setting="train.task_feature_lengths")
  for key, value in lengths.items():
    errors.require_positive_int(value, f"train.task_feature_lengths[{key!r}]",
                                "tokens")


def _write_config(model_dir: str, text: str, resumed_at: int | None) -> None:
  """config.gin of the run; a resumed run with other settings keeps the
  first and writes its own beside it."""
  path = os.path.join(model_dir, "config.gin")
  if resumed_at is not None and storage.exists(path):
    if storage.read_text(path) == text:
      return
    path = os.path.join(model_dir, f"config.resumed_at_{resumed_at}.gin")
    log.warning("the configuration differs from config.gin; writing %s", path)
  storage.write_atomic(path, text)


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


def _input_batches(mixture: str, converter, lengths: Mapping[str, int],
                   batch_size: int, seed: int,
                   partitioner: partitioning.Partitioner, start_step: int,
                   saved: Mapping[str, Any] | None, *, cache_dir: str | None,
                   require_cache: bool) -> input_pipeline.PackedBatches:
  """This process's batches, from the checkpoint's data state if it has one."""
  started = time.perf_counter()
  examples = input_pipeline.mixture_examples(
      mixture, cache_dir=cache_dir, require_cache=require_cache)
  layout = input_pipeline.packing_layout(converter, lengths)
  rows = input_pipeline.host_rows(partitioner.batch_sharding, batch_size)
  state = (saved or {}).get("state")
  if state is not None and (
      state.get("version") != input_pipeline.STATE_VERSION or
      len(state.get("draws", ())) != len(examples.names)):
    log.warning("the checkpoint's data state (version %s, %d tasks) does not "
                "fit this pipeline (version %d, %d tasks); planning the new "
                "order up to step %d instead", state.get("version"),
                len(state.get("draws", ())), input_pipeline.STATE_VERSION,
                len(examples.names), start_step)
    state = None
  batches = input_pipeline.PackedBatches(
      examples, layout, batch_size=batch_size, seed=seed, state=state,
      rows=rows)
  if state is None and start_step:
    # A checkpoint without a data state (an older flan_jax): plan (not
    # build) the batches already trained on, so the run moves on to new ones.
    log.warning("checkpoint has no data state; planning %d batches to reach "
                "the data position", start_step)
    batches.skip(start_step)
  log.info("input pipeline ready in %.1f s (batch %d%s)",
           time.perf_counter() - started, batches.state()["batches"],
           f", rows {rows[0]}-{rows[1] - 1} on this host"
           if jax.process_count() > 1 else "")
  return batches


def _load_initial_params(path: str, state: TrainState) -> TrainState:
  directory, step = loading.step_directory(path)
  checkpointer = checkpointer_lib.Checkpointer(directory, read_only=True)
  params, _, _ = checkpointer.restore(step, state.params, None)
  checkpointer.close()
  log.info("initialised parameters from %s", path)
  return state.replace(params=params)


def _load_frozen_base(model: api.Model, state: TrainState,
                      initial_checkpoint: str | None, seed: int,
                      saved: dict | None, directory: str | None
                      ) -> tuple[TrainState, dict]:
  """An adapter run's frozen base: from `initial_checkpoint` (else the init
  of `seed`), or on resume from the base the checkpoint records, checked
  against its fingerprint; a fresh prompt is drawn from the base's
  embedding table as its config says."""
  if saved is not None:
    initial_checkpoint, seed = saved.get("path"), saved.get("seed", seed)
  if initial_checkpoint:
    state = state.replace(frozen=loading.restore_frozen(
        initial_checkpoint, state.frozen))
    log.info("frozen base from %s", initial_checkpoint)
  if saved is not None:  # resumed: the base must be the recorded one
    adapter_base.check(saved, state.frozen, f"MODEL_DIR {directory}")
    return state, {"base": saved}
  record = adapter_base.record(initial_checkpoint, seed, state.frozen)
  if model.config.prompt is not None:
    sharding = jax.tree.map(lambda x: x.sharding, state.params)
    params = prompt_tuning.initialize(
        state.all_params(), model.config.prompt,
        jax.random.fold_in(jax.random.key(seed), 1))
    params = trainable.split(model.config, params)[0]
    state = state.replace(params=jax.device_put(params, sharding))
  return state, {"base": record}


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

"""Finding a checkpoint from a user's path, and loading a model's parameters.

A user names a checkpoint in one of three ways, all accepted everywhere
(eval jobs, inference, export):

    /runs/my_run                    a model dir: its newest step
    /runs/my_run/checkpoints        its checkpoints dir: the newest step
    /runs/my_run/checkpoints/1400   one step

`resolve_checkpoint` turns any of them into (checkpoints dir, step). Each
may be a local path or a ``gs://`` URI.
`load_params` restores the parameters only, into the shapes the model
states (`Model.abstract_params`) and, given a partitioner, directly into
the shardings the trainer gives them (`flan_jax.steps.builder`). For a
LoRA or prompt-tuning model it reads the adapters and puts them onto the
base their checkpoint records (`adapter_base`), unmerged.
"""

from __future__ import annotations

import os
from typing import Any

import flax.linen as nn
import jax

from flan_jax import storage
from flan_jax.checkpoints import adapter_base
from flan_jax.checkpoints.checkpointer import (Checkpointer,
                                               CheckpointNotFoundError)
from flan_jax.models import api
from flan_jax.models import trainable
from flan_jax.parallel import partitioning
from flan_jax.steps.builder import StepBuilder


def checkpoint_steps(path: str) -> tuple[str, list[int]]:
  """(checkpoints directory, its steps) for a model, checkpoints or step dir."""
  path = storage.absolute(path.rstrip("/"))
  if not storage.isdir(path):
    raise CheckpointNotFoundError(
        f"checkpoint path {path} does not exist: name a model dir, its "
        f"checkpoints dir, or <model_dir>/checkpoints/<step>")
  head, tail = os.path.split(path)
  directory = path
  has_checkpoints = storage.isdir(os.path.join(path, "checkpoints"))
  if tail.isdigit() and not has_checkpoints:
    directory = head
  elif has_checkpoints:
    directory = os.path.join(path, "checkpoints")
  steps = Checkpointer(directory, read_only=True).all_steps()
  if not steps:
    raise CheckpointNotFoundError(
        f"no checkpoints under {directory}: name the model dir of a run that "
        f"has saved one")
  return directory, steps


def resolve_checkpoint(path: str, step: int | None = None) -> tuple[str, int]:
  """Accepts a model dir, its checkpoints dir, or a step dir; returns both.

  With a model or checkpoints directory the newest step is used unless
  `step` is given.
  """
  directory, steps = checkpoint_steps(path)
  head, tail = os.path.split(storage.absolute(path.rstrip("/")))
  if tail.isdigit() and step is None and directory == head:
    return head, int(tail)
  if step is not None and step not in steps:
    raise CheckpointNotFoundError(
        f"no checkpoint for step {step} under {directory} (found: {steps}): "
        f"pick one of those steps")
  return directory, steps[-1] if step is None else step


def step_directory(path: str) -> tuple[str, int]:
  """(checkpoints dir, step) of a path that must name one step."""
  path = storage.absolute(path.rstrip("/"))
  directory, step = os.path.split(path)
  if not step.isdigit():
    raise CheckpointNotFoundError(
        f"{path} is not a checkpoint step directory; pass "
        f"<model_dir>/checkpoints/<step>")
  return directory, int(step)


def load_params(model: api.Model, directory: str, step: int,
                partitioner: partitioning.Partitioner | None = None):
  """Restores a checkpoint's parameters for `model` (no optimizer state).

  With a partitioner the parameters land directly in their shardings;
  without one, on the default device.
  """
  if partitioner is None:
    like = nn.unbox(model.abstract_params())
  else:
    like = StepBuilder(model, partitioner).restore_target()
  checkpointer = Checkpointer(directory, read_only=True)
  try:
    base = (checkpointer.read_meta(step).get("base")
            if trainable.is_parameter_efficient(model.config) else None)
    if base is None:  # every parameter is in the checkpoint
      params, _, _ = checkpointer.restore(step, like, None)
      return params
    trained_like, frozen_like = trainable.split(model.config, like)
    trained, _, _ = checkpointer.restore(step, trained_like, None)
  finally:
    checkpointer.close()
  frozen = load_base(base, model, frozen_like,
                     f"checkpoint {directory}/{step}")
  return trainable.combine(trained, frozen)


def restore_frozen(path: str, frozen_like: Any) -> Any:
  """The frozen part of a base checkpoint step, into `frozen_like`'s
  shapes (and shardings, when it holds arrays or sharded structs)."""
  directory, step = step_directory(path)
  checkpointer = Checkpointer(directory, read_only=True)
  try:
    frozen, _, _ = checkpointer.restore(step, frozen_like, None)
  finally:
    checkpointer.close()
  return frozen


def load_base(saved: dict[str, Any], model: api.Model, frozen_like: Any,
              where: str) -> Any:
  """The frozen parameters of the base an adapter checkpoint records
  (`adapter_base`), checked against its fingerprint."""
  if saved.get("path"):
    frozen = restore_frozen(saved["path"], frozen_like)
  else:  # a run from the model's own init: the same seed gives it again
    params = model.initial_params(jax.random.key(saved["seed"]))
    frozen = trainable.split(model.config, params)[1]
  adapter_base.check(saved, frozen, where)
  return frozen


def export_params(model: api.Model, directory: str, step: int,
                  destination: str, meta: dict | None = None) -> str:
  """Writes one step's parameters, without optimizer state, as a checkpoint.

  `destination/checkpoints/<step>` then serves as `train.initial_checkpoint`
  and as an eval job's checkpoint, at a third of a training checkpoint's
  size (Adafactor's state and the data position are left behind).

  Returns:
    The step directory written.
  """
  params = load_params(model, directory, step)
  target = os.path.join(os.path.abspath(destination), "checkpoints")
  if os.path.isdir(os.path.join(target, str(step))):
    raise FileExistsError(f"{target}/{step} exists; not overwriting it")
  writer = Checkpointer(target, async_save=False)
  try:
    writer.save_params(step, params, meta)
    writer.wait()
  finally:
    writer.close()
  return os.path.join(target, str(step))

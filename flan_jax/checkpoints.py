"""Checkpoints: one format, orbax, laid out as ``<dir>/<step>/<item>``.

Items of a training checkpoint:
    params     model parameters (what eval jobs and exports read)
    opt_state  optimizer state
    meta       JSON: step and anything else the trainer records

Saving is asynchronous and atomic (orbax writes to a temporary directory and
renames it when complete), so an interrupted save never looks finished.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp


class CheckpointNotFoundError(FileNotFoundError):
  pass


def _abstract(tree: Any) -> Any:
  """ShapeDtypeStructs (with shardings) for restoring into `tree`'s layout."""
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                     sharding=getattr(x, "sharding", None)),
      tree)


class Checkpointer:
  """Saves and restores trainer state under one directory."""

  def __init__(self, directory: str, *, save_interval_steps: int = 1,
               max_to_keep: int | None = None, keep_period: int | None = None,
               read_only: bool = False):
    self.directory = os.path.abspath(directory)
    options = ocp.CheckpointManagerOptions(
        save_interval_steps=save_interval_steps, max_to_keep=max_to_keep,
        keep_period=keep_period, create=not read_only, read_only=read_only)
    self._manager = ocp.CheckpointManager(
        self.directory, options=options,
        item_names=("params", "opt_state", "meta"))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def save(self, step: int, params: Any, opt_state: Any,
           meta: dict[str, Any] | None = None, *, force: bool = False) -> bool:
    meta = {"step": int(step), **(meta or {})}
    return self._manager.save(
        step,
        args=ocp.args.Composite(
            params=ocp.args.StandardSave(params),
            opt_state=ocp.args.StandardSave(opt_state),
            meta=ocp.args.JsonSave(meta)),
        force=force)

  def restore(self, step: int, params_like: Any, opt_state_like: Any | None
              ) -> tuple[Any, Any, dict[str, Any]]:
    """Restores into the shapes, dtypes and shardings of the `*_like` trees.

    Pass `opt_state_like=None` to read parameters only.
    """
    self._require(step)
    items = {
        "params": ocp.args.StandardRestore(_abstract(params_like)),
        "meta": ocp.args.JsonRestore(),
    }
    if opt_state_like is not None:
      items["opt_state"] = ocp.args.StandardRestore(_abstract(opt_state_like))
    restored = self._manager.restore(step, args=ocp.args.Composite(**items))
    return restored["params"], restored.get("opt_state"), restored["meta"]

  def _require(self, step: int) -> None:
    if step not in self._manager.all_steps():
      raise CheckpointNotFoundError(
          f"no checkpoint for step {step} in {self.directory} (found steps: "
          f"{self.all_steps() or 'none'})")

  def wait(self) -> None:
    """Blocks until asynchronous saves have finished."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()

"""`Checkpointer`: orbax checkpoints laid out as ``<dir>/<step>/<item>``.

Items of a training checkpoint:
    params     model parameters (what eval jobs and exports read)
    opt_state  optimizer state
    meta       JSON: step, the data position (batches consumed and the data
               settings that define the order), and what else the trainer
               records

Saving is asynchronous and atomic: orbax writes into a temporary directory
and renames it to ``<step>`` only when every item is complete, so a save cut
short (SIGKILL, lost host) never looks finished and is cleaned up on the next
start. `restore_latest` goes further: a finished-looking checkpoint that
cannot be read (a truncated or damaged file) is moved aside to
``<step>.corrupt`` with a warning and the previous one is restored.

Retention: keep the newest `max_to_keep`, and additionally every step that is
a multiple of `keep_period` (e.g. keep the last 3, plus every 10,000 steps).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import jax
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

log = logging.getLogger("flan_jax")


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
               read_only: bool = False, async_save: bool = True):
    self.directory = os.path.abspath(directory)
    self._read_only = read_only
    options = ocp.CheckpointManagerOptions(
        save_interval_steps=save_interval_steps, max_to_keep=max_to_keep,
        keep_period=keep_period, create=not read_only, read_only=read_only,
        cleanup_tmp_directories=not read_only,
        enable_async_checkpointing=async_save)
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

  def save_params(self, step: int, params: Any,
                  meta: dict[str, Any] | None = None) -> None:
    """A parameters-only checkpoint (no optimizer state), e.g. converted
    weights: `train.initial_checkpoint` and eval jobs read it."""
    meta = {"step": int(step), **(meta or {})}
    self._manager.save(step, args=ocp.args.Composite(
        params=ocp.args.StandardSave(params), meta=ocp.args.JsonSave(meta)),
                       force=True)

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
    if restored["meta"] is None or restored["params"] is None:
      raise ValueError(f"checkpoint {step} in {self.directory} is incomplete")
    return restored["params"], restored.get("opt_state"), restored["meta"]

  def restore_latest(self, params_like: Any, opt_state_like: Any | None
                     ) -> tuple[int, Any, Any, dict[str, Any]] | None:
    """The newest checkpoint that reads back whole, or None if there is none.

    A checkpoint that fails to restore is renamed `<step>.corrupt` (so it is
    neither retried nor overwritten by the resumed run, and stays for
    inspection) and the next older one is tried.
    """
    for step in reversed(self.all_steps()):
      step_dir = os.path.join(self.directory, str(step))
      if opt_state_like is not None and not os.path.isdir(
          os.path.join(step_dir, "opt_state")):
        # Not damage: a parameters-only checkpoint (e.g. converted from
        # Hugging Face) is a starting point, not a run to resume.
        raise ValueError(
            f"checkpoint {step_dir} holds parameters only; start from it with "
            f"train.initial_checkpoint='{step_dir}' and a new model_dir")
      try:
        params, opt_state, meta = self.restore(step, params_like,
                                               opt_state_like)
      except Exception as e:  # pylint: disable=broad-except
        log.warning("checkpoint %d in %s cannot be restored (%s: %s); moving "
                    "it aside and trying the previous one", step,
                    self.directory, type(e).__name__, str(e).splitlines()[0]
                    if str(e) else "")
        self._quarantine(step)
        continue
      return step, params, opt_state, meta
    return None

  def _quarantine(self, step: int) -> None:
    if self._read_only:
      raise ValueError(f"checkpoint {step} in {self.directory} is unreadable")
    if jax.process_index() == 0:
      source = os.path.join(self.directory, str(step))
      target = f"{source}.corrupt-{int(time.time())}"
      os.rename(source, target)
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices(f"quarantine_{step}")
    self._manager.reload()

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

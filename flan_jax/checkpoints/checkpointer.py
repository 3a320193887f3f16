"""`Checkpointer`: orbax checkpoints laid out as ``<dir>/<step>/<item>``.

Items of a training checkpoint:
    params     model parameters (what eval jobs and exports read)
    opt_state  optimizer state
    meta       JSON: step, the data position (batches consumed and the data
               settings that define the order), and what else the trainer
               records

Saving is asynchronous and atomic: orbax writes into a temporary directory
and renames it to ``<step>`` only when every item is complete (in a bucket,
which cannot rename, it writes ``<step>/commit_success.txt`` last instead),
so a save cut short (SIGKILL, lost host) never looks finished and is cleaned
up on the next start. `directory` may be a local path or a ``gs://`` URI.
A background save that fails is not skipped: the next `save` (or
`wait`) raises `CheckpointSaveError`, so a run never goes on with a step
missing.

Restoring tells two failures apart:

    mismatch   the checkpoint is whole but does not fit what it is restored
               into (a parameter's shape or dtype, a missing or extra
               parameter): another model gin, another optimizer. Found from
               the checkpoint's metadata before any array is read; raises
               `CheckpointMismatchError` naming the first difference, and
               nothing is written, renamed or deleted.
    damage     the checkpoint's bytes are not those written (a file
               missing, truncated or overwritten: its SHA-256 differs from
               the one recorded at save, see `integrity`), or it cannot be
               read. Checked before any value is used. `restore_latest`
               moves it aside to ``<step>.corrupt-<time>`` with a warning
               naming the file and restores the previous one; `restore`
               (eval, export, inference) raises `CheckpointDamagedError`.

Retention: keep the newest `max_to_keep`, and additionally every step that is
a multiple of `keep_period` (e.g. keep the last 3, plus every 10,000 steps).
"""

from __future__ import annotations

import glob
import logging
import os
import time
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from flan_jax import errors
from flan_jax import storage
from flan_jax.checkpoints import integrity

log = logging.getLogger("flan_jax")


class CheckpointNotFoundError(errors.FlanJaxError, FileNotFoundError):
  """No checkpoint where one was named."""


class CheckpointMismatchError(errors.FlanJaxError, ValueError):
  """A whole checkpoint that does not fit the configured model or optimizer."""


class CheckpointDamagedError(errors.FlanJaxError, RuntimeError):
  """A checkpoint whose files are not those written, or cannot be read.

  Attributes:
    detail: what is damaged, without the advice (for the warning of a run
      that sets the step aside and goes on).
  """

  def __init__(self, message: str, *, detail: str | None = None):
    super().__init__(message)
    self.detail = detail or message


class CheckpointSaveError(errors.FlanJaxError, RuntimeError):
  """A (background) save did not complete."""


def _abstract(tree: Any) -> Any:
  """ShapeDtypeStructs (with shardings) for restoring into `tree`'s layout."""
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                     sharding=getattr(x, "sharding", None)),
      tree)


def _key_name(key) -> str:
  for field in ("key", "name", "idx"):
    if hasattr(key, field):
      return str(getattr(key, field))
  return str(key)


def _named_leaves(tree: Any) -> dict[str, Any]:
  return {"/".join(_key_name(k) for k in path): leaf
          for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def first_difference(expected: Any, stored: Any) -> str | None:
  """How `stored` (checkpoint metadata) fails to fit `expected`, or None.

  Compares every leaf by its path: presence, shape and dtype.
  """
  want, have = _named_leaves(expected), _named_leaves(stored)
  missing = sorted(want.keys() - have.keys())
  extra = sorted(have.keys() - want.keys())
  for name in sorted(want.keys() & have.keys()):
    w, h = want[name], have[name]
    if tuple(w.shape) != tuple(h.shape):
      return (f"{name} has shape {tuple(h.shape)} in the checkpoint but "
              f"{tuple(w.shape)} in the configured run")
    if np.dtype(w.dtype) != np.dtype(h.dtype):
      return (f"{name} has dtype {np.dtype(h.dtype)} in the checkpoint but "
              f"{np.dtype(w.dtype)} in the configured run")
  if missing:
    return (f"{missing[0]} is not in the checkpoint ({len(missing)} of the "
            f"configured run's arrays are missing)")
  if extra:
    return (f"the checkpoint has {extra[0]}, which the configured run does "
            f"not ({len(extra)} extra arrays)")
  return None


_LIKELY_CAUSE = {
    "params": "it was written by another model (check the model gin, MODEL, "
              "and a LoRA rank, targets or prompt length)",
    "opt_state": "it was written with another optimizer or optimizer "
                 "settings (check make_optimizer)",
}


class Checkpointer:
  """Saves and restores trainer state under one directory."""

  def __init__(self, directory: str, *, save_interval_steps: int = 1,
               max_to_keep: int | None = None, keep_period: int | None = None,
               read_only: bool = False, async_save: bool = True):
    self.directory = storage.absolute(directory)
    self._read_only = read_only
    self._unconfirmed: int | None = None  # the last save, maybe in flight
    self._saving: int | None = None  # the step whose checksums are due
    options = ocp.CheckpointManagerOptions(
        save_interval_steps=save_interval_steps, max_to_keep=max_to_keep,
        keep_period=keep_period, create=not read_only, read_only=read_only,
        cleanup_tmp_directories=not read_only,
        enable_async_checkpointing=async_save,
        # Checksums are written into the step before orbax commits it (a
        # synchronous save records them right after, in _confirm_saved).
        async_options=ocp.AsyncOptions(
            post_finalization_callback=self._record_checksums)
        if async_save else None)
    # Handlers named up front, so that a fresh manager (a restarted run, an
    # eval job) can read each item's metadata before restoring anything.
    self._manager = ocp.CheckpointManager(
        self.directory, options=options, item_handlers={
            "params": ocp.StandardCheckpointHandler(),
            "opt_state": ocp.StandardCheckpointHandler(),
            "meta": ocp.JsonCheckpointHandler()})

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def step_directory(self, step: int) -> str:
    return os.path.join(self.directory, str(step))

  # ---- saving ---------------------------------------------------------------

  def save(self, step: int, params: Any, opt_state: Any,
           meta: dict[str, Any] | None = None, *, force: bool = False) -> bool:
    self._confirm_saved()
    meta = {"step": int(step), **(meta or {})}
    self._saving = step
    saved = self._manager.save(
        step,
        args=ocp.args.Composite(
            params=ocp.args.StandardSave(params),
            opt_state=ocp.args.StandardSave(opt_state),
            meta=ocp.args.JsonSave(meta)),
        force=force)
    if saved:
      self._unconfirmed = step
    return saved

  def save_params(self, step: int, params: Any,
                  meta: dict[str, Any] | None = None) -> None:
    """A parameters-only checkpoint (no optimizer state), e.g. converted
    weights: `train.initial_checkpoint` and eval jobs read it."""
    self._confirm_saved()
    meta = {"step": int(step), **(meta or {})}
    self._saving = step
    self._manager.save(step, args=ocp.args.Composite(
        params=ocp.args.StandardSave(params), meta=ocp.args.JsonSave(meta)),
                       force=True)
    self._unconfirmed = step

  def _confirm_saved(self) -> None:
    """Raises if the previous save did not end as a finished checkpoint.

    orbax logs a failed background commit and skips its finalisation; a run
    that went on would silently lack that step.
    """
    if self._unconfirmed is None:
      return
    step, self._unconfirmed = self._unconfirmed, None
    try:
      self._manager.wait_until_finished()
      self._manager.check_for_errors()
    except Exception as e:  # pylint: disable=broad-except
      raise CheckpointSaveError(self._save_failed(step, e)) from e
    step_dir = self.step_directory(step)
    if not storage.isdir(os.path.join(step_dir, "params")):
      raise CheckpointSaveError(self._save_failed(step, None))
    if jax.process_index() == 0 and not storage.exists(
        os.path.join(step_dir, integrity.MANIFEST)):
      # A synchronous save (no finalisation callback): recorded right after.
      integrity.record(step_dir)

  def _record_checksums(self) -> None:
    """orbax's post-finalisation callback: the step's files are complete
    but not yet committed (a temporary directory, or in a bucket the step
    directory before its commit_success.txt)."""
    if self._saving is None or jax.process_index() != 0:
      return
    step, self._saving = self._saving, None
    target = self.step_directory(step)
    if not storage.is_uri(target):
      pending = glob.glob(f"{glob.escape(target)}.orbax-checkpoint-tmp*")
      if len(pending) != 1:
        return  # recorded after the commit, by _confirm_saved
      target = pending[0]
    integrity.record(target)

  def _save_failed(self, step: int, cause: Exception | None) -> str:
    why = (f"{type(cause).__name__}: {str(cause).splitlines()[0]}"
           if cause is not None and str(cause) else "it was not finalised "
           "(see the log above)")
    return (f"saving checkpoint step {step} in {self.directory} failed ({why})"
            f": the run stopped so that no step goes missing: fix the storage "
            f"and re-run the same command to resume from the newest "
            f"checkpoint")

  # ---- restoring --------------------------------------------------------------

  def check_fits(self, step: int, params_like: Any,
                 opt_state_like: Any | None) -> None:
    """Raises CheckpointMismatchError (does not fit) or CheckpointDamagedError
    (metadata unreadable) before any array is read."""
    try:
      stored = self._manager.item_metadata(step)
    except Exception as e:  # pylint: disable=broad-except
      raise CheckpointDamagedError(
          f"metadata of checkpoint {step} unreadable: {e}") from e
    items = {"params": params_like}
    if opt_state_like is not None:
      items["opt_state"] = opt_state_like
    for item, like in items.items():
      if stored.get(item) is None:
        raise CheckpointDamagedError(
            f"checkpoint {step} has no readable {item} metadata")
      difference = first_difference(like, stored[item])
      if difference is not None:
        raise CheckpointMismatchError(
            f"checkpoint {self.step_directory(step)} does not fit the "
            f"configured run: {item} {difference}: "
            f"{_LIKELY_CAUSE[item]}; restore it with the settings that "
            f"wrote it, or train into a new MODEL_DIR")

  def check_latest_fits(self, params_like: Any, opt_state_like: Any | None
                        ) -> None:
    """Raises CheckpointMismatchError if the newest readable checkpoint does
    not fit; cheap (metadata only), so a run can check before it builds its
    state. Damaged checkpoints are left for `restore_latest` to set aside."""
    for step in reversed(self.all_steps()):
      self._require_optimizer_state(step, opt_state_like)
      try:
        self.check_fits(step, params_like, opt_state_like)
        return
      except CheckpointDamagedError:
        continue
      except CheckpointMismatchError:
        # Damaged metadata can read as another shape: damage comes first.
        if integrity.verify(self.step_directory(step)).damaged:
          continue
        raise

  def _require_optimizer_state(self, step: int, opt_state_like: Any) -> None:
    step_dir = self.step_directory(step)
    if opt_state_like is not None and not storage.isdir(
        os.path.join(step_dir, "opt_state")):
      # Not damage: a parameters-only checkpoint (e.g. converted from
      # Hugging Face) is a starting point, not a run to resume.
      raise CheckpointMismatchError(
          f"checkpoint {step_dir} holds parameters only (no optimizer "
          f"state), so a run cannot resume from it: start from it with "
          f"train.initial_checkpoint='{step_dir}' and a new MODEL_DIR")

  def restore(self, step: int, params_like: Any, opt_state_like: Any | None
              ) -> tuple[Any, Any, dict[str, Any]]:
    """Restores into the shapes, dtypes and shardings of the `*_like` trees.

    Pass `opt_state_like=None` to read parameters only. Raises
    CheckpointMismatchError when the checkpoint does not fit them, and
    CheckpointDamagedError when it cannot be read.
    """
    self._require(step)
    self.verify(step, ["params", "meta"] + (
        [] if opt_state_like is None else ["opt_state"]))
    self.check_fits(step, params_like, opt_state_like)
    items = {
        "params": ocp.args.StandardRestore(_abstract(params_like)),
        "meta": ocp.args.JsonRestore(),
    }
    if opt_state_like is not None:
      items["opt_state"] = ocp.args.StandardRestore(_abstract(opt_state_like))
    try:
      restored = self._manager.restore(step, args=ocp.args.Composite(**items))
    except Exception as e:  # pylint: disable=broad-except
      raise CheckpointDamagedError(
          f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
      ) from e
    if restored["meta"] is None or restored["params"] is None:
      raise CheckpointDamagedError(
          f"checkpoint {step} in {self.directory} is incomplete")
    return restored["params"], restored.get("opt_state"), restored["meta"]

  def verify(self, step: int, items: list[str] | None = None) -> None:
    """Raises CheckpointDamagedError naming the first file of the step (of
    `items`, or all) whose bytes are not those written; a step saved
    before checksums were recorded passes with a note."""
    step_dir = self.step_directory(step)
    found = integrity.verify(step_dir, items)
    if found.damaged:
      others = [s for s in self.all_steps() if s != step]
      detail = f"checkpoint {step_dir} is damaged: {found.damaged}"
      raise CheckpointDamagedError(
          f"{detail}: restore an intact copy of the step, or use another "
          f"step (found: {', '.join(map(str, others)) or 'none'})",
          detail=detail)
    if not found.recorded:
      log.info("note: checkpoint %s has no recorded checksums (saved before "
               "flan_jax recorded them); restoring it unverified", step_dir)

  def read_meta(self, step: int) -> dict[str, Any]:
    """The JSON "meta" item of a step alone (e.g. an adapter checkpoint's
    record of its base), without reading any array."""
    self._require(step)
    try:
      restored = self._manager.restore(
          step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
    except Exception as e:  # pylint: disable=broad-except
      raise CheckpointDamagedError(
          f"meta of checkpoint {step} in {self.directory} unreadable: "
          f"{type(e).__name__}") from e
    return restored["meta"] or {}

  def restore_latest(self, params_like: Any, opt_state_like: Any | None
                     ) -> tuple[int, Any, Any, dict[str, Any]] | None:
    """The newest checkpoint that reads back whole, or None if there is none.

    A damaged checkpoint is renamed `<step>.corrupt-<time>` (so it is
    neither retried nor overwritten by the resumed run, and stays for
    inspection) and the next older one is tried. A checkpoint that does not
    fit (`CheckpointMismatchError`) stops the restore with nothing changed.
    """
    for step in reversed(self.all_steps()):
      self._require_optimizer_state(step, opt_state_like)
      try:
        params, opt_state, meta = self.restore(step, params_like,
                                               opt_state_like)
      except CheckpointDamagedError as e:
        log.warning("checkpoint %d in %s cannot be restored (%s); setting it "
                    "aside as %s and trying the previous one", step,
                    self.directory, e.detail, self._quarantine(step))
        continue
      return step, params, opt_state, meta
    return None

  def _quarantine(self, step: int) -> str:
    """Renames the step `<step>.corrupt-<time>`; returns the new name."""
    if self._read_only:
      raise CheckpointDamagedError(
          f"checkpoint {step} in {self.directory} is unreadable")
    source = self.step_directory(step)
    target = f"{source}.corrupt-{int(time.time())}"
    if jax.process_index() == 0:
      # In a bucket a copy, then a delete: cut short, the copy is whole and
      # what is left of the source is set aside again on the next start.
      storage.move_directory(source, target)
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices(f"quarantine_{step}")
    self._manager.reload()
    return os.path.basename(target)

  def _require(self, step: int) -> None:
    if step not in self._manager.all_steps():
      raise CheckpointNotFoundError(
          f"no checkpoint for step {step} in {self.directory} (found steps: "
          f"{self.all_steps() or 'none'}): pass one of those steps")

  def wait(self) -> None:
    """Blocks until asynchronous saves have finished; raises if one failed."""
    self._confirm_saved()

  def close(self) -> None:
    self._manager.close()

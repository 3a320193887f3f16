"""One writer per directory: a lock file with a lease, for runs and eval jobs.

A training run owns its MODEL_DIR and an eval job its output directory. Two
writers in one directory (a second terminal, a relaunched job whose first
copy still runs) would overwrite each other's checkpoints or results, so the
first to start holds `<dir>/.flan_jax.lock`:

    {"purpose": "training", "host": "vm-3", "pid": 4242,
     "started": 1796118000.0, "renewed": 1796118120.0}

and the second stops with `RunLockedError`, one line naming the holder. A
holder that died does not block a restart forever: the lock is stale, and
taken over, when its holder runs on this host and its pid is gone (a
SIGKILLed run), or when nobody renewed it for `lease_seconds` (a lost host;
holders renew it every third of the lease from a background thread).

Taking the lock is atomic. On a local disk the file is created with
O_EXCL, and a stale one is first renamed to a unique name, so of two
restarts only one wins. A bucket (``gs://``) has neither, but it has
generation preconditions: the lock object is created only if absent
(``ifGenerationMatch=0``), and a stale one is replaced only if it is still
the generation that was judged stale, so of two restarts again only one
wins; renewals are conditional on the holder's own generation, so a holder
whose lock was taken over notices instead of overwriting it. In a
multi-host job only process 0 takes the lock; the others learn the outcome
from it (`jax.experimental.multihost_utils`), so one job is one holder.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import os
import socket
import threading
import time
from typing import Any, Callable

import jax
import numpy as np
from jax.experimental import multihost_utils

from flan_jax import errors
from flan_jax import storage

log = logging.getLogger("flan_jax")

LOCK_FILE = ".flan_jax.lock"
DEFAULT_LEASE_SECONDS = 600.0


class RunLockedError(errors.FlanJaxError, RuntimeError):
  """Another process holds the directory."""


def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # exists, owned by someone else
    return True
  return True


def _describe(holder: dict[str, Any]) -> str:
  started = time.strftime("%Y-%m-%d %H:%M:%S",
                          time.localtime(holder.get("started", 0)))
  return (f"{holder.get('purpose', 'a run')} on host {holder.get('host')}, "
          f"pid {holder.get('pid')}, since {started}")


class _ObjectLockFile:
  """The lock as one object in a bucket, changed only under generation
  preconditions (google-cloud-storage: tf.io.gfile has no conditional
  writes)."""

  def __init__(self, uri: str, setting: str):
    scheme, _, rest = uri.partition("://")
    bucket, _, name = rest.partition("/")
    if scheme != "gs" or not bucket or not name:
      raise errors.ConfigError(
          f"{setting} is {uri}: run and output directories on object "
          f"storage must be gs://<bucket>/<folder> (a local path works too)",
          setting=setting)
    self._bucket_name, self._name = bucket, name
    self._setting = setting
    self._bucket = None

  def _blob(self):
    if self._bucket is None:
      try:
        # pylint: disable-next=g-import-not-at-top
        from google.cloud import storage as gcs
      except ImportError:
        raise errors.ConfigError(
            f"{self._setting} is a gs:// path, which needs "
            "google-cloud-storage: pip install -e '.[gcs]'",
            setting=self._setting) from None
      self._bucket = gcs.Client().bucket(self._bucket_name)
    return self._bucket.blob(self._name)

  def read(self) -> tuple[bytes, int] | None:
    """(content, generation), or None when there is no lock."""
    from google.api_core import exceptions  # pylint: disable=g-import-not-at-top
    blob = self._blob()
    try:
      return blob.download_as_bytes(), blob.generation
    except exceptions.NotFound:
      return None

  def write(self, data: bytes, if_generation: int) -> int | None:
    """The new generation, or None when the object's generation is not
    `if_generation` (0: the object must not exist)."""
    from google.api_core import exceptions  # pylint: disable=g-import-not-at-top
    blob = self._blob()
    try:
      blob.upload_from_string(data, content_type="application/json",
                              if_generation_match=if_generation)
    except exceptions.PreconditionFailed:
      return None
    return blob.generation

  def delete(self, generation: int) -> None:
    from google.api_core import exceptions  # pylint: disable=g-import-not-at-top
    try:
      self._blob().delete(if_generation_match=generation)
    except (exceptions.NotFound, exceptions.PreconditionFailed):
      pass  # gone, or no longer ours: either way not ours to delete


class RunLock:
  """Holds `<directory>/.flan_jax.lock` while a run writes there.

  Use as a context manager; `acquire` raises RunLockedError if another live
  process holds the directory.
  """

  def __init__(self, directory: str, purpose: str, *, setting: str,
               lease_seconds: float = DEFAULT_LEASE_SECONDS,
               file_name: str = LOCK_FILE):
    self.directory = storage.absolute(directory)
    self.path = os.path.join(self.directory, file_name)
    self._object = (_ObjectLockFile(self.path, setting)
                    if storage.is_uri(self.directory) else None)
    self._generation: int | None = None  # of our lock object
    self.setting = setting
    self.purpose = purpose
    self.lease_seconds = lease_seconds
    self._record: dict[str, Any] | None = None
    self._created_directory = False
    self._stop = threading.Event()
    self._renewer: threading.Thread | None = None

  # ---- one process ------------------------------------------------------------

  def _read(self) -> dict[str, Any] | None:
    return self._read_with_generation()[0]

  def _read_with_generation(self) -> tuple[dict[str, Any] | None, int | None]:
    try:
      if self._object is not None:
        found = self._object.read()
        if found is None:
          return None, None
        return json.loads(found[0]), found[1]
      with open(self.path) as f:
        return json.load(f), None
    except FileNotFoundError:
      return None, None
    except (OSError, ValueError):  # half-written: treat as renewed just now
      return {"host": "?", "pid": -1, "renewed": time.time()}, None

  def _stale(self, holder: dict[str, Any]) -> bool:
    if holder.get("host") == socket.gethostname() and not _pid_alive(
        int(holder.get("pid", -1))):
      return True
    return time.time() - float(holder.get("renewed", 0)) > self.lease_seconds

  def _new_record(self) -> dict[str, Any]:
    now = time.time()
    return {"purpose": self.purpose, "host": socket.gethostname(),
            "pid": os.getpid(), "started": now, "renewed": now}

  def _create(self) -> bool:
    record = self._new_record()
    if self._object is not None:
      return self._write_object(record, if_generation=0)
    try:
      fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
      return False
    with os.fdopen(fd, "w") as f:
      json.dump(record, f)
    self._record = record
    return True

  def _write_object(self, record: dict[str, Any], if_generation: int) -> bool:
    generation = self._object.write(json.dumps(record).encode(),
                                    if_generation)
    if generation is None:
      return False
    self._record, self._generation = record, generation
    return True

  def _take_over(self, generation: int | None) -> bool:
    """Replaces a stale lock; True when it is then ours. Of two restarters
    only one replaces it: the other's rename (local) or precondition (the
    stale generation, on a bucket) fails and it looks again."""
    if self._object is not None:
      if generation is None:  # unreadable: look again
        return False
      return self._write_object(self._new_record(), if_generation=generation)
    moved = f"{self.path}.stale-{os.getpid()}"
    try:
      os.rename(self.path, moved)
    except FileNotFoundError:
      return False
    os.remove(moved)
    return False  # the next attempt creates it

  def _prepare_directory(self) -> None:
    if self._object is not None:
      # A bucket has no folders to create; a lock object needs none.
      if storage.isfile(self.directory):
        raise errors.ConfigError(
            f"{self.setting} is {self.directory}, which is an object, not a "
            f"folder: give a folder path", setting=self.setting)
      return
    if os.path.exists(self.directory) and not os.path.isdir(self.directory):
      raise errors.ConfigError(
          f"{self.setting} is {self.directory}, which is a file: give a "
          f"directory (new or one this run wrote before)", setting=self.setting)
    try:
      self._created_directory = not os.path.exists(self.directory)
      os.makedirs(self.directory, exist_ok=True)
    except OSError as e:
      raise errors.ConfigError(
          f"{self.setting} is {self.directory}, which cannot be created "
          f"({e.strerror}): give a directory you can write to",
          setting=self.setting) from None

  def _try_acquire(self) -> str | None:
    """None when the lock is ours, else who holds it."""
    self._prepare_directory()
    for _ in range(3):
      if self._create():
        return None
      holder, generation = self._read_with_generation()
      if holder is None:
        continue  # released meanwhile
      if not self._stale(holder):
        return _describe(holder)
      if self._take_over(generation):
        return None
    holder = self._read()
    return _describe(holder) if holder else "another process"

  def _renew(self) -> None:
    while not self._stop.wait(self.lease_seconds / 3):
      record = dict(self._record or {}, renewed=time.time())
      if self._object is not None:
        if not self._write_object(record, if_generation=self._generation):
          log.error("the lock %s was taken over by another process (this "
                    "one did not renew it for %.0f s); its writes may now "
                    "clash with the new holder's", self.path,
                    self.lease_seconds)
          return
        continue
      tmp = f"{self.path}.renew-{os.getpid()}"
      with open(tmp, "w") as f:
        json.dump(record, f)
      os.replace(tmp, self.path)

  # ---- the job ----------------------------------------------------------------

  def acquire(self) -> "RunLock":
    holder = self._try_acquire() if jax.process_index() == 0 else None
    if jax.process_count() > 1:
      ok = multihost_utils.broadcast_one_to_all(np.int32(holder is None))
      if not bool(ok):
        holder = holder or "another job (see process 0)"
    if holder is not None:
      raise RunLockedError(
          f"{self.directory} is in use by {holder}: wait for it to finish or "
          f"stop it, or use another directory (a dead holder's lock is taken "
          f"over automatically)")
    if self._record is not None:
      self._renewer = threading.Thread(target=self._renew, daemon=True,
                                       name="flan_jax-run-lock")
      self._renewer.start()
    return self

  def release(self) -> None:
    self._stop.set()
    if self._renewer is not None:
      self._renewer.join()
    if self._record is not None:
      holder = self._read()
      if holder and holder.get("pid") == self._record["pid"] and (
          holder.get("started") == self._record["started"]):
        if self._object is not None:
          self._object.delete(self._generation)
        else:
          os.remove(self.path)
      self._record = None
      if self._created_directory:
        storage.remove_if_empty(self.directory)  # a run that stopped at once
        # leaves no trace

  def __enter__(self) -> "RunLock":
    return self.acquire()

  def __exit__(self, *exc) -> None:
    self.release()


def holding_lock(purpose: str, directory_arg: str,
                 file_name: Callable[[dict[str, Any]], str] | None = None):
  """Decorator: the keyword-only function runs holding its directory's lock.

  `directory_arg` names the keyword argument with the directory
  ("model_dir"); `file_name(kwargs)` may choose the lock file's name. The
  signature stays the function's own (gin reads it).
  """

  def decorate(fn):
    setting = f"{fn.__name__}.{directory_arg}"

    @functools.wraps(fn)
    def locked(**kwargs):
      if directory_arg not in kwargs:
        return fn(**kwargs)  # the call's own TypeError names what is missing
      name = file_name(kwargs) if file_name else LOCK_FILE
      with RunLock(kwargs[directory_arg], purpose, setting=setting,
                   file_name=name):
        return fn(**kwargs)

    locked.__signature__ = inspect.signature(fn)
    return locked

  return decorate

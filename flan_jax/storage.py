"""Local paths and gs:// URIs behind one set of calls.

Every file flan_jax writes or reads by path (model dirs, `config.gin`, eval
outputs, reports, conversions, caches) goes through these functions, so a
path may be a local one or a URI such as ``gs://bucket/run``:

    local path      os / shutil / builtins.open, exactly as before
    gs://...        tf.io.gfile (the client TensorBoard, tf.data and, with
                    TensorFlow installed, orbax's etils.epath use), imported
                    only when a URI is used

`os.path.join`, `dirname`, `basename` and `split` already work on URIs
(``os.path.join("gs://b/run", "config.gin") == "gs://b/run/config.gin"``);
`os.path.abspath` does not (``os.path.abspath("gs://b/run")`` is
``<cwd>/gs:/b/run``), so callers use `absolute`.

Atomic writes. A bucket has no rename (gfile's is a copy and a delete), but
one object is written whole or not at all: it appears when its upload ends.
So `write_atomic` writes a local file under a temporary name and renames it,
and writes an object directly. A directory cannot appear at once on object
storage; writers that need that mark completion with a file written last
(`commit_marker`), as orbax does with ``commit_success.txt``.

    >>> absolute("gs://b/run/")
    'gs://b/run'
    >>> is_uri("/tmp/run"), is_uri("gs://b/run")
    (False, True)
"""

from __future__ import annotations

import builtins
import contextlib
import glob as glob_lib
import os
import re
import shutil
import tempfile
from typing import Iterator

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


def is_uri(path: str) -> bool:
  """Whether `path` names object storage (``scheme://...``), not a file."""
  return bool(_URI.match(str(path)))


def _gfile():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.io.gfile


def _not_found(path: str, error: Exception) -> FileNotFoundError:
  return FileNotFoundError(2, f"No such file or object ({error})", path)


def absolute(path: str) -> str:
  """An absolute local path, or the URI without a trailing slash."""
  path = str(path)
  if is_uri(path):
    scheme, rest = path.split("://", 1)
    return f"{scheme}://{rest.rstrip('/')}"
  return os.path.abspath(path)


def exists(path: str) -> bool:
  return _gfile().exists(path) if is_uri(path) else os.path.exists(path)


def isdir(path: str) -> bool:
  """On object storage: whether any object lies under `path`/."""
  return _gfile().isdir(path) if is_uri(path) else os.path.isdir(path)


def isfile(path: str) -> bool:
  if is_uri(path):
    return _gfile().exists(path) and not _gfile().isdir(path)
  return os.path.isfile(path)


def makedirs(path: str) -> None:
  if is_uri(path):
    _gfile().makedirs(path)
  else:
    os.makedirs(path, exist_ok=True)


def listdir(path: str) -> list[str]:
  """Names in a directory (object storage: without trailing slashes)."""
  if is_uri(path):
    return sorted({name.rstrip("/") for name in _gfile().listdir(path)})
  return os.listdir(path)


def glob(pattern: str) -> list[str]:
  return sorted(_gfile().glob(pattern) if is_uri(pattern)
                else glob_lib.glob(pattern))


def read_bytes(path: str) -> bytes:
  if not is_uri(path):
    with builtins.open(path, "rb") as f:
      return f.read()
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  try:
    with _gfile().GFile(path, "rb") as f:
      return f.read()
  except tf.errors.NotFoundError as e:
    raise _not_found(path, e) from None


@contextlib.contextmanager
def open_bytes(path: str) -> Iterator:
  """A binary file object to read `path` in chunks (large files)."""
  if not is_uri(path):
    with builtins.open(path, "rb") as f:
      yield f
    return
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if not _gfile().exists(path):
    raise _not_found(path, tf.errors.NotFoundError(None, None, path))
  with _gfile().GFile(path, "rb") as f:
    yield f


def read_text(path: str) -> str:
  return read_bytes(path).decode("utf-8")


def write_atomic(path: str, data: str | bytes) -> None:
  """Writes `path` whole or not at all (a killed writer leaves no half file).

  Local: a temporary file in the same folder, renamed over `path`. Object
  storage: one upload, which the store makes visible only once complete.
  """
  payload = data.encode("utf-8") if isinstance(data, str) else data
  if is_uri(path):
    with _gfile().GFile(path, "wb") as f:
      f.write(payload)
    return
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = f"{path}.tmp{os.getpid()}"
  with builtins.open(tmp, "wb") as f:
    f.write(payload)
  os.replace(tmp, path)


def copy(source: str, target: str) -> None:
  """Copies one file; either side may be a URI."""
  if is_uri(source) or is_uri(target):
    _gfile().copy(source, target, overwrite=True)
  else:
    shutil.copy(source, target)


def remove(path: str) -> None:
  if is_uri(path):
    _gfile().remove(path)
  else:
    os.remove(path)


def rmtree(path: str) -> None:
  if is_uri(path):
    _gfile().rmtree(path)
  else:
    shutil.rmtree(path)


def files_under(directory: str) -> list[str]:
  """Paths relative to `directory` of every file below it."""
  found = []
  walk = _gfile().walk if is_uri(directory) else os.walk
  for root, _, files in walk(directory):
    relative = root[len(directory):].strip("/")
    found += [os.path.join(relative, name) if relative else name
              for name in files]
  return sorted(found)


def move_directory(source: str, target: str) -> None:
  """Renames a directory; on object storage a copy of every file, then a
  delete of the source (no store renames a prefix at once)."""
  if not is_uri(source):
    os.rename(source, target)
    return
  for name in files_under(source):
    _gfile().copy(os.path.join(source, name), os.path.join(target, name),
                  overwrite=False)
  _gfile().rmtree(source)


def remove_if_empty(directory: str) -> None:
  """Removes an empty directory (on object storage: its folder marker)."""
  if not is_uri(directory):
    if not os.listdir(directory):
      os.rmdir(directory)
    return
  if not listdir(directory):
    marker = directory.rstrip("/") + "/"
    if _gfile().exists(marker):
      _gfile().remove(marker)


@contextlib.contextmanager
def staged_input(path: str) -> Iterator[str]:
  """A local file with `path`'s content, for libraries that read only local
  files (safetensors, tokenizers): `path` itself, or a temporary copy."""
  if not is_uri(path):
    yield path
    return
  with tempfile.TemporaryDirectory(prefix="flan_jax_stage-") as tmp:
    local = os.path.join(tmp, os.path.basename(path))
    try:
      _gfile().copy(path, local)
    except Exception as e:  # pylint: disable=broad-except
      raise _not_found(path, e) from None
    yield local


@contextlib.contextmanager
def staged_output(path: str) -> Iterator[str]:
  """A local file name to write, for libraries that write only local files;
  a URI's file is uploaded (one object, so whole or absent) on success."""
  if not is_uri(path):
    yield path
    return
  with tempfile.TemporaryDirectory(prefix="flan_jax_stage-") as tmp:
    local = os.path.join(tmp, os.path.basename(path))
    yield local
    _gfile().copy(local, path, overwrite=True)


@contextlib.contextmanager
def staged_directory(path: str) -> Iterator[str]:
  """A local copy of directory `path` (itself when local), for readers of
  local files only; a URI's files are downloaded first."""
  if not is_uri(path):
    yield path
    return
  if not isdir(path):
    raise FileNotFoundError(2, "No such directory", path)
  with tempfile.TemporaryDirectory(prefix="flan_jax_stage-") as tmp:
    for name in files_under(path):
      local = os.path.join(tmp, name)
      os.makedirs(os.path.dirname(local), exist_ok=True)
      _gfile().copy(os.path.join(path, name), local, overwrite=True)
    yield tmp


def upload_directory(local_dir: str, target: str) -> None:
  """Copies a local directory's files to a URI, then its commit marker:
  readers take `target` as complete only once the marker exists."""
  for root, _, files in os.walk(local_dir):
    for name in sorted(files):
      source = os.path.join(root, name)
      relative = os.path.relpath(source, local_dir)
      _gfile().copy(source, os.path.join(target, relative), overwrite=True)
  write_atomic(commit_marker(target), "")


COMMIT_MARKER = ".flan_jax_complete"


def commit_marker(directory: str) -> str:
  """The file written last into a directory filled in place on object
  storage: the directory is complete exactly when it exists."""
  return os.path.join(directory, COMMIT_MARKER)

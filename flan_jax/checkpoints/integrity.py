"""Checksums of a checkpoint step's files: recorded at save, verified at restore.

Why our own: orbax and tensorstore do not checksum array data. orbax
writes arrays as zarr chunks inside OCDBT files, zstd-compressed without a
content checksum (with zarr3, orbax's `crc32c` codec guards only the shard
index). A damaged frame sometimes fails to decompress, but a few hundred
overwritten bytes inside a data file often decode to other numbers and
restore without complaint (tests/checkpoints/test_integrity.py shows it).
So every step records the SHA-256 of each file it wrote::

    <dir>/<step>/flan_jax_checksums.json
        {"format": 1, "algorithm": "sha256",
         "files": {"params/ocdbt.process_0/d/03f1...": {"size": 307898,
                                                         "sha256": "9c1e..."},
                   "meta/metadata": {...}, ...}}

written inside the step before orbax commits it (the rename to `<step>`,
or `commit_success.txt` in a bucket), so a committed step always has its
checksums, and `verify` reads the files back before any value is used.
Steps written before checksums were recorded have no such file: they are
restored unverified, with a note.

On several processes each verifies every N-th file and they agree on the
first damaged one, so restoring reads each file about once more in all.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import os
from typing import Iterable, Sequence

import jax
import numpy as np
from jax.experimental import multihost_utils

from flan_jax import storage

MANIFEST = "flan_jax_checksums.json"
FORMAT = 1
# Not recorded: the checksums themselves, and what orbax writes after
# them, at the commit: its commit markers, and its step metadata, which it
# rewrites then with the commit time (it holds no values).
_NOT_RECORDED = frozenset({MANIFEST, "commit_success.txt",
                           "_CHECKPOINT_METADATA"})
_CHUNK = 8 << 20


def _sha256(path: str) -> tuple[int, str]:
  digest, size = hashlib.sha256(), 0
  with storage.open_bytes(path) as f:
    while chunk := f.read(_CHUNK):
      digest.update(chunk)
      size += len(chunk)
  return size, digest.hexdigest()


def _hash_all(step_dir: str, names: Sequence[str]) -> list[tuple[int, str]]:
  # hashlib releases the GIL on large buffers: files hash in parallel.
  with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
    return list(pool.map(lambda n: _sha256(os.path.join(step_dir, n)), names))


def record(step_dir: str) -> int:
  """Writes the step's checksum file; returns the number of files covered."""
  names = [n for n in storage.files_under(step_dir)
           if os.path.basename(n) not in _NOT_RECORDED]
  files = {name: {"size": size, "sha256": digest}
           for name, (size, digest) in zip(names, _hash_all(step_dir, names))}
  storage.write_atomic(os.path.join(step_dir, MANIFEST), json.dumps(
      {"format": FORMAT, "algorithm": "sha256", "files": files}, indent=0,
      sort_keys=True))
  return len(files)


@dataclasses.dataclass(frozen=True)
class Verification:
  """What `verify` found.

  recorded: whether the step has checksums (False: written before flan_jax
    recorded them; nothing was checked).
  damaged: None, or "<file>: <what differs>" for the first file whose
    bytes are not those written.
  """
  recorded: bool
  damaged: str | None = None


def _manifest(step_dir: str) -> dict | None:
  path = os.path.join(step_dir, MANIFEST)
  try:
    text = storage.read_text(path)
  except FileNotFoundError:
    return None
  try:
    manifest = json.loads(text)
    files = manifest["files"]
    if manifest.get("format") != FORMAT or not isinstance(files, dict):
      raise ValueError(f"format {manifest.get('format')!r}")
    return files
  except (ValueError, KeyError, TypeError) as e:
    # The checksum file is part of the step: damaged too.
    return {MANIFEST: {"unreadable": f"{type(e).__name__}: {e}"}}


def _in_items(name: str, items: Iterable[str] | None) -> bool:
  if items is None or "/" not in name:
    return True  # top-level files (orbax's step metadata) always
  return name.split("/", 1)[0] in set(items)


def _check(step_dir: str, name: str, expected: dict) -> str | None:
  path = os.path.join(step_dir, name)
  if "unreadable" in expected:
    return f"{path}: checksum file unreadable ({expected['unreadable']})"
  try:
    size, digest = _sha256(path)
  except FileNotFoundError:
    return f"{path}: missing (it was written with the step)"
  if size != expected["size"]:
    return (f"{path}: {size} bytes, but {expected['size']} were written")
  if digest != expected["sha256"]:
    return (f"{path}: its SHA-256 differs from the one recorded at save "
            f"(the bytes changed after the step was written)")
  return None


def verify(step_dir: str, items: Iterable[str] | None = None
           ) -> Verification:
  """Reads the step's files (of `items`, e.g. ["params", "meta"], or all)
  back and compares them with the checksums recorded at save.

  Every process must call it (on several, they share the reading).
  """
  files = _manifest(step_dir)
  if files is None:
    return Verification(recorded=False)
  names = sorted(n for n in files if _in_items(n, items))
  count, index = jax.process_count(), jax.process_index()
  mine = names[index::count]
  first_bad = -1
  for position, name in enumerate(mine):
    if _check(step_dir, name, files[name]) is not None:
      first_bad = index + position * count
      break
  if count > 1:
    found = np.asarray(multihost_utils.process_allgather(
        np.int64(first_bad)))
    bad = found[found >= 0]
    first_bad = int(bad.min()) if bad.size else -1
  if first_bad < 0:
    return Verification(recorded=True)
  name = names[first_bad]
  return Verification(recorded=True,
                      damaged=_check(step_dir, name, files[name]) or
                      f"{os.path.join(step_dir, name)}: unreadable")

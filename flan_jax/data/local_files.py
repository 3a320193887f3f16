"""Sources over a user's local copy of a dataset, read at run time.

Benchmarks such as MMLU and BIG-Bench Hard are not shipped with flan_jax:
the user keeps a copy in the benchmark's public file layout and names its
folder in an environment variable. `LocalFileSource` registers its tasks
without touching the files (it declares the fields it yields), reads them
only when a split is asked for, and says in one line what is missing and
which variable to set::

    source = LocalFileSource(
        read_split,                      # split -> [{"question": ..., ...}]
        splits=("train", "validation", "test"),
        fields=("question", "answer"))   # all scalar strings

    LocalDataMissingError: MMLU: /data/mmlu has no test/anatomy_test.csv;
    set FLAN_JAX_MMLU_DIR to the folder that holds dev/, val/ and test/
"""

from __future__ import annotations

import os
from typing import Callable, Mapping, Sequence

import seqio
import tensorflow as tf

from flan_jax import errors

Row = Mapping[str, str]


class LocalDataMissingError(errors.FlanJaxError, FileNotFoundError):
  """A local dataset's files are not where the user said they are."""


def folder_from_env(variable: str, dataset: str, what: str) -> str:
  """The folder the user named in `variable`, or a one-line error saying
  which variable to set to `what` (e.g. "your copy of the release")."""
  folder = os.environ.get(variable)
  if not folder:
    raise LocalDataMissingError(f"{dataset}: set {variable} to {what}")
  return folder


class LocalFileSource(seqio.FunctionDataSource):
  """A seqio source whose examples come from `read(split)` (scalar strings).

  Args:
    read: split name -> the split's rows, each a dict of the `fields`;
      raises `LocalDataMissingError` when the files are missing.
    splits: the split names.
    fields: the (string) fields of every row.
  """

  def __init__(self, read: Callable[[str], Sequence[Row]], *,
               splits: Sequence[str], fields: Sequence[str]):
    self._read = read
    self._fields = tuple(fields)
    super().__init__(dataset_fn=self._dataset, splits=tuple(splits))

  @property
  def element_spec(self) -> dict[str, tf.TensorSpec]:
    """What every example holds; registration reads this, not the files."""
    return {name: tf.TensorSpec([], tf.string) for name in self._fields}

  def _dataset(self, split: str, shuffle_files: bool = False,
               seed: int | None = None) -> tf.data.Dataset:
    del shuffle_files, seed  # small files, read in order
    rows = list(self._read(split))
    columns = {name: [str(row[name]) for row in rows]
               for name in self._fields}
    if not rows:
      return tf.data.Dataset.from_tensor_slices(
          {name: tf.constant([], tf.string) for name in self._fields})
    return tf.data.Dataset.from_tensor_slices(columns)

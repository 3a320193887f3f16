"""Expected mistakes: the one error family every script reports in one line.

A user's run can go wrong in two ways. Unexpected failures (a bug, a broken
disk) keep their traceback. Expected mistakes (a misspelt name, a path that
does not exist, a number where a word was meant, a checkpoint written by
another model) derive from `FlanJaxError`, whose message reads

    what is wrong: the setting or file: what to do

and the scripts (`flan_jax.cli.startup`) print `<script>: <message>` and exit
with status 1, or 2 for a command-line usage mistake. For example:

    train: train.num_train_steps is -5: it must be a whole number above 0:
    set --gin.TRAIN_STEPS

Each package defines the errors it raises (`CheckpointMismatchError`,
`EvalJobError`, `TemplateError`, ...) as subclasses, usually also of the
built-in exception they refine (ValueError, FileNotFoundError), so callers
that caught those keep working. Every package may import this module.
"""

from __future__ import annotations

import os
from typing import Any


class FlanJaxError(Exception):
  """An expected mistake, said in one line (see the module docstring)."""


class ConfigError(FlanJaxError, ValueError):
  """A setting has a value the run cannot use.

  Attributes:
    setting: the parameter it concerns ("train.num_train_steps"), so the
      command line can name the gin macro a user bound to it.
  """

  def __init__(self, message: str, *, setting: str | None = None):
    super().__init__(message)
    self.setting = setting


def require_writable_file(path: str, setting: str) -> str:
  """`path` if a file can be written there (its folder may not exist yet)."""
  if os.path.isdir(path):
    raise ConfigError(f"{setting} is {path}, which is a directory: give a "
                      "file name", setting=setting)
  folder = os.path.dirname(os.path.abspath(path))
  while not os.path.exists(folder):
    folder = os.path.dirname(folder)
  if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
    raise ConfigError(f"{setting} is {path}, which cannot be written "
                      f"({folder} is not a writable folder): give another "
                      "path", setting=setting)
  return path


def _is_whole(value: Any) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def require_positive_int(value: Any, setting: str, what: str) -> int:
  """`value` if it is a whole number above 0, else a ConfigError."""
  if not _is_whole(value) or value < 1:
    raise ConfigError(f"{setting} is {value!r}: it must be a whole number "
                      f"above 0 ({what})", setting=setting)
  return value


def require_number(value: Any, setting: str, what: str) -> float:
  """`value` if it is a (non-boolean) real number, else a ConfigError."""
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise ConfigError(f"{setting} is {value!r}: it must be a number ({what})",
                      setting=setting)
  return value


class MalformedFileError(FlanJaxError, ValueError):
  """A file the user pointed at that does not read as its format.

  Its message reads `<file>:<line or key>: expected ..., found ...`.
  """

  def __init__(self, path: str, where: Any, expected: str, found: str):
    super().__init__(malformed(path, where, expected, found))
    self.path = path


def malformed(path: str, where: Any, expected: str, found: str) -> str:
  """`<file>:<line or key>: expected ..., found ...` (found shortened)."""
  found = found if len(found) <= 80 else found[:77] + "..."
  return f"{path}:{where}: expected {expected}, found {found}"

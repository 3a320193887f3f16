"""Task and mixture names: look one up, or say in one line what is close.

A misspelt name is the commonest mistake with a registry of thousands of
tasks; every script and job looks names up here, so the error is the same
everywhere: the closest registered names, and, when nothing of the name's
collection is registered, which module or setting would register it.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable

import seqio

from flan_jax import errors

# name prefix -> what registers such names (for the unknown-name error).
_NAME_HINTS: dict[str, str] = {}


class UnknownTaskOrMixtureError(errors.FlanJaxError, KeyError):
  """A task or mixture name that nothing registered."""

  def __str__(self) -> str:  # KeyError would quote the whole message
    return str(self.args[0])


def closest_names(name: str, count: int = 5,
                  keep: Callable[[Any], bool] | None = None) -> list[str]:
  """Registered seqio task and mixture names that look most like `name`;
  with `keep`, only those whose task or mixture it accepts."""
  names = [*seqio.TaskRegistry.names(), *seqio.MixtureRegistry.names()]
  close = difflib.get_close_matches(name, names, n=len(names), cutoff=0.5)
  if keep is not None:
    close = [n for n in close if keep(seqio.get_mixture_or_task(n))]
  return close[:count]


def get_task_or_mixture(name: str, suggest: Callable[[Any], bool] | None = None
                        ) -> seqio.Task | seqio.Mixture:
  """seqio.get_mixture_or_task, with a one-line error suggesting names.

  Args:
    name: a registered task or mixture name.
    suggest: which registered tasks and mixtures the error may suggest
      (e.g. an eval job suggests only those with metrics); all by default.

  Raises:
    UnknownTaskOrMixtureError: `name` is not registered; the message lists
      the closest registered names.
  """
  if name in seqio.MixtureRegistry.names() or name in seqio.TaskRegistry.names():
    return seqio.get_mixture_or_task(name)
  close = closest_names(name, keep=suggest)
  hint = (f"closest registered names: {', '.join(close)}" if close else
          "no registered name is close")
  collection = name.split(":")[0] + ":"
  imported = any(n.startswith(collection) for n in (
      *seqio.TaskRegistry.names(), *seqio.MixtureRegistry.names()))
  where = next((h for prefix, h in sorted(_NAME_HINTS.items(),
                                          key=lambda i: -len(i[0]))
                if name.startswith(prefix)),
               # Names of its collection are registered: a misspelling.
               None if imported else "is the module that registers it "
               "imported? e.g. --module=tasks.flan2021")
  raise UnknownTaskOrMixtureError(
      f"unknown task or mixture '{name}'; {hint}"
      f"{f' ({where})' if where else ''}") from None


def add_name_hint(prefix: str, hint: str) -> None:
  """Says, in the unknown-name error, what registers names like `prefix...`.

  For names registered only once local data is configured, e.g.
  add_name_hint("flan2022:prerendered:", "set FLAN2022_DIR = '<dir>'").
  """
  _NAME_HINTS[prefix] = hint

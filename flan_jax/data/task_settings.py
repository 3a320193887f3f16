"""Run-time settings of the task collections: template set and local data.

Task modules register their tasks when imported, but some choices are only
known once a run's configuration is read: which templates to use (this
project's own, or the FLAN paper's from a local checkout) and where local
data lives (the release's chain-of-thought files, pre-rendered Flan 2022
submixes). A collection registers a hook here; `configure` stores the
settings and calls every hook, which re-registers what changed. A hook
registered after `configure` ran is called at once, so import order does not
matter.

The scripts call `configure` right after gin is parsed, with the gin macros
(`gin/runs/task_data.gin`)::

    TEMPLATE_SET = 'paper'                 # or 'ours' (the default)
    FLAN_CHECKOUT = '/src/FLAN'            # a clone of google-research/FLAN
    FLAN2022_DIR = '/data/flan2022'        # <dir>/<submix>/ pre-rendered
    COT_DATA_DIR = None         # default: <FLAN_CHECKOUT>/flan/v2/cot_data

Library users call it directly::

    import tasks.flan2021
    task_settings.configure(template_set="paper", flan_checkout="/src/FLAN")

A mistake (unknown template set, 'paper' without a checkout, a checkout
without the templates file) raises `TaskSettingsError` (a ValueError), one
line naming the setting and the fix; the scripts print it as a usage error.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from typing import Callable, Mapping, Sequence

from flan_jax import errors
from flan_jax.data import upstream_templates

OURS, PAPER = "ours", "paper"
TEMPLATE_SETS = (OURS, PAPER)


class TaskSettingsError(errors.FlanJaxError, ValueError):
  """A task setting is wrong; the message names it and the fix."""


@dataclasses.dataclass(frozen=True)
class TaskSettings:
  """What the task collections read at run time.

  Attributes:
    template_set: "ours" (this project's templates) or "paper" (the FLAN
      release's, read from `flan_checkout`).
    flan_checkout: a local clone of github.com/google-research/FLAN.
    prerendered: pre-rendered Flan 2022 submixes: a directory holding one
      folder per submix (named as the submix), or submix -> folder.
    prerendered_template_types: keep only rows of these template types
      (e.g. ("zsopt",)); None keeps every row.
    cot_dir: folder of chain-of-thought TSV files (default: the checkout's
      flan/v2/cot_data).
  """
  template_set: str = OURS
  flan_checkout: str | None = None
  prerendered: str | tuple[tuple[str, str], ...] | None = None
  prerendered_template_types: tuple[str, ...] | None = None
  cot_dir: str | None = None


Hook = Callable[[TaskSettings], None]

_current = TaskSettings()
_hooks: list[Hook] = []


def current() -> TaskSettings:
  return _current


def on_configure(hook: Hook) -> None:
  """Calls `hook(settings)` on every `configure`, and now if already set."""
  _hooks.append(hook)
  if _current != TaskSettings():
    hook(_current)


def configure(*, template_set: str = OURS,
              flan_checkout: str | None = None,
              prerendered: str | Mapping[str, str] | None = None,
              prerendered_template_types: Sequence[str] | None = None,
              cot_dir: str | None = None) -> TaskSettings:
  """Sets the run's task settings and re-registers what depends on them.

  Raises:
    TaskSettingsError: a setting is wrong (one line naming the fix).
  """
  global _current
  if template_set not in TEMPLATE_SETS:
    close = difflib.get_close_matches(str(template_set), TEMPLATE_SETS, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise TaskSettingsError(
        f"TEMPLATE_SET = {template_set!r} is not a template set; {hint}"
        f"choose one of {', '.join(repr(t) for t in TEMPLATE_SETS)}")
  if template_set == PAPER and not flan_checkout:
    raise TaskSettingsError(
        "TEMPLATE_SET = 'paper' reads the FLAN release's templates from a "
        "local checkout: also set FLAN_CHECKOUT = '<dir>' (git clone "
        "https://github.com/google-research/FLAN <dir>)")
  if template_set == PAPER:  # fail now, not half-way through registration
    for relative in (upstream_templates.FLAN2021_FILE,
                     upstream_templates.FLAN2022_FILE):
      upstream_templates.checkout_file(flan_checkout, relative)
  if cot_dir and not os.path.isdir(cot_dir):
    raise TaskSettingsError(f"COT_DATA_DIR = '{cot_dir}' is not a directory; "
                            "point it at a folder of <name>_train.tsv files")
  if isinstance(prerendered, Mapping):
    prerendered = tuple(sorted(prerendered.items()))
  settings = TaskSettings(
      template_set=template_set, flan_checkout=flan_checkout or None,
      prerendered=prerendered or None,
      prerendered_template_types=(tuple(prerendered_template_types)
                                  if prerendered_template_types else None),
      cot_dir=cot_dir or None)
  _current = settings
  for hook in list(_hooks):
    hook(settings)
  return settings

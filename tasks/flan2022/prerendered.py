"""The published, pre-rendered Flan 2022 submixes, from local directories.

Download the submixes once (they are Hugging Face hub datasets, e.g.
``conceptofmind/flan2021_submix_original``; see README "Flan 2022
Collection"), one directory each, named as the submix::

    <FLAN2022_DIR>/flan2021_submix/   <FLAN2022_DIR>/t0_submix/
    <FLAN2022_DIR>/niv2_submix/       <FLAN2022_DIR>/cot_submix/
    <FLAN2022_DIR>/dialog_submix/

(JSONL, Parquet or `datasets` save_to_disk, columns inputs, targets,
task_name, template_type: `flan_jax.data.prerendered`). With the gin macro
FLAN2022_DIR (or ``task_settings.configure(prerendered=...)``, which also
takes {submix: directory}) each directory present registers::

    flan2022:prerendered:<submix>:<task>:train     one per task_name
    flan2022:prerendered:<submix>:<task>:t0:gen    (when it has a test split)
    flan2022:prerendered:<submix>                  examples-proportional,
                                                   capped per task (FLAN 30k,
                                                   T0 20k, NIv2 5k, CoT 100k,
                                                   dialog 200k)
    flan2022:prerendered:<submix>:eval             its generation tasks

and, when all five are present, the final Flan 2022 mixture
``flan2022:prerendered:flan2022_submix`` (40 / 32 / 20 / 5 / 3%).
``task_data.prerendered_template_types = ['zsopt']`` keeps only rows of
those template types.
"""

from __future__ import annotations

import logging
import os
from typing import Mapping

from flan_jax.data import lookup
from flan_jax.data import mixtures
from flan_jax.data import prerendered
from flan_jax.data import registry
from flan_jax.data import task_settings
from tasks.flan2022 import common

log = logging.getLogger("flan_jax")
C = common.COLLECTION
PREFIX = f"{C}:prerendered:"
FINAL_MIXTURE = f"{PREFIX}{common.FLAN2022_SUBMIX}"


def mixture_name(submix: str) -> str:
  return f"{PREFIX}{submix}"


def submix_directories(setting) -> dict[str, str]:
  """submix -> directory, from a root directory or a mapping."""
  if isinstance(setting, str):
    if not os.path.isdir(setting):
      raise prerendered.PrerenderedDataError(
          f"FLAN2022_DIR '{setting}' is not a directory")
    found = {s: os.path.join(setting, s) for s in common.SUBMIX_RATES
             if os.path.isdir(os.path.join(setting, s))}
    if not found:
      raise prerendered.PrerenderedDataError(
          f"FLAN2022_DIR '{setting}' holds none of the submix folders "
          f"{', '.join(common.SUBMIX_RATES)}; put each submix in "
          f"{setting}/<submix>/")
    return found
  directories = dict(setting)
  unknown = [s for s in directories if s not in common.SUBMIX_RATES]
  if unknown:
    raise prerendered.PrerenderedDataError(
        f"unknown Flan 2022 submix {unknown[0]!r}; submixes: "
        f"{', '.join(common.SUBMIX_RATES)}")
  return directories


_APPLIED: list = [None]
REGISTERED: dict[str, prerendered.PrerenderedTasks] = {}


def register(directories: Mapping[str, str], template_types=None,
             cache_dir: str | None = None
             ) -> dict[str, prerendered.PrerenderedTasks]:
  """Registers each submix directory's tasks and mixtures.

  `cache_dir`: where `datasets` keeps its Arrow copy of Parquet and JSON
  files (default: its own, HF_DATASETS_CACHE).
  """
  for tasks in REGISTERED.values():
    for entry in tasks.datasets.values():
      registry.unregister_dataset(entry.key)
  REGISTERED.clear()
  for submix, directory in sorted(directories.items()):
    tasks = prerendered.register_prerendered(
        directory, collection=C, prefix=f"prerendered:{submix}:",
        max_examples=common.SUBMIX_CAPS[submix],
        mixture=mixture_name(submix), template_types=template_types,
        overwrite=True, cache_dir=cache_dir)
    REGISTERED[submix] = tasks
    evaluated = [e.key for e in tasks.datasets.values()
                 if "test" in e.spec.source.splits]
    if evaluated:
      mixtures.register_eval_mixture(f"{mixture_name(submix)}:eval",
                                     evaluated, overwrite=True)
    log.info("flan2022: %s from %s: %d tasks", submix, directory,
             len(tasks.datasets))
  missing = [s for s in common.SUBMIX_RATES if s not in REGISTERED]
  if missing:
    log.info("flan2022: %s not registered (submixes missing: %s)",
             FINAL_MIXTURE, ", ".join(missing))
  else:
    mixtures.register_mixture_of_mixtures(
        FINAL_MIXTURE, {mixture_name(s): rate
                        for s, rate in common.SUBMIX_RATES.items()},
        overwrite=True)
  return REGISTERED


def _on_configure(settings: task_settings.TaskSettings) -> None:
  wanted = (settings.prerendered, settings.prerendered_template_types)
  if settings.prerendered is None or _APPLIED[0] == wanted:
    return
  register(submix_directories(settings.prerendered),
           settings.prerendered_template_types)
  _APPLIED[0] = wanted


lookup.add_name_hint(
    PREFIX, "pre-rendered submixes are registered from local directories: "
    "set FLAN2022_DIR = '<dir>' holding one folder per submix")
task_settings.on_configure(_on_configure)

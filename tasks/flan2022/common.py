"""Facts of the Flan 2022 Collection this package registers against.

Sources (see docs/flan2022.md): Longpre et al., 2023, "The Flan Collection"
and the public release's ``flan/v2/mixtures.py`` and ``run_example.py``.

- Submixes and their shares of the final mixture: `SUBMIX_RATES`.
- Per-task example caps of examples-proportional mixing in each submix:
  `SUBMIX_CAPS` (FLAN 30k, T0 20k, NIv2 5k, CoT 100k, dialog 200k).
- Template types in each submix: the flan2021 and t0 submixes mix all four
  types equally, the CoT, NIv2 and dialog submixes zsopt and fsopt equally
  (they have no "no options" versions): `SUBMIX_TYPES`.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from flan_jax.data import mixtures
from flan_jax.data import template_types

COLLECTION = "flan2022"
FLAN2021_SUBMIX = "flan2021_submix"
T0_SUBMIX = "t0_submix"
NIV2_SUBMIX = "niv2_submix"
COT_SUBMIX = "cot_submix"
DIALOG_SUBMIX = "dialog_submix"
FLAN2022_SUBMIX = "flan2022_submix"  # the final mixture of the five

SUBMIX_RATES = {FLAN2021_SUBMIX: 0.4, T0_SUBMIX: 0.32, NIV2_SUBMIX: 0.2,
                COT_SUBMIX: 0.05, DIALOG_SUBMIX: 0.03}
SUBMIX_CAPS = {FLAN2021_SUBMIX: 30_000, T0_SUBMIX: 20_000,
               NIV2_SUBMIX: 5_000, COT_SUBMIX: 100_000,
               DIALOG_SUBMIX: 200_000}
_ALL = template_types.TEMPLATE_TYPES
_WITH_OPTIONS = (template_types.ZSOPT, template_types.FSOPT)
SUBMIX_TYPES = {FLAN2021_SUBMIX: _ALL, T0_SUBMIX: _ALL,
                NIV2_SUBMIX: _WITH_OPTIONS, COT_SUBMIX: _WITH_OPTIONS,
                DIALOG_SUBMIX: _WITH_OPTIONS}

# cluster -> dataset names ("rte:zsopt", ...), from every module here; the
# eval job's reports group datasets by them.
_CLUSTERS: dict[str, dict[str, tuple[str, ...]]] = {}


def submix_name(submix: str, template_type: str | None = None) -> str:
  """flan2022:<submix> or flan2022:<submix>:<type>."""
  suffix = f":{template_type}" if template_type else ""
  return f"{COLLECTION}:{submix}{suffix}"


def register_typed_submix(submix: str,
                          train_tasks: Mapping[str, Sequence[str]], *,
                          overwrite: bool) -> list[str]:
  """One examples-proportional mixture per type, then the types equally.

  `train_tasks` maps a template type to its training task names; types
  with no task are left out (and so do not take a share).
  """
  names = []
  for template_type, tasks in train_tasks.items():
    if tasks:
      name = submix_name(submix, template_type)
      mixtures.register_task_mixture(name, tasks,
                                     max_examples=SUBMIX_CAPS[submix],
                                     overwrite=overwrite)
      names.append(name)
  mixtures.register_mixture_of_mixtures(
      submix_name(submix), {name: 1.0 for name in names}, overwrite=overwrite)
  return names


def set_clusters(owner: str, clusters: Mapping[str, Sequence[str]]) -> None:
  """Records one module's clusters; reports see the union of all modules'."""
  _CLUSTERS[owner] = {c: tuple(ds) for c, ds in clusters.items()}
  merged: dict[str, list[str]] = {}
  for part in _CLUSTERS.values():
    for cluster, names in part.items():
      merged.setdefault(cluster, []).extend(names)
  mixtures.register_clusters(COLLECTION, merged)

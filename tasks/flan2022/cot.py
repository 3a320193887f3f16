"""Flan 2022's CoT submix: the release's chain-of-thought files as seqio tasks.

The data is read from a local directory of ``<name>_train.tsv`` files (the
release's ``flan/v2/cot_data``): COT_DATA_DIR, or ``<FLAN_CHECKOUT>/flan/v2/
cot_data`` when only FLAN_CHECKOUT is set. For each file present::

    flan2022:cot_<name>:zsopt:train        zero-shot chain of thought
    flan2022:cot_<name>:fsopt:train        five solved exemplars first
    flan2022:cot_<name>:<type>:t<i>:gen    generation; the final answer is
                                           read from the generated rationale
                                           and scored by exact and numeric
                                           match (`chain_of_thought`)
    flan2022:cot_submix:<type>             examples-proportional, capped at
                                           100,000 per task
    flan2022:cot_submix                    zsopt and fsopt at 50% each
    flan2022:eval:cot                      every CoT eval task

The last lines of each file are held out as test and validation
(`flan_jax.data.chain_of_thought.split_rows`). Targets put the answer after
the rationale. Our templates are below; with TEMPLATE_SET = 'paper' the
release's (``flan/v2/templates.py``: PATTERNS and FEWSHOT_PATTERNS under
``cot_<name>`` or ``stream_<name>``, and the input-inversion patterns as
the inverted templates used by the input inversion switch).
"""

from __future__ import annotations

import logging
import os

from flan_jax.data import chain_of_thought as cot
from flan_jax.data import lookup
from flan_jax.data import mixtures
from flan_jax.data import paper_templates
from flan_jax.data import registry
from flan_jax.data import task_settings
from flan_jax.data import template_types
from flan_jax.data import upstream_templates
from flan_jax.data.templates import Template
from flan_jax.data.template_types import TypeTemplates
from tasks.flan2022 import common

log = logging.getLogger("flan_jax")
C = common.COLLECTION
SUBMIX = common.COT_SUBMIX
TYPES = common.SUBMIX_TYPES[SUBMIX]
FIELDS = frozenset(cot.FIELDS)
EVAL_MIXTURE = f"{C}:eval:cot"

TEMPLATES = (
    Template("{question}\n\nWork it out step by step, then state the answer.",
             "{chain_of_thought}\nAnswer: {answer}"),
    Template("Question: {question}\nReason it through before you answer.",
             "{chain_of_thought}\nAnswer: {answer}"),
    Template("{question}\nShow your reasoning first; give the answer on the "
             "last line.", "{chain_of_thought}\nAnswer: {answer}"),
    Template("Solve this, explaining each step.\n{question}",
             "{chain_of_thought}\nAnswer: {answer}"),
    Template("Think carefully about the following.\n{question}\nWhat is "
             "the answer, and why?", "{chain_of_thought}\nAnswer: {answer}"),
    Template("Reasoning: {chain_of_thought}\nAnswer: {answer}\n\nWrite the "
             "question that this reasoning answers.", "{question}",
             inverted=True),
    Template("The answer is {answer}, because {chain_of_thought}\nWhat was "
             "the question?", "{question}", inverted=True),
)
_ANSWER_FIELDS = frozenset({"chain_of_thought", "answer"})


def release_keys(name: str) -> tuple[str, str]:
  """(pattern key, inversion pattern key) of a CoT file in the release."""
  if name in ("aqua", "qed"):
    return f"stream_{name}", f"stream_input_inversion_{name}"
  return f"cot_{name}", f"cot_input_inversion_{name}"


def cot_directory(settings: task_settings.TaskSettings) -> str | None:
  if settings.cot_dir:
    return settings.cot_dir
  if settings.flan_checkout:
    return os.path.join(settings.flan_checkout, upstream_templates.COT_DATA_DIR)
  return None


def _release_templates(name: str, release) -> dict[str, TypeTemplates]:
  key, inversion_key = release_keys(name)
  mapping = paper_templates.UpstreamKey(key)
  inverted = []
  if inversion_key in release.patterns:
    inverted = [t.__class__(t.inputs, t.targets, inverted=True) for t in
                paper_templates.convert(
                    release.patterns[inversion_key], mapping,
                    available=FIELDS, answer_fields=_ANSWER_FIELDS).templates]
  chosen = {}
  for template_type, patterns in ((template_types.ZSOPT, release.patterns),
                                  (template_types.FSOPT, release.few_shot)):
    if key not in patterns:
      log.warning("flan2022: %s has no %s templates for cot_%s; using this "
                  "project's", upstream_templates.FLAN2022_FILE, template_type,
                  name)
      continue
    conversion = paper_templates.convert(
        patterns[key], mapping, available=FIELDS, answer_fields=_ANSWER_FIELDS)
    formats = conversion.formats
    if formats is not None:
      formats = (*formats, *([upstream_templates.FewShotFormat()] *
                             len(inverted)))
    chosen[template_type] = TypeTemplates(
        (*conversion.templates, *inverted), formats)
  return chosen


_APPLIED: list = [None]
REGISTERED: dict[str, dict[str, registry.RegisteredDataset]] = {}


def register(directory: str, template_set: str = task_settings.OURS,
             checkout: str | None = None) -> dict:
  """Registers the CoT tasks of every file in `directory` and the submix."""
  release = (upstream_templates.read_flan2022(checkout)
             if template_set == task_settings.PAPER else None)
  files = cot.cot_files(directory)
  if not files:
    raise cot.CotDataError(f"chain-of-thought directory {directory} holds "
                           f"no <name>{cot.COT_FILE_SUFFIX} file")
  for entries in REGISTERED.values():
    for entry in entries.values():
      registry.unregister_dataset(entry.key)
  REGISTERED.clear()
  ours = {t: TypeTemplates(TEMPLATES) for t in TYPES}
  for name, path in files.items():
    spec = registry.DatasetSpec(
        name=f"cot_{name}", collection=C, source=cot.cot_source(path),
        templates=TEMPLATES, metric_fns=(cot.cot_metrics,),
        postprocess_fn=cot.cot_postprocessor)
    templates = dict(ours)
    if release is not None:
      templates.update(_release_templates(name, release))
    REGISTERED[name] = template_types.register_template_types(
        spec, collection=C, fields=FIELDS, templates=templates)
  train = {t: [e[t].train_task for e in REGISTERED.values() if t in e]
           for t in TYPES}
  common.register_typed_submix(SUBMIX, train, overwrite=True)
  mixtures.register_eval_mixture(
      EVAL_MIXTURE, [e.key for entries in REGISTERED.values()
                     for e in entries.values()], overwrite=True)
  common.set_clusters(SUBMIX, {"cot": [e.spec.name for entries in
                                       REGISTERED.values()
                                       for e in entries.values()]})
  missing = [n for n in cot.COT_NAMES if n not in files]
  log.info("flan2022: CoT tasks from %s: %s%s", directory, ", ".join(files),
           f" (not found: {', '.join(missing)})" if missing else "")
  return REGISTERED


def _on_configure(settings: task_settings.TaskSettings) -> None:
  directory = cot_directory(settings)
  wanted = (directory, settings.template_set, settings.flan_checkout)
  if directory is None or _APPLIED[0] == wanted:
    return
  if not settings.cot_dir and not os.path.isdir(directory):
    # Only a checkout was given, for its templates: CoT is optional there.
    log.info("flan2022: no CoT tasks (%s is not a directory)", directory)
    return
  register(directory, settings.template_set, settings.flan_checkout)
  _APPLIED[0] = wanted


_HINT = ("CoT tasks are registered from local files: set COT_DATA_DIR = "
         "'<dir of <name>_train.tsv>' or FLAN_CHECKOUT = '<dir>' (its "
         "flan/v2/cot_data)")
lookup.add_name_hint(f"{C}:cot", _HINT)
lookup.add_name_hint(EVAL_MIXTURE, _HINT)
task_settings.on_configure(_on_configure)

"""Contamination check (FLAN, Appendix C): eval examples seen in training.

For every dataset of an eval mixture, an example is *dirty* when the text
of its inputs shares a word n-gram (13 by default, as the paper and GPT-3)
with any training example of a mixture or task, after normalisation
(`flan_jax.data.ngrams`: lower case, punctuation and spacing removed).

What is compared. An eval example's inputs are its fields that the
dataset's templates fill in (a review, a premise, a passage; not the answer
options), each field on its own, so that template wording, which every
example of a seen dataset shares with its training examples, never counts
as an overlap. The training side is everything the model read and wrote:
every training example's rendered inputs and targets (for a pretraining
task, the whole document). A field of at least n words is checked by its
n-grams; a shorter one of at least `min_words` (8) words is looked for
whole; examples with no field that long are reported as *unchecked* and
count as clean. For example, with n = 13 and a reading passage of exactly
13 words::

    eval (qa_home, test)  "Ben lives in Rome. Ben is a baker. Ben has a red cup."
    training (qa_job)     "... Ben lives in Rome. Ben is a baker. Ben has a
                           red cup.\\nWhat is Ben's job?"
    -> the qa_home example is dirty: its passage occurs whole in training.

The report (`write_report`, JSON) lists each dataset's dirty example
indices (positions in the eval split, the `idx` of its rank-classification
rows), so an eval job given it (`evaluate(contamination=...)`) scores every
task on all examples and on the clean ones.
"""

from __future__ import annotations

import hashlib
import json
import logging
import string
import time
from typing import Any, Iterator, Mapping

import numpy as np
import seqio

from flan_jax import errors
from flan_jax.data import lookup
from flan_jax.data import ngrams
from flan_jax.data import registry
from flan_jax.data.templates import OPTIONS_SLOT
from flan_jax.evaluation import outputs

log = logging.getLogger("flan_jax")

DEFAULT_NGRAM = 13
DEFAULT_MIN_WORDS = 8


class ContaminationError(errors.FlanJaxError, ValueError):
  """A report that does not fit the job (another split, missing dataset)."""


def _text(value) -> str:
  if isinstance(value, bytes):
    return value.decode("utf-8")
  if isinstance(value, np.ndarray):  # a list feature, as numpy yields it
    value = value.tolist()
  if isinstance(value, (list, tuple)):
    return " ".join(_text(v) for v in value)
  return str(value)


def input_fields(spec: registry.DatasetSpec) -> list[str]:
  """The fields the dataset's (non-inverted) templates put in inputs,
  except the answer options."""
  fields = []
  for template in spec.templates:
    if template.inverted:
      continue
    for _, field, _, _ in string.Formatter().parse(template.inputs):
      if field and field != OPTIONS_SLOT and field not in fields:
        fields.append(field)
  return fields


def eval_datasets(eval_mixture: str) -> list[str]:
  """Dataset keys of an eval mixture's tasks (registered datasets only)."""
  keys = []
  for task in seqio.get_subtasks(lookup.get_task_or_mixture(eval_mixture)):
    try:
      info = registry.describe_task(task.name)
    except KeyError:
      log.warning("%s was not registered by register_dataset; not checked",
                  task.name)
      continue
    key = f"{info.collection}:{info.dataset}"
    if key not in keys:
      keys.append(key)
  return keys


def training_texts(training: str, max_examples_per_task: int | None = None
                   ) -> Iterator[str]:
  """Every text a mixture's (or task's) training examples hold."""
  for task in seqio.get_subtasks(lookup.get_task_or_mixture(training)):
    ds = task.get_dataset(sequence_length=None, split="train", shuffle=False,
                          use_cached=False, seed=0)
    if max_examples_per_task is not None:
      ds = ds.take(max_examples_per_task)
    for row in ds.as_numpy_iterator():
      for key in ("inputs_pretokenized", "targets_pretokenized"):
        if key in row:
          yield _text(row[key])


def check(training: str, eval_mixture: str, *, split: str = "test",
          n: int = DEFAULT_NGRAM, min_words: int = DEFAULT_MIN_WORDS,
          max_training_examples_per_task: int | None = None
          ) -> dict[str, Any]:
  """The contamination report of `eval_mixture` against `training`."""
  started = time.perf_counter()
  segments = ngrams.Segments(n, min_words)
  # dataset -> per example: its grams (empty: unchecked)
  per_example: dict[str, list[list[ngrams.Gram]]] = {}
  fields_of: dict[str, list[str]] = {}
  for key in eval_datasets(eval_mixture):
    spec = registry.get_dataset(key).spec
    fields_of[key] = input_fields(spec)
    examples = registry.prepared_dataset(spec, split).as_numpy_iterator()
    per_example[key] = [
        [g for f in fields_of[key] for g in segments.add(_text(ex[f]))]
        for ex in examples]
  found: set[ngrams.Gram] = set()
  count = 0
  for text in training_texts(training, max_training_examples_per_task):
    found |= segments.found_in(text)
    count += 1
  datasets = {}
  for key, grams in per_example.items():
    dirty = [i for i, g in enumerate(grams) if any(x in found for x in g)]
    sample = next((" ".join(x) for i in dirty for x in grams[i]
                   if x in found), None)
    datasets[key] = {"examples": len(grams), "dirty": dirty,
                     "unchecked": sum(1 for g in grams if not g),
                     "fields": fields_of[key], "sample": sample}
  log.info("checked %d eval datasets against %d training texts in %.0f s",
           len(datasets), count, time.perf_counter() - started)
  return {"training": training, "eval_mixture": eval_mixture, "split": split,
          "ngram": n, "min_words": min_words, "training_texts": count,
          "max_training_examples_per_task": max_training_examples_per_task,
          "datasets": datasets}


def write_report(report: Mapping[str, Any], path: str) -> None:
  outputs.write_json(path, report)


def read_report(path: str) -> dict[str, Any]:
  try:
    return outputs.read_json(path)
  except FileNotFoundError:
    raise ContaminationError(f"contamination report {path} does not exist; "
                             "make it with scripts/contamination.py") from None


def digest(report: Mapping[str, Any]) -> str:
  """A short fingerprint of a report (eval jobs record what they used)."""
  text = json.dumps(report, sort_keys=True).encode("utf-8")
  return hashlib.sha256(text).hexdigest()[:16]


def dirty_examples(report: Mapping[str, Any], dataset: str,
                   split: str) -> frozenset[int]:
  """The dirty example indices of one dataset, for an eval on `split`."""
  if report["split"] != split:
    raise ContaminationError(
        f"the contamination report is of the {report['split']} split, the "
        f"eval job reports {split}; rerun scripts/contamination.py "
        f"--split={split}")
  if dataset not in report["datasets"]:
    raise ContaminationError(
        f"the contamination report does not cover {dataset}; rerun "
        "scripts/contamination.py with an eval mixture that holds it")
  return frozenset(report["datasets"][dataset]["dirty"])


def markdown(report: Mapping[str, Any]) -> str:
  """Clean and dirty counts per dataset, as a markdown table."""
  lines = [
      f"Eval examples of `{report['eval_mixture']}` ({report['split']} split) "
      f"whose inputs share a {report['ngram']}-gram (fields of "
      f"{report['min_words']} to {report['ngram'] - 1} words: the whole "
      f"field) with the {report['training_texts']:,} training texts of "
      f"`{report['training']}`.", "",
      "| dataset | examples | dirty | clean | unchecked (short) | dirty % | "
      "an overlap |", "|---|---:|---:|---:|---:|---:|---|"]
  total = dirty = 0
  for key, d in sorted(report["datasets"].items()):
    n_dirty = len(d["dirty"])
    total += d["examples"]
    dirty += n_dirty
    share = 100 * n_dirty / d["examples"] if d["examples"] else 0.0
    sample = f"`{d['sample']}`" if d["sample"] else ""
    lines.append(f"| {key} | {d['examples']} | {n_dirty} | "
                 f"{d['examples'] - n_dirty} | {d['unchecked']} | "
                 f"{share:.0f}% | {sample} |")
  lines.append(f"| all | {total} | {dirty} | {total - dirty} | | "
               f"{100 * dirty / max(total, 1):.0f}% | |")
  return "\n".join(lines) + "\n"

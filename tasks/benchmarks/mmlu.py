"""MMLU (Hendrycks et al., 2021) from the user's copy: 57 subjects, 4 categories.

Set ``FLAN_JAX_MMLU_DIR`` to the release's ``data`` folder (or the folder
above it), laid out as the public release is::

    dev/<subject>_dev.csv     5 solved questions per subject (few-shot)
    val/<subject>_val.csv     validation
    test/<subject>_test.csv   test

Each row is ``question, A, B, C, D, answer`` (no header; the answer is a
letter). Nothing is read before a task's examples are: the tasks register
without the files, and a missing file stops with one line naming it.

Each subject is a dataset ``mmlu:<subject>`` with two templates written for
this project, both rank classification over the letters A-D:

    mmlu:<subject>:t0:score, mmlu:<subject>:t1:score
    mmlu:eval:all                          all 57 subjects
    mmlu:eval:<category>                   stem, humanities, social_sciences,
                                           other

Splits: ``train`` reads ``dev/`` (so the eval job's few-shot exemplars are
the subject's five dev questions: ``--gin.evaluate.few_shot=5`` is MMLU's
5-shot, in the release's order), ``validation`` reads ``val/`` (best-dev
template choice) and ``test`` reads ``test/``. Cluster scores are the mean
over subjects (FLAN's way); each subject's `n` in results.json gives the
question-weighted mean too. Categories follow lm-evaluation-harness's MMLU
groups, which match the release's except that anatomy is under STEM there
(the release files it under "other", with health).
"""

from __future__ import annotations

import csv
import os

from flan_jax import errors
from flan_jax.data import local_files
from flan_jax.data import mixtures
from flan_jax.data import registry
from flan_jax.data.templates import Template

COLLECTION = "mmlu"
DIR_ENV = "FLAN_JAX_MMLU_DIR"
LETTERS = ("A", "B", "C", "D")
FIELDS = ("question", "A", "B", "C", "D", "answer", "subject_name")
# Our split name -> the release's folder (and file suffix).
SPLIT_FOLDERS = {"train": "dev", "validation": "val", "test": "test"}

CATEGORIES = {
    "stem": (
        "abstract_algebra", "anatomy", "astronomy", "college_biology",
        "college_chemistry", "college_computer_science",
        "college_mathematics", "college_physics", "computer_security",
        "conceptual_physics", "electrical_engineering",
        "elementary_mathematics", "high_school_biology",
        "high_school_chemistry", "high_school_computer_science",
        "high_school_mathematics", "high_school_physics",
        "high_school_statistics", "machine_learning"),
    "humanities": (
        "formal_logic", "high_school_european_history",
        "high_school_us_history", "high_school_world_history",
        "international_law", "jurisprudence", "logical_fallacies",
        "moral_disputes", "moral_scenarios", "philosophy", "prehistory",
        "professional_law", "world_religions"),
    "social_sciences": (
        "econometrics", "high_school_geography",
        "high_school_government_and_politics", "high_school_macroeconomics",
        "high_school_microeconomics", "high_school_psychology",
        "human_sexuality", "professional_psychology", "public_relations",
        "security_studies", "sociology", "us_foreign_policy"),
    "other": (
        "business_ethics", "clinical_knowledge", "college_medicine",
        "global_facts", "human_aging", "management", "marketing",
        "medical_genetics", "miscellaneous", "nutrition",
        "professional_accounting", "professional_medicine", "virology"),
}
SUBJECTS = tuple(sorted(s for members in CATEGORIES.values() for s in members))

# Single newlines only: few-shot prompts separate exemplars by blank lines.
TEMPLATES = (
    Template("A question on {subject_name}.\n{question}\nA. {A}\nB. {B}\n"
             "C. {C}\nD. {D}\nReply with the letter of the right choice.\n"
             "{options_}", "{answer}"),
    Template("{question}\n(A) {A}\n(B) {B}\n(C) {C}\n(D) {D}\n"
             "Which letter names the correct answer? (Subject: "
             "{subject_name})\n{options_}", "{answer}"),
)


def data_dir() -> str:
  """The folder holding dev/, val/ and test/ (FLAN_JAX_MMLU_DIR or its data/)."""
  root = local_files.folder_from_env(
      DIR_ENV, "MMLU", "your copy of the release's data folder (the one "
      "holding dev/, val/ and test/)")
  nested = os.path.join(root, "data")
  return nested if os.path.isdir(os.path.join(nested, "test")) else root


def read_split(subject: str, split: str) -> list[dict[str, str]]:
  """One subject's rows of one split, in the file's order."""
  folder = SPLIT_FOLDERS[split]
  path = os.path.join(data_dir(), folder, f"{subject}_{folder}.csv")
  if not os.path.isfile(path):
    raise local_files.LocalDataMissingError(
        f"MMLU: {path} does not exist; set {DIR_ENV} to the folder that "
        "holds dev/, val/ and test/")
  rows = []
  with open(path, newline="", encoding="utf-8") as f:
    for line, row in enumerate(csv.reader(f), start=1):
      if len(row) != 6 or row[5].strip() not in LETTERS:
        raise errors.MalformedFileError(
            path, line, "6 fields (question, A, B, C, D, answer letter "
            "A-D)", f"{len(row)} fields" if len(row) != 6 else
            f"answer {row[5]!r}")
      rows.append(dict(zip(("question", *LETTERS), row[:5]),
                       answer=row[5].strip(),
                       subject_name=subject.replace("_", " ")))
  return rows


def _source(subject: str) -> local_files.LocalFileSource:
  return local_files.LocalFileSource(
      lambda split: read_split(subject, split), splits=tuple(SPLIT_FOLDERS),
      fields=FIELDS)


def _register_all() -> None:
  for subject in SUBJECTS:
    registry.register_dataset(registry.DatasetSpec(
        name=subject, collection=COLLECTION, source=_source(subject),
        templates=TEMPLATES, options=LETTERS, train_split=None))
  mixtures.register_cluster_mixtures(COLLECTION, CATEGORIES,
                                     eval_only=SUBJECTS)


_register_all()

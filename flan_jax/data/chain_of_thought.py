"""Chain of thought: the FLAN release's TSV files, answer extraction, metrics.

The release keeps its CoT training data as
``flan/v2/cot_data/<name>_train.tsv``: one example a line, three
tab-separated columns, question, answer and rationale, with line breaks
inside a column written as the two characters ``\\n``::

    What is 3 + 4 times 2?<TAB>11<TAB>4 times 2 is 8.\\n3 + 8 = 11.

`read_cot_file` turns a file into rows ``{"question", "answer",
"chain_of_thought"}`` (the release's field names), and `cot_source` into a
seqio source whose last lines are held out for evaluation (test, then
validation before it; at most `HOLDOUT` each and a tenth of the file), so a
model trained on a CoT task can be evaluated on lines it never saw.

A CoT target ends with its answer after the rationale. `final_answer` reads
the answer back from a generated text: the text after the last "answer"
marker ("Answer:", "the answer is", "So the final answer is", ...), up to the
end of that line or sentence, without a closing full stop; with no marker,
the last line. `cot_postprocessor` applies it to predictions and targets
alike and `cot_metrics` scores exact match on the normalised answer and
numeric match (GSM8K style: the last number of each, commas and currency
removed, equal as numbers)::

    final_answer("8 and 3 make 11.\\nAnswer: 11.")     -> "11"
    numeric_value("So the answer is $1,200.")          -> 1200.0
"""

from __future__ import annotations

import dataclasses
import os
import re
import string
from typing import Sequence

import seqio
import tensorflow as tf

from flan_jax import errors

COT_FILE_SUFFIX = "_train.tsv"
# The nine CoT datasets of the Flan 2022 release (flan/v2/cot_data).
COT_NAMES = ("aqua", "creak", "ecqa", "esnli", "gsm8k", "qasc", "qed",
             "sensemaking", "strategyqa")
HOLDOUT = 200
FIELDS = ("question", "answer", "chain_of_thought")

_ANSWER_MARKER = re.compile(
    r"(?:\banswers?\b(?:\s+is)?|\bans\b)\s*(?::|-|is)?\s*", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_SENTENCE_END = re.compile(r"(?<=[^.\s]{2})\.\s")


class CotDataError(errors.FlanJaxError, ValueError):
  """A CoT file is missing or not in the release's three-column format."""


def read_cot_file(path: str) -> list[dict[str, str]]:
  """Rows of one CoT TSV file; a malformed line stops with file and line."""
  if not tf.io.gfile.exists(path):
    raise CotDataError(f"chain-of-thought file {path} not found")
  rows = []
  with tf.io.gfile.GFile(path) as f:
    for number, line in enumerate(f, start=1):
      line = line.rstrip("\n").rstrip("\r")
      if not line.strip():
        continue
      columns = line.split("\t")
      if len(columns) != len(FIELDS):
        raise CotDataError(
            f"{path}:{number}: expected {len(FIELDS)} tab-separated columns "
            f"(question, answer, rationale), found {len(columns)}")
      rows.append({field: value.replace("\\n", "\n").strip()
                   for field, value in zip(FIELDS, columns)})
  if not rows:
    raise CotDataError(f"chain-of-thought file {path} has no examples")
  return rows


def cot_files(directory: str) -> dict[str, str]:
  """CoT name -> file for every ``<name>_train.tsv`` in a directory."""
  if not tf.io.gfile.isdir(directory):
    raise CotDataError(f"chain-of-thought directory {directory} not found")
  return {name[:-len(COT_FILE_SUFFIX)]: os.path.join(directory, name)
          for name in sorted(tf.io.gfile.listdir(directory))
          if name.endswith(COT_FILE_SUFFIX)}


def holdout_sizes(count: int, holdout: int = HOLDOUT) -> tuple[int, int]:
  """(validation, test) sizes held out at the end of a file of `count`."""
  size = min(holdout, count // 10)
  return size, size


def split_rows(rows: Sequence[dict[str, str]], holdout: int = HOLDOUT
               ) -> dict[str, list[dict[str, str]]]:
  """train | validation | test, the last two at the end of the file."""
  validation, test = holdout_sizes(len(rows), holdout)
  end = len(rows) - test
  return {"train": list(rows[:end - validation]),
          "validation": list(rows[end - validation:end]),
          "test": list(rows[end:])}


def cot_source(path: str, holdout: int = HOLDOUT) -> seqio.DataSource:
  """A seqio source over one CoT file (read now, served from memory)."""
  splits = split_rows(read_cot_file(path), holdout)

  def dataset_fn(split, shuffle_files=False, seed=None):
    del shuffle_files, seed
    rows = splits[split]
    return tf.data.Dataset.from_tensor_slices(
        {field: [r[field] for r in rows] for field in FIELDS})

  return seqio.FunctionDataSource(
      dataset_fn, splits=tuple(s for s in splits if splits[s]),
      num_input_examples={s: len(r) for s, r in splits.items() if r})


# --- reading the answer back ---------------------------------------------


def final_answer(text: str) -> str:
  """The answer a chain of thought ends with (see the module docstring)."""
  text = text.strip()
  matches = list(_ANSWER_MARKER.finditer(text))
  if matches:
    rest = text[matches[-1].end():]
  else:
    lines = [line for line in text.splitlines() if line.strip()]
    rest = lines[-1] if lines else ""
  rest = rest.strip().splitlines()[0] if rest.strip() else ""
  rest = _SENTENCE_END.split(rest, maxsplit=1)[0]  # "11. Then ..." -> "11"
  return rest.strip().rstrip(".").strip()


def cot_postprocessor(text, example=None, is_target: bool = False) -> str:
  """seqio postprocess_fn: the final answer of a prediction or target."""
  del example, is_target
  if isinstance(text, bytes):
    text = text.decode("utf-8")
  return final_answer(str(text))


def normalize_answer(text: str) -> str:
  """Lower case, no punctuation, articles or extra spaces."""
  text = "".join(c for c in text.lower() if c not in string.punctuation)
  return " ".join(_ARTICLES.sub(" ", text).split())


def numeric_value(text: str) -> float | None:
  """The last number in `text` (commas and currency signs ignored)."""
  numbers = _NUMBER.findall(text.replace("$", ""))
  if not numbers:
    return None
  try:
    return float(numbers[-1].replace(",", ""))
  except ValueError:
    return None


@dataclasses.dataclass(frozen=True)
class _Match:
  exact: bool
  numeric: bool


def _match(target: str, prediction: str) -> _Match:
  exact = normalize_answer(target) == normalize_answer(prediction)
  want, got = numeric_value(target), numeric_value(prediction)
  if want is None:  # not a numeric answer: numbers cannot decide it
    return _Match(exact, exact)
  return _Match(exact, got is not None and abs(want - got) <= 1e-6 * max(
      1.0, abs(want)))


def cot_metrics(targets: Sequence[str], predictions: Sequence[str]
                ) -> dict[str, float]:
  """Exact and numeric match (percent) of extracted final answers."""
  if len(targets) != len(predictions):
    raise ValueError(f"got {len(targets)} targets but {len(predictions)} "
                     "predictions")
  matches = [_match(t, p) for t, p in zip(targets, predictions)]
  count = max(len(matches), 1)
  return {"exact_match": 100.0 * sum(m.exact for m in matches) / count,
          "numeric_match": 100.0 * sum(m.numeric for m in matches) / count}

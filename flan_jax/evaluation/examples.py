"""What an eval job feeds the model: examples, few-shot prompts, option groups.

Examples come from the seqio task itself (its source, preprocessors and
tokenisation), read once into host memory as numpy dicts; evaluation data is
small and the job needs it in Python anyway to group options and write
per-example outputs.

Rank-classification tasks arrive as one row per option (see
`flan_jax.data.rank_classification.expand_options`). `group_options` folds
them back into one `OptionExample` per example, which is what fast scoring
needs: the input once, and every option's target beside it::

    rows    {"idx": 7, "option_idx": 0, "inputs": [5, 9, 1], "targets": [3, 1]}
            {"idx": 7, "option_idx": 1, "inputs": [5, 9, 1], "targets": [4, 8, 1]}
    example OptionExample(idx=7, inputs=[5, 9, 1], options=[[3, 1], [4, 8, 1]])

Few-shot prompts put k solved examples of the same task (same template) from
its train split before the query, each as its input, a newline and its
target, separated by blank lines. The exemplars are drawn once per task with
a fixed seed, so every query of a task sees the same ones and reruns agree.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np
import seqio

from flan_jax import errors
from flan_jax.data import example_cache

Example = dict[str, Any]

OPTION_ROW_FEATURES = ("idx", "option_idx", "is_correct")
FEW_SHOT_POOL = 512  # train examples the exemplars are drawn from
EXEMPLAR_SEPARATOR = "\n\n"


class EvalDataError(errors.FlanJaxError, ValueError):
  """A task cannot be evaluated as asked (missing split, empty data...)."""


@dataclasses.dataclass(frozen=True)
class FewShot:
  """k exemplars from the task's train split before every query."""
  k: int = 0
  seed: int = 0
  split: str = "train"


def has_option_rows(rows: Sequence[Example]) -> bool:
  """True for rank-classification data (one row per answer option)."""
  return bool(rows) and all(f in rows[0] for f in OPTION_ROW_FEATURES)


def _read(task: seqio.Task, split: str,
          cache_dir: str | None = None) -> list[Example]:
  """The split's rows: from the example cache when it holds them."""
  if split not in task.splits:
    raise EvalDataError(f"task '{task.name}' has no '{split}' split "
                        f"(it has: {', '.join(task.splits)})")
  if cache_dir:
    cached = example_cache.read_rows(cache_dir, task, split)
    if cached is not None:
      return cached
  return example_cache.rows(task, split)


def _text(value) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def few_shot_prefix(task: seqio.Task, few_shot: FewShot) -> str:
  """The k solved exemplars (and trailing separator) put before each query."""
  if few_shot.k <= 0:
    return ""
  rows = _read(task, few_shot.split)
  if rows and "is_correct" in rows[0]:
    # Option rows: an exemplar is the correct option of an example.
    seen, solved = set(), []
    for row in rows:
      if row["is_correct"] and int(row["idx"]) not in seen:
        seen.add(int(row["idx"]))
        solved.append(row)
    rows = solved
  rows = rows[:FEW_SHOT_POOL]
  if len(rows) < few_shot.k:
    raise EvalDataError(
        f"task '{task.name}': {few_shot.k}-shot needs {few_shot.k} examples in "
        f"its '{few_shot.split}' split, found {len(rows)}")
  chosen = np.random.RandomState(few_shot.seed).choice(
      len(rows), few_shot.k, replace=False)
  shots = [f"{_text(rows[i]['inputs_pretokenized'])}\n"
           f"{_text(rows[i]['targets_pretokenized'])}" for i in sorted(chosen)]
  return EXEMPLAR_SEPARATOR.join(shots) + EXEMPLAR_SEPARATOR


def _truncate(tokens: np.ndarray, length: int | None, keep_end: bool
              ) -> np.ndarray:
  """Fits tokens into `length`, keeping the final (EOS) token."""
  if length is None or len(tokens) <= length:
    return tokens
  if keep_end:  # few-shot: drop the oldest exemplar text, keep the query
    return tokens[len(tokens) - length:]
  return np.concatenate([tokens[:length - 1], tokens[-1:]])


def load_examples(task: seqio.Task, split: str, *,
                  few_shot: FewShot = FewShot(),
                  feature_lengths: dict[str, int] | None = None,
                  max_examples: int | None = None,
                  cache_dir: str | None = None) -> list[Example]:
  """A task's preprocessed, tokenised examples, prompts made few-shot if asked.

  Args:
    task: the seqio task.
    split: split to read.
    few_shot: exemplars to put before each input (k=0: zero-shot).
    feature_lengths: cap on "inputs"/"targets" tokens (EOS kept).
    max_examples: keep only examples (not option rows) with a smaller index
      (or the first rows, for tasks without option rows); for quick looks.
    cache_dir: an example cache (scripts/cache_tasks.py); the split's rows
      are read from it when it holds them (the same rows either way).
  """
  rows = _read(task, split, cache_dir)
  if not rows:
    raise EvalDataError(f"task '{task.name}' has no examples in its '{split}' "
                        "split")
  if max_examples is not None:
    if "idx" in rows[0]:
      rows = [r for r in rows if int(r["idx"]) < max_examples]
    else:
      rows = rows[:max_examples]
  prefix = few_shot_prefix(task, few_shot)
  lengths = feature_lengths or {}
  inputs_vocab = task.output_features["inputs"].vocabulary
  eos = task.output_features["inputs"].vocabulary.eos_id
  cache: dict[bytes, np.ndarray] = {}
  for row in rows:
    if prefix:
      text = prefix + _text(row["inputs_pretokenized"])
      key = text.encode("utf-8")
      if key not in cache:  # option rows of one example share their input
        cache[key] = np.asarray(inputs_vocab.encode(text) + [eos], np.int32)
      row["inputs_pretokenized"] = key
      row["inputs"] = cache[key]
    row["inputs"] = _truncate(np.asarray(row["inputs"], np.int32),
                              lengths.get("inputs"), keep_end=bool(prefix))
    row["targets"] = _truncate(np.asarray(row["targets"], np.int32),
                               lengths.get("targets"), keep_end=False)
  return rows


@dataclasses.dataclass
class OptionExample:
  """One classification example with all of its answer options."""
  idx: int
  inputs: np.ndarray             # [input length], EOS included
  options: list[np.ndarray]      # per option: [target length], EOS included
  rows: list[Example]            # the option rows, in option order

  @property
  def num_options(self) -> int:
    return len(self.options)


def group_options(rows: Sequence[Example]) -> list[OptionExample]:
  """Folds option rows back into examples, in order of `idx`."""
  groups: dict[int, list[Example]] = {}
  for row in rows:
    groups.setdefault(int(row["idx"]), []).append(row)
  examples = []
  for idx in sorted(groups):
    members = sorted(groups[idx], key=lambda r: int(r["option_idx"]))
    first = members[0]["inputs"]
    for member in members[1:]:
      if not np.array_equal(member["inputs"], first):
        raise EvalDataError(f"example {idx}: its option rows have different "
                            "inputs; option rows must share one input")
    examples.append(OptionExample(idx, first, [m["targets"] for m in members],
                                  members))
  return examples


def single_option_examples(rows: Sequence[Example]) -> list[OptionExample]:
  """Scores rows that are not options (a task's targets) with the same path."""
  return [OptionExample(i, r["inputs"], [r["targets"]], [r])
          for i, r in enumerate(rows)]

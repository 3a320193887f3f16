"""Rank classification: score every answer option, predict the likeliest.

At evaluation a classification example becomes one row per option. Every row
has the same rendered input and, as target, the template's target pattern with
the answer replaced by that option. The model scores each row by the summed
log-likelihood of its target tokens; rows are grouped back per example and the
option with the highest score is the prediction. Accuracy is per example, and
is reported under three conventions (see `NORMALISATIONS`): the summed
log-likelihood (FLAN, T0), divided by the characters of the option itself
(the answer continuation, as lm-evaluation-harness's acc_norm divides by the
choice's characters, whatever the template puts around it) and divided by
the target's tokens. The eval job scores all options of an example in one
pass (`flan_jax.evaluation.runner`).

Worked example, two options::

    example {"text": "great film", "answer": "positive",
             "options": ["negative", "positive"]}
    rows    {"inputs": "...great film...", "targets": "negative",
             "option": "negative", "idx": 7, "option_idx": 0,
             "is_correct": False}
            {"inputs": "...great film...", "targets": "positive",
             "option": "positive", "idx": 7, "option_idx": 1,
             "is_correct": True}
    scores  [-4.1, -0.3]  ->  prediction option 1  ->  correct
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any, Mapping, Sequence

import numpy as np
import tensorflow as tf

from flan_jax.data import templates as templates_lib

# The row field holding the option's own text (the target may say more, e.g.
# "The answer is {answer}."); `accuracy_char_norm` divides by its length.
OPTION_FIELD = "option"


def expand_options(template: templates_lib.Template, answer_field: str):
  """Returns a preprocessor expanding each example into one row per option.

  Rows carry ``idx`` (position of the example in the split), ``option_idx``
  and ``is_correct`` so that scores can be grouped back per example, and
  ``option``, the option's text.
  """

  def expand(ds: tf.data.Dataset) -> tf.data.Dataset:

    @tf.autograph.experimental.do_not_convert  # plain tf code
    def to_rows(idx, ex):
      options = ex[templates_lib.OPTIONS_FIELD]
      num_options = tf.shape(options)[0]
      inputs = templates_lib.render(template.inputs, ex)
      targets = templates_lib.render(template.targets, ex,
                                     overrides={answer_field: options})
      targets = tf.broadcast_to(targets, [num_options])
      return tf.data.Dataset.from_tensor_slices({
          "inputs": tf.fill([num_options], inputs),
          "targets": targets,
          OPTION_FIELD: options,
          "idx": tf.fill([num_options], tf.cast(idx, tf.int32)),
          "option_idx": tf.range(num_options, dtype=tf.int32),
          "is_correct": tf.equal(options, ex[answer_field]),
      })

    return ds.enumerate().flat_map(to_rows)

  return expand


@dataclasses.dataclass(frozen=True)
class OptionRow:
  """What the metric needs to know about one scored row."""
  idx: int
  option_idx: int
  is_correct: bool
  char_length: int   # characters of the option itself (the continuation)
  token_length: int  # tokens of the whole target, EOS included


def option_row_postprocessor(target: str,
                             example: Mapping[str, Any] | None = None,
                             is_target: bool = False):
  """seqio postprocess_fn: turns a scored row's target into an OptionRow.

  Rows made before the option's text was kept (no ``option`` field) count
  the whole target's characters.
  """
  if not is_target:
    return target
  option = example.get(OPTION_FIELD, target)
  if isinstance(option, bytes):
    option = option.decode("utf-8")
  return OptionRow(
      idx=int(example["idx"]),
      option_idx=int(example["option_idx"]),
      is_correct=bool(example["is_correct"]),
      char_length=len(option),
      token_length=int(np.count_nonzero(example["targets"])),
  )


def group_scores(rows: Sequence[OptionRow],
                 scores: Sequence[float]) -> dict[int, list[tuple[OptionRow, float]]]:
  """Groups (row, score) pairs by example, options in their original order."""
  if len(rows) != len(scores):
    raise ValueError(f"got {len(rows)} option rows but {len(scores)} scores")
  groups = collections.defaultdict(list)
  for row, score in zip(rows, scores):
    groups[row.idx].append((row, float(score)))
  for members in groups.values():
    members.sort(key=lambda pair: pair[0].option_idx)
  return dict(groups)


# Conventions for turning an option's summed log-likelihood into its rank
# score. Each has its own metric name in the results:
#   "sum"   FLAN and T0: the summed log-likelihood, no normalisation.
#   "char"  lm-evaluation-harness's acc_norm: divided by the length of the
#           option itself in characters (not of the whole rendered target).
#   "token" divided by the option's number of target tokens (EOS included).
NORMALISATIONS = {"sum": "accuracy", "char": "accuracy_char_norm",
                  "token": "accuracy_token_norm"}


def normalise(score: float, row: OptionRow, method: str) -> float:
  """One option's rank score under a normalisation convention."""
  if method == "sum":
    return float(score)
  if method == "char":
    return float(score) / max(row.char_length, 1)
  if method == "token":
    return float(score) / max(row.token_length, 1)
  raise ValueError(f"unknown normalisation '{method}'; choose one of "
                   f"{', '.join(NORMALISATIONS)}")


def predictions(rows: Sequence[OptionRow],
                scores: Sequence[float],
                normalisation: str = "sum") -> dict[int, tuple[int, bool]]:
  """Per example: (predicted option index, whether it is correct).

  Ties go to the first option, so results are deterministic.
  """
  result = {}
  for idx, members in group_scores(rows, scores).items():
    if not any(row.is_correct for row, _ in members):
      raise ValueError(
          f"example {idx}: its answer is not among its options; every "
          "classification example must list its answer as an option")
    best_row, _ = max(
        members,
        key=lambda pair: (normalise(pair[1], pair[0], normalisation),
                          -pair[0].option_idx))
    result[idx] = (best_row.option_idx, best_row.is_correct)
  return result


def rank_classification_accuracy(targets: Sequence[OptionRow],
                                 scores: Sequence[float]) -> dict[str, float]:
  """seqio score metric: percentage of examples whose best option is right.

  Reports one accuracy per normalisation convention ("accuracy" is FLAN's
  summed log-likelihood and comes first, so it is the headline metric).
  """
  result = {}
  for method, name in NORMALISATIONS.items():
    per_example = predictions(targets, scores, method)
    correct = sum(is_correct for _, is_correct in per_example.values())
    result[name] = 100.0 * correct / max(len(per_example), 1)
  return result

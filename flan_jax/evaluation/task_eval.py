"""One task on one split: examples -> model -> postprocessor -> metrics.

    rank-classification tasks   every option of an example scored at once
                                (`ModelRunner.option_scores`), then the
                                task's score metrics (accuracy under each
                                normalisation convention,
                                `rank_classification.NORMALISATIONS`)
    generation tasks            decoding (`ModelRunner.predict`), the task's
                                postprocessor, then its predict metrics
                                (sacrebleu, rouge-score, SQuAD EM/F1, ...)

Both return (metrics, per-example outputs); the eval job and inference jobs
share these functions. `evaluate_task` can also score a subset of the
examples (by index in the split, e.g. the clean ones of a contamination
check) from the same model outputs: the metrics of the subset come back
beside those of all examples, at no extra model cost.
"""

from __future__ import annotations

from typing import Any, Container, Mapping, Sequence

import numpy as np
import seqio

from flan_jax.data import rank_classification
from flan_jax.evaluation import examples as examples_lib
from flan_jax.evaluation import runner as runner_lib

Example = examples_lib.Example


def text_of(value) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _scalar(value) -> float:
  return float(getattr(value, "value", value))


def _metrics(fns, targets, outputs) -> dict[str, float]:
  result = {}
  for fn in fns:
    result.update({k: _scalar(v) for k, v in fn(targets, outputs).items()})
  return result


def _targets(task: seqio.Task, rows: Sequence[Example]) -> list:
  return [task.postprocess_fn(text_of(r["targets_pretokenized"]), example=r,
                              is_target=True) for r in rows]


def evaluate_task(task: seqio.Task, runner: runner_lib.ModelRunner,
                  split: str, *,
                  few_shot: examples_lib.FewShot = examples_lib.FewShot(),
                  feature_lengths: Mapping[str, int] | None = None,
                  max_examples: int | None = None,
                  cache_dir: str | None = None,
                  subset: Container[int] | None = None
                  ) -> tuple[dict[str, float], list[dict[str, Any]],
                             dict[str, float] | None]:
  """One task on one split: (metrics, per-example outputs, metrics of the
  examples whose index is in `subset`; None without a subset or when none
  of its examples is in the split). Rows come from `cache_dir`'s example
  cache when the task is cached there."""
  rows = examples_lib.load_examples(
      task, split, few_shot=few_shot,
      feature_lengths=dict(feature_lengths or {}), max_examples=max_examples,
      cache_dir=cache_dir)
  return _evaluate(task, runner, rows, feature_lengths, subset)


def evaluate_rows(task: seqio.Task, runner: runner_lib.ModelRunner,
                  rows: Sequence[Example],
                  feature_lengths: Mapping[str, int] | None = None
                  ) -> tuple[dict[str, float], list[dict[str, Any]]]:
  """Metrics and per-example outputs for rows from `examples.load_examples`."""
  metrics, outputs, _ = _evaluate(task, runner, rows, feature_lengths, None)
  return metrics, outputs


def _evaluate(task, runner, rows, feature_lengths, subset):
  if examples_lib.has_option_rows(rows):
    return _evaluate_options(task, runner, rows, subset)
  return _evaluate_generation(task, runner, rows, feature_lengths, subset)


def _subset_metrics(fns, targets, outputs, indices, subset):
  """Metrics over the entries whose example index is in `subset`."""
  if subset is None:
    return None
  kept = [k for k, i in enumerate(indices) if i in subset]
  if not kept:
    return None
  return _metrics(fns, [targets[k] for k in kept], [outputs[k] for k in kept])


def target_scores(runner: runner_lib.ModelRunner,
                  rows: Sequence[Example]) -> list[float]:
  """The log-likelihood of each row's own target."""
  scores = runner.option_scores(examples_lib.single_option_examples(rows))
  return [float(s[0]) for s in scores]


def _evaluate_options(task, runner, rows, subset):
  examples = examples_lib.group_options(rows)
  scores = runner.option_scores(examples)
  flat_rows = [r for e in examples for r in e.rows]
  flat_scores = [float(s) for per in scores for s in per]
  targets = _targets(task, flat_rows)
  metrics = _metrics(task.score_metric_fns, targets, flat_scores)
  kept = _subset_metrics(task.score_metric_fns, targets, flat_scores,
                         [int(r["idx"]) for r in flat_rows], subset)
  outputs = []
  for example, per in zip(examples, scores):
    option_rows = [rank_classification.OptionRow(
        idx=example.idx, option_idx=k, is_correct=bool(r["is_correct"]),
        char_length=len(text_of(r["targets_pretokenized"])),
        token_length=int(np.count_nonzero(r["targets"])))
                   for k, r in enumerate(example.rows)]
    chosen = {name: rank_classification.predictions(option_rows, per, method)[
        example.idx][0]
              for method, name in rank_classification.NORMALISATIONS.items()}
    outputs.append({
        "idx": example.idx,
        "inputs": text_of(example.rows[0]["inputs_pretokenized"]),
        "options": [text_of(r["targets_pretokenized"]) for r in example.rows],
        "correct": [k for k, r in enumerate(example.rows) if r["is_correct"]],
        "log_likelihoods": [float(s) for s in per],
        "predicted": chosen,
    })
  return metrics, outputs, kept


def _evaluate_generation(task, runner, rows, feature_lengths, subset):
  lengths = feature_lengths or {}
  # Rounded up to a power of two so that tasks share compiled programs;
  # decoding still stops once every row has produced EOS.
  decode_length = lengths.get("targets") or runner_lib.bucket(
      max(len(r["targets"]) for r in rows))
  vocabulary = task.output_features["targets"].vocabulary
  tokens = runner.predict(rows, decode_length)
  decoded = [vocabulary.decode(t.tolist()) for t in tokens]
  predictions = [task.postprocess_fn(d, example=r, is_target=False)
                 for d, r in zip(decoded, rows)]
  targets = _targets(task, rows)
  metrics = _metrics(task.predict_metric_fns, targets, predictions)
  # Generation rows are the split's examples in order: index = position.
  positions = list(range(len(rows)))
  kept = _subset_metrics(task.predict_metric_fns, targets, predictions,
                         positions, subset)
  if task.score_metric_fns:
    scores = target_scores(runner, rows)
    metrics.update(_metrics(task.score_metric_fns, targets, scores))
    if kept is not None:
      kept.update(_subset_metrics(task.score_metric_fns, targets, scores,
                                  positions, subset))
  outputs = [{"index": i, "inputs": text_of(r["inputs_pretokenized"]),
              "target": text_of(r["targets_pretokenized"]), "prediction": p}
             for i, (r, p) in enumerate(zip(rows, decoded))]
  return metrics, outputs, kept

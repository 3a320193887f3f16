"""One task on one split: examples -> model -> postprocessor -> metrics.

    rank-classification tasks   every option of an example scored at once
                                (`ModelRunner.option_scores`), then the
                                task's score metrics (accuracy under each
                                normalisation convention,
                                `rank_classification.NORMALISATIONS`)
    generation tasks            decoding (`ModelRunner.predict`), the task's
                                postprocessor, then its predict metrics
                                (sacrebleu, rouge-score, SQuAD EM/F1, ...)

Both return a `TaskResult`: the metrics, a standard error for each
(`statistics`), the number of examples scored and per-example outputs; the
eval job and inference jobs share these functions. `evaluate_task` can also
score a subset of the examples (by index in the split, e.g. the clean ones
of a contamination check) from the same model outputs: the subset's metrics
come back beside those of all examples, at no extra model cost.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Container, Mapping, Sequence

import numpy as np
import seqio

from flan_jax.data import rank_classification
from flan_jax.evaluation import examples as examples_lib
from flan_jax.evaluation import runner as runner_lib
from flan_jax.evaluation import statistics

Example = examples_lib.Example


@dataclasses.dataclass
class TaskResult:
  """One task on one split.

  Attributes:
    metrics: metric name -> value (percentages on 0-100, see data.metrics).
    stderr: metric name -> its standard error, same scale (None where it
      cannot be estimated, e.g. a single example).
    num_examples: examples scored (not option rows).
    outputs: one dict per example (inputs, prediction or option scores).
    subset_metrics: the metrics of the examples in `evaluate_task`'s
      `subset` (None without a subset, or when none of them is scored).
  """
  metrics: dict[str, float]
  stderr: dict[str, float | None]
  num_examples: int
  outputs: list[dict[str, Any]]
  subset_metrics: dict[str, float] | None = None


def text_of(value) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _targets(task: seqio.Task, rows: Sequence[Example]) -> list:
  return [task.postprocess_fn(text_of(r["targets_pretokenized"]), example=r,
                              is_target=True) for r in rows]


def evaluate_task(task: seqio.Task, runner: runner_lib.ModelRunner,
                  split: str, *,
                  few_shot: examples_lib.FewShot = examples_lib.FewShot(),
                  feature_lengths: Mapping[str, int] | None = None,
                  max_examples: int | None = None,
                  cache_dir: str | None = None,
                  subset: Container[int] | None = None) -> TaskResult:
  """One task on one split: metrics, their stderrs, per-example outputs,
  and the metrics of the examples whose index is in `subset`."""
  rows = examples_lib.load_examples(
      task, split, few_shot=few_shot,
      feature_lengths=dict(feature_lengths or {}), max_examples=max_examples,
      cache_dir=cache_dir)
  return evaluate_rows(task, runner, rows, feature_lengths, subset)


def evaluate_rows(task: seqio.Task, runner: runner_lib.ModelRunner,
                  rows: Sequence[Example],
                  feature_lengths: Mapping[str, int] | None = None,
                  subset: Container[int] | None = None
                  ) -> TaskResult:
  """The `TaskResult` of rows from `examples.load_examples`."""
  if examples_lib.has_option_rows(rows):
    return _evaluate_options(task, runner, rows, subset)
  return _evaluate_generation(task, runner, rows, feature_lengths, subset)


def _subset_metrics(fns, targets, outputs, indices, subset):
  """Metrics (values only) of the entries whose example index is in
  `subset`; None without a subset or when none is there."""
  if subset is None:
    return None
  kept = [k for k, i in enumerate(indices) if i in subset]
  if not kept:
    return None
  return statistics.metric_stderrs(fns, [targets[k] for k in kept],
                                   [outputs[k] for k in kept],
                                   resample=False)[0]


def target_scores(runner: runner_lib.ModelRunner,
                  rows: Sequence[Example]) -> list[float]:
  """The log-likelihood of each row's own target."""
  scores = runner.option_scores(examples_lib.single_option_examples(rows))
  return [float(s[0]) for s in scores]


def _evaluate_options(task, runner, rows, subset) -> TaskResult:
  examples = examples_lib.group_options(rows)
  scores = runner.option_scores(examples)
  flat_rows = [r for e in examples for r in e.rows]
  flat_scores = [float(s) for per in scores for s in per]
  targets = _targets(task, flat_rows)
  metrics, stderr = statistics.metric_stderrs(
      task.score_metric_fns, targets, flat_scores, resample=False)
  kept = _subset_metrics(task.score_metric_fns, targets, flat_scores,
                         [int(r["idx"]) for r in flat_rows], subset)
  outputs = []
  correct: dict[str, list[float]] = {
      name: [] for name in rank_classification.NORMALISATIONS.values()}
  for example, per in zip(examples, scores):
    option_rows = [rank_classification.option_row_postprocessor(
        text_of(r["targets_pretokenized"]), example=r, is_target=True)
                   for r in example.rows]
    chosen = {}
    for method, name in rank_classification.NORMALISATIONS.items():
      choice, right = rank_classification.predictions(
          option_rows, per, method)[example.idx]
      chosen[name] = choice
      correct[name].append(100.0 * right)
    outputs.append({
        "idx": example.idx,
        "inputs": text_of(example.rows[0]["inputs_pretokenized"]),
        "options": [text_of(r["targets_pretokenized"]) for r in example.rows],
        "correct": [k for k, r in enumerate(example.rows) if r["is_correct"]],
        "log_likelihoods": [float(s) for s in per],
        "predicted": chosen,
    })
  # Option rows cannot be resampled as examples by a metric function, but
  # the accuracies are means of per-example right/wrong: binomial stderrs.
  for name, values in correct.items():
    if name in metrics:
      stderr[name] = statistics.mean_stderr(values)
  return TaskResult(metrics, stderr, len(examples), outputs, kept)


def _evaluate_generation(task, runner, rows, feature_lengths,
                         subset) -> TaskResult:
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
  metrics, stderr = statistics.metric_stderrs(task.predict_metric_fns,
                                              targets, predictions)
  # Generation rows are the split's examples in order: index = position.
  positions = list(range(len(rows)))
  kept = _subset_metrics(task.predict_metric_fns, targets, predictions,
                         positions, subset)
  if task.score_metric_fns:
    scores = target_scores(runner, rows)
    scored, scored_stderr = statistics.metric_stderrs(
        task.score_metric_fns, targets, scores)
    metrics.update(scored)
    stderr.update(scored_stderr)
    if kept is not None:
      kept.update(_subset_metrics(task.score_metric_fns, targets, scores,
                                  positions, subset))
  outputs = [{"index": i, "inputs": text_of(r["inputs_pretokenized"]),
              "target": text_of(r["targets_pretokenized"]), "prediction": p}
             for i, (r, p) in enumerate(zip(rows, decoded))]
  return TaskResult(metrics, stderr, len(rows), outputs, kept)

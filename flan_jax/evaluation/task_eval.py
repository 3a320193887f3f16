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
share these functions.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

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
                  cache_dir: str | None = None
                  ) -> tuple[dict[str, float], list[dict[str, Any]]]:
  """One task on one split: (metrics, per-example outputs)."""
  rows = examples_lib.load_examples(
      task, split, few_shot=few_shot,
      feature_lengths=dict(feature_lengths or {}), max_examples=max_examples,
      cache_dir=cache_dir)
  return evaluate_rows(task, runner, rows, feature_lengths)


def evaluate_rows(task: seqio.Task, runner: runner_lib.ModelRunner,
                  rows: Sequence[Example],
                  feature_lengths: Mapping[str, int] | None = None
                  ) -> tuple[dict[str, float], list[dict[str, Any]]]:
  """Metrics and per-example outputs for rows from `examples.load_examples`."""
  if examples_lib.has_option_rows(rows):
    return _evaluate_options(task, runner, rows)
  return _evaluate_generation(task, runner, rows, feature_lengths)


def target_scores(runner: runner_lib.ModelRunner,
                  rows: Sequence[Example]) -> list[float]:
  """The log-likelihood of each row's own target."""
  scores = runner.option_scores(examples_lib.single_option_examples(rows))
  return [float(s[0]) for s in scores]


def _evaluate_options(task, runner, rows):
  examples = examples_lib.group_options(rows)
  scores = runner.option_scores(examples)
  flat_rows = [r for e in examples for r in e.rows]
  flat_scores = [float(s) for per in scores for s in per]
  targets = _targets(task, flat_rows)
  metrics = _metrics(task.score_metric_fns, targets, flat_scores)
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
  return metrics, outputs


def _evaluate_generation(task, runner, rows, feature_lengths):
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
  if task.score_metric_fns:
    metrics.update(_metrics(task.score_metric_fns, targets,
                            target_scores(runner, rows)))
  outputs = [{"index": i, "inputs": text_of(r["inputs_pretokenized"]),
              "target": text_of(r["targets_pretokenized"]), "prediction": p}
             for i, (r, p) in enumerate(zip(rows, decoded))]
  return metrics, outputs

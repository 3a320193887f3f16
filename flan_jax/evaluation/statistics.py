"""Standard errors of eval metrics: analytic for means, a seeded bootstrap else.

Every metric of a task gets a standard error beside its value, on the same
scale (0-100 for percentages), from the examples the task was scored on:

    a mean over examples        sample standard deviation (ddof=1) of the
    (accuracy, exact match,     per-example values / sqrt(n); for a 0/1
    token F1, ROUGE, edit       accuracy p this is the binomial
    distance, ...)              sqrt(p (100 - p) / (n - 1)), what
                                lm-evaluation-harness reports as acc_stderr
    anything else (corpus       standard deviation (ddof=1) of the metric
    BLEU, F1 of a class, MCC,   over `BOOTSTRAP_SAMPLES` resamples of the
    correlations, MultiRC F1a)  examples with replacement, seed
                                `BOOTSTRAP_SEED`: the same numbers on every
                                run

Which metrics are means is found, not declared: the task's metric function
is called on each example alone, and a metric whose per-example values
average to its value on all examples is a mean. BLEU is resampled from
per-sentence n-gram statistics (`metrics.bleu_statistics`), not by calling
sacrebleu once per resample.

Worked example: 200 examples, accuracy 50.0 ->
stderr sqrt(50 * 50 / 199) = 3.54 points.

Aggregates combine the stderrs of their parts (see `aggregation`): a mean
over templates (which share their examples, so their errors are
correlated) takes the mean of the template stderrs, an upper bound; a mean
over datasets (different examples) takes sqrt(sum of squares) / count.
"""

from __future__ import annotations

import math
import warnings
from typing import Callable, Mapping, Sequence

import numpy as np

from flan_jax.data import metrics as metrics_lib

BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 0

MetricFn = Callable[[Sequence, Sequence], Mapping[str, float]]


def _scalar(value) -> float:
  return float(getattr(value, "value", value))


def _call(fn: MetricFn, targets, predictions) -> dict[str, float]:
  return {k: _scalar(v) for k, v in fn(targets, predictions).items()}


def mean_stderr(values: Sequence[float]) -> float | None:
  """Standard error of a mean: std (ddof=1) / sqrt(n); None below 2 values."""
  values = np.asarray(values, np.float64)
  if len(values) < 2:
    return None
  return float(np.std(values, ddof=1) / math.sqrt(len(values)))


def binomial_stderr(percent: float, n: int) -> float | None:
  """Stderr of an accuracy in percent over n examples (ddof=1, as harness)."""
  if n < 2:
    return None
  return math.sqrt(percent * (100.0 - percent) / (n - 1))


def _per_example(fn: MetricFn, targets, predictions
                 ) -> dict[str, np.ndarray]:
  """Each metric of `fn` on every example alone (names that fail: left out)."""
  rows: list[dict[str, float]] = []
  with warnings.catch_warnings(), np.errstate(all="ignore"):
    warnings.simplefilter("ignore")
    for t, p in zip(targets, predictions):
      try:
        rows.append(_call(fn, [t], [p]))
      except Exception:  # pylint: disable=broad-except
        return {}  # e.g. a correlation of one point: not a mean anyway
  if not rows:
    return {}
  names = set(rows[0]).intersection(*rows[1:])
  return {name: np.array([r[name] for r in rows]) for name in names}


def _is_mean_of(values: np.ndarray, total: float) -> bool:
  mean = float(np.mean(values))
  return bool(np.isfinite(mean)) and math.isclose(mean, total, rel_tol=1e-9,
                                                  abs_tol=1e-9)


def _resamples(n: int, samples: int, seed: int) -> np.ndarray:
  """[samples, n] example indices drawn with replacement."""
  return np.random.default_rng(seed).integers(0, n, size=(samples, n))


def bootstrap_stderr(fn: MetricFn, targets, predictions, names: Sequence[str],
                     *, samples: int = BOOTSTRAP_SAMPLES,
                     seed: int = BOOTSTRAP_SEED) -> dict[str, float | None]:
  """Bootstrap standard error of the named metrics of `fn`."""
  n = len(targets)
  if n < 2 or not names:
    return {name: None for name in names}
  draws = _resamples(n, samples, seed)
  if fn is metrics_lib.bleu:
    stats = metrics_lib.bleu_statistics(targets, predictions)
    values = {"bleu": [metrics_lib.bleu_from_statistics(stats[rows].sum(0))
                       for rows in draws]}
  else:
    values = {name: [] for name in names}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
      warnings.simplefilter("ignore")
      for rows in draws:
        result = _call(fn, [targets[i] for i in rows],
                       [predictions[i] for i in rows])
        for name in names:
          values[name].append(result.get(name, float("nan")))
  out = {}
  for name in names:
    column = np.asarray(values.get(name, []), np.float64)
    column = column[np.isfinite(column)]
    out[name] = float(np.std(column, ddof=1)) if len(column) > 1 else None
  return out


def metric_stderrs(fns: Sequence[MetricFn], targets: Sequence,
                   predictions: Sequence, *,
                   samples: int = BOOTSTRAP_SAMPLES,
                   seed: int = BOOTSTRAP_SEED, resample: bool = True
                   ) -> tuple[dict[str, float], dict[str, float | None]]:
  """(metrics, their standard errors) of seqio-style metric functions.

  Args:
    fns: `fn(targets, predictions) -> {name: value}`, one example per entry.
    targets, predictions: one entry per example.
    samples, seed: the bootstrap's resamples and random seed.
    resample: False when the entries are not examples (rank
      classification's option rows): values only, stderrs None.
  """
  values: dict[str, float] = {}
  stderrs: dict[str, float | None] = {}
  for fn in fns:
    totals = _call(fn, targets, predictions)
    values.update(totals)
    if not resample:
      stderrs.update({name: None for name in totals})
      continue
    per_example = _per_example(fn, targets, predictions)
    resampled = []
    for name, total in totals.items():
      column = per_example.get(name)
      if column is not None and _is_mean_of(column, total):
        stderrs[name] = mean_stderr(column)
      else:
        resampled.append(name)
    stderrs.update(bootstrap_stderr(fn, list(targets), list(predictions),
                                    resampled, samples=samples, seed=seed))
  return values, stderrs


def correlated_mean_stderr(stderrs: Sequence[float | None]) -> float | None:
  """Stderr bound of a mean of estimates on the same examples (templates).

  The mean of their stderrs: exact when the errors are perfectly
  correlated, an upper bound otherwise (Cauchy-Schwarz).
  """
  if not stderrs or any(s is None for s in stderrs):
    return None
  return float(np.mean(stderrs))


def independent_mean_stderr(stderrs: Sequence[float | None]) -> float | None:
  """Stderr of a mean of independent estimates (datasets): sqrt(sum se^2)/k."""
  if not stderrs or any(s is None for s in stderrs):
    return None
  return float(math.sqrt(sum(s * s for s in stderrs)) / len(stderrs))

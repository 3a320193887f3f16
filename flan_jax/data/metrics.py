"""Metric functions in seqio's form: ``fn(targets, predictions) -> {name: value}``.

Thin wrappers over the field's libraries (sacrebleu, rouge-score,
scikit-learn, scipy, editdistance); only the SQuAD/TriviaQA answer
normalisation is written here, as those benchmarks define it. Scores are
percentages (0-100) so that tables read like the paper's, except correlations
(Pearson, Spearman, Matthews), which are also scaled by 100.

Where a dataset has several acceptable answers, its postprocess_fn returns a
list of strings as the target, and the metrics below take the best match.
"""

from __future__ import annotations

import collections
import functools
import re
import string
from typing import Callable, Sequence

import editdistance
import numpy as np
import sacrebleu
import scipy.stats
from rouge_score import rouge_scorer
from sklearn import metrics as sklearn_metrics

Target = str | Sequence[str]


def _check_lengths(targets, predictions) -> None:
  if len(targets) != len(predictions):
    raise ValueError(
        f"got {len(targets)} targets but {len(predictions)} predictions")


def _as_references(target: Target) -> list[str]:
  return [target] if isinstance(target, str) else list(target)


def exact_match_accuracy(targets: Sequence[Target],
                         predictions: Sequence[str]) -> dict[str, float]:
  """Percentage of predictions equal to their target (or one of its
  references) after trimming spaces."""
  _check_lengths(targets, predictions)
  correct = sum(
      any(str(r).strip() == str(p).strip() for r in _as_references(t))
      for t, p in zip(targets, predictions))
  return {"accuracy": 100.0 * correct / max(len(targets), 1)}


# A prepared example may carry every acceptable answer in this field (a 1-D
# string tensor); generation tasks then score against all of them.
REFERENCES_FIELD = "references"


def strip_postprocessor(text, example=None, is_target: bool = False):
  """seqio postprocess_fn for generation tasks: trims surrounding whitespace.

  For a target whose example carries `references`, returns that list instead
  (the metrics take the best match over references, as SQuAD/TriviaQA do).
  """
  if isinstance(text, bytes):
    text = text.decode("utf-8")
  if is_target and example is not None and REFERENCES_FIELD in example:
    references = [
        r.decode("utf-8") if isinstance(r, bytes) else str(r)
        for r in np.asarray(example[REFERENCES_FIELD]).reshape(-1)]
    references = [r.strip() for r in references if r.strip()]
    if references:
      return references
  return text.strip()


# --- SQuAD / TriviaQA style answer matching ---------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_squad_answer(text: str) -> str:
  """Lower case, drop punctuation and articles, squeeze whitespace (SQuAD v1.1)."""
  text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
  return " ".join(_ARTICLES.sub(" ", text).split())


def normalize_trivia_qa_answer(text: str) -> str:
  """SQuAD normalisation plus underscores to spaces (TriviaQA's evaluation)."""
  return normalize_squad_answer(text.replace("_", " "))


def _token_f1(reference: str, prediction: str) -> float:
  ref_tokens, pred_tokens = reference.split(), prediction.split()
  common = collections.Counter(ref_tokens) & collections.Counter(pred_tokens)
  overlap = sum(common.values())
  if not ref_tokens or not pred_tokens:
    return float(ref_tokens == pred_tokens)
  if overlap == 0:
    return 0.0
  precision, recall = overlap / len(pred_tokens), overlap / len(ref_tokens)
  return 2 * precision * recall / (precision + recall)


def _best_over_references(targets, predictions, score: Callable[[str, str],
                                                                float],
                          normalize: Callable[[str], str]) -> float:
  _check_lengths(targets, predictions)
  best = [
      max(score(normalize(r), normalize(p)) for r in _as_references(t))
      for t, p in zip(targets, predictions)
  ]
  return 100.0 * float(np.mean(best)) if best else 0.0


def squad(targets: Sequence[Target],
          predictions: Sequence[str]) -> dict[str, float]:
  """SQuAD exact match and token F1, best over each example's answers."""
  return {
      "em": _best_over_references(targets, predictions,
                                  lambda r, p: float(r == p),
                                  normalize_squad_answer),
      "f1": _best_over_references(targets, predictions, _token_f1,
                                  normalize_squad_answer),
  }


def trivia_qa(targets: Sequence[Target],
              predictions: Sequence[str]) -> dict[str, float]:
  """TriviaQA-style exact match (and F1), best over the answer aliases."""
  return {
      "em": _best_over_references(targets, predictions,
                                  lambda r, p: float(r == p),
                                  normalize_trivia_qa_answer),
      "f1": _best_over_references(targets, predictions, _token_f1,
                                  normalize_trivia_qa_answer),
  }


# --- generation quality -------------------------------------------------------


def bleu(targets: Sequence[Target],
         predictions: Sequence[str]) -> dict[str, float]:
  """Corpus BLEU from sacrebleu (13a tokenisation, exponential smoothing).

  Examples may have different numbers of references; missing ones are
  padded with None, which sacrebleu skips.
  """
  _check_lengths(targets, predictions)
  references = [_as_references(t) for t in targets]
  width = max((len(r) for r in references), default=1)
  streams = [[r[i] if i < len(r) else None for r in references]
             for i in range(width)]
  result = sacrebleu.corpus_bleu(list(predictions), streams,
                                 smooth_method="exp", tokenize="13a")
  return {"bleu": float(result.score)}


_BLEU_ORDER = 4


def bleu_statistics(targets: Sequence[Target],
                    predictions: Sequence[str]) -> np.ndarray:
  """Per-sentence BLEU statistics, [n, 10]: matched and total n-grams of
  orders 1-4, hypothesis length, closest reference length. Their sum over
  any set of sentences gives that set's corpus BLEU (`bleu_from_statistics`),
  which is how eval results resample BLEU for its standard error."""
  _check_lengths(targets, predictions)
  scorer = sacrebleu.metrics.BLEU(tokenize="13a", smooth_method="exp",
                                  effective_order=True)
  rows = []
  for target, prediction in zip(targets, predictions):
    score = scorer.sentence_score(prediction, _as_references(target))
    rows.append([*score.counts, *score.totals, score.sys_len, score.ref_len])
  return np.asarray(rows, np.float64).reshape(-1, 2 * _BLEU_ORDER + 2)


def bleu_from_statistics(summed: np.ndarray) -> float:
  """Corpus BLEU (as `bleu`) from summed `bleu_statistics` rows."""
  counts = [int(c) for c in summed[:_BLEU_ORDER]]
  totals = [int(t) for t in summed[_BLEU_ORDER:2 * _BLEU_ORDER]]
  return float(sacrebleu.metrics.BLEU.compute_bleu(
      counts, totals, int(summed[-2]), int(summed[-1]),
      smooth_method="exp").score)


_ROUGE_TYPES = ("rouge1", "rouge2", "rougeLsum")


def _rouge_text(text: str) -> str:
  # rougeLsum treats newlines as sentence boundaries.
  return text.replace(" . ", " .\n")


@functools.lru_cache(maxsize=1)
def _rouge_scorer() -> rouge_scorer.RougeScorer:
  return rouge_scorer.RougeScorer(list(_ROUGE_TYPES), use_stemmer=True)


def rouge(targets: Sequence[Target],
          predictions: Sequence[str]) -> dict[str, float]:
  """ROUGE-1/2/Lsum F-measure (rouge-score, stemmed), mean over examples.

  With several references, each example scores its best reference
  (per ROUGE type), as FLAN does for structure-to-text. The plain mean
  (not rouge-score's bootstrap median, which is random) keeps reruns
  identical; its standard error comes with the eval results.
  """
  _check_lengths(targets, predictions)
  scorer = _rouge_scorer()
  best = {kind: [] for kind in _ROUGE_TYPES}
  for target, prediction in zip(targets, predictions):
    scores = [scorer.score(_rouge_text(r), _rouge_text(prediction))
              for r in _as_references(target)]
    for kind in _ROUGE_TYPES:
      best[kind].append(max(s[kind].fmeasure for s in scores))
  return {kind: 100.0 * float(np.mean(values)) if values else 0.0
          for kind, values in best.items()}


def mean_edit_distance(targets: Sequence[str],
                       predictions: Sequence[str]) -> dict[str, float]:
  """Mean character edit distance (lower is better) and exact match."""
  _check_lengths(targets, predictions)
  distances = [editdistance.eval(t, p) for t, p in zip(targets, predictions)]
  return {
      "edit_distance": float(np.mean(distances)) if distances else 0.0,
      **exact_match_accuracy(targets, predictions),
  }


# --- classification and regression -------------------------------------------


def f1_binary(targets: Sequence[str], predictions: Sequence[str], *,
              positive: str) -> dict[str, float]:
  """F1 of the `positive` class, plus accuracy (e.g. MRPC, QQP)."""
  _check_lengths(targets, predictions)
  y_true = np.array([t == positive for t in targets], bool)
  y_pred = np.array([p == positive for p in predictions], bool)
  # sklearn's f1_score with zero_division=0, without its per-call checks
  # (the eval bootstrap calls this a thousand times).
  true_pos = int(np.sum(y_true & y_pred))
  wrong = int(np.sum(y_true != y_pred))
  denominator = 2 * true_pos + wrong
  return {
      "f1": 100.0 * 2 * true_pos / denominator if denominator else 0.0,
      **exact_match_accuracy(targets, predictions),
  }


def f1_macro(targets: Sequence[str],
             predictions: Sequence[str]) -> dict[str, float]:
  """Mean F1 over the classes present in the targets (e.g. CB), plus accuracy."""
  _check_lengths(targets, predictions)
  labels = sorted(set(targets))
  return {
      "f1_macro": 100.0 * sklearn_metrics.f1_score(
          targets, predictions, labels=labels, average="macro",
          zero_division=0),
      **exact_match_accuracy(targets, predictions),
  }


def matthews_corrcoef(targets: Sequence[str],
                      predictions: Sequence[str]) -> dict[str, float]:
  """Matthews correlation (CoLA), scaled by 100."""
  _check_lengths(targets, predictions)
  return {"mcc": 100.0 * sklearn_metrics.matthews_corrcoef(targets, predictions)}


def _as_float(text: str) -> float:
  try:
    return float(text)
  except (TypeError, ValueError):
    return float("nan")


def pearson_spearman(targets: Sequence[str],
                     predictions: Sequence[str]) -> dict[str, float]:
  """Correlations between numeric targets and predictions (STS-B), x100.

  Predictions that are not numbers count as 0, like an unusable answer.
  """
  _check_lengths(targets, predictions)
  y = np.array([_as_float(t) for t in targets])
  y_hat = np.nan_to_num(np.array([_as_float(p) for p in predictions]))
  return {
      "pearson": 100.0 * float(scipy.stats.pearsonr(y, y_hat)[0]),
      "spearman": 100.0 * float(scipy.stats.spearmanr(y, y_hat)[0]),
  }

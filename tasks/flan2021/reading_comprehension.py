"""FLAN 2021 cluster `reading_comprehension`: SQuAD v1/v2, DROP, MultiRC,
OpenBookQA, BoolQ.

Preparation per dataset (tf ops, run inside the seqio pipeline):

* SQuAD v1.1 / v2.0: the first gold answer is the target; an unanswerable
  SQuAD v2 question has the target "unanswerable", which its templates
  mention as a possible reply. Every gold answer goes to `references`, so
  eval scores a prediction against the best of them (as official SQuAD does).
* DROP: the `answer` field, or the first validated answer when it is empty;
  `references` holds it and every validated answer.
* MultiRC: TFDS holds one row per (question, candidate answer). The rows of a
  question are grouped back into one example listing its numbered candidates;
  the target is the numbers of the correct ones ("1, 3"). Its metric scores
  MultiRC's two official numbers from that grouping: exact match per question
  (every candidate judged right) and F1 over all candidate answers (F1a).
* OpenBookQA: the four choices become per-example options; the supporting
  science fact is shown as context.
* BoolQ: yes/no options.

Metrics: SQuAD F1/EM for SQuAD and DROP, the grouped F1a/EM for MultiRC
(F1 first in both: the eval report's headline metric is a task's first),
accuracy (rank classification at eval) for OpenBookQA and BoolQ.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import seqio
import tensorflow as tf

from flan_jax.data import metrics
from flan_jax.data.templates import Template
from tasks.flan2021 import common

CLUSTER = "reading_comprehension"
UNANSWERABLE = "unanswerable"
NO_CORRECT_CANDIDATE = "none"
YES_NO = ("no", "yes")


def _first_or(values: tf.Tensor, default: str) -> tf.Tensor:
  """values[0] of a 1-D string tensor, or `default` when it is empty."""
  return tf.concat([values, tf.constant([default])], axis=0)[0]


# --- SQuAD and DROP -----------------------------------------------------------


def _squad_fields(ex, if_unanswerable: str):
  answer = _first_or(ex["answers"]["text"], if_unanswerable)
  return {
      "title": ex["title"],
      "context": ex["context"],
      "question": ex["question"],
      "answer": answer,
      metrics.REFERENCES_FIELD: common.reference_list(
          answer, ex["answers"]["text"]),
  }


@seqio.map_over_dataset
def prepare_squad_v1(ex):
  return _squad_fields(ex, if_unanswerable="")


@seqio.map_over_dataset
def prepare_squad_v2(ex):
  # An unanswerable question's only reference is "unanswerable".
  return _squad_fields(ex, if_unanswerable=UNANSWERABLE)


@seqio.map_over_dataset
def prepare_drop(ex):
  answer = tf.where(
      tf.strings.length(tf.strings.strip(ex["answer"])) > 0, ex["answer"],
      _first_or(ex["validated_answers"], ""))
  return {"passage": ex["passage"], "question": ex["question"],
          "answer": answer,
          metrics.REFERENCES_FIELD: common.reference_list(
              answer, ex["validated_answers"])}


def squad_f1_first(targets: Sequence[str],
                   predictions: Sequence[str]) -> dict[str, float]:
  """`metrics.squad` with F1 listed first.

  flan_jax's eval report takes a task's first metric as its dataset's
  headline number, and FLAN reports F1 for SQuAD and DROP.
  """
  scores = metrics.squad(targets, predictions)
  return {"f1": scores["f1"], "em": scores["em"]}


SQUAD_V1_TEMPLATES = (
    Template("Read the passage and answer the question with words taken "
             "from it.\n\n{context}\n\nQuestion: {question}", "{answer}"),
    Template("{context}\n\n{question}", "{answer}"),
    Template("Article titled \"{title}\":\n{context}\n\nUsing the "
             "article, answer this: {question}", "{answer}"),
    Template("Question: {question}\n\nFind the answer in this text:\n"
             "{context}", "{answer}"),
    Template("Here is some background about {title}.\n{context}\n\nWhat is "
             "the answer to \"{question}\"?", "{answer}"),
    Template("Context: {context}\nQ: {question}\nA:", "{answer}"),
    Template("I am reading about {title} and got stuck on a question: "
             "{question}\nThis is the text I have:\n{context}", "{answer}"),
    Template("Copy the span of the following paragraph that answers the "
             "question \"{question}\".\n\n{context}", "{answer}"),
    Template("{context}\n\nWrite a question about the text above whose "
             "answer is \"{answer}\".", "{question}", inverted=True),
    Template("Give this passage about {title} a suitable title.\n\n"
             "{context}", "{title}", inverted=True),
)

SQUAD_V2_TEMPLATES = (
    Template("Read the passage and answer the question. If the passage "
             "does not contain the answer, reply \"unanswerable\".\n\n"
             "{context}\n\nQuestion: {question}", "{answer}"),
    Template("{context}\n\n{question} (Say \"unanswerable\" if the text "
             "does not tell.)", "{answer}"),
    Template("Article about {title}:\n{context}\n\nCan this be answered "
             "from the article? If so, give the answer; otherwise write "
             "unanswerable. {question}", "{answer}"),
    Template("Question: {question}\nText: {context}\nAnswer from the text, "
             "or say it is unanswerable:", "{answer}"),
    Template("Some questions about this paragraph cannot be answered from "
             "it. {question}\n\n{context}", "{answer}"),
    Template("Context: {context}\nQ: {question}\nA (a span of the context, "
             "or \"unanswerable\"):", "{answer}"),
    Template("Here is a text on {title}.\n{context}\n\nTry to answer: "
             "{question}\nIf no part of the text answers it, respond with "
             "unanswerable.", "{answer}"),
    Template("Decide whether the paragraph answers \"{question}\". Give the "
             "answer, or the word unanswerable.\n\n{context}", "{answer}"),
    Template("{context}\n\nPose a question about this passage for which "
             "the reply is \"{answer}\".", "{question}", inverted=True),
    Template("What is this passage about? Give a short title.\n\n"
             "{context}", "{title}", inverted=True),
)

DROP_TEMPLATES = (
    Template("{passage}\n\nAnswer this question about the passage, which "
             "may need counting, sorting or arithmetic: {question}",
             "{answer}"),
    Template("Passage: {passage}\nQuestion: {question}\nAnswer:",
             "{answer}"),
    Template("Read the text and work out the answer.\n\n{passage}\n\n"
             "{question}", "{answer}"),
    Template("{question}\n\nUse the following passage to reason your way to "
             "the answer:\n{passage}", "{answer}"),
    Template("Here is a report:\n{passage}\n\nBased on it, {question}",
             "{answer}"),
    Template("Answer the question with a number, a date or a short span "
             "from the text.\nText: {passage}\nQuestion: {question}",
             "{answer}"),
    Template("I have a question about this passage: {question}\n\n"
             "{passage}", "{answer}"),
    Template("{passage}\n\nQ: {question}\nA:", "{answer}"),
    Template("{passage}\n\nWrite a question about the passage that has "
             "\"{answer}\" as its answer.", "{question}", inverted=True),
    Template("Make up a question needing some reasoning over this text; "
             "its answer should be {answer}.\n\n{passage}", "{question}",
             inverted=True),
)

# --- MultiRC: group candidate rows per question --------------------------------


def _multirc_key(ex) -> tf.Tensor:
  return (tf.cast(ex["idx"]["paragraph"], tf.int64) * (1 << 32) +
          tf.cast(ex["idx"]["question"], tf.int64))


def _join_nonempty(left: tf.Tensor, right: tf.Tensor,
                   separator: str) -> tf.Tensor:
  return tf.where(tf.equal(left, ""), right,
                  tf.strings.join([left, right], separator=separator))


def prepare_multirc(ds: tf.data.Dataset) -> tf.data.Dataset:
  """One example per question: numbered candidates, target = correct numbers.

  Rows of one question are not adjacent in TFDS (its files are shuffled), so
  they are grouped by (paragraph, question) id with a reducer over the whole
  split; groups are then put back in the order of their first row, so the
  output order is the same on every run.
  """

  def init(key):
    del key
    return {"first": tf.constant(np.iinfo(np.int64).max, tf.int64),
            "count": tf.constant(0, tf.int64),
            "paragraph": tf.constant(""), "question": tf.constant(""),
            "candidates": tf.constant(""), "correct": tf.constant(""),
            "correct_text": tf.constant("")}

  def reduce(state, position_and_ex):
    position, ex = position_and_ex
    count = state["count"] + 1
    number = tf.strings.as_string(count)
    line = tf.strings.join([number, ". ", ex["answer"]])
    is_correct = tf.equal(ex["label"], 1)
    return {
        "first": tf.minimum(state["first"], position),
        "count": count,
        "paragraph": ex["paragraph"],
        "question": ex["question"],
        "candidates": _join_nonempty(state["candidates"], line, "\n"),
        "correct": tf.where(is_correct,
                            _join_nonempty(state["correct"], number, ", "),
                            state["correct"]),
        "correct_text": tf.where(
            is_correct,
            _join_nonempty(state["correct_text"], ex["answer"], "; "),
            state["correct_text"]),
    }

  def finalize(state):
    answer = tf.where(tf.equal(state["correct"], ""),
                      tf.constant(NO_CORRECT_CANDIDATE), state["correct"])
    return {"first": state["first"], "paragraph": state["paragraph"],
            "question": state["question"], "candidates": state["candidates"],
            "correct_answers": state["correct_text"], "answer": answer}

  reducer = tf.data.experimental.Reducer(init, reduce, finalize)
  grouped = ds.enumerate().apply(
      tf.data.experimental.group_by_reducer(
          lambda position, ex: _multirc_key(ex), reducer))

  def in_first_row_order(batch):
    order = tf.argsort(batch["first"])
    return {k: tf.gather(v, order) for k, v in batch.items() if k != "first"}

  # A split has at most a few thousand questions, so one batch holds them.
  return grouped.batch(1 << 30).map(in_first_row_order).unbatch()


_NUMBERS = re.compile(r"\d+")


def _chosen(text: str) -> set[str]:
  return set(_NUMBERS.findall(text))


def multirc_grouped(targets: Sequence[str],
                    predictions: Sequence[str]) -> dict[str, float]:
  """MultiRC's official scores from per-question answer groups.

  Each target/prediction names the correct candidates of one question by
  number ("1, 3"; "none" names none). `exact_match`: percentage of questions
  whose chosen set is exactly right. `f1a`: F1 over all (question, candidate)
  decisions, i.e. binary F1 of "candidate is correct" pooled over questions.
  (flan_jax.data.metrics has no grouped MultiRC metric, so it lives here.)
  """
  if len(targets) != len(predictions):
    raise ValueError(f"got {len(targets)} targets but {len(predictions)} "
                     "predictions")
  exact = true_pos = false_pos = false_neg = 0
  for target, prediction in zip(targets, predictions):
    gold, chosen = _chosen(target), _chosen(prediction)
    exact += gold == chosen
    true_pos += len(gold & chosen)
    false_pos += len(chosen - gold)
    false_neg += len(gold - chosen)
  denominator = 2 * true_pos + false_pos + false_neg
  # F1a first: it is the headline number FLAN reports for MultiRC.
  return {
      "f1a": 100.0 * 2 * true_pos / denominator if denominator else 100.0,
      "exact_match": 100.0 * exact / max(len(targets), 1),
  }


MULTIRC_TEMPLATES = (
    Template("{paragraph}\n\nQuestion: {question}\nCandidate answers:\n"
             "{candidates}\n\nWhich of the candidates are correct? List "
             "their numbers.", "{answer}"),
    Template("Read the paragraph, then mark every right answer to the "
             "question.\n\nParagraph: {paragraph}\nQuestion: {question}\n"
             "{candidates}\nCorrect numbers:", "{answer}"),
    Template("{question}\n\nSeveral replies were suggested:\n{candidates}\n"
             "\nUsing this text, say which replies are true (there may be "
             "more than one).\n{paragraph}", "{answer}"),
    Template("Text: {paragraph}\n\nFor the question \"{question}\", which "
             "of these are valid answers?\n{candidates}", "{answer}"),
    Template("Here is a passage.\n{paragraph}\n\nSomeone asked: "
             "{question}\nThese answers were given:\n{candidates}\nGive the "
             "numbers of the answers the passage supports.", "{answer}"),
    Template("Paragraph: {paragraph}\nQ: {question}\nOptions:\n"
             "{candidates}\nSelect all that apply (answer with numbers):",
             "{answer}"),
    Template("Check each numbered answer against the paragraph and return "
             "the numbers of the correct ones.\n\n{paragraph}\n\n"
             "{question}\n{candidates}", "{answer}"),
    Template("{paragraph}\n\nBased on the paragraph, which responses to "
             "\"{question}\" are accurate?\n{candidates}", "{answer}"),
    Template("{paragraph}\n\nWrite a question about this paragraph that is "
             "correctly answered by: {correct_answers}", "{question}",
             inverted=True),
    Template("Question: {question}\nCorrect answers: {correct_answers}\n\n"
             "Write a short paragraph from which these answers follow.",
             "{paragraph}", inverted=True),
)

# --- OpenBookQA and BoolQ ------------------------------------------------------


@seqio.map_over_dataset
def prepare_openbookqa(ex):
  q = ex["question"]
  options = tf.stack(
      [q["choice_A"], q["choice_B"], q["choice_C"], q["choice_D"]])
  return {
      "fact": ex["fact1"],
      "question": q["stem"],
      "options": options,
      "answer": tf.gather(options, tf.cast(ex["answerKey"], tf.int32)),
  }


@seqio.map_over_dataset
def prepare_bool_q(ex):
  return {
      "title": ex["title"],
      "passage": ex["passage"],
      "question": ex["question"],
      "answer": tf.gather(tf.constant(YES_NO), tf.cast(ex["answer"],
                                                       tf.int32)),
  }


OPENBOOKQA_TEMPLATES = (
    Template("Fact: {fact}\nUsing this fact, complete or answer the "
             "following.\n{question}\n{options_}", "{answer}"),
    Template("{fact}\n\nGiven the statement above, {question}\n{options_}",
             "{answer}"),
    Template("Here is a science fact: {fact}\n\nQuestion: {question}\n"
             "Which choice is right?\n{options_}", "{answer}"),
    Template("{question}\n\nHint: {fact}\n{options_}", "{answer}"),
    Template("Pick the best answer using what you know and this fact: "
             "{fact}\n\n{question}\n{options_}", "{answer}"),
    Template("Knowing that {fact}, how would you answer this?\n{question}\n"
             "{options_}", "{answer}"),
    Template("Science question: {question}\nBackground: {fact}\n"
             "{options_}", "{answer}"),
    Template("Choose the option that correctly finishes or answers the "
             "question below.\n{question}\n(Useful fact: {fact})\n"
             "{options_}", "{answer}"),
    Template("The answer to \"{question}\" is \"{answer}\". Which general "
             "science fact explains why?", "{fact}", inverted=True),
    Template("{fact}\n\nWrite a multiple-choice question that tests this "
             "fact and whose correct answer is \"{answer}\".", "{question}",
             inverted=True),
)

BOOL_Q_TEMPLATES = (
    Template("{passage}\n\nBased on the passage, {question}?\n{options_}",
             "{answer}"),
    Template("Read the text about {title} and answer the yes/no "
             "question.\n\n{passage}\n\nQuestion: {question}?\n{options_}",
             "{answer}"),
    Template("Passage: {passage}\nIs it true that {question}?\n{options_}",
             "{answer}"),
    Template("{question}?\n\nThe following text may help:\n{passage}\n"
             "{options_}", "{answer}"),
    Template("Here is an article titled \"{title}\".\n{passage}\n\nAnswer "
             "with yes or no: {question}?\n{options_}", "{answer}"),
    Template("Text: {passage}\n\nQ: {question}?\n{options_}", "{answer}"),
    Template("Does the passage below support a \"yes\" answer to the "
             "question \"{question}\"?\n\n{passage}\n{options_}",
             "{answer}"),
    Template("I read this: {passage}\n\nSo, {question}?\n{options_}",
             "{answer}"),
    Template("{passage}\n\nWrite a yes/no question about this text whose "
             "answer is {answer}.", "{question}", inverted=True),
    Template("Give a title for this passage.\n\n{passage}", "{title}",
             inverted=True),
)


def _register_all() -> None:
  common.register_flan_dataset(
      name="squad_v1", cluster=CLUSTER, tfds_name="squad/v1.1",
      splits=common.SPLITS_VALIDATION_AS_TEST, prepare=[prepare_squad_v1],
      templates=SQUAD_V1_TEMPLATES, metric_fns=[squad_f1_first])
  common.register_flan_dataset(
      name="squad_v2", cluster=CLUSTER, tfds_name="squad/v2.0",
      splits=common.SPLITS_VALIDATION_AS_TEST, prepare=[prepare_squad_v2],
      templates=SQUAD_V2_TEMPLATES, metric_fns=[squad_f1_first])
  common.register_flan_dataset(
      name="drop", cluster=CLUSTER, tfds_name="drop",
      splits=common.splits(train=f"train[:-{common.VALIDATION_SIZE}]",
                           validation=f"train[-{common.VALIDATION_SIZE}:]",
                           test="dev"),
      prepare=[prepare_drop], templates=DROP_TEMPLATES,
      metric_fns=[squad_f1_first])
  common.register_flan_dataset(
      name="multirc", cluster=CLUSTER, tfds_name="super_glue/multirc",
      splits=common.SPLITS_VALIDATION_AS_TEST, prepare=[prepare_multirc],
      templates=MULTIRC_TEMPLATES, metric_fns=[multirc_grouped])
  common.register_flan_dataset(
      name="openbookqa", cluster=CLUSTER, tfds_name="openbookqa",
      splits=common.SPLITS_STANDARD, prepare=[prepare_openbookqa],
      templates=OPENBOOKQA_TEMPLATES,
      metric_fns=[metrics.exact_match_accuracy])
  common.register_flan_dataset(
      name="bool_q", cluster=CLUSTER, tfds_name="bool_q",
      splits=common.SPLITS_VALIDATION_AS_TEST, prepare=[prepare_bool_q],
      templates=BOOL_Q_TEMPLATES, options=YES_NO,
      metric_fns=[metrics.exact_match_accuracy])


_register_all()

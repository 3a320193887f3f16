"""FLAN 2021 cluster `paraphrase`: do two texts say the same thing?

* ``glue_mrpc`` (news sentences), ``glue_qqp`` (Quora questions) and
  ``paws_wiki`` (adversarial Wikipedia pairs with heavy word overlap): binary,
  options "no" / "yes". MRPC and QQP report F1 of "yes" and accuracy; PAWS
  reports accuracy.
* ``stsb``: graded similarity 0-5. Like FLAN, the score is binned into six
  classes (rounded half up to the nearest whole number, "0" ... "5") shown as
  options, so it is evaluated by rank classification (accuracy); generation
  tasks additionally report Pearson/Spearman between the predicted and the
  binned gold scores.

GLUE's test labels are hidden, so MRPC, QQP and STS-B use the validation set
as test and carve validation from the end of train.
"""

from __future__ import annotations

from typing import Sequence

import seqio
import tensorflow as tf

from flan_jax.data import metrics
from flan_jax.data.templates import Template
from tasks.flan2021 import common

CLUSTER = "paraphrase"
NO_YES = ("no", "yes")
STSB_OPTIONS = ("0", "1", "2", "3", "4", "5")


def f1_of_yes(targets: Sequence[str],
              predictions: Sequence[str]) -> dict[str, float]:
  """F1 of the "yes" (paraphrase) class, plus accuracy, as GLUE reports."""
  return metrics.f1_binary(targets, predictions, positive="yes")


def _pair_with_yes_no(first: str, second: str):
  """Preparation: the two texts as ``first``/``second`` and the 0/1 label as
  "no"/"yes"."""

  @seqio.map_over_dataset
  def prepare(ex):
    return {"first": ex[first], "second": ex[second],
            "answer": tf.gather(tf.constant(NO_YES), ex["label"])}

  return prepare


@seqio.map_over_dataset
def _prepare_stsb(ex):
  """Bins the 0-5 similarity: floor(x + 0.5), i.e. halves round up."""
  score = tf.clip_by_value(tf.floor(ex["label"] + 0.5), 0.0, 5.0)
  return {"first": ex["sentence1"], "second": ex["sentence2"],
          "answer": tf.strings.as_string(tf.cast(score, tf.int32))}


_MRPC_TEMPLATES = [
    Template("Sentence 1: {first}\nSentence 2: {second}\n\nDo these two "
             "sentences mean the same thing?\n{options_}", "{answer}"),
    Template("{first}\n{second}\n\nAre the two sentences above paraphrases "
             "of each other?\n{options_}", "{answer}"),
    Template("Here are two sentences from news articles.\nA: {first}\nB: "
             "{second}\nDo they report the same information?\n{options_}",
             "{answer}"),
    Template("Is the meaning of \"{first}\" the same as that of "
             "\"{second}\"?\n{options_}", "{answer}"),
    Template("Decide whether the second sentence restates the first.\n\n"
             "First: {first}\nSecond: {second}\n{options_}", "{answer}"),
    Template("{first}\n\nDoes the following sentence say the same thing as "
             "the one above?\n{second}\n{options_}", "{answer}"),
    Template("{options_}\nCould a reader swap one of these sentences for the "
             "other without changing the meaning?\n1. {first}\n2. {second}",
             "{answer}"),
    Template("Sentence one: {first}\nSentence two: {second}\nSemantically "
             "equivalent?\n{options_}", "{answer}"),
    Template("Sentence: {first}\nWrite a sentence so that the answer to "
             "\"do the two sentences mean the same?\" is \"{answer}\".",
             "{second}", inverted=True),
    Template("Write a news sentence that {is_or_is_not} a paraphrase of "
             "this one: {first}", "{second}", inverted=True),
]

_QQP_TEMPLATES = [
    Template("Question 1: {first}\nQuestion 2: {second}\n\nAre these two "
             "questions asking the same thing?\n{options_}", "{answer}"),
    Template("{first}\n{second}\n\nWould the same answer satisfy both "
             "questions above?\n{options_}", "{answer}"),
    Template("Two users posted these questions on a forum.\n- {first}\n- "
             "{second}\nShould one be marked as a duplicate of the other?\n"
             "{options_}", "{answer}"),
    Template("Is \"{first}\" a rewording of \"{second}\"?\n{options_}",
             "{answer}"),
    Template("First question: {first}\nSecond question: {second}\nDo they "
             "have the same meaning?\n{options_}", "{answer}"),
    Template("{first}\n\nIs the question below a duplicate of the question "
             "above?\n{second}\n{options_}", "{answer}"),
    Template("{options_}\nDecide if these questions are duplicates.\n"
             "Q1: {first}\nQ2: {second}", "{answer}"),
    Template("Are the following two questions the same?\n{first}\n{second}\n"
             "{options_}", "{answer}"),
    Template("Question: {first}\nWrite another question such that the answer "
             "to \"are these duplicates?\" is \"{answer}\".", "{second}",
             inverted=True),
    Template("Write a question that {is_or_is_not} a duplicate of: "
             "{first}", "{second}", inverted=True),
]

_PAWS_TEMPLATES = [
    Template("Sentence 1: {first}\nSentence 2: {second}\n\nDo these two "
             "sentences convey the same meaning?\n{options_}", "{answer}"),
    Template("{first}\n{second}\n\nThe two sentences above share most of "
             "their words. Do they also mean the same thing?\n{options_}",
             "{answer}"),
    Template("Read carefully: word order can change meaning.\nA: {first}\n"
             "B: {second}\nIs B a paraphrase of A?\n{options_}", "{answer}"),
    Template("Does \"{first}\" say the same as \"{second}\"?\n{options_}",
             "{answer}"),
    Template("Determine whether these sentences are paraphrases.\n\n{first}"
             "\n{second}\n{options_}", "{answer}"),
    Template("{first}\n\nIs this a faithful rewording of the sentence above?"
             "\n{second}\n{options_}", "{answer}"),
    Template("{options_}\nSame meaning or not?\n1) {first}\n2) {second}",
             "{answer}"),
    Template("First: {first}\nSecond: {second}\nAre they equivalent in "
             "meaning?\n{options_}", "{answer}"),
    Template("Sentence: {first}\nRearrange or reword it into a new sentence "
             "for which \"is it a paraphrase?\" has the answer \"{answer}\".",
             "{second}", inverted=True),
    Template("Write a sentence that uses nearly the same words as the one "
             "below but {is_or_is_not} a paraphrase of it.\n{first}",
             "{second}", inverted=True),
]

_STSB_TEMPLATES = [
    Template("Sentence 1: {first}\nSentence 2: {second}\n\nOn a scale from 0 "
             "(unrelated) to 5 (same meaning), how similar are these "
             "sentences?\n{options_}", "{answer}"),
    Template("{first}\n{second}\n\nRate how close the two sentences above "
             "are in meaning, from 0 to 5.\n{options_}", "{answer}"),
    Template("How much do \"{first}\" and \"{second}\" mean the same thing? "
             "Answer with a number between 0 and 5.\n{options_}", "{answer}"),
    Template("Give a similarity score (0 = nothing in common, 5 = "
             "equivalent).\nA: {first}\nB: {second}\n{options_}", "{answer}"),
    Template("{first}\n\nCompared with the sentence above, how similar in "
             "meaning is this one, from 0 to 5?\n{second}\n{options_}",
             "{answer}"),
    Template("{options_}\nScore the semantic similarity of these two "
             "sentences.\n1. {first}\n2. {second}", "{answer}"),
    Template("First sentence: {first}\nSecond sentence: {second}\nSimilarity "
             "from 0 to 5:\n{options_}", "{answer}"),
    Template("On a 0-5 scale, where 5 means they say exactly the same, "
             "judge these sentences:\n{first}\n{second}\n{options_}",
             "{answer}"),
    Template("Write a sentence whose similarity to \"{first}\" would be "
             "rated {answer} out of 5.", "{second}", inverted=True),
    Template("Sentence: {first}\nProduce another sentence that scores "
             "{answer} on a 0-to-5 meaning-similarity scale against it.",
             "{second}", inverted=True),
]


@seqio.map_over_dataset
def _add_answer_phrase(ex):
  """For inverted templates: "is" for a "yes" pair, "is not" for a "no"."""
  ex = dict(ex)
  ex["is_or_is_not"] = tf.where(tf.equal(ex["answer"], "yes"), "is",
                                "is not")
  return ex


common.register_flan_dataset(
    name="glue_mrpc", cluster=CLUSTER, tfds_name="glue/mrpc",
    splits=common.SPLITS_VALIDATION_AS_TEST,
    prepare=[_pair_with_yes_no("sentence1", "sentence2"), _add_answer_phrase],
    templates=_MRPC_TEMPLATES, options=NO_YES, metric_fns=[f1_of_yes])

common.register_flan_dataset(
    name="glue_qqp", cluster=CLUSTER, tfds_name="glue/qqp",
    splits=common.SPLITS_VALIDATION_AS_TEST,
    prepare=[_pair_with_yes_no("question1", "question2"), _add_answer_phrase],
    templates=_QQP_TEMPLATES, options=NO_YES, metric_fns=[f1_of_yes])

common.register_flan_dataset(
    name="paws_wiki", cluster=CLUSTER, tfds_name="paws_wiki",
    splits=common.SPLITS_STANDARD,
    prepare=[_pair_with_yes_no("sentence1", "sentence2"), _add_answer_phrase],
    templates=_PAWS_TEMPLATES, options=NO_YES,
    metric_fns=[metrics.exact_match_accuracy])

common.register_flan_dataset(
    name="stsb", cluster=CLUSTER, tfds_name="glue/stsb",
    splits=common.SPLITS_VALIDATION_AS_TEST, prepare=[_prepare_stsb],
    templates=_STSB_TEMPLATES, options=STSB_OPTIONS,
    metric_fns=[metrics.exact_match_accuracy, metrics.pearson_spearman])

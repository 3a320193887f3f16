"""FLAN 2021 cluster `open_domain_qa` (closed-book QA): TriviaQA, Natural
Questions (open), ARC-Challenge, ARC-Easy.

The model sees only the question, never a supporting document (TriviaQA's
evidence pages are dropped), so these measure what the model knows.

* TriviaQA: the target is the answer's canonical value; `references` adds
  every alias and normalised alias, so eval accepts any of them.
* Natural Questions (open): the first of the gold answers is the target;
  `references` holds all of them.
* ARC: the answer choices become per-example options (3 to 5 of them); the
  target is the text of the choice whose label matches the answer key.

Metrics: TriviaQA-style EM (answers normalised) for TriviaQA and NQ;
accuracy (rank classification at eval) for ARC.
"""

from __future__ import annotations

import seqio
import tensorflow as tf

from flan_jax.data import metrics
from flan_jax.data.templates import Template
from tasks.flan2021 import common

CLUSTER = "open_domain_qa"


@seqio.map_over_dataset
def prepare_trivia_qa(ex):
  answer = ex["answer"]
  return {"question": ex["question"], "answer": answer["value"],
          metrics.REFERENCES_FIELD: common.reference_list(
              answer["value"], answer["aliases"],
              answer["normalized_aliases"])}


@seqio.map_over_dataset
def prepare_natural_questions(ex):
  answers = tf.concat([ex["answer"], tf.constant([""])], axis=0)
  return {"question": ex["question"], "answer": answers[0],
          metrics.REFERENCES_FIELD: common.reference_list(ex["answer"])}


def prepare_arc(ds: tf.data.Dataset) -> tf.data.Dataset:
  """Choices -> per-example options; answer = text of the keyed choice.

  Examples without choices (none in the real data) are dropped, since a
  classification example needs its answer among its options.
  """
  ds = ds.filter(lambda ex: tf.size(ex["choices"]["text"]) > 0)

  def prepare(ex):
    options = ex["choices"]["text"]
    matches = tf.equal(ex["choices"]["label"], ex["answerKey"])
    answer_index = tf.argmax(tf.cast(matches, tf.int32), output_type=tf.int32)
    return {"question": ex["question"], "options": options,
            "answer": tf.gather(options, answer_index)}

  return ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)


TRIVIA_QA_TEMPLATES = (
    Template("Answer this trivia question: {question}", "{answer}"),
    Template("{question}", "{answer}"),
    Template("Quiz time! {question}\nYour answer:", "{answer}"),
    Template("Q: {question}\nA:", "{answer}"),
    Template("Test your general knowledge. {question}", "{answer}"),
    Template("Here is a pub quiz question. What is the answer?\n\n"
             "{question}", "{answer}"),
    Template("Please give a short answer to the following question.\n"
             "{question}", "{answer}"),
    Template("I was asked this at a trivia night and did not know it: "
             "{question}", "{answer}"),
    Template("Write a trivia question whose answer is {answer}.",
             "{question}", inverted=True),
    Template("The answer is \"{answer}\". Come up with a quiz question "
             "that leads to it.", "{question}", inverted=True),
)

NATURAL_QUESTIONS_TEMPLATES = (
    Template("{question}?", "{answer}"),
    Template("Answer the following question from memory: {question}?",
             "{answer}"),
    Template("Q: {question}?\nA:", "{answer}"),
    Template("Someone typed this into a search engine: \"{question}\". "
             "What is the answer?", "{answer}"),
    Template("Give a brief answer.\n\nQuestion: {question}?", "{answer}"),
    Template("What is the answer to this question? {question}?",
             "{answer}"),
    Template("Reply with just the answer, no explanation: {question}?",
             "{answer}"),
    Template("I want to know {question}. Can you tell me?", "{answer}"),
    Template("Write a question someone might search for whose answer is "
             "\"{answer}\".", "{question}", inverted=True),
    Template("Answer: {answer}\nWhat question could this answer?",
             "{question}", inverted=True),
)

ARC_TEMPLATES = (
    Template("{question}\n{options_}", "{answer}"),
    Template("Grade-school science question: {question}\n\nChoose the "
             "correct answer.\n{options_}", "{answer}"),
    Template("Question: {question}\nWhich of the following is right?\n"
             "{options_}", "{answer}"),
    Template("Pick the best answer to this science question.\n\n"
             "{question}\n{options_}", "{answer}"),
    Template("{question}\n\nSelect one answer from the list.\n{options_}",
             "{answer}"),
    Template("A student taking a science exam reads: \"{question}\" What "
             "should they answer?\n{options_}", "{answer}"),
    Template("Use your knowledge of science to answer.\nQ: {question}\n"
             "{options_}", "{answer}"),
    Template("Here is a multiple-choice question. {question}\n{options_}\n"
             "Answer:", "{answer}"),
    Template("Write a science exam question whose correct answer is "
             "\"{answer}\".", "{question}", inverted=True),
    Template("The right choice was \"{answer}\" among these:\n{options_}\n"
             "What science question was asked?", "{question}",
             inverted=True),
)


def _register_all() -> None:
  common.register_flan_dataset(
      name="trivia_qa", cluster=CLUSTER, tfds_name="trivia_qa/rc",
      splits=common.SPLITS_VALIDATION_AS_TEST, prepare=[prepare_trivia_qa],
      templates=TRIVIA_QA_TEMPLATES, metric_fns=[metrics.trivia_qa])
  common.register_flan_dataset(
      name="natural_questions", cluster=CLUSTER,
      tfds_name="natural_questions_open",
      splits=common.SPLITS_VALIDATION_AS_TEST,
      prepare=[prepare_natural_questions],
      templates=NATURAL_QUESTIONS_TEMPLATES, metric_fns=[metrics.trivia_qa])
  for name, config in (("arc_challenge", "ARC-Challenge"),
                       ("arc_easy", "ARC-Easy")):
    common.register_flan_dataset(
        name=name, cluster=CLUSTER, tfds_name=f"ai2_arc/{config}",
        splits=common.SPLITS_STANDARD, prepare=[prepare_arc],
        templates=ARC_TEMPLATES, metric_fns=[metrics.exact_match_accuracy])


_register_all()

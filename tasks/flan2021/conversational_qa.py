"""FLAN 2021 cluster `conversational_qa`: QuAC and CoQA.

QuAC: one question about a Wikipedia section, answered by a span of it (or
CANNOTANSWER); scored by TriviaQA-style exact match against the best of the
original answer and the extra annotators' answers (`references`). Each TFDS
example is one turn of a dialogue.

CoQA: a story with a whole conversation of questions. As in FLAN, one
example asks every question of a story at once, numbered, and the target is
the numbered list of answers; scored SQuAD-style (EM / F1) on that text.
Neither dataset has a labelled test split in TFDS other than the one used
here as test (QuAC: validation; CoQA: "test", which is CoQA's dev set), so
validation is the tail of train.
"""

import tensorflow as tf

from flan_jax.data import metrics
from flan_jax.data.templates import Template
from tasks.flan2021 import common

_VALIDATION_FROM_TRAIN = dict(train="train[:-200]", validation="train[-200:]")

# --- QuAC -----------------------------------------------------------------------


def _prepare_quac(ds: tf.data.Dataset) -> tf.data.Dataset:
  def prepare(ex):
    answer = tf.strings.strip(ex["orig_answer"]["text"])
    return {
        "title": ex["title"],
        "section_title": ex["section_title"],
        "background": ex["background"],
        "context": ex["context"],
        "question": ex["question"],
        "answer": answer,
        metrics.REFERENCES_FIELD: common.reference_list(
            answer, ex["answers"]["text"]),
    }

  return ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)


QUAC_TEMPLATES = (
    Template("{title}: {section_title}\n\n{context}\n\nQuestion: {question}\n"
             "Answer with a span from the text, or CANNOTANSWER if it does "
             "not say.", "{answer}"),
    Template("Background: {background}\nSection \"{section_title}\" of the "
             "article on {title}:\n{context}\n\n{question}", "{answer}"),
    Template("Read the passage and answer the question by quoting it.\n\n"
             "{context}\n\nQ: {question}\nA:", "{answer}"),
    Template("{context}\n\nThis is from an article about {title}. {question}",
             "{answer}"),
    Template("Article: {title}\nPart: {section_title}\nText: {context}\n"
             "Someone curious about {title} asks: \"{question}\" What does "
             "the text reply?", "{answer}"),
    Template("Question about {title}: {question}\n\nRelevant text:\n"
             "{context}\n\nCopy the words that answer it (CANNOTANSWER if "
             "none do).", "{answer}"),
    Template("{background}\n\n{context}\n\nUsing the text above, {question}",
             "{answer}"),
    Template("Passage ({section_title}):\n{context}\n\nQuestion: {question}\n"
             "Answer:", "{answer}"),
    Template("{context}\n\nAsk a question about {title} that this passage "
             "answers with \"{answer}\".", "{question}", inverted=True),
    Template("Here is an answer taken from an article on {title}: "
             "\"{answer}\"\nThe text is:\n{context}\nWhat question was it "
             "answering?", "{question}", inverted=True),
)

common.register_flan_dataset(
    name="quac", cluster="conversational_qa", tfds_name="quac",
    splits=common.splits(**_VALIDATION_FROM_TRAIN, test="validation"),
    prepare=[_prepare_quac], templates=QUAC_TEMPLATES,
    metric_fns=[metrics.trivia_qa])

# --- CoQA -----------------------------------------------------------------------


def _numbered(lines: tf.Tensor) -> tf.Tensor:
  """["a", "b"] -> "1. a\\n2. b" (empty for no lines)."""
  numbers = tf.strings.as_string(tf.range(1, tf.size(lines) + 1))
  return tf.strings.reduce_join(
      tf.strings.join([numbers, ". ", lines]), separator="\n")


def _prepare_coqa(ds: tf.data.Dataset) -> tf.data.Dataset:
  def prepare(ex):
    questions = ex["questions"]
    answers = ex["answers"]["input_text"]
    turns = tf.minimum(tf.size(questions), tf.size(answers))
    return {
        "story": ex["story"],
        "source": ex["source"],
        "questions": _numbered(questions[:turns]),
        "answers": _numbered(answers[:turns]),
    }

  return ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)


COQA_TEMPLATES = (
    Template("{story}\n\nAnswer these questions about the story, "
             "numbered as they are:\n{questions}", "{answers}"),
    Template("Read the text, then reply to each question in turn.\n\n"
             "{story}\n\n{questions}", "{answers}"),
    Template("Story ({source}):\n{story}\n\nQuestions:\n{questions}\n\n"
             "Answers:", "{answers}"),
    Template("{story}\n\nA reader asked a series of questions about this "
             "text:\n{questions}\nGive a short answer to each, keeping the "
             "numbers.", "{answers}"),
    Template("Here is a passage followed by a conversation's worth of "
             "questions. Answer all of them.\n\nPassage: {story}\n\n"
             "{questions}", "{answers}"),
    Template("{questions}\n\nAnswer each question above using this text:\n"
             "{story}", "{answers}"),
    Template("Text: {story}\n\nRespond briefly to the numbered questions:\n"
             "{questions}", "{answers}"),
    Template("Comprehension exercise.\n{story}\n\n{questions}\n\nWrite the "
             "answers as a numbered list.", "{answers}"),
    Template("{story}\n\nWrite a numbered list of questions about this text "
             "whose answers, in order, are:\n{answers}", "{questions}",
             inverted=True),
    Template("Answers:\n{answers}\n\nStory:\n{story}\n\nWhat were the "
             "numbered questions?", "{questions}", inverted=True),
)

common.register_flan_dataset(
    name="coqa", cluster="conversational_qa", tfds_name="coqa",
    splits=common.splits(**_VALIDATION_FROM_TRAIN, test="test"),
    prepare=[_prepare_coqa], templates=COQA_TEMPLATES,
    metric_fns=[metrics.squad])

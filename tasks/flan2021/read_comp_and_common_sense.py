"""FLAN 2021 cluster `read_comp_and_common_sense`: ReCoRD and Cosmos QA.

Both need reading plus everyday reasoning: ReCoRD fills a blank in a
follow-up sentence with an entity from a news article, Cosmos QA asks why or
what-next questions about a short personal story.

ReCoRD answer grouping: a query's gold answers are all mentions of one
entity, possibly spelled differently ("U.S." and "United States"). The
options are the article's distinct entities with those spellings grouped into
one: the first gold answer stays, the other gold spellings are removed, so
every example has exactly one correct option and rank classification never
marks a correct spelling wrong. The `@highlight` markers of the CNN/Daily Mail
articles become bullet points.

Metrics: accuracy (rank classification over the options at eval) for both;
ReCoRD's generation tasks also report SQuAD EM/F1, against the best of all
gold spellings (its `references`), as ReCoRD's official scorer does.
"""

from __future__ import annotations

import seqio
import tensorflow as tf

from flan_jax.data import metrics
from flan_jax.data.templates import Template
from tasks.flan2021 import common

CLUSTER = "read_comp_and_common_sense"
PLACEHOLDER = "@placeholder"


def _fill_placeholder(query: tf.Tensor, answer: tf.Tensor) -> tf.Tensor:
  """query with every @placeholder replaced by answer, taken literally.

  (regex_replace would read backslashes in the answer as group references.)
  """
  pieces = tf.strings.split(query, PLACEHOLDER)
  heads = pieces[:-1]
  filled = tf.strings.join([heads, tf.broadcast_to(answer, tf.shape(heads))])
  return tf.strings.reduce_join(tf.concat([filled, pieces[-1:]], axis=0))


def prepare_record(ds: tf.data.Dataset) -> tf.data.Dataset:
  """Article, query, grouped entity options and the answer.

  Queries without gold answers (the unlabelled test split) are dropped.
  """
  ds = ds.filter(lambda ex: tf.size(ex["answers"]) > 0)

  def prepare(ex):
    answers = ex["answers"]
    # (concat: indexing a statically empty list would fail while tracing,
    # even though such examples never get here.)
    answer = tf.concat([answers, [""]], axis=0)[0]
    # Entity order is kept; the answer is appended in case it is missing.
    entities = tf.unique(tf.concat([ex["entities"], [answer]], axis=0)).y
    is_gold = tf.reduce_any(
        tf.equal(entities[:, tf.newaxis], answers[tf.newaxis, :]), axis=1)
    keep = tf.logical_or(tf.equal(entities, answer), tf.logical_not(is_gold))
    passage = tf.strings.regex_replace(ex["passage"], r"\s*@highlight\s*",
                                       "\n- ")
    return {
        "passage": passage,
        "query": ex["query"],
        "filled_query": _fill_placeholder(ex["query"], answer),
        "options": tf.boolean_mask(entities, keep),
        "answer": answer,
        metrics.REFERENCES_FIELD: common.reference_list(answer, answers),
    }

  return ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)


@seqio.map_over_dataset
def prepare_cosmos_qa(ex):
  options = tf.stack([ex["answer0"], ex["answer1"], ex["answer2"],
                      ex["answer3"]])
  return {
      "context": ex["context"],
      "question": ex["question"],
      "options": options,
      "answer": tf.gather(options, tf.cast(ex["label"], tf.int32)),
  }


RECORD_TEMPLATES = (
    Template("{passage}\n\nWhich entity should replace @placeholder in "
             "this sentence?\n{query}\n{options_}", "{answer}"),
    Template("Read the news story and fill in the blank marked "
             "@placeholder.\n\nStory: {passage}\n\nSentence: {query}\n"
             "{options_}", "{answer}"),
    Template("{passage}\n\nWhat comes in place of @placeholder in the "
             "following?\n\"{query}\"\n{options_}", "{answer}"),
    Template("Article:\n{passage}\n\nContinuation with a gap: {query}\n"
             "Who or what is missing?\n{options_}", "{answer}"),
    Template("Here is a follow-up line to a news article, with one name "
             "hidden as @placeholder: {query}\n\nThe article:\n{passage}\n\n"
             "Which option is hidden?\n{options_}", "{answer}"),
    Template("{passage}\n\nComplete the sentence by choosing the right "
             "entity.\n{query}\n{options_}", "{answer}"),
    Template("Use the passage to resolve @placeholder.\n{passage}\n{query}"
             "\n{options_}", "{answer}"),
    Template("{passage}\n\nWrite one more sentence that could follow this "
             "article and mentions {answer}.", "{filled_query}",
             inverted=True),
    Template("{passage}\n\nGive a sentence related to the story in which "
             "one entity is replaced by @placeholder.", "{query}",
             inverted=True),
    Template("{passage}\n\nA reader wrote \"{filled_query}\". Rewrite it "
             "with {answer} hidden behind the marker @placeholder.",
             "{query}", inverted=True),
)

COSMOS_QA_TEMPLATES = (
    Template("{context}\n\n{question}\n{options_}", "{answer}"),
    Template("Read this story and answer the question using common "
             "sense.\n\nStory: {context}\nQuestion: {question}\n{options_}",
             "{answer}"),
    Template("Context: {context}\nQ: {question}\nWhich answer is most "
             "plausible?\n{options_}", "{answer}"),
    Template("{question}\n\nThink about this account before you answer:\n"
             "{context}\n{options_}", "{answer}"),
    Template("Here is what someone wrote: \"{context}\"\n\nBased on it, "
             "{question}\n{options_}", "{answer}"),
    Template("Pick the most reasonable answer to the question about the "
             "passage.\n{context}\n{question}\n{options_}", "{answer}"),
    Template("{context}\n\nReading between the lines: {question}\n"
             "{options_}", "{answer}"),
    Template("Passage: {context}\n\nChoose the best reply. {question}\n"
             "{options_}\nAnswer:", "{answer}"),
    Template("{context}\n\nWrite a question about this story whose answer "
             "is: {answer}", "{question}", inverted=True),
    Template("Answer: {answer}\n\nWhat question about the passage below "
             "does this answer?\n{context}", "{question}", inverted=True),
)


def _register_all() -> None:
  common.register_flan_dataset(
      name="record", cluster=CLUSTER, tfds_name="super_glue/record",
      splits=common.SPLITS_VALIDATION_AS_TEST, prepare=[prepare_record],
      templates=RECORD_TEMPLATES, metric_fns=[metrics.squad])
  common.register_flan_dataset(
      name="cosmos_qa", cluster=CLUSTER, tfds_name="cosmos_qa",
      splits=common.SPLITS_VALIDATION_AS_TEST, prepare=[prepare_cosmos_qa],
      templates=COSMOS_QA_TEMPLATES,
      metric_fns=[metrics.exact_match_accuracy])


_register_all()

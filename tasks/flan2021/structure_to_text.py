"""FLAN 2021 cluster `structure_to_text`: turn structured data into prose.

Four GEM datasets: RDF triples (WebNLG, DART), a restaurant's attribute
record (E2E) and a bag of concepts (CommonGen), each to be written as fluent
sentences. Every example may have several human references; the metric is
ROUGE taking, per example, the best-matching reference (`metrics.rouge` does
that when the target is a list).

Preparation keeps the structured input as one readable string, the answer
(the example's ``target``, or its first non-empty reference where the target
is blank, as in GEM's evaluation splits) and ``references``, the whole list,
which the registry's default postprocessor (`metrics.strip_postprocessor`)
hands to the metric at evaluation.
"""

from __future__ import annotations

import seqio
import tensorflow as tf

from flan_jax.data import metrics
from flan_jax.data.templates import Template
from tasks.flan2021 import common

CLUSTER = "structure_to_text"
def _answer_and_references(ex) -> dict[str, tf.Tensor]:
  """The training target and every reference, in tf ops.

  GEM's test splits can leave ``target`` empty and keep the human
  references in ``references``; the answer falls back to the first
  non-empty one.
  """
  candidates = tf.concat([[ex["target"]], ex["references"]], axis=0)
  non_empty = tf.boolean_mask(candidates,
                              tf.strings.length(candidates) > 0)
  answer = tf.concat([non_empty, [""]], axis=0)[0]
  references = tf.concat([ex["references"], [ex["target"]]], axis=0)
  references = tf.boolean_mask(references, tf.strings.length(references) > 0)
  return {"answer": answer, metrics.REFERENCES_FIELD: references}


def _join_triples(triples: tf.Tensor, separator: str = "; ") -> tf.Tensor:
  """'Aarhus_Airport | cityServed | Aarhus' lines -> one '; '-joined string,
  with DBpedia's underscores read as spaces."""
  text = tf.strings.reduce_join(triples, separator=separator)
  return tf.strings.regex_replace(text, "_", " ")


@seqio.map_over_dataset
def _prepare_web_nlg(ex):
  return {"triples": _join_triples(ex["input"]), **_answer_and_references(ex)}


@seqio.map_over_dataset
def _prepare_dart(ex):
  # tripleset_newline (one triple a line) serves the FLAN release's
  # templates (TEMPLATE_SET = 'paper').
  return {"triples": _join_triples(ex["tripleset"]),
          "tripleset_newline": _join_triples(ex["tripleset"], "\n"),
          **_answer_and_references(ex)}


@seqio.map_over_dataset
def _prepare_common_gen(ex):
  # concepts_newline serves the FLAN release's templates ('paper').
  return {"concepts": tf.strings.reduce_join(ex["concepts"], separator=", "),
          "concepts_newline": tf.strings.reduce_join(ex["concepts"],
                                                     separator="\n"),
          **_answer_and_references(ex)}


@seqio.map_over_dataset
def _prepare_e2e(ex):
  return {"record": ex["meaning_representation"],
          **_answer_and_references(ex)}


# --- web_nlg_en: DBpedia triples -> text -------------------------------------

_WEB_NLG_TEMPLATES = [
    Template("Write a sentence that expresses all of these facts:\n{triples}",
             "{answer}"),
    Template("Facts: {triples}\n\nTurn the facts above into plain English.",
             "{answer}"),
    Template("Here are some subject | relation | object triples.\n{triples}\n"
             "Describe what they say in a short text.", "{answer}"),
    Template("{triples}\n\nWhat would a person write to convey this "
             "information?", "{answer}"),
    Template("Data: {triples}\nText:", "{answer}"),
    Template("Put the following knowledge-base entries into one or two "
             "well-formed sentences: {triples}", "{answer}"),
    Template("Verbalise this data.\n\n{triples}", "{answer}"),
    Template("Using every fact listed here, write a fluent description.\n"
             "{triples}", "{answer}"),
    Template("Sentence: {answer}\n\nList the facts in this sentence as "
             "subject | relation | object triples, separated by semicolons.",
             "{triples}", inverted=True),
    Template("What data is contained in this sentence?\n{answer}",
             "{triples}", inverted=True),
]

# --- common_gen: a set of concepts -> an everyday sentence using them --------

_COMMON_GEN_TEMPLATES = [
    Template("Write a sentence about everyday life that uses all of these "
             "words: {concepts}", "{answer}"),
    Template("Concepts: {concepts}\n\nMake a natural sentence that contains "
             "each concept.", "{answer}"),
    Template("Create a short sentence using the following words: {concepts}",
             "{answer}"),
    Template("{concepts}\n\nWhat is a plausible scene that involves all of "
             "the words above? Describe it in one sentence.", "{answer}"),
    Template("Combine these words into a sensible sentence: {concepts}.",
             "{answer}"),
    Template("Words: {concepts}\nSentence:", "{answer}"),
    Template("Here are a few keywords: {concepts}. Write one sentence that "
             "a person might actually say, containing all of them.",
             "{answer}"),
    Template("Describe a situation with {concepts} in a single sentence.",
             "{answer}"),
    Template("Which key concepts appear in this sentence?\n{answer}",
             "{concepts}", inverted=True),
    Template("Sentence: {answer}\nList the main nouns and verbs it is built "
             "around.", "{concepts}", inverted=True),
]

# --- e2e_nlg: a restaurant's attributes -> a description -------------------

_E2E_TEMPLATES = [
    Template("Describe this restaurant in a sentence or two:\n{record}",
             "{answer}"),
    Template("Attributes: {record}\n\nWrite a short description of the "
             "place these attributes describe.", "{answer}"),
    Template("{record}\n\nTurn the restaurant data above into a sentence.",
             "{answer}"),
    Template("Here is a database entry for a place to eat: {record}\nWhat "
             "would a guidebook say about it?", "{answer}"),
    Template("Meaning representation: {record}\nText:", "{answer}"),
    Template("Write a review-style sentence that mentions every attribute "
             "in this record.\n{record}", "{answer}"),
    Template("Express the following information in natural language: "
             "{record}", "{answer}"),
    Template("Using the details {record}, write a description of the "
             "restaurant.", "{answer}"),
    Template("Sentence: {answer}\n\nWhat attributes of the restaurant does "
             "this sentence mention? Write them as name[value] pairs.",
             "{record}", inverted=True),
    Template("Extract a structured record from this description:\n{answer}",
             "{record}", inverted=True),
]

# --- dart: triples from tables and Wikipedia -> text ------------------------

_DART_TEMPLATES = [
    Template("Write a sentence that contains the following data:\n{triples}",
             "{answer}"),
    Template("Triples: {triples}\n\nWhat sentence could these triples have "
             "been taken from?", "{answer}"),
    Template("{triples}\n\nDescribe the information above in plain words.",
             "{answer}"),
    Template("Generate a sentence from this structured data: {triples}",
             "{answer}"),
    Template("Data: {triples}\nSentence:", "{answer}"),
    Template("Here are some facts written as subject | relation | object.\n"
             "{triples}\nWrite them out as a sentence.", "{answer}"),
    Template("Express every fact in this list in one coherent sentence: "
             "{triples}", "{answer}"),
    Template("Produce a fluent description covering these records.\n\n"
             "{triples}", "{answer}"),
    Template("Sentence: {answer}\nWrite down the facts it states as "
             "subject | relation | object triples.", "{triples}",
             inverted=True),
    Template("Break this sentence into structured data:\n{answer}",
             "{triples}", inverted=True),
]

_METRICS = [metrics.rouge]

common.register_flan_dataset(
    name="web_nlg_en", cluster=CLUSTER, tfds_name="gem/web_nlg_en",
    splits=common.SPLITS_STANDARD, prepare=[_prepare_web_nlg],
    templates=_WEB_NLG_TEMPLATES, metric_fns=_METRICS)

# GEM's CommonGen test split hides its references, so its validation split
# serves as the test set (validation is carved from the end of train).
common.register_flan_dataset(
    name="common_gen", cluster=CLUSTER, tfds_name="gem/common_gen",
    splits=common.SPLITS_VALIDATION_AS_TEST, prepare=[_prepare_common_gen],
    templates=_COMMON_GEN_TEMPLATES, metric_fns=_METRICS)

common.register_flan_dataset(
    name="e2e_nlg", cluster=CLUSTER, tfds_name="gem/e2e_nlg",
    splits=common.SPLITS_STANDARD, prepare=[_prepare_e2e],
    templates=_E2E_TEMPLATES, metric_fns=_METRICS)

common.register_flan_dataset(
    name="dart", cluster=CLUSTER, tfds_name="gem/dart",
    splits=common.SPLITS_STANDARD, prepare=[_prepare_dart],
    templates=_DART_TEMPLATES, metric_fns=_METRICS)

"""FLAN 2021 cluster `common_sense`: pick the continuation that makes sense.

Four multiple-choice datasets; each example carries its own answer choices,
so preparation puts them in an ``options`` field (a 1-D string tensor) and
the correct one in ``answer``. Scored by accuracy (rank classification over
the example's options at evaluation).

* ``copa``: a premise and two alternatives, asking for the cause or the
  effect.
* ``hellaswag``: the start of a video caption or how-to step, four endings.
* ``story_cloze``: four sentences of a story, two candidate last sentences.
  TFDS stores the right ending 1-based (1 or 2).
* ``piqa``: a physical goal and two ways to reach it.

Examples whose label does not point at one of their choices (unlabelled test
rows carry -1) are dropped, so a label-less split cannot crash the pipeline.
"""

from __future__ import annotations

import tensorflow as tf

from flan_jax.data import metrics
from flan_jax.data.templates import Template
from tasks.flan2021 import common

CLUSTER = "common_sense"


def _with_choice(ds: tf.data.Dataset, to_fields, *, label_offset: int = 0
                 ) -> tf.data.Dataset:
  """Maps raw examples to fields plus ``options``/``answer``.

  `to_fields(ex)` returns (fields, options, label); the label minus
  `label_offset` indexes the options. Rows with an out-of-range label are
  filtered out before `tf.gather` could fail on them.
  """

  def convert(ex):
    fields, options, label = to_fields(ex)
    index = tf.cast(label, tf.int32) - label_offset
    return dict(fields, options=options), index

  def valid(fields, index):
    return tf.logical_and(index >= 0,
                          index < tf.shape(fields["options"])[0])

  def finish(fields, index):
    return dict(fields, answer=tf.gather(fields["options"], index))

  ds = ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE)
  return ds.filter(valid).map(finish, num_parallel_calls=tf.data.AUTOTUNE)


def _prepare_copa(ds):
  """``question`` is "cause" or "effect"; ``connective`` reads it as
  "because" / "so" for templates that continue the premise, which
  ``premise_clause`` gives without its final full stop."""

  def fields(ex):
    is_cause = tf.equal(ex["question"], "cause")
    clause = tf.strings.regex_replace(ex["premise"], r"[.!?]\s*$", "")
    return ({"premise": ex["premise"], "question": ex["question"],
             "premise_clause": clause,
             "connective": tf.where(is_cause, "because", "so")},
            tf.stack([ex["choice1"], ex["choice2"]]), ex["label"])

  return _with_choice(ds, fields)


def _prepare_hellaswag(ds):

  def fields(ex):
    return ({"context": ex["context"], "activity": ex["activity_label"]},
            ex["endings"], ex["label"])

  return _with_choice(ds, fields)


def _prepare_story_cloze(ds):

  def fields(ex):
    return {"context": ex["context"]}, ex["endings"], ex["label"]

  return _with_choice(ds, fields, label_offset=1)


def _prepare_piqa(ds):

  def fields(ex):
    return ({"goal": ex["goal"]}, tf.stack([ex["sol1"], ex["sol2"]]),
            ex["label"])

  return _with_choice(ds, fields)


_COPA_TEMPLATES = [
    Template("Premise: {premise}\nWhat is the more likely {question}?\n"
             "{options_}", "{answer}"),
    Template("{premise} What was the {question} of this?\n{options_}",
             "{answer}"),
    Template("Here is a situation: \"{premise}\"\nChoose the most plausible "
             "{question}.\n{options_}", "{answer}"),
    Template("{premise}\n\nWhich alternative is the {question}?\n{options_}",
             "{answer}"),
    Template("Finish the sentence: \"{premise_clause} {connective} ...\"\n"
             "{options_}", "{answer}"),
    Template("{options_}\nOf the choices above, which is the better "
             "{question} of the following?\n{premise}", "{answer}"),
    Template("Think about everyday cause and effect.\nEvent: {premise}\n"
             "Pick the {question}.\n{options_}", "{answer}"),
    Template("\"{premise}\" - which of these makes more sense as its "
             "{question}?\n{options_}", "{answer}"),
    Template("Write a sentence describing an event whose {question} is: "
             "{answer}", "{premise}", inverted=True),
    Template("{answer}\n\nWhat might have happened, given that the sentence "
             "above is its {question}?", "{premise}", inverted=True),
]

_HELLASWAG_TEMPLATES = [
    Template("{context}\n\nWhat most naturally comes next?\n{options_}",
             "{answer}"),
    Template("Topic: {activity}\n{context}...\nHow does the passage "
             "continue?\n{options_}", "{answer}"),
    Template("Finish the following text with the most sensible ending.\n\n"
             "{context}\n{options_}", "{answer}"),
    Template("{context}\nWhich of these is the most likely next sentence?\n"
             "{options_}", "{answer}"),
    Template("Here is the start of a description (topic: {activity}):\n"
             "{context}\nPick the continuation that fits.\n{options_}",
             "{answer}"),
    Template("{options_}\nWhich ending above best completes this?\n"
             "{context}", "{answer}"),
    Template("Continue the passage.\n{context}\n{options_}", "{answer}"),
    Template("What happens next in this scene about {activity}?\n\n"
             "{context}\n{options_}", "{answer}"),
    Template("Write the beginning of a passage about {activity} that could "
             "lead into: \"{answer}\"", "{context}", inverted=True),
    Template("{answer}\n\nWhat might have come right before the sentence "
             "above?", "{context}", inverted=True),
]

_STORY_CLOZE_TEMPLATES = [
    Template("{context}\n\nWhat is the most fitting end to this story?\n"
             "{options_}", "{answer}"),
    Template("Story: {context}\nHow does it end?\n{options_}", "{answer}"),
    Template("Read the first part of a short story and choose the last "
             "sentence.\n\n{context}\n{options_}", "{answer}"),
    Template("{context}\nWhich sentence finishes the story sensibly?\n"
             "{options_}", "{answer}"),
    Template("{options_}\nOne of the sentences above is the real ending of "
             "this story. Which one?\n{context}", "{answer}"),
    Template("Here is a story with its last line missing:\n{context}\nPick "
             "the line that completes it.\n{options_}", "{answer}"),
    Template("Continue the story with one sentence.\n{context}\n{options_}",
             "{answer}"),
    Template("What happens at the end?\n\n{context}\n{options_}",
             "{answer}"),
    Template("Write the first four sentences of a story that ends with: "
             "{answer}", "{context}", inverted=True),
    Template("Ending: {answer}\n\nMake up the start of a short story that "
             "leads to this ending.", "{context}", inverted=True),
]

_PIQA_TEMPLATES = [
    Template("Goal: {goal}\n\nWhich way of doing this makes more sense?\n"
             "{options_}", "{answer}"),
    Template("{goal}\n\nWhich of these completes the instruction best?\n"
             "{options_}", "{answer}"),
    Template("{goal}\nPick the solution that would actually work.\n"
             "{options_}", "{answer}"),
    Template("Someone wants to achieve this: \"{goal}\" What should they "
             "do?\n{options_}", "{answer}"),
    Template("{options_}\nWhich of the methods above is the right one for "
             "this task?\n{goal}", "{answer}"),
    Template("Use common sense about the physical world.\nTask: {goal}\n"
             "{options_}", "{answer}"),
    Template("What is the best way to do the following? {goal}\n{options_}",
             "{answer}"),
    Template("Here is a goal: {goal}\n\nHow would you accomplish it?\n"
             "{options_}", "{answer}"),
    Template("Write a goal that this would be a sensible way to reach: "
             "{answer}", "{goal}", inverted=True),
    Template("Solution: {answer}\nWhat problem does this solve?", "{goal}",
             inverted=True),
]

_ACCURACY = [metrics.exact_match_accuracy]

# SuperGLUE hides COPA's test labels: validation serves as test.
common.register_flan_dataset(
    name="copa", cluster=CLUSTER, tfds_name="super_glue/copa",
    splits=common.SPLITS_VALIDATION_AS_TEST, prepare=[_prepare_copa],
    templates=_COPA_TEMPLATES, metric_fns=_ACCURACY)

# HellaSwag's test labels are hidden too.
common.register_flan_dataset(
    name="hellaswag", cluster=CLUSTER, tfds_name="hellaswag",
    splits=common.SPLITS_VALIDATION_AS_TEST, prepare=[_prepare_hellaswag],
    templates=_HELLASWAG_TEMPLATES, metric_fns=_ACCURACY)

# Story Cloze 2016 has no train split: training reads its validation set
# (all but the last 200, which become our validation); test is its test set.
# TFDS needs its CSV files downloaded by hand (`tfds build --manual_dir`).
common.register_flan_dataset(
    name="story_cloze", cluster=CLUSTER, tfds_name="story_cloze/2016",
    splits=common.splits(train="validation[:-200]",
                         validation="validation[-200:]", test="test"),
    prepare=[_prepare_story_cloze], templates=_STORY_CLOZE_TEMPLATES,
    metric_fns=_ACCURACY)

# PIQA's test labels are hidden.
common.register_flan_dataset(
    name="piqa", cluster=CLUSTER, tfds_name="piqa",
    splits=common.SPLITS_VALIDATION_AS_TEST, prepare=[_prepare_piqa],
    templates=_PIQA_TEMPLATES, metric_fns=_ACCURACY)

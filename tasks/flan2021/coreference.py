"""FLAN 2021 cluster `coreference`: who or what does a pronoun refer to?

Definite Pronoun Resolution, WinoGrande and SuperGLUE's WSC train and
evaluate; WSC273 is evaluation-only (it has only a test split and overlaps
WSC). DPR, WinoGrande and WSC273 list their two candidates as the options of
each example; SuperGLUE's WSC asks whether one named candidate is the
pronoun's referent (yes / no).
"""

import tensorflow as tf

from flan_jax.data import metrics
from flan_jax.data.templates import Template
from tasks.flan2021 import common

_ACCURACY = [metrics.exact_match_accuracy]


def _candidates_as_options(first: str | None, second: str | None,
                           candidates: str | None = None):
  """Options are the example's two candidates; the answer is the labelled one.

  Reads either a sequence field `candidates` or two string fields.
  """

  def prepare(ds: tf.data.Dataset) -> tf.data.Dataset:
    def add(ex):
      ex = dict(ex)
      if candidates is not None:
        options = tf.strings.strip(ex[candidates])
      else:
        options = tf.stack([ex[first], ex[second]])
      ex["options"] = options
      label = tf.cast(ex["label"], tf.int32)
      ex["answer"] = tf.gather(options, tf.clip_by_value(
          label, 0, tf.maximum(tf.size(options) - 1, 0)))
      return ex

    def valid(ex):  # a labelled candidate must exist
      size = (tf.size(ex[candidates]) if candidates is not None
              else tf.constant(2))
      label = tf.cast(ex["label"], tf.int32)
      return tf.logical_and(label >= 0, label < size)

    return ds.filter(valid).map(add, num_parallel_calls=tf.data.AUTOTUNE)

  return prepare


# --- Definite Pronoun Resolution ----------------------------------------------

DPR_TEMPLATES = (
    Template("{sentence}\n\nIn the sentence above, who or what does "
             "\"{pronoun}\" refer to?\n{options_}", "{answer}"),
    Template("Sentence: {sentence}\nPronoun: {pronoun}\nWhich candidate is "
             "the pronoun about?\n{options_}", "{answer}"),
    Template("Resolve the pronoun \"{pronoun}\" in this sentence:\n"
             "{sentence}\n{options_}", "{answer}"),
    Template("Read: \"{sentence}\"\nHere \"{pronoun}\" stands for which of "
             "these?\n{options_}", "{answer}"),
    Template("{sentence}\nWhom or what does the word \"{pronoun}\" point "
             "back to?\n{options_}", "{answer}"),
    Template("Find the antecedent of \"{pronoun}\".\n\n{sentence}\n"
             "{options_}", "{answer}"),
    Template("In \"{sentence}\", the pronoun \"{pronoun}\" means\n{options_}",
             "{answer}"),
    Template("Coreference question. Text: {sentence}\nWhich option does "
             "\"{pronoun}\" corefer with?\n{options_}", "{answer}"),
    Template("Which of the candidates below is meant by \"{pronoun}\" in "
             "the following sentence?\n{sentence}\n{options_}", "{answer}"),
    Template("Write a sentence containing the pronoun \"{pronoun}\" in which "
             "the pronoun refers to \"{answer}\".", "{sentence}",
             inverted=True),
)

common.register_flan_dataset(
    name="definite_pronoun_resolution", cluster="coreference",
    tfds_name="definite_pronoun_resolution",
    splits=common.splits(train="train[:-200]", validation="train[-200:]",
                         test="test"),
    prepare=[_candidates_as_options(None, None, candidates="candidates")],
    templates=DPR_TEMPLATES, metric_fns=_ACCURACY)

# --- WinoGrande -----------------------------------------------------------------

WINOGRANDE_TEMPLATES = (
    Template("Fill in the blank (_) in the sentence with the right "
             "option.\n\n{sentence}\n{options_}", "{answer}"),
    Template("{sentence}\n\nWhich choice belongs where the underscore "
             "is?\n{options_}", "{answer}"),
    Template("Sentence with a gap: {sentence}\nWhat fills the gap best?\n"
             "{options_}", "{answer}"),
    Template("Complete the sentence by choosing what \"_\" stands for:\n"
             "{sentence}\n{options_}", "{answer}"),
    Template("Here is a sentence where one word or phrase is replaced by "
             "\"_\":\n{sentence}\nWhat was replaced?\n{options_}", "{answer}"),
    Template("{sentence}\nWho or what is the \"_\" in this sentence?\n"
             "{options_}", "{answer}"),
    Template("Pick the option that makes this sentence sensible.\nSentence: "
             "{sentence}\n{options_}", "{answer}"),
    Template("Blank-filling question:\n{sentence}\n{options_}", "{answer}"),
    Template("Which of the two options does \"_\" refer to?\n\n{sentence}\n"
             "{options_}", "{answer}"),
    Template("Write a sentence with a blank (_) where the right filler is "
             "\"{answer}\".", "{sentence}", inverted=True),
)

common.register_flan_dataset(
    name="winogrande", cluster="coreference", tfds_name="winogrande",
    # The test labels are hidden; the XL training set is the largest.
    splits=common.splits(train="train_xl[:-200]",
                         validation="train_xl[-200:]", test="validation"),
    prepare=[_candidates_as_options("option1", "option2")],
    templates=WINOGRANDE_TEMPLATES, metric_fns=_ACCURACY)

# --- SuperGLUE WSC: is the pronoun about this noun? ----------------------------

_YES_NO = ("no", "yes")  # label 0 = False, 1 = True

WSC_TEMPLATES = (
    Template("{text}\n\nIn the passage above, does the pronoun "
             "\"{span2_text}\" refer to {span1_text}?\n{options_}", "{answer}"),
    Template("Passage: {text}\nQuestion: is \"{span2_text}\" another way of "
             "saying \"{span1_text}\" here?\n{options_}", "{answer}"),
    Template("Read this: {text}\nWhen the text says \"{span2_text}\", does "
             "it mean {span1_text}?\n{options_}", "{answer}"),
    Template("{text}\nDo \"{span1_text}\" and \"{span2_text}\" name the same "
             "thing in this text?\n{options_}", "{answer}"),
    Template("Coreference check.\nText: {text}\nPronoun: {span2_text}\n"
             "Candidate: {span1_text}\nIs the candidate the referent?\n"
             "{options_}", "{answer}"),
    Template("Is it correct that \"{span2_text}\" stands for \"{span1_text}\" "
             "in the following sentence?\n{text}\n{options_}", "{answer}"),
    Template("{text}\n\nHere, is {span1_text} what \"{span2_text}\" is "
             "about?\n{options_}", "{answer}"),
    Template("Decide whether the pronoun refers to the given noun "
             "phrase.\n\n{text}\nPronoun: \"{span2_text}\"; noun phrase: "
             "\"{span1_text}\"\n{options_}", "{answer}"),
    Template("In the sentence \"{text}\", could \"{span2_text}\" be replaced "
             "by \"{span1_text}\" without changing who is meant?\n{options_}",
             "{answer}"),
    Template("{text}\n\nName a noun phrase from the text for which the "
             "answer to \"does '{span2_text}' refer to it?\" is \"{answer}\".",
             "{span1_text}", inverted=True),
)

common.register_flan_dataset(
    name="wsc", cluster="coreference", tfds_name="super_glue/wsc",
    splits=common.SPLITS_VALIDATION_AS_TEST,
    prepare=[common.label_to_text(_YES_NO)],
    templates=WSC_TEMPLATES, options=("no", "yes"), metric_fns=_ACCURACY)

# --- WSC273: evaluation only --------------------------------------------------

WSC273_TEMPLATES = (
    Template("{text}\n\nWho or what does \"{pronoun_text}\" refer to in the "
             "text above?\n{options_}", "{answer}"),
    Template("Text: {text}\nPronoun: {pronoun_text}\nWhich candidate is the "
             "pronoun about?\n{options_}", "{answer}"),
    Template("Resolve \"{pronoun_text}\" in this passage:\n{text}\n{options_}",
             "{answer}"),
    Template("{text}\nHere, \"{pronoun_text}\" means which of these?\n"
             "{options_}", "{answer}"),
    Template("Read the sentence and pick the referent of \"{pronoun_text}\"."
             "\n\n{text}\n{options_}", "{answer}"),
    Template("Winograd schema: {text}\nThe pronoun \"{pronoun_text}\" refers "
             "to\n{options_}", "{answer}"),
    Template("In \"{text}\", who or what is meant by \"{pronoun_text}\"?\n"
             "{options_}", "{answer}"),
    Template("Find what \"{pronoun_text}\" points back to.\nSentence: {text}"
             "\n{options_}", "{answer}"),
    Template("Which option could replace \"{pronoun_text}\" in the text "
             "below without changing its meaning?\n{text}\n{options_}",
             "{answer}"),
    Template("Write a short passage containing \"{pronoun_text}\" where the "
             "pronoun refers to \"{answer}\".", "{text}", inverted=True),
)

common.register_flan_dataset(
    name="wsc273", cluster="coreference", tfds_name="wsc273",
    splits=common.splits(test="test"), eval_only=True, caps={},
    prepare=[_candidates_as_options("option1", "option2")],
    templates=WSC273_TEMPLATES, metric_fns=_ACCURACY)

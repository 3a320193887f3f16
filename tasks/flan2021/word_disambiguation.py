"""FLAN 2021 cluster `word_disambiguation`: Word-in-Context (WiC).

Is a word used with the same meaning in two sentences? SuperGLUE hides the
test labels, so validation serves as test and validation is the tail of
train.
"""

from flan_jax.data import metrics
from flan_jax.data.templates import Template
from tasks.flan2021 import common

_OPTIONS = ("no", "yes")  # label 0 = different sense, 1 = same sense

WIC_TEMPLATES = (
    Template("Sentence A: {sentence1}\nSentence B: {sentence2}\n\nDoes the "
             "word \"{word}\" have the same meaning in both sentences?\n"
             "{options_}", "{answer}"),
    Template("{sentence1}\n{sentence2}\nIs \"{word}\" used in the same sense "
             "in these two sentences?\n{options_}", "{answer}"),
    Template("Compare how \"{word}\" is used here.\nFirst: {sentence1}\n"
             "Second: {sentence2}\nSame meaning?\n{options_}", "{answer}"),
    Template("Would a dictionary give the same definition of \"{word}\" for "
             "both of these sentences?\n1. {sentence1}\n2. {sentence2}\n"
             "{options_}", "{answer}"),
    Template("Word: {word}\nUse 1: {sentence1}\nUse 2: {sentence2}\nDo the "
             "two uses share a meaning?\n{options_}", "{answer}"),
    Template("\"{sentence1}\" and \"{sentence2}\" both contain the word "
             "\"{word}\". Does it mean the same thing each time?\n{options_}",
             "{answer}"),
    Template("Word sense question about \"{word}\".\n\n{sentence1}\n\n"
             "{sentence2}\n\nIs the sense identical?\n{options_}", "{answer}"),
    Template("Here is a sentence: {sentence1}\nHere is another: {sentence2}\n"
             "Is \"{word}\" meant the same way in both?\n{options_}",
             "{answer}"),
    Template("Sentence: {sentence1}\nWrite another sentence using \"{word}\" "
             "so that the answer to \"same meaning in both?\" is "
             "\"{answer}\".", "{sentence2}", inverted=True),
    Template("Write two sentences, one per line, that both use the word "
             "\"{word}\", where whether it keeps one meaning is \"{answer}\".",
             "{sentence1}\n{sentence2}", inverted=True),
)

common.register_flan_dataset(
    name="wic", cluster="word_disambiguation", tfds_name="super_glue/wic",
    splits=common.SPLITS_VALIDATION_AS_TEST,
    prepare=[common.label_to_text(_OPTIONS)],
    templates=WIC_TEMPLATES, options=_OPTIONS,
    metric_fns=[metrics.exact_match_accuracy])

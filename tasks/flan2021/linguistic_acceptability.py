"""FLAN 2021 cluster `linguistic_acceptability`: CoLA.

Is a sentence grammatical English? GLUE hides CoLA's test labels, so the
official validation set is the test set and validation comes from train.
"""

from flan_jax.data import metrics
from flan_jax.data.templates import Template
from tasks.flan2021 import common

# GLUE's label 0 is "unacceptable", 1 "acceptable".
_OPTIONS = ("no", "yes")

_TEMPLATES = (
    Template("Sentence: \"{sentence}\"\nWould a careful speaker of English "
             "accept this sentence as grammatical?\n{options_}", "{answer}"),
    Template("{sentence}\n\nIs the sentence above well-formed English?\n"
             "{options_}", "{answer}"),
    Template("Check the grammar of this sentence: {sentence}\nIs it "
             "acceptable?\n{options_}", "{answer}"),
    Template("Here is a sentence: \"{sentence}\"\nDoes it follow the rules of "
             "English grammar?\n{options_}", "{answer}"),
    Template("Would a linguist mark the following sentence as acceptable?\n"
             "{sentence}\n{options_}", "{answer}"),
    Template("Read this: {sentence}\nIs this a grammatically correct "
             "sentence?\n{options_}", "{answer}"),
    Template("Decide whether the sentence is grammatical.\n\n{sentence}\n"
             "{options_}", "{answer}"),
    Template("\"{sentence}\"\nCould this sentence appear in edited English "
             "text without any correction?\n{options_}", "{answer}"),
    Template("Grammar check.\nInput: {sentence}\nIs the input acceptable "
             "English?\n{options_}", "{answer}"),
    Template("Is the answer \"{answer}\" to the question \"is this sentence "
             "grammatical?\" Write a sentence for which it is.", "{sentence}",
             inverted=True),
)


common.register_flan_dataset(
    name="cola",
    cluster="linguistic_acceptability",
    tfds_name="glue/cola",
    splits=common.SPLITS_VALIDATION_AS_TEST,
    prepare=[common.label_to_text(_OPTIONS)],
    templates=_TEMPLATES,
    options=_OPTIONS,
    metric_fns=[metrics.exact_match_accuracy, metrics.matthews_corrcoef],
)

"""FLAN 2021 cluster `question_classification`: TREC.

What kind of answer does a question ask for? The six coarse TREC classes,
named in words. TREC has train and test splits; validation is the tail of
train.
"""

from flan_jax.data import metrics
from flan_jax.data.templates import Template
from tasks.flan2021 import common

# TFDS coarse label order: DESC, ENTY, ABBR, HUM, NUM, LOC.
_OPTIONS = ("description", "entity", "abbreviation", "human", "number",
            "location")

TREC_TEMPLATES = (
    Template("What kind of thing is this question asking for?\n\n{text}\n"
             "{options_}", "{answer}"),
    Template("Question: {text}\nWhich category does the expected answer "
             "belong to?\n{options_}", "{answer}"),
    Template("{text}\n\nClassify the question above by the type of its "
             "answer.\n{options_}", "{answer}"),
    Template("Someone asks \"{text}\" Would the reply be a description, an "
             "entity, an abbreviation, a person, a number or a place?\n"
             "{options_}", "{answer}"),
    Template("Answer type classification.\nInput: {text}\n{options_}",
             "{answer}"),
    Template("Read the question and say what sort of answer it needs.\n"
             "{text}\n{options_}", "{answer}"),
    Template("\"{text}\"\nIs this question about a description, an entity, "
             "an abbreviation, a human, a number or a location?\n{options_}",
             "{answer}"),
    Template("Label the question with its answer category: {text}\n"
             "{options_}", "{answer}"),
    Template("Write a question whose answer would be of the type "
             "\"{answer}\".", "{text}", inverted=True),
    Template("Type of answer: {answer}\nAsk a question that calls for that "
             "type of answer.", "{text}", inverted=True),
)

common.register_flan_dataset(
    name="trec", cluster="question_classification", tfds_name="trec",
    splits=common.splits(train="train[:-200]", validation="train[-200:]",
                         test="test"),
    prepare=[common.label_to_text(_OPTIONS, field="label-coarse")],
    templates=TREC_TEMPLATES, options=_OPTIONS,
    metric_fns=[metrics.exact_match_accuracy])

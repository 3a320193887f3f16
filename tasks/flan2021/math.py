"""FLAN 2021 cluster `math`: one-variable linear equations.

DeepMind's mathematics dataset, module algebra__linear_1d ("Solve 3*x + 2 =
11 for x."). The answer is a number, scored by exact match. The dataset has
train and test splits; validation is the tail of train.
"""

from flan_jax.data import metrics
from flan_jax.data.templates import Template
from tasks.flan2021 import common

MATH_TEMPLATES = (
    Template("{question}", "{answer}"),
    Template("Solve this problem.\n{question}", "{answer}"),
    Template("Math question: {question}\nAnswer with the number only.",
             "{answer}"),
    Template("{question}\nWhat is the solution?", "{answer}"),
    Template("Work out the value of the unknown.\n\n{question}", "{answer}"),
    Template("Here is an equation to solve: {question}\nThe solution is",
             "{answer}"),
    Template("Find the unknown. {question}", "{answer}"),
    Template("Algebra exercise:\n{question}\nGive the final value.",
             "{answer}"),
    Template("Write a one-variable linear equation problem whose solution "
             "is {answer}.", "{question}", inverted=True),
    Template("The answer to an algebra exercise is {answer}. State such an "
             "exercise.", "{question}", inverted=True),
)

common.register_flan_dataset(
    name="math_dataset", cluster="math",
    tfds_name="math_dataset/algebra__linear_1d",
    splits=common.splits(train="train[:-200]", validation="train[-200:]",
                         test="test"),
    prepare=[common.strip_fields("question", "answer")],
    templates=MATH_TEMPLATES, metric_fns=[metrics.exact_match_accuracy])

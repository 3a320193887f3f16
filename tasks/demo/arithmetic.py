"""Demo cluster `arithmetic`: sums, differences and comparisons.

Addition and subtraction take a number below 1000 and a single digit; the
tiny model sees digits one token each (the vocabulary's split_digits). With
two operands below 100 it learned subtraction hardly at all in the demo's
budget (3% of held-out differences right); with one digit, 13 to 18%.
Always-three-digit numbers did not help (9%). `number_comparison` lists its
two numbers as per-example options.
"""

from __future__ import annotations

from flan_jax.data.registry import DatasetSpec
from flan_jax.data.templates import Template
from tasks.demo import common

_MAX_NUMBER = 999


def _addition(rng):
  a, b = rng.randint(0, _MAX_NUMBER), rng.randint(0, 9)
  return {"a": str(a), "b": str(b), "answer": str(a + b)}


_ADDITION_TEMPLATES = (
    Template("What is {a} plus {b}?", "{answer}"),
    Template("Add {a} and {b}.", "{answer}"),
    Template("Compute the sum: {a} + {b} =", "{answer}"),
    Template("{a} + {b}\nWhat number do you get when you add these two?",
             "{answer}"),
    Template("Anna has {a} apples and then gets {b} more. How many apples "
             "does she have now?", "{answer}"),
    Template("Adding {a} to some number gives {answer}. What is the "
             "number?", "{b}", inverted=True),
)


def _subtraction(rng):
  a, b = rng.randint(10, _MAX_NUMBER), rng.randint(0, 9)
  return {"a": str(a), "b": str(b), "answer": str(a - b)}


_SUBTRACTION_TEMPLATES = (
    Template("What is {a} minus {b}?", "{answer}"),
    Template("Subtract {b} from {a}.", "{answer}"),
    Template("Compute the difference: {a} - {b} =", "{answer}"),
    Template("Take {b} away from {a}. What is left?", "{answer}"),
    Template("A box holds {a} pencils. {b} of them are taken out. How many "
             "pencils are still in the box?", "{answer}"),
    Template("{a} minus some number equals {answer}. Which number?", "{b}",
             inverted=True),
)


def _number_comparison(rng):
  first, second = rng.sample(range(100), 2)
  return {"first": str(first), "second": str(second),
          "options": [str(first), str(second)],
          "answer": str(max(first, second))}


_COMPARISON_TEMPLATES = (
    Template("Which number is larger?\n{options_}", "{answer}"),
    Template("Which is bigger, {first} or {second}?\n{options_}", "{answer}"),
    Template("{options_}\nPick the greater of the two numbers above.",
             "{answer}"),
    Template("Of {first} and {second}, which one has the higher value?\n"
             "{options_}", "{answer}"),
    Template("Compare {first} with {second} and say which is more.\n"
             "{options_}", "{answer}"),
    Template("The answer is {answer}. Write a question that compares "
             "{first} and {second}.",
             "Which is bigger, {first} or {second}?", inverted=True),
)

SPECS = [
    DatasetSpec(name="addition", collection="demo",
                source=common.function_source("addition", _addition),
                templates=_ADDITION_TEMPLATES),
    DatasetSpec(name="subtraction", collection="demo",
                source=common.function_source("subtraction", _subtraction),
                templates=_SUBTRACTION_TEMPLATES),
    # No constant options: each example carries its own two numbers.
    DatasetSpec(name="number_comparison", collection="demo",
                source=common.function_source("number_comparison",
                                              _number_comparison),
                templates=_COMPARISON_TEMPLATES),
]

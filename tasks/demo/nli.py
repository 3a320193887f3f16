"""Demo cluster `nli`: does a hypothesis follow from a few generated facts?

A premise states one fact about each of one or two people. The hypothesis
either repeats a fact (yes), states a fact the premise rules out (no), or
talks about a person or property the premise does not mention (it is not
possible to tell). Labels are drawn uniformly, so chance is one in three.
The three datasets share their templates, as FLAN's NLI datasets do.
"""

from __future__ import annotations

from flan_jax.data.registry import DatasetSpec
from flan_jax.data.templates import Template
from tasks.demo import common

YES, UNKNOWN, NO = "yes", "it is not possible to tell", "no"
OPTIONS = (YES, UNKNOWN, NO)

_TEMPLATES = (
    Template("Premise: {premise}\nHypothesis: {hypothesis}\nDoes the premise "
             "entail the hypothesis?\n{options_}", "{answer}"),
    Template("{premise}\n\nGoing by the text above, is it true that "
             "\"{hypothesis}\"?\n{options_}", "{answer}"),
    Template("Read the facts and decide whether the claim follows from "
             "them.\nFacts: {premise}\nClaim: {hypothesis}\n{options_}",
             "{answer}"),
    Template("Given that \"{premise}\", can we conclude that "
             "\"{hypothesis}\"?\n{options_}", "{answer}"),
    Template("First statement: {premise}\nSecond statement: {hypothesis}\n"
             "If the first statement is true, must the second one be true "
             "too?\n{options_}", "{answer}"),
    Template("{premise}\nWrite a sentence about the text above for which "
             "the answer to 'does it follow?' is \"{answer}\".",
             "{hypothesis}", inverted=True),
)


def _example(rng, facts, true_fact, false_fact, unrelated_fact):
  """Picks a label uniformly and the hypothesis that goes with it.

  Args:
    facts: the premise's sentences.
    true_fact, false_fact, unrelated_fact: draw a hypothesis that the
      premise entails, contradicts, or leaves open.
  """
  label = rng.choice(OPTIONS)
  make = {YES: true_fact, NO: false_fact, UNKNOWN: unrelated_fact}[label]
  return {"premise": " ".join(facts), "hypothesis": make(), "answer": label}


# --- nli_traits: "Anna is tall. Ben is quiet." -------------------------------

_TRAIT_PAIRS = (("tall", "short"), ("young", "old"), ("quiet", "loud"),
                ("rich", "poor"), ("strong", "weak"), ("kind", "rude"))


def _nli_traits(rng):
  people = common.pick(rng, common.NAMES, rng.randint(1, 2))
  pairs = common.pick(rng, _TRAIT_PAIRS, len(people))
  sides = [rng.randint(0, 1) for _ in people]
  facts = [f"{p} is {pair[s]}." for p, pair, s in zip(people, pairs, sides)]
  i = rng.randrange(len(people))

  def unrelated():
    if rng.random() < 0.5:  # someone the premise never mentions
      other = rng.choice([n for n in common.NAMES if n not in people])
      return f"{other} is {rng.choice(rng.choice(_TRAIT_PAIRS))}."
    unused = [pair for pair in _TRAIT_PAIRS if pair != pairs[i]]
    return f"{people[i]} is {rng.choice(rng.choice(unused))}."

  return _example(rng, facts,
                  lambda: f"{people[i]} is {pairs[i][sides[i]]}.",
                  lambda: f"{people[i]} is {pairs[i][1 - sides[i]]}.",
                  unrelated)


# --- nli_places: "Anna lives in Paris. Ben lives in Rome." -------------------


def _nli_places(rng):
  people = common.pick(rng, common.NAMES, rng.randint(1, 2))
  cities = common.pick(rng, common.CITIES, len(people))
  facts = [f"{p} lives in {c}." for p, c in zip(people, cities)]
  i = rng.randrange(len(people))
  other_city = rng.choice([c for c in common.CITIES if c != cities[i]])
  stranger = rng.choice([n for n in common.NAMES if n not in people])
  # Everyone lives in one city, so another city contradicts the premise.
  return _example(rng, facts,
                  lambda: f"{people[i]} lives in {cities[i]}.",
                  lambda: f"{people[i]} lives in {other_city}.",
                  lambda: f"{stranger} lives in {rng.choice(common.CITIES)}.")


# --- nli_possessions: "Anna's bike is red. Ben's hat is green." ------------


def _nli_possessions(rng):
  people = common.pick(rng, common.NAMES, rng.randint(1, 2))
  things = [rng.choice(common.THINGS) for _ in people]
  colours = [rng.choice(common.COLOURS) for _ in people]
  facts = [f"{p}'s {t} is {c}." for p, t, c in zip(people, things, colours)]
  i = rng.randrange(len(people))
  other_colour = rng.choice([c for c in common.COLOURS if c != colours[i]])

  def unrelated():
    colour = rng.choice(common.COLOURS)
    if rng.random() < 0.5:  # a thing of hers the premise does not mention
      thing = rng.choice([t for t in common.THINGS if t != things[i]])
      return f"{people[i]}'s {thing} is {colour}."
    stranger = rng.choice([n for n in common.NAMES if n not in people])
    return f"{stranger}'s {things[i]} is {colour}."

  return _example(rng, facts,
                  lambda: f"{people[i]}'s {things[i]} is {colours[i]}.",
                  lambda: f"{people[i]}'s {things[i]} is {other_colour}.",
                  unrelated)


def _spec(name, make_example):
  return DatasetSpec(name=name, collection="demo",
                     source=common.function_source(name, make_example),
                     templates=_TEMPLATES, options=OPTIONS)


SPECS = [
    _spec("nli_traits", _nli_traits),
    _spec("nli_places", _nli_places),
    _spec("nli_possessions", _nli_possessions),
]

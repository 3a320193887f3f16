"""Demo cluster `nli`: does a hypothesis follow from a few generated facts?

A premise states two facts of different kinds about one person ("Ben is
tall. Ben lives in Rome."); each dataset's hypotheses are about one kind
(a trait, a home, the colour of a thing). The hypothesis repeats a fact of
the premise (yes), gives the same kind of fact another value that the
premise rules out (no: the opposite trait, another city, another colour), or
the premise says nothing of that kind (it is not possible to tell). Labels
are drawn uniformly, so chance is one in three. The three datasets share
their templates, as FLAN's NLI datasets do.

Harder variants were beyond the demo's 2+2-layer model within its budget:
premises about two people (each fact bound to its person) stayed at 35 to
41% in the full demo run, and even a single fact with hypotheses about other
people or traits stayed at chance after 300 steps of training on NLI alone,
where this version reaches 45 to 71% per template.
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


def _example(rng, kind, sentence, stated, contradicting):
  """One person's premise and a hypothesis, with a uniformly drawn label.

  Args:
    kind: the one of `common.FACT_KINDS` that the hypothesis is about.
    sentence: (person, value) -> a sentence of that kind.
    stated, contradicting: two values the person cannot both have.
  """
  person = rng.choice(common.NAMES)
  label = rng.choice(OPTIONS)
  others = [k for k in common.FACT_KINDS if k != kind]
  if label == UNKNOWN:  # the premise says nothing of this kind
    facts = [common.random_fact(rng, person, k)
             for k in common.pick(rng, others, 2)]
    hypothesis = sentence(person, rng.choice((stated, contradicting)))
  else:
    facts = [sentence(person, stated),
             common.random_fact(rng, person, rng.choice(others))]
    rng.shuffle(facts)
    hypothesis = sentence(person, stated if label == YES else contradicting)
  return {"premise": " ".join(facts), "hypothesis": hypothesis,
          "answer": label}


# --- nli_traits: "Anna is tall. Anna lives in Paris." / "Anna is short." -----


def _nli_traits(rng):
  pair = common.pick(rng, rng.choice(common.TRAIT_PAIRS), 2)
  return _example(rng, "trait", lambda p, v: f"{p} is {v}.", *pair)


# --- nli_places: "Anna lives in Paris. Anna is a pilot." / "Anna lives in Rome."


def _nli_places(rng):
  # Everyone lives in one city, so another city contradicts the premise.
  return _example(rng, "home", lambda p, v: f"{p} lives in {v}.",
                  *common.pick(rng, common.CITIES, 2))


# --- nli_possessions: "Anna's bike is red. Anna is old." / "Anna's bike is blue."


def _nli_possessions(rng):
  thing = rng.choice(common.THINGS)
  return _example(rng, "possession", lambda p, v: f"{p}'s {thing} is {v}.",
                  *common.pick(rng, common.COLOURS, 2))


def _spec(name, make_example):
  return DatasetSpec(name=name, collection="demo",
                     source=common.function_source(name, make_example),
                     templates=_TEMPLATES, options=OPTIONS)


SPECS = [
    _spec("nli_traits", _nli_traits),
    _spec("nli_places", _nli_places),
    _spec("nli_possessions", _nli_possessions),
]

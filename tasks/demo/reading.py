"""Demo cluster `reading`: answer a question by copying a word from a passage.

A passage states one fact about each of three people; the question names a
person and asks for the fact. People, cities, colours and jobs are distinct
within a passage, so every question has exactly one answer, and so does every
inverted template ("ask a question whose answer is X"), whose target is the
canonical question.
"""

from __future__ import annotations

from flan_jax.data.registry import DatasetSpec
from flan_jax.data.templates import Template
from tasks.demo import common

_PEOPLE_PER_PASSAGE = 3
_JOBS = ("doctor", "baker", "pilot", "farmer", "teacher", "singer", "nurse",
         "painter", "driver", "writer")


def _people(rng):
  return common.pick(rng, common.NAMES, _PEOPLE_PER_PASSAGE)


# --- qa_home: "Where does Ben live?" -> "Rome" ------------------------------


def _qa_home(rng):
  people = _people(rng)
  cities = common.pick(rng, common.CITIES, len(people))
  i = rng.randrange(len(people))
  passage = " ".join(f"{p} lives in {c}." for p, c in zip(people, cities))
  return {"passage": passage, "name": people[i], "answer": cities[i]}


_HOME_TEMPLATES = (
    Template("{passage}\nWhere does {name} live?", "{answer}"),
    Template("Read the passage and answer the question.\n\nPassage: "
             "{passage}\nQuestion: In which city does {name} live?",
             "{answer}"),
    Template("Question: What is {name}'s home city?\nContext: {passage}",
             "{answer}"),
    Template("{passage}\n\nAccording to the text, {name} lives in which "
             "city?", "{answer}"),
    Template("Answer with a word from the text. Where is the home of "
             "{name}? {passage}", "{answer}"),
    Template("{passage}\nWrite a question about this passage whose answer "
             "is {answer}.", "Where does {name} live?", inverted=True),
)

# --- qa_colour: "What colour is Ben's cup?" -> "green" ----------------------


def _qa_colour(rng):
  people = _people(rng)
  things = [rng.choice(common.THINGS) for _ in people]
  colours = common.pick(rng, common.COLOURS, len(people))
  i = rng.randrange(len(people))
  passage = " ".join(f"{p} has a {c} {t}."
                     for p, c, t in zip(people, colours, things))
  return {"passage": passage, "name": people[i], "thing": things[i],
          "answer": colours[i]}


_COLOUR_TEMPLATES = (
    Template("{passage}\nWhat colour is {name}'s {thing}?", "{answer}"),
    Template("Passage: {passage}\nQuestion: {name} has a {thing}. What "
             "colour is it?", "{answer}"),
    Template("Use the text to answer. {passage}\nThe {thing} that belongs "
             "to {name} is what colour?", "{answer}"),
    Template("Context: {passage}\nTell me the colour of {name}'s {thing}.",
             "{answer}"),
    Template("What colour is {name}'s {thing}? Answer from this text: "
             "{passage}", "{answer}"),
    Template("{passage}\nAsk a question about the text that has the answer "
             "{answer}.", "What colour is {name}'s {thing}?", inverted=True),
)

# --- qa_job: "What is Ben's job?" -> "baker" --------------------------------
# All three datasets ask for a person's attribute. Questions whose answer is a
# person ("Who is the baker?") stayed at chance (about 35%) after 800 to 2,000
# demo training steps, while these reach 100%.


def _qa_job(rng):
  people = _people(rng)
  jobs = common.pick(rng, _JOBS, len(people))
  i = rng.randrange(len(people))
  passage = " ".join(f"{p} is a {j}." for p, j in zip(people, jobs))
  return {"passage": passage, "name": people[i], "answer": jobs[i]}


_JOB_TEMPLATES = (
    Template("{passage}\nWhat is {name}'s job?", "{answer}"),
    Template("Read this: {passage}\nWhat does {name} do for a living?",
             "{answer}"),
    Template("Passage: {passage}\nQuestion: What work does {name} do?\n"
             "Answer:", "{answer}"),
    Template("Find {name} in the text below and give their job.\n"
             "{passage}", "{answer}"),
    Template("Which job does {name} have? Use the passage.\n\n{passage}",
             "{answer}"),
    Template("{passage}\nWrite a question about the text whose answer is "
             "{answer}.", "What is {name}'s job?", inverted=True),
)

SPECS = [
    DatasetSpec(name="qa_home", collection="demo",
                source=common.function_source("qa_home", _qa_home),
                templates=_HOME_TEMPLATES),
    DatasetSpec(name="qa_colour", collection="demo",
                source=common.function_source("qa_colour", _qa_colour),
                templates=_COLOUR_TEMPLATES),
    DatasetSpec(name="qa_job", collection="demo",
                source=common.function_source("qa_job", _qa_job),
                templates=_JOB_TEMPLATES),
]

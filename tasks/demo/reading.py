"""Demo cluster `reading`: answer a question by copying a word from a passage.

A passage states three facts about one person, in random order: where they
live, their job, and the colour of something they own. Each dataset asks for
one of the three, so copying the value of a random fact is right one time in
three. Cities, jobs and colours are distinct word lists, so every question
has exactly one answer, and so does every inverted template ("ask a question
whose answer is X"), whose target is the canonical question.

Passages about three people ("Anna lives in Paris. Ben lives in Rome. ...",
asking where Ben lives) need the model to bind each fact to its person; the
demo's 2+2-layer model stayed at 29 to 35% on them, even after 400 steps of
training on the NLI and reading clusters alone.
"""

from __future__ import annotations

from flan_jax.data.registry import DatasetSpec
from flan_jax.data.templates import Template
from tasks.demo import common


def _passage_example(rng):
  """A passage about one person and the values it states."""
  person = rng.choice(common.NAMES)
  city = rng.choice(common.CITIES)
  job = rng.choice(common.JOBS)
  colour, thing = rng.choice(common.COLOURS), rng.choice(common.THINGS)
  facts = [f"{person} lives in {city}.", f"{person} is a {job}.",
           f"{person} has a {colour} {thing}."]
  rng.shuffle(facts)
  return {"passage": " ".join(facts), "name": person, "city": city,
          "job": job, "colour": colour, "thing": thing}


def _asking(field, *context):
  """A generator of passages whose answer is `field`, keeping the fields in
  `context` that the templates name."""

  def make_example(rng):
    values = _passage_example(rng)
    example = {"passage": values["passage"], "name": values["name"]}
    example.update({key: values[key] for key in context})
    example["answer"] = values[field]
    return example

  return make_example


# --- qa_home: "Where does Ben live?" -> "Rome" ------------------------------

_qa_home = _asking("city")

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

_qa_colour = _asking("colour", "thing")

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

_qa_job = _asking("job")

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

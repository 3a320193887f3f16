"""Probes of zero-shot transfer on the demo (issue 22): eval-only datasets.

Importing this module registers collection ``demo_probe`` (importing
`tasks.demo` does not; ``--module=tasks.demo.probes`` does), each an
evaluation-only dataset (no training split) scored by rank classification:

    choice       qa_home_choice, qa_job_choice, qa_colour_choice
    same_kind    qa_home_same, qa_job_same, qa_colour_same
    no_question  qa_home_blind, qa_job_blind, qa_colour_blind
    verdict      movie_verdict, product_verdict, tweet_verdict

* ``choice``: a reading passage (one person's home, job and the colour of a
  thing they own, as in `tasks.demo.reading`) and a question about one of
  them; the options are the passage's three values (its city, its job, its
  colour), so an answer that ignores the question (always the city, the
  habit issue 22 found in the tuned model) scores one in three, and only a
  model that reads which fact is asked scores more. Chance: 33.3%.
* ``same_kind``: the same question; the options are three values of the
  asked kind (three cities), one of which the passage states. A model must
  find the fact in the passage. Chance: 33.3%.
* ``no_question`` (the control): ``choice``'s passages and options with the
  question removed. Nothing says which fact is wanted, so any model should
  stay near 33.3%; a score well above it would mean the options or the
  passage give the answer away, and a ``choice`` gain would not be evidence
  of reading the question.

* ``verdict``: the sentiment cluster's own texts (`tasks.demo.sentiment`'s
  generators, their own seeds), asked with the cluster's questions, but the
  options are whole sentences in the shape the pretraining prose states its
  verdicts ("It was a good film." / "It was a bad film."), not the bare
  labels the sentiment datasets score. Chance: 50%.

The pretraining corpus (`tasks.demo.world`) states the same kind of facts
and answers reported questions about them ("When Carl asked where Anna
lives, the answer was Oslo."), so a base that learned the prose has the
knowledge; the probes ask whether instruction tuning on *other* clusters
makes it usable in the instruction format.

Go / no-go, written before the probes ran (2026-12-06):

* P1, the base: step 0 on ``choice``, ``same_kind`` and ``no_question``.
  Descriptive (no threshold): where the held-out score starts.
* P2, transfer: tune the base on ``demo:train:no_reading`` (every cluster
  but reading) for 500 steps, seeds 0 and 1. GO if ``choice`` gains at
  least 10 points over the base on the mean of the two seeds and at least 5
  on each seed, while ``no_question`` stays below 40 (chance + 6.7) for both.
  Otherwise NO-GO for a design that holds out reading.
* P4, where the knowledge sits (added 2026-12-06 after P2 read NO-GO, written
  before P4 ran): the base on ``verdict``. The knowledge counts as reachable
  when the answer has the prose's shape if the base scores at least 65
  (the sentiment datasets' bare labels: 50.0, the share of one class).
  Then the two P2-style tunes on ``demo:train:no_sentiment`` (500 steps,
  seeds 0 and 1): if ``verdict`` stays within 5 points of the base while the
  bare-label sentiment cluster stays below 55, tuning leaves the knowledge
  intact but does not teach the model to answer with it as a bare label.
* P5, transfer between families of one skill (written before P5 ran): tune
  on every demo dataset but movie_review (``demo_probe:train:no_movie_review``:
  the other two sentiment datasets practise answering with a verdict that
  pretraining tied to clue words, for products and for days; films' clue
  words and verdicts appear only in pretraining), 500 steps, seeds 0 and 1,
  and score movie_review (``demo_probe:eval:movie_review``). GO for a demo
  built from many such families (issue 22's first design) if movie_review
  gains at least 10 points over the base on the mean of the seeds and 5 on
  each; otherwise even a practised skill does not carry the base's
  knowledge across families, and the base must first be pretrained so that
  the knowledge is extractable.
* P6 (written after P5 measured +4.4 and +9.6, before P6 ran): P5 at the
  demo's full budget (1400 steps, runs/demo.gin's default), seeds 0 and 1,
  same GO rule. A gain that grows with steps says the skill is being
  learned and more families or steps would help; one that does not says the
  base is the limit.
* P3, the curve (only after a GO): the same tuning on 1, 3 and 5 seen
  clusters; the ``choice`` score should not fall as clusters are added.
"""

from __future__ import annotations

from flan_jax.data import mixtures
from flan_jax.data import registry
from flan_jax.data.registry import DatasetSpec
from flan_jax.data.templates import Template
import tasks.demo  # noqa: F401  (the demo vocabulary, checked on import)
from tasks.demo import common
from tasks.demo import sentiment
from tasks.demo import suite

COLLECTION = "demo_probe"

# Which value each question asks for, the kind's word list, and the question
# in several phrasings (the reading cluster's own templates' questions).
_KINDS = {
    "home": ("city", common.CITIES, (
        "Where does {name} live?",
        "In which city does {name} live?",
        "What is {name}'s home city?")),
    "job": ("job", common.JOBS, (
        "What is {name}'s job?",
        "What does {name} do for a living?",
        "What work does {name} do?")),
    "colour": ("colour", common.COLOURS, (
        "What colour is {name}'s {thing}?",
        "{name} has a {thing}. What colour is it?",
        "Tell me the colour of {name}'s {thing}.")),
}


def _passage(rng):
  person = rng.choice(common.NAMES)
  values = {"city": rng.choice(common.CITIES), "job": rng.choice(common.JOBS),
            "colour": rng.choice(common.COLOURS),
            "thing": rng.choice(common.THINGS)}
  facts = [f"{person} lives in {values['city']}.",
           f"{person} is a {values['job']}.",
           f"{person} has a {values['colour']} {values['thing']}."]
  rng.shuffle(facts)
  return person, " ".join(facts), values


def _maker(kind: str, options_from: str):
  field, words, _ = _KINDS[kind]

  def make_example(rng):
    person, passage, values = _passage(rng)
    answer = values[field]
    if options_from == "passage":
      options = [values["city"], values["job"], values["colour"]]
    else:  # two other values of the asked kind
      options = [answer, *common.pick(
          rng, [w for w in words if w != answer], 2)]
    rng.shuffle(options)
    return {"passage": passage, "name": person, "thing": values["thing"],
            "answer": answer, "options": options}

  return make_example


def _question_templates(kind: str) -> tuple[Template, ...]:
  questions = _KINDS[kind][2]
  return (
      Template("{passage}\n" + questions[0], "{answer}"),
      Template("Read the passage and answer the question.\n\nPassage: "
               "{passage}\nQuestion: " + questions[1], "{answer}"),
      Template("Question: " + questions[2] + "\nContext: {passage}",
               "{answer}"),
  )


# dataset -> (generator, its label -> sentence option, questions)
_VERDICTS = {
    "movie_verdict": (sentiment._movie_review,  # pylint: disable=protected-access
                      {"positive": "It was a good film.",
                       "negative": "It was a bad film."},
                      ("Review: {text}\nIs this movie review negative or "
                       "positive?",
                       "{text}\n\nWhat feeling does the writer of this film "
                       "review express?")),
    "product_verdict": (sentiment._product_review,  # pylint: disable=protected-access
                        {"yes": "It is a good buy.", "no": "It is a bad buy."},
                        ("Product review: {text}\nWould this customer "
                         "recommend the product?",
                         "{text}\n\nJudging by this review, would the buyer "
                         "suggest the item to a friend?")),
    "tweet_verdict": (sentiment._tweet_mood,  # pylint: disable=protected-access
                      {"happy": "It was a good day.",
                       "sad": "It was a bad day."},
                      ("Tweet: {text}\nIs the person who posted this happy "
                       "or sad?",
                       "{text}\n\nHow does the author of this post feel?")),
}


def _verdict_maker(make_example, sentences):

  def make(rng):
    example = make_example(rng)
    return {"text": example["text"],
            "answer": sentences[example["answer"]],
            "options": sorted(sentences.values())}

  return make


def _verdict_specs() -> list[DatasetSpec]:
  return [DatasetSpec(
      name=name, collection=COLLECTION,
      source=common.function_source(name, _verdict_maker(make, sentences)),
      templates=tuple(Template(q, "{answer}") for q in questions),
      rank_classification=True, train_split=None)
          for name, (make, sentences, questions) in _VERDICTS.items()]


_BLIND_TEMPLATES = (
    Template("{passage}", "{answer}"),
    Template("Read the passage.\n\nPassage: {passage}", "{answer}"),
    Template("Context: {passage}\nAnswer:", "{answer}"),
)

# cluster -> (dataset suffix, options drawn from, templates per kind)
_CLUSTERS = {
    "choice": ("choice", "passage", _question_templates),
    "same_kind": ("same", "kind", _question_templates),
    "no_question": ("blind", "passage", lambda kind: _BLIND_TEMPLATES),
}


def _specs() -> list[DatasetSpec]:
  out = []
  for suffix, options_from, templates in _CLUSTERS.values():
    for kind in _KINDS:
      name = f"qa_{kind}_{suffix}"
      out.append(DatasetSpec(
          name=name, collection=COLLECTION,
          source=common.function_source(name, _maker(kind, options_from)),
          templates=templates(kind), rank_classification=True,
          train_split=None))
  return out + _verdict_specs()


CLUSTERS = {cluster: tuple(f"qa_{kind}_{suffix}" for kind in _KINDS)
            for cluster, (suffix, _, _) in _CLUSTERS.items()}
CLUSTERS["verdict"] = tuple(_VERDICTS)


SPECS = _specs()

# The probe datasets and their eval mixtures (``demo_probe:eval:<cluster>``,
# ``demo_probe:eval:all``).
for _spec in SPECS:
  registry.register_dataset(_spec)
# P5: every demo training task but movie_review's, and movie_review's eval.
mixtures.register_training_mixture(
    f"{COLLECTION}:train:no_movie_review",
    [f"demo:{d}" for ds in suite.CLUSTERS.values() for d in ds
     if d != "movie_review"])
mixtures.register_eval_mixture(f"{COLLECTION}:eval:movie_review",
                               ["demo:movie_review"])
mixtures.register_cluster_mixtures(
    COLLECTION, CLUSTERS,
    eval_only=[d for datasets in CLUSTERS.values() for d in datasets])

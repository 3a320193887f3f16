"""The demo world's corpus: plain prose to pretrain the demo model on.

FLAN tunes a *pretrained* language model: what instructions unlock is
knowledge it already has. This module writes that knowledge for the demo
suite's little world, as short stories and statements, never as
instructions: what people feel about films, products and their day and which
words say so (sentiment), facts about people and what follows from them
(NLI, reading), sums, differences, comparisons and number names
(arithmetic), dictionary order (string_ops) and the Lumo dictionary
(translation). Documents look like this::

    Gus saw a film. The script was bland. The acting was silly. He wrote a
    negative review. His review was negative. Lena wrote a negative review
    of a film. The cast was terrible. A waste of time.

    Ben bought a phone case in the spring. It is hard to use. He was
    unhappy with it. He would not recommend it to a friend. ...

    Anna has a green lamp. She lives in Oslo. She is a singer. She is rude.
    Since Anna is rude, she is not kind. ... When Carl asked about Anna's
    job, the answer was singer.

    This is a word of Lumo: a. In Lumo it is po. Kava is Lumo too. It means
    horse. Hana speaks Lumo. To say the big child runs slowly, she says ka
    toma tuna saka lenta.

Evidence and verdict are separate sentences: pretraining cuts documents
between sentences (`flan_jax.data.pretraining`), so the input often holds
the evidence and the target the verdict, which is how the tuned model will
have to answer. What was learned while building it (the tiny demo model,
2+2 layers, width 128, probed by scoring the true verdict against the
opposite one on held-back stories):

* v1 told each story once in long sentences ("She thought the plot was
  bland and the acting awful. She was bored all the way through, and she
  called it a bad film.") and cut documents anywhere: after 2,000 steps the
  model chose the right verdict 56 to 66% of the time; tuned from that base
  (700 steps) the held-out sentiment cluster fell from 53.5 to 47.5.
* v2 stated evidence and verdict several times per document, in one
  sentence each: 52% after 1,000 steps (the decoder learns the verdict from
  the words before it in the target, not from the input).
* v3 (this one), separate sentences and cuts between sentences: 87% after
  300 steps on film stories alone, continuing from v2's step 1,000.
* The shipped base (tasks/demo/base/) is v3 after 3,000 steps (loss 0.71,
  token accuracy 77.5%). Its knowledge does not reach the instruction-
  format task: at step 0 it ranks the same option first for every example
  of a sentiment template (movie_review 47.0, product_review 48.0,
  tweet_mood 55.0 on every template: the share of that class), and tuned
  on the five other clusters (runs/demo.gin, 1,400 steps) the held-out
  sentiment cluster ends at 51.2, 46.7 and 50.5 for seeds 0, 1 and 2,
  against the base's 50.0: no zero-shot gain (2026-12-06, 2-core CPU). The
  seen clusters all rise (NLI 31 to 62-77, string ops 0 to 75-79). With
  NLI held out instead (seed 0), NLI goes from 31.1 to 33.7 (chance 33.3)
  and sentiment, now seen, reaches 100: the verdicts are learnable from
  instructions, they just do not transfer.
  Untried: a longer pretraining, a wider model, and a corpus whose
  documents put a review's text and its verdict in the shape the datasets
  ask ("Review: ... Verdict: positive"), which is closer to the
  instruction format than plain prose but still not an instruction.

The corpus uses the suite's own word lists, so what it teaches is what the
held-out tasks ask about, but it never writes a demo example's text: its
reviews, posts and passages are phrased differently from the datasets' (the
contamination check, `scripts/contamination.py --training=demo:world`,
measures how much overlaps). It is generated from a fixed seed, so every
run reads the same documents.

`demo:world` (registered by `tasks.demo`) pretrains on it with the
objective of `OBJECTIVE` (`flan_jax.data.pretraining`).
"""

from __future__ import annotations

import functools
import random

import seqio
import tensorflow as tf

from tasks.demo import common
from tasks.demo import sentiment
from tasks.demo import translation

TASK_NAME = "demo:world"
SPLIT_SIZES = {"train": 20000, "validation": 500}
OBJECTIVE = "mixed"

_SHE = {"Anna", "Dora", "Fay", "Hana", "Jill", "Lena"}


def _person(rng, exclude=()):
  name = rng.choice([n for n in common.NAMES if n not in exclude])
  she = name in _SHE
  return {"name": name, "pron": "she" if she else "he",
          "Pron": "She" if she else "He", "poss": "her" if she else "his",
          "obj": "her" if she else "him"}


def _cap(sentence: str) -> str:
  return sentence[0].upper() + sentence[1:]


def _join(*sentences: str) -> str:
  return " ".join(_cap(s.strip()) for s in sentences if s)


_WHEN = ("", " last week", " on Sunday", " yesterday", " this morning",
         " in the spring")
_FILM_TOPICS = ("", " about a queen", " about a farmer", " about a horse",
                " about a fish", " about a singer", " about a pilot",
                " set in Paris", " set in Tokyo")

# --- sentiment: films ---------------------------------------------------------
#
# Evidence and verdict are separate sentences, in either order, so that
# pretraining, which cuts documents between sentences, often has one in the
# input and the other in the target: what the tuned model will have to do.


def _film_story(rng):
  p = _person(rng)
  good = rng.random() < 0.5
  adjectives = (sentiment.GOOD_ADJECTIVES if good else
                sentiment.BAD_ADJECTIVES)
  aspects = common.pick(rng, sentiment.ASPECTS, 2)
  evidence = [rng.choice((f"the {a} was {rng.choice(adjectives)}.",
                          f"{p['pron']} found the {a} {rng.choice(adjectives)}."))
              for a in aspects[:rng.randint(1, 2)]]
  verdict = "positive" if good else "negative"
  verdicts = common.pick(rng, (
      f"{p['poss']} review was {verdict}.",
      f"{p['pron']} {'loved' if good else 'hated'} it.",
      f"it was a {'good' if good else 'bad'} film.",
      f"{p['pron']} wrote a {verdict} review.",
      rng.choice(sentiment.GOOD_VERDICTS if good else sentiment.BAD_VERDICTS),
  ), 2)
  seen = f"{p['name']} saw a film{rng.choice(_FILM_TOPICS)}."
  if rng.random() < 0.3:  # the verdict first, then why
    return _join(f"{p['name']} wrote a {verdict} review of a film.",
                 *evidence, verdicts[0])
  return _join(seen, *evidence, *verdicts)


def _films(rng):
  return " ".join(_film_story(rng) for _ in range(2))


# --- sentiment: products ------------------------------------------------------


def _product_story(rng):
  p = _person(rng)
  good = rng.random() < 0.5
  product = rng.choice(sentiment.PRODUCTS)
  phrases = common.pick(rng, sentiment.GOOD_PHRASES if good else
                        sentiment.BAD_PHRASES, 2)
  evidence = [f"it {phrase}." for phrase in phrases[:rng.randint(1, 2)]]
  would = "would" if good else "would not"
  verdicts = common.pick(rng, (
      f"{p['pron']} {would} recommend it to a friend.",
      f"asked if {p['pron']} would recommend it, {p['pron']} said "
      f"{'yes' if good else 'no'}.",
      f"{p['pron']} was {'pleased' if good else 'unhappy'} with it.",
      rng.choice(sentiment.GOOD_CLOSERS if good else sentiment.BAD_CLOSERS),
  ), 2)
  return _join(f"{p['name']} bought a {product}{rng.choice(_WHEN)}.",
               *evidence, *verdicts)


def _products(rng):
  return " ".join(_product_story(rng) for _ in range(2))


# --- sentiment: someone's day -------------------------------------------------

_HAPPY_DAYS = ("got a new bike", "passed {poss} test", "saw {poss} team win",
               "had a sunny day at the beach", "baked a perfect cake",
               "had a visit from a friend", "found {poss} keys",
               "went to a great concert", "got the job",
               "saw {poss} garden in bloom", "won a prize",
               "had pizza for dinner", "got a puppy",
               "had no work the next day")
_SAD_DAYS = ("missed {poss} bus", "lost {poss} keys", "saw {poss} team lose",
             "had a rainy day at the beach", "burned the cake",
             "saw a friend move away", "dropped {poss} phone",
             "heard the concert was cancelled", "did not get the job",
             "found {poss} cat sick", "lost the game",
             "had cold pizza again", "broke {poss} arm",
             "had to work all weekend")


def _day_story(rng):
  p = _person(rng)
  happy = rng.random() < 0.5
  feeling = "happy" if happy else "sad"
  events = [e.format(**p) for e in common.pick(
      rng, _HAPPY_DAYS if happy else _SAD_DAYS, rng.randint(1, 2))]
  said = rng.choice(sentiment.HAPPY_ENDINGS if happy else
                    sentiment.SAD_ENDINGS)
  verdicts = common.pick(rng, (
      f"{p['pron']} was {feeling}.",
      f"{p['pron']} felt {'glad' if happy else 'down'}.",
      f"\"{said},\" {p['pron']} wrote.",
      f"it was a {'good' if happy else 'bad'} day for {p['obj']}.",
  ), 2)
  return _join(f"{p['name']} {' and '.join(events)}{rng.choice(_WHEN)}.",
               *verdicts)


def _days(rng):
  return " ".join(_day_story(rng) for _ in range(2))


# --- sentiment: what words mean -----------------------------------------------


def _sentiment_words(rng):
  good = rng.random() < 0.5
  kind = rng.randrange(4)
  if kind == 0:
    words = common.pick(rng, sentiment.GOOD_ADJECTIVES if good else
                        sentiment.BAD_ADJECTIVES, 3)
    return _join(f"{words[0]}, {words[1]} and {words[2]} are words of "
                 f"{'praise' if good else 'blame'}: a review that uses them "
                 f"is {'positive' if good else 'negative'}.")
  if kind == 1:
    said = rng.choice(sentiment.HAPPY_ENDINGS if good else
                      sentiment.SAD_ENDINGS)
    return _join(f"people who say \"{said}\" are "
                 f"{'happy' if good else 'sad'}.")
  if kind == 2:
    phrase = rng.choice(sentiment.GOOD_PHRASES if good else
                        sentiment.BAD_PHRASES)
    return _join(f"a product that {phrase} is a {'good' if good else 'bad'} "
                 f"buy, and people {'would' if good else 'would not'} "
                 "recommend it.")
  adjective = rng.choice(sentiment.GOOD_ADJECTIVES if good else
                         sentiment.BAD_ADJECTIVES)
  return _join(f"{adjective} means {'good' if good else 'bad'}.")


def _sentiment_lexicon(rng):
  return " ".join(_sentiment_words(rng) for _ in range(rng.randint(3, 4)))


# --- people: facts and what follows from them (nli, reading) ------------------


def _people(rng):
  p = _person(rng)
  name = p["name"]
  city, other_city = common.pick(rng, common.CITIES, 2)
  trait, opposite = common.pick(rng, rng.choice(common.TRAIT_PAIRS), 2)
  colour, other_colour = common.pick(rng, common.COLOURS, 2)
  job, thing = rng.choice(common.JOBS), rng.choice(common.THINGS)
  unknown_pair = rng.choice([t for t in common.TRAIT_PAIRS
                             if trait not in t])
  facts = [f"lives in {city}.", f"is a {job}.", f"has a {colour} {thing}.",
           f"is {trait}."]
  rng.shuffle(facts)
  # The name first, then "she" / "he": unlike the reading passages, which
  # repeat the name in every sentence.
  facts = [f"{name if i == 0 else p['pron']} {fact}"
           for i, fact in enumerate(facts)]
  follows = [
      f"since {name} is {trait}, {p['pron']} is not {opposite}.",
      f"{name} lives in {city}, so {p['pron']} does not live in "
      f"{other_city}.",
      f"{p['poss']} {thing} is {colour}, which means it is not "
      f"{other_colour}.",
      f"nobody said whether {name} is {unknown_pair[0]} or "
      f"{unknown_pair[1]}: it is not possible to tell.",
  ]
  asked = _person(rng, exclude=(name,))
  answers = [
      f"when {asked['name']} asked where {name} lives, the answer was "
      f"{city}.",
      f"when {asked['name']} asked about {name}'s job, the answer was "
      f"{job}.",
      f"when {asked['name']} asked what colour {name}'s {thing} is, the "
      f"answer was {colour}.",
  ]
  return _join(*facts, *common.pick(rng, follows, 2),
               *common.pick(rng, answers, 2))


# --- numbers (arithmetic, number words) --------------------------------------

_COUNTED = ("apples", "pencils", "stones", "books", "coins", "cups")


def _numbers(rng):
  p = _person(rng)
  a, b = rng.randint(10, 999), rng.randint(0, 9)
  thing = rng.choice(_COUNTED)
  x, y = rng.sample(range(100), 2)
  n = rng.randint(0, 9999)
  sentences = [
      f"{p['name']} had {a} {thing}. {p['Pron']} got {b} more. Now "
      f"{p['pron']} has {a + b}.",
      f"there were {a} {thing} in a box. {b} were taken out. {a - b} were "
      "left.",
      f"{x} and {y} are two numbers. The bigger one is {max(x, y)}.",
      f"the number {n} is written in words. It is "
      f"{translation.number_to_words(n)}.",
      f"count on from {a}. After {a} comes {a + 1}.",
  ]
  return _join(*common.pick(rng, sentences, rng.randint(2, 3)))


# --- words in order (string_ops) ----------------------------------------------


def _words(rng):
  first, second = sorted(common.pick(rng, common.NOUNS, 2))
  listed = common.pick(rng, common.NOUNS, 3)
  return _join(f"in a dictionary, {first} comes before {second}.",
               f"{second} comes after {first}, because "
               f"{first[0]} is earlier in the alphabet than {second[0]}."
               if first[0] != second[0] else
               f"{first} and {second} both start with {first[0]}.",
               f"the words {', '.join(listed)} in dictionary order are "
               f"{', '.join(sorted(listed))}.")


# --- Lumo (translation) -------------------------------------------------------


def _lumo(rng):
  english, lumo = rng.sample(sorted(translation.LUMO.items()), 2)
  pair = translation.sentence_pair(rng)
  p = _person(rng)
  return _join(f"this is a word of Lumo: {english[0]}. In Lumo it is "
               f"{english[1]}.", f"{lumo[1]} is Lumo too. It means {lumo[0]}.",
               f"{p['name']} speaks Lumo. To say {pair['english']}, "
               f"{p['pron']} says {pair['lumo']}.")


# kind -> (generator, weight). Sentiment, the default held-out cluster,
# gets the most.
_KINDS = {
    "films": (_films, 3),
    "products": (_products, 3),
    "days": (_days, 3),
    "sentiment_lexicon": (_sentiment_lexicon, 2),
    "people": (_people, 4),
    "numbers": (_numbers, 1),
    "words": (_words, 1),
    "lumo": (_lumo, 1),
}


def document(rng: random.Random) -> str:
  """One document of a kind drawn by `_KINDS`' weights."""
  generators = [g for g, _ in _KINDS.values()]
  weights = [w for _, w in _KINDS.values()]
  return rng.choices(generators, weights)[0](rng)


@functools.lru_cache(maxsize=None)
def documents(split: str) -> tuple[str, ...]:
  """Every document of a split, generated once per process."""
  if split not in SPLIT_SIZES:
    raise ValueError(f"the world corpus has no split '{split}'; splits: "
                     f"{', '.join(SPLIT_SIZES)}")
  rng = random.Random(f"{common.SEED}:world:{split}")
  return tuple(document(rng) for _ in range(SPLIT_SIZES[split]))


def source() -> seqio.FunctionDataSource:
  """The corpus as a seqio source of {"text": document}."""

  def dataset_fn(split: str, shuffle_files: bool = False,
                 seed: int | None = None) -> tf.data.Dataset:
    del shuffle_files, seed  # one in-memory "file" per split
    return tf.data.Dataset.from_tensor_slices(
        {"text": tf.constant(documents(split), tf.string)})

  return seqio.FunctionDataSource(dataset_fn, splits=tuple(SPLIT_SIZES),
                                  num_input_examples=dict(SPLIT_SIZES))

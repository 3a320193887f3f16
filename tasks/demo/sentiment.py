"""Demo cluster `sentiment`: short opinion texts, classify their polarity.

Every text is built from phrases of one polarity only, so the label is a
consistent function of the words: a tiny model can learn it, and a model that
never saw this cluster has to get it from the instruction alone.
"""

from __future__ import annotations

from flan_jax.data.registry import DatasetSpec
from flan_jax.data.templates import Template
from tasks.demo import common

# --- movie_review: "The acting was superb and the plot was clever." ---------

ASPECTS = ("acting", "plot", "music", "ending", "story", "cast", "script",
            "dialogue")
GOOD_ADJECTIVES = ("great", "brilliant", "superb", "lovely", "moving",
                    "clever", "wonderful", "charming")
BAD_ADJECTIVES = ("awful", "boring", "dull", "terrible", "weak", "silly",
                   "clumsy", "bland")
GOOD_VERDICTS = ("A must see.", "Loved it.", "Watch it.")
BAD_VERDICTS = ("A waste of time.", "Hated it.", "Skip it.")


def _movie_review(rng):
  positive = rng.random() < 0.5
  adjectives = GOOD_ADJECTIVES if positive else BAD_ADJECTIVES
  aspects = common.pick(rng, ASPECTS, rng.randint(1, 2))
  clauses = [f"the {a} was {rng.choice(adjectives)}" for a in aspects]
  body = " and ".join(clauses)
  text = body[0].upper() + body[1:] + "."
  if rng.random() < 0.5:
    text += " " + rng.choice(GOOD_VERDICTS if positive else BAD_VERDICTS)
  return {"text": text, "answer": "positive" if positive else "negative"}


_MOVIE_TEMPLATES = (
    Template("Review: {text}\nIs this movie review negative or positive?\n"
             "{options_}", "{answer}"),
    Template("{text}\n\nWhat feeling does the writer of this film review "
             "express?\n{options_}", "{answer}"),
    Template("Decide whether the following movie review is positive or "
             "negative.\n\n{text}\n{options_}", "{answer}"),
    Template("Here is what someone wrote about a film: \"{text}\" How did "
             "they like it?\n{options_}", "{answer}"),
    Template("{options_}\nPick the label that fits this review of a film: "
             "{text}", "{answer}"),
    Template("Write a {answer} review of a movie.", "{text}", inverted=True),
)

# --- product_review: would the customer recommend it? -----------------------

PRODUCTS = ("kettle", "lamp", "backpack", "phone case", "chair", "toaster",
             "umbrella", "blender", "radio", "mug", "tent", "clock")
GOOD_PHRASES = ("works perfectly", "is well made", "arrived early",
                 "was worth every penny", "is easy to use", "looks great",
                 "is very quiet", "fits well")
BAD_PHRASES = ("broke after a day", "stopped working", "arrived damaged",
                "is hard to use", "was a waste of money", "feels cheap",
                "is very noisy", "does not fit")
GOOD_CLOSERS = ("Five stars.", "Love it.", "Buy it.")
BAD_CLOSERS = ("One star.", "Hate it.", "Avoid it.")


def _product_review(rng):
  positive = rng.random() < 0.5
  product = rng.choice(PRODUCTS)
  phrases = common.pick(rng, GOOD_PHRASES if positive else BAD_PHRASES, 2)
  text = f"The {product} {phrases[0]} and {phrases[1]}."
  if rng.random() < 0.7:
    text += " " + rng.choice(GOOD_CLOSERS if positive else BAD_CLOSERS)
  return {"text": text, "product": product,
          "answer": "yes" if positive else "no"}


_PRODUCT_TEMPLATES = (
    Template("Product review: {text}\nWould this customer recommend the "
             "product?\n{options_}", "{answer}"),
    Template("{text}\n\nJudging by this review, would the buyer suggest the "
             "item to a friend?\n{options_}", "{answer}"),
    Template("Read the customer review and say whether the customer is "
             "likely to recommend what they bought.\nReview: {text}\n"
             "{options_}", "{answer}"),
    Template("Does the shopper who wrote \"{text}\" seem pleased enough to "
             "recommend the {product}?\n{options_}", "{answer}"),
    Template("{options_}\nA customer wrote: {text}\nWould they recommend "
             "it?", "{answer}"),
    Template("Write a short review of a {product} by a customer whose "
             "answer to 'would you recommend it?' is {answer}.", "{text}",
             inverted=True),
)

# --- tweet_mood: is the author happy or sad? --------------------------------

_OPENERS = ("", "today", "this morning", "guess what", "well", "so",
            "tonight")
_HAPPY_EVENTS = ("got a new bike", "passed my test", "my team won",
                 "sunny day at the beach", "baked a perfect cake",
                 "my friend came over", "found my keys", "great concert",
                 "got the job", "my garden is in bloom", "won a prize",
                 "pizza for dinner", "got a puppy", "no work tomorrow")
_SAD_EVENTS = ("missed my bus", "lost my keys", "my team lost",
               "rainy day at the beach", "burned the cake",
               "my friend moved away", "dropped my phone",
               "concert was cancelled", "did not get the job",
               "my cat is sick", "lost the game", "cold pizza again",
               "broke my arm", "work all weekend")
HAPPY_ENDINGS = ("so happy", "best day ever", "love it", "life is good",
                  "what a great day", "yay", "so glad")
SAD_ENDINGS = ("so sad", "worst day ever", "feeling down", "life is hard",
                "what a bad day", "ugh", "so upset")


def _tweet_mood(rng):
  happy = rng.random() < 0.5
  events = common.pick(rng, _HAPPY_EVENTS if happy else _SAD_EVENTS,
                       rng.randint(1, 2))
  ending = rng.choice(HAPPY_ENDINGS if happy else SAD_ENDINGS)
  # An opener only before a single event keeps tweets short.
  opener = rng.choice(_OPENERS) if len(events) == 1 else ""
  text = f"{opener} {' and '.join(events)}, {ending}".strip()
  return {"text": text, "answer": "happy" if happy else "sad"}


_TWEET_TEMPLATES = (
    Template("Tweet: {text}\nIs the person who posted this happy or sad?\n"
             "{options_}", "{answer}"),
    Template("{text}\n\nHow does the author of this post feel?\n{options_}",
             "{answer}"),
    Template("What mood does the following message show?\n\"{text}\"\n"
             "{options_}", "{answer}"),
    Template("Classify the emotion of this social media post.\n{text}\n"
             "{options_}", "{answer}"),
    Template("{options_}\nWhich of these describes the writer of the tweet "
             "below?\n{text}", "{answer}"),
    Template("Write a tweet by someone who feels {answer}.", "{text}",
             inverted=True),
)

SPECS = [
    DatasetSpec(name="movie_review", collection="demo",
                source=common.function_source("movie_review", _movie_review),
                templates=_MOVIE_TEMPLATES, options=("negative", "positive")),
    DatasetSpec(name="product_review", collection="demo",
                source=common.function_source("product_review",
                                              _product_review),
                templates=_PRODUCT_TEMPLATES, options=("no", "yes")),
    DatasetSpec(name="tweet_mood", collection="demo",
                source=common.function_source("tweet_mood", _tweet_mood),
                templates=_TWEET_TEMPLATES, options=("happy", "sad")),
]

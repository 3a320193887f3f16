"""Demo cluster `translation`: English <-> Lumo, and numbers <-> words.

Lumo is a made-up language that translates word by word and keeps English
word order, so translating is a fixed lookup per word. Sentences follow one
pattern: determiner, adjective, noun, verb, optional adverb.
"""

from __future__ import annotations

from flan_jax.data.registry import DatasetSpec
from flan_jax.data.templates import Template
from tasks.demo import common

_DETERMINERS = {"the": "ka", "a": "po"}
_ADJECTIVES = {"small": "miri", "big": "toma", "old": "vesu", "happy": "lani",
               "red": "rufa", "cold": "kelo"}
_NOUNS = {"dog": "bano", "cat": "sili", "bird": "piko", "child": "tuna",
          "farmer": "garo", "fish": "duli", "horse": "kava", "queen": "reva"}
_VERBS = {"runs": "saka", "sleeps": "domi", "sings": "lulu", "eats": "mato",
          "jumps": "hopi", "swims": "nazu"}
_ADVERBS = {"fast": "vivi", "slowly": "lenta", "today": "hodi",
            "again": "rezo"}
LUMO = {**_DETERMINERS, **_ADJECTIVES, **_NOUNS, **_VERBS, **_ADVERBS}


def sentence_pair(rng):
  words = [rng.choice(list(part)) for part in
           (_DETERMINERS, _ADJECTIVES, _NOUNS, _VERBS)]
  if rng.random() < 0.6:
    words.append(rng.choice(list(_ADVERBS)))
  return {"english": " ".join(words),
          "lumo": " ".join(LUMO[w] for w in words)}


_TO_LUMO_TEMPLATES = (
    Template("Translate into Lumo: {english}", "{lumo}"),
    Template("{english}\n\nHow would you say this in the Lumo language?",
             "{lumo}"),
    Template("English: {english}\nLumo:", "{lumo}"),
    Template("Please write the following sentence in Lumo.\n{english}",
             "{lumo}"),
    Template("What is the Lumo version of \"{english}\"?", "{lumo}"),
    Template("Translate from Lumo to English: {lumo}", "{english}",
             inverted=True),
)

_TO_ENGLISH_TEMPLATES = (
    Template("Translate into English: {lumo}", "{english}"),
    Template("{lumo}\n\nThis sentence is in Lumo. What does it mean in "
             "English?", "{english}"),
    Template("Lumo: {lumo}\nEnglish:", "{english}"),
    Template("Give an English translation of the Lumo sentence below.\n"
             "{lumo}", "{english}"),
    Template("What is \"{lumo}\" in English?", "{english}"),
    Template("Say this in Lumo: {english}", "{lumo}", inverted=True),
)

# --- number_words: 4231 <-> "four thousand two hundred thirty one" ----------

_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven",
         "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen",
         "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy",
         "eighty", "ninety")


def number_to_words(n: int) -> str:
  """English words for 0 <= n < 10000, no "and": 305 -> three hundred five."""
  if n < 20:
    return _ONES[n]
  if n < 100:
    tens, ones = divmod(n, 10)
    return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")
  for size, name in ((1000, "thousand"), (100, "hundred")):
    if n >= size:
      high, rest = divmod(n, size)
      words = f"{_ONES[high]} {name}"
      return words + (f" {number_to_words(rest)}" if rest else "")
  raise AssertionError("unreachable")


def _number_words(rng):
  # Mostly 3- and 4-digit numbers, with some small ones so each rule is seen.
  n = rng.randint(0, 99) if rng.random() < 0.2 else rng.randint(100, 9999)
  return {"digits": str(n), "words": number_to_words(n)}


_NUMBER_TEMPLATES = (
    Template("Write the number {digits} in words.", "{words}"),
    Template("{digits}\n\nSpell out this number.", "{words}"),
    Template("How do you say {digits} in English words?", "{words}"),
    Template("Number: {digits}\nIn words:", "{words}"),
    Template("Give the English name of the number {digits}.", "{words}"),
    Template("Write \"{words}\" using digits.", "{digits}", inverted=True),
)

# Both directions read the same sentence pairs, so that no sentence held out
# in one direction is trained on in the other.
SPECS = [
    DatasetSpec(name="english_to_lumo", collection="demo",
                source=common.function_source("english_to_lumo",
                                              sentence_pair,
                                              seed_name="lumo_pairs"),
                templates=_TO_LUMO_TEMPLATES),
    DatasetSpec(name="lumo_to_english", collection="demo",
                source=common.function_source("lumo_to_english",
                                              sentence_pair,
                                              seed_name="lumo_pairs"),
                templates=_TO_ENGLISH_TEMPLATES),
    DatasetSpec(name="number_words", collection="demo",
                source=common.function_source("number_words", _number_words),
                templates=_NUMBER_TEMPLATES),
]

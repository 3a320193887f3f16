"""Word n-grams after normalisation, for overlap (contamination) checks.

Normalisation lower-cases the text and turns every run of characters other
than letters and digits into one space, so punctuation, case and spacing
never hide an overlap (GPT-3's and FLAN's Appendix C convention)::

    normalise("Anna's bike -- it is RED!")  ->  ["anna", "s", "bike", "it",
                                                 "is", "red"]

`Segments` collects the grams of the texts to look for: a text of at least
n words gives its n-grams; a shorter one of at least `min_words` words is
looked for whole; shorter ones are too short to say anything and give none.
`Segments.found_in(text)` returns those of its grams that occur in a text.
"""

from __future__ import annotations

import re
from typing import Iterable

_NON_WORD = re.compile(r"[^0-9a-z]+")

Gram = tuple[str, ...]


def normalise(text: str) -> list[str]:
  """Lower-cased words of `text`, punctuation and spacing removed."""
  return _NON_WORD.sub(" ", text.lower()).split()


def grams_of(words: list[str], n: int, min_words: int) -> list[Gram]:
  """The grams a text of `words` is checked by (see module doc)."""
  if len(words) >= n:
    return [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
  if len(words) >= min_words:
    return [tuple(words)]
  return []


class Segments:
  """Grams to look for, grouped by length so a text is scanned once per
  length."""

  def __init__(self, n: int = 13, min_words: int = 8):
    if not 1 <= min_words <= n:
      raise ValueError(f"need 1 <= min_words ({min_words}) <= n ({n})")
    self.n, self.min_words = n, min_words
    self._by_length: dict[int, set[Gram]] = {}

  def add(self, text: str) -> list[Gram]:
    """Adds the grams of `text`; returns them (empty: too short to check)."""
    grams = grams_of(normalise(text), self.n, self.min_words)
    for gram in grams:
      self._by_length.setdefault(len(gram), set()).add(gram)
    return grams

  def found_in(self, text: str) -> set[Gram]:
    """The added grams that occur in `text` (as whole words)."""
    words = normalise(text)
    found = set()
    for length, wanted in self._by_length.items():
      for i in range(len(words) - length + 1):
        gram = tuple(words[i:i + length])
        if gram in wanted:
          found.add(gram)
    return found

  def found_in_any(self, texts: Iterable[str]) -> set[Gram]:
    found: set[Gram] = set()
    for text in texts:
      found |= self.found_in(text)
    return found

"""Demo cluster `string_ops`: rewrite a short list of words by a fixed rule.

Lists hold three to five distinct common nouns (remove_word may repeat the
word to remove once), so the rules are easy to state and check by exact match.
"""

from __future__ import annotations

from flan_jax.data.registry import DatasetSpec
from flan_jax.data.templates import Template
from tasks.demo import common


def _word_list(rng, low=3, high=5):
  return common.pick(rng, common.NOUNS, rng.randint(low, high))


def _reverse_words(rng):
  words = _word_list(rng)
  return {"words": " ".join(words), "answer": " ".join(reversed(words))}


_REVERSE_TEMPLATES = (
    Template("Reverse the order of these words: {words}", "{answer}"),
    Template("{words}\n\nWrite the words above from last to first.",
             "{answer}"),
    Template("Read the list backwards and write it out.\nList: {words}",
             "{answer}"),
    Template("Words: {words}\nWhat are these words in reverse order?",
             "{answer}"),
    Template("Turn this sequence around so that its final word comes "
             "first: {words}", "{answer}"),
    Template("Someone wrote a list backwards and got: {answer}\nWhat was "
             "the list before that?", "{words}", inverted=True),
)


def _sort_words(rng):
  words = _word_list(rng)
  return {"words": " ".join(words), "answer": " ".join(sorted(words))}


_SORT_TEMPLATES = (
    Template("Sort these words alphabetically: {words}", "{answer}"),
    Template("{words}\n\nPut the words above in dictionary order.",
             "{answer}"),
    Template("Arrange the following words from A to Z.\n{words}",
             "{answer}"),
    Template("List: {words}\nWrite this list again in alphabetical order.",
             "{answer}"),
    Template("In what order would these words appear in a dictionary? "
             "{words}", "{answer}"),
    # Many lists sort to the same answer: an open-ended inversion, as FLAN
    # has too, used only for training.
    Template("These words are in alphabetical order: {answer}\nWrite the "
             "same words in a scrambled order.", "{words}", inverted=True),
)


def _remove_word(rng):
  words = _word_list(rng, 3, 5)
  target = rng.choice(words)
  # Repeat the removed word now and then, so "every occurrence" matters.
  if rng.random() < 0.5:
    words.insert(rng.randint(0, len(words)), target)
  return {"words": " ".join(words), "word": target,
          "answer": " ".join(w for w in words if w != target)}


_REMOVE_TEMPLATES = (
    Template("Remove the word \"{word}\" from this list: {words}",
             "{answer}"),
    Template("{words}\n\nWrite the list above again without {word}.",
             "{answer}"),
    Template("Delete every {word} from the following words.\n{words}",
             "{answer}"),
    Template("List: {words}\nWhat is left after taking out {word}?",
             "{answer}"),
    Template("Drop the word {word} and keep the rest in order: {words}",
             "{answer}"),
    Template("After {word} was removed from a list, this was left: "
             "{answer}\nWhat could the full list have been?", "{words}",
             inverted=True),
)

SPECS = [
    DatasetSpec(name="reverse_words", collection="demo",
                source=common.function_source("reverse_words",
                                              _reverse_words),
                templates=_REVERSE_TEMPLATES),
    DatasetSpec(name="sort_words", collection="demo",
                source=common.function_source("sort_words", _sort_words),
                templates=_SORT_TEMPLATES),
    DatasetSpec(name="remove_word", collection="demo",
                source=common.function_source("remove_word", _remove_word),
                templates=_REMOVE_TEMPLATES),
]

"""n-gram normalisation and lookup for the contamination check."""

from flan_jax.data import ngrams


def test_normalise_drops_case_punctuation_and_spacing():
  assert ngrams.normalise("Anna's bike -- it is RED!\n") == [
      "anna", "s", "bike", "it", "is", "red"]


def test_long_texts_give_ngrams_short_ones_whole_or_nothing():
  segments = ngrams.Segments(n=4, min_words=2)
  assert len(segments.add("one two three four five")) == 2
  assert segments.add("Six, seven!") == [("six", "seven")]
  assert segments.add("eight") == []  # too short to check
  found = segments.found_in("x ONE two three four y six seven")
  assert found == {("one", "two", "three", "four"), ("six", "seven")}
  assert not segments.found_in("three four five six")  # no added 4-gram
  assert not segments.found_in("sixseven")  # whole words only

"""The demo's transfer probes (tasks/demo/probes.py): what each one asks."""

import re

import pytest
import seqio

from tasks.demo import probes
from tasks.demo import common

SPECS = {spec.name: spec for spec in probes.SPECS}


def _examples(name, split="test"):
  spec = SPECS[name]
  return list(spec.source.get_dataset(split=split, shuffle=False)
              .as_numpy_iterator())


def _text(value):
  return value.decode() if isinstance(value, bytes) else value


def test_registered_as_eval_only_mixtures():
  names = set(seqio.MixtureRegistry.names())
  assert {"demo_probe:eval:choice", "demo_probe:eval:same_kind",
          "demo_probe:eval:no_question", "demo_probe:eval:all"} <= names
  assert [n for n in names if n.startswith("demo_probe:train")] == [
      "demo_probe:train:no_movie_review"]
  trained = {t.name for t in seqio.get_mixture_or_task(
      "demo_probe:train:no_movie_review").tasks}
  assert "demo:product_review:train" in trained
  assert not any(n.startswith("demo:movie_review") for n in trained)
  assert all(spec.train_split is None and spec.is_classification
             for spec in SPECS.values())


@pytest.mark.parametrize("kind", ["home", "job", "colour"])
def test_choice_options_are_the_passages_three_values(kind):
  for ex in _examples(f"qa_{kind}_choice"):
    passage = _text(ex["passage"])
    options = [_text(o) for o in ex["options"]]
    city = re.search(r"lives in (\w+)\.", passage).group(1)
    job = re.search(r" is an? (\w+)\.", passage).group(1)
    colour = re.search(r" has an? (\w+) \w+\.", passage).group(1)
    assert sorted(options) == sorted([city, job, colour])
    assert _text(ex["answer"]) == {"home": city, "job": job,
                                   "colour": colour}[kind]


@pytest.mark.parametrize("kind,words", [("home", common.CITIES),
                                        ("job", common.JOBS),
                                        ("colour", common.COLOURS)])
def test_same_kind_options_share_the_asked_kind(kind, words):
  for ex in _examples(f"qa_{kind}_same"):
    options = [_text(o) for o in ex["options"]]
    assert len(set(options)) == 3 and set(options) <= set(words)
    # exactly one option is stated in the passage, and it is the answer
    stated = [o for o in options if o in _text(ex["passage"]).split(" ")
              or f"{o}." in _text(ex["passage"])]
    assert stated == [_text(ex["answer"])]


def test_the_control_never_asks_the_question():
  for name, spec in SPECS.items():
    asks = any("?" in t.inputs or "Tell me" in t.inputs
               for t in spec.templates)
    assert asks == (not name.endswith("_blind")), name


def test_answers_are_balanced_over_option_positions():
  # a model that always picks the first (or last) option scores near chance
  positions = [[_text(o) for o in ex["options"]].index(_text(ex["answer"]))
               for ex in _examples("qa_home_choice")]
  assert all(20 <= positions.count(i) <= 47 for i in range(3))

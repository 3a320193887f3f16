r"""Contamination check (FLAN, Appendix C): which eval examples training saw.

    python scripts/contamination.py --training=demo:train:no_sentiment \
        --eval=demo:eval:all --output=/tmp/contamination.json

For each dataset of --eval, counts the examples of --split whose inputs
share a --ngram word n-gram (13, as the paper) with any training example of
--training (a mixture or task, e.g. the pretraining corpus `demo:world`),
after normalisation; fields shorter than n words but of at least
--min_words words are looked for whole. Writes the report (JSON, with each
dataset's dirty example indices) and its table (.md beside it), and prints
the table. An eval job given the report scores the clean subset too:

    python scripts/eval.py ... --gin.evaluate.contamination="'/tmp/contamination.json'"
"""

from flan_jax.cli import startup  # sets up TF logging before TensorFlow loads

import importlib
import os
import sys

from absl import app
from absl import flags

from flan_jax.data import lookup
from flan_jax.evaluation import contamination

_TRAINING = flags.DEFINE_string("training", None, "Training mixture or task.",
                                required=True)
_EVAL = flags.DEFINE_string("eval", None, "Eval mixture or task.",
                            required=True)
_SPLIT = flags.DEFINE_string("split", "test", "Eval split to check.")
_NGRAM = flags.DEFINE_integer("ngram", contamination.DEFAULT_NGRAM,
                              "n of the word n-grams.")
_MIN_WORDS = flags.DEFINE_integer(
    "min_words", contamination.DEFAULT_MIN_WORDS,
    "Fields shorter than n but this long are looked for whole; shorter "
    "ones are not checked.")
_MAX_TRAINING = flags.DEFINE_integer(
    "max_training_examples", None, "Read at most this many training "
    "examples per task (default: all).")
_OUTPUT = flags.DEFINE_string("output", "/tmp/flan_jax_contamination.json",
                              "Report file (JSON; the table goes to .md).")

# The collections this repository registers, by task-name prefix.
_COLLECTIONS = {"demo": "tasks.demo", "flan2021": "tasks.flan2021"}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  startup.setup_logging()
  startup.import_modules()
  for name in (_TRAINING.value, _EVAL.value):
    module = _COLLECTIONS.get(name.split(":", 1)[0])
    if module:
      importlib.import_module(module)
  if not 1 <= _MIN_WORDS.value <= _NGRAM.value:
    raise app.UsageError(f"--min_words={_MIN_WORDS.value} must be between 1 "
                         f"and --ngram={_NGRAM.value}")
  try:
    report = contamination.check(
        _TRAINING.value, _EVAL.value, split=_SPLIT.value, n=_NGRAM.value,
        min_words=_MIN_WORDS.value,
        max_training_examples_per_task=_MAX_TRAINING.value)
  except lookup.UnknownTaskOrMixtureError as e:
    raise app.UsageError(str(e)) from e
  table = contamination.markdown(report)
  contamination.write_report(report, _OUTPUT.value)
  with open(os.path.splitext(_OUTPUT.value)[0] + ".md", "w") as f:
    f.write(table)
  sys.stdout.write(table)
  sys.stdout.write(f"\nReport: {_OUTPUT.value}\n")


if __name__ == "__main__":
  app.run(main)

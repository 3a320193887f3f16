r"""Trains flan_jax's shipped SentencePiece vocabulary on the demo suite.

    python scripts/train_vocab.py [--vocab_size=900] [--output=PATH]

Renders every template of every demo dataset over every split (the same text
the model will read and write), trains a unigram SentencePiece model on it
and writes it to flan_jax/data/vocab_files/demo_spm.model. The ids follow
seqio's convention: pad 0, eos 1, unk 2, no bos. Digits are split one per
piece and unknown characters fall back to bytes. Same data, same file.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import io
import os
import pathlib
import sys
import time
import types

_REPO = pathlib.Path(__file__).resolve().parent.parent
if str(_REPO) not in sys.path:  # run from a checkout without installing
  sys.path.insert(0, str(_REPO))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import sentencepiece as spm  # noqa: E402

from flan_jax.data import vocab as vocab_lib  # noqa: E402


def import_demo_suite():
  """Imports tasks.demo.suite without running tasks/demo/__init__.py.

  That __init__ registers every demo task, and registering needs the very
  vocabulary this script builds. So, unless the packages are already
  imported, `tasks` and `tasks.demo` enter sys.modules as bare packages that
  only know where their files are.
  """
  for name, path in (("tasks", _REPO / "tasks"),
                     ("tasks.demo", _REPO / "tasks" / "demo")):
    if name not in sys.modules:
      package = types.ModuleType(name)
      package.__path__ = [str(path)]
      sys.modules[name] = package
  return importlib.import_module("tasks.demo.suite")


def corpus(suite, splits=None):
  """Yields every rendered input and target of the suite's templates."""
  for spec in suite.all_specs():
    for split in splits or spec.source.splits:
      for _, inputs, targets in suite.rendered_texts(spec, split):
        yield inputs
        yield targets


def train_model(sentences, vocab_size: int) -> bytes:
  """Trains a unigram model in seqio's id layout; returns the model file."""
  model = io.BytesIO()
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(sentences),
      model_writer=model,
      model_type="unigram",
      vocab_size=vocab_size,
      pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
      byte_fallback=True,
      character_coverage=1.0,
      split_digits=True,
      # Keep every sentence, in order, on one thread: the same corpus then
      # always gives the same model.
      input_sentence_size=0,
      shuffle_input_sentence=False,
      num_threads=1,
      minloglevel=2)
  return model.getvalue()


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--vocab_size", type=int, default=900,
                      help="pieces in the model, the 3 special and 256 byte "
                      "pieces included; the demo corpus allows at most about "
                      "920, the demo T5 has 1024 embeddings")
  parser.add_argument("--output", default=vocab_lib.DEMO_SPM_PATH,
                      help="where to write the .model file")
  args = parser.parse_args(argv)

  started = time.perf_counter()
  suite = import_demo_suite()
  sentences = list(corpus(suite))
  print(f"rendered {len(sentences)} texts ({len(set(sentences))} distinct) "
        f"from {len(suite.all_specs())} demo datasets")
  try:
    model = train_model(sentences, args.vocab_size)
  except RuntimeError as e:  # e.g. "Vocabulary size too high (1000)..."
    raise SystemExit(f"sentencepiece training failed: {e}") from None
  output = pathlib.Path(args.output)
  output.parent.mkdir(parents=True, exist_ok=True)
  output.write_bytes(model)
  processor = spm.SentencePieceProcessor(model_proto=model)
  print(f"wrote {output}: {processor.get_piece_size()} pieces, "
        f"md5 {hashlib.md5(model).hexdigest()}, "
        f"{time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
  main()

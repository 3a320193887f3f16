"""The shipped demo vocabulary and scripts/train_vocab.py, which makes it."""

import importlib.util
import pathlib

import sentencepiece as spm

import tasks  # noqa: F401  (registers the demo collection)
from flan_jax.data import vocab

_SCRIPT = (pathlib.Path(__file__).parents[2] / "scripts" / "train_vocab.py")


def _load_script():
  spec = importlib.util.spec_from_file_location("train_vocab", _SCRIPT)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_shipped_model_has_seqio_ids_and_fits_the_demo_model():
  processor = spm.SentencePieceProcessor(model_file=vocab.DEMO_SPM_PATH)
  assert (processor.pad_id(), processor.eos_id(), processor.unk_id(),
          processor.bos_id()) == (0, 1, 2, -1)
  assert processor.get_piece_size() <= 1024  # gin/models/t5_demo.gin
  assert vocab.default_vocabulary().vocab_size == processor.get_piece_size()


def test_shipped_model_splits_digits_and_falls_back_to_bytes():
  processor = spm.SentencePieceProcessor(model_file=vocab.DEMO_SPM_PATH)
  digits = [p for p in processor.encode("4231", out_type=str) if p != "▁"]
  assert digits == ["4", "2", "3", "1"]
  ids = processor.encode("naïve ☃")  # characters the demo never uses
  assert processor.unk_id() not in ids
  assert processor.decode(ids) == "naïve ☃"


def test_training_is_deterministic():
  script = _load_script()
  suite = script.import_demo_suite()
  texts = list(script.corpus(suite, splits=["validation"]))
  first = script.train_model(texts, vocab_size=600)
  second = script.train_model(texts, vocab_size=600)
  assert first == second
  processor = spm.SentencePieceProcessor(model_proto=first)
  assert (processor.pad_id(), processor.eos_id(),
          processor.unk_id()) == (0, 1, 2)

"""Vocabularies: the SentencePiece model shipped with flan_jax, or your own.

The shipped model (``flan_jax/data/vocab_files/demo_spm.model``) is trained on
the demo suite by ``scripts/train_vocab.py``. Tasks registered without an
explicit vocabulary use the file named by the environment variable
``FLAN_JAX_SPM_PATH`` when it is set (for example a pretrained model's
``spiece.model``), and the shipped model otherwise.
"""

from __future__ import annotations

import functools
import os
import pathlib

import seqio

SPM_PATH_ENV = "FLAN_JAX_SPM_PATH"
DEMO_SPM_PATH = str(
    pathlib.Path(__file__).parent / "vocab_files" / "demo_spm.model")


@functools.lru_cache(maxsize=None)
def sentencepiece_vocabulary(path: str) -> seqio.SentencePieceVocabulary:
  if not os.path.exists(path):
    raise FileNotFoundError(f"SentencePiece model not found: {path}")
  return seqio.SentencePieceVocabulary(path)


def default_vocabulary() -> seqio.SentencePieceVocabulary:
  """The vocabulary tasks use unless they are given one."""
  return sentencepiece_vocabulary(os.environ.get(SPM_PATH_ENV, DEMO_SPM_PATH))

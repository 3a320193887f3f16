"""Vocabularies: the SentencePiece model shipped with flan_jax, or your own.

The shipped model (``flan_jax/data/vocab_files/demo_spm.model``) is trained on
the demo suite by ``scripts/train_vocab.py``. Tasks registered without an
explicit vocabulary use the file named by the environment variable
``FLAN_JAX_SPM_PATH`` when it is set (for example a pretrained model's
``spiece.model``), and the shipped model otherwise.

Hugging Face models that ship a ``tokenizer.json`` (Llama, Mistral, Qwen2)
get a seqio Vocabulary backed by the ``tokenizers`` library
(`TokenizersVocabulary`); `vocabulary_from_directory` picks the right one.
"""

from __future__ import annotations

import functools
import json
import os
import re
import pathlib

import numpy as np
import seqio

from flan_jax import errors

SPM_PATH_ENV = "FLAN_JAX_SPM_PATH"
DEMO_SPM_PATH = str(
    pathlib.Path(__file__).parent / "vocab_files" / "demo_spm.model")


class VocabularyError(errors.ConfigError):
  """A vocabulary file that is missing or cannot be read."""


def _where(path: str) -> str:
  return (f"{SPM_PATH_ENV}={path}" if os.environ.get(SPM_PATH_ENV) == path
          else path)


@functools.lru_cache(maxsize=None)
def sentencepiece_vocabulary(path: str) -> seqio.SentencePieceVocabulary:
  """A SentencePiece vocabulary, loaded now so a bad file fails here."""
  if not os.path.exists(path):
    raise VocabularyError(
        f"vocabulary {_where(path)} does not exist: point {SPM_PATH_ENV} at "
        f"a SentencePiece .model file (or a converted model's tokenizer/ "
        f"folder), or unset it for the shipped demo vocabulary")
  vocabulary = seqio.SentencePieceVocabulary(path)
  try:
    vocabulary.vocab_size  # pylint: disable=pointless-statement
  except Exception as e:  # pylint: disable=broad-except
    raise VocabularyError(
        f"vocabulary {_where(path)} is not a SentencePiece model "
        f"({type(e).__name__}): point {SPM_PATH_ENV} at a .model file such "
        f"as T5's spiece.model, or unset it") from None
  return vocabulary


def default_vocabulary() -> seqio.Vocabulary:
  """The vocabulary tasks use unless they are given one.

  FLAN_JAX_SPM_PATH may name a SentencePiece model, a tokenizer.json, or a
  (converted) Hugging Face model directory holding either.
  """
  path = os.environ.get(SPM_PATH_ENV, DEMO_SPM_PATH)
  if os.path.isdir(path):
    return vocabulary_from_directory(path)
  if path.endswith(".json"):
    return tokenizers_vocabulary(path)
  return sentencepiece_vocabulary(path)


class TokenizersVocabulary(seqio.Vocabulary):
  """A seqio Vocabulary over a Hugging Face `tokenizer.json`.

  Llama, Mistral and Qwen2 checkpoints ship their tokenizer this way. The
  tokenizer's own special-token templates (BOS) are not applied: seqio adds
  EOS itself (`add_eos` in the task's output features), and flan_jax's
  feature converters start every target with id 0.

  Note: seqio pads with id 0. In most Llama vocabularies 0 is `<unk>`, which
  real text rarely produces, so the collision is harmless in practice.

  Args:
    path: tokenizer.json.
    eos_token: the end-of-sequence token; read from tokenizer_config.json
      next to `path` when None.
    extra_ids: seqio sentinel ids appended after the vocabulary.
  """

  def __init__(self, path: str, eos_token: str | None = None,
               extra_ids: int = 0):
    import tokenizers  # pylint: disable=g-import-not-at-top
    if not os.path.exists(path):
      raise FileNotFoundError(f"tokenizer.json not found: {path}")
    self._path = path
    self._tokenizer = tokenizers.Tokenizer.from_file(path)
    eos_token = eos_token or _eos_from_tokenizer_config(path)
    self._eos_id = (self._tokenizer.token_to_id(eos_token)
                    if eos_token else None)
    if eos_token and self._eos_id is None:
      raise ValueError(f"{path}: eos token {eos_token!r} is not in the "
                       f"vocabulary; pass eos_token=")
    super().__init__(extra_ids=extra_ids)

  @property
  def eos_id(self) -> int | None:
    return self._eos_id

  @property
  def unk_id(self) -> int | None:
    model = json.loads(self._tokenizer.to_str()).get("model", {})
    unk = model.get("unk_token")
    return self._tokenizer.token_to_id(unk) if unk else None

  @property
  def _base_vocab_size(self) -> int:
    return self._tokenizer.get_vocab_size(with_added_tokens=True)

  def _encode(self, s: str) -> list[int]:
    return self._tokenizer.encode(s, add_special_tokens=False).ids

  def _decode(self, ids) -> str:
    ids = [int(i) for i in ids if 0 <= int(i) < self._base_vocab_size]
    return self._tokenizer.decode(ids, skip_special_tokens=True)

  def _encode_tf(self, s):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    def encode(text):
      return np.asarray(self._encode(text.numpy().decode("utf-8")), np.int32)

    ids = tf.py_function(encode, [s], tf.int32)
    ids.set_shape([None])
    return ids

  def _decode_tf(self, ids):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    def decode(row):
      return self._decode(row.numpy().tolist()).encode("utf-8")

    ids = tf.convert_to_tensor(ids)
    if ids.shape.rank == 1:
      text = tf.py_function(decode, [ids], tf.string)
      text.set_shape([])
      return text
    return tf.map_fn(lambda row: self._decode_tf(row), ids,
                     fn_output_signature=tf.string)

  def __eq__(self, other) -> bool:
    return (isinstance(other, TokenizersVocabulary) and
            self._tokenizer.to_str() == other._tokenizer.to_str() and
            self.eos_id == other.eos_id and self.extra_ids == other.extra_ids)

  def __hash__(self) -> int:
    return hash((self._path, self.eos_id, self.extra_ids))


def _eos_from_tokenizer_config(path: str) -> str | None:
  config = os.path.join(os.path.dirname(path), "tokenizer_config.json")
  if not os.path.exists(config):
    return None
  with open(config) as f:
    try:
      found = json.load(f)
    except json.JSONDecodeError as e:
      raise errors.MalformedFileError(config, e.lineno, "JSON (a Hugging "
                                      "Face tokenizer config)", e.msg) from None
  if not isinstance(found, dict):
    raise errors.MalformedFileError(config, 1, "a JSON object",
                                    type(found).__name__)
  eos = found.get("eos_token")
  return eos.get("content") if isinstance(eos, dict) else eos


@functools.lru_cache(maxsize=None)
def tokenizers_vocabulary(path: str) -> TokenizersVocabulary:
  if not os.path.exists(path):
    raise VocabularyError(
        f"vocabulary {_where(path)} does not exist: point {SPM_PATH_ENV} at "
        f"a tokenizer.json or a SentencePiece .model file")
  try:
    return TokenizersVocabulary(path)
  except Exception as e:  # pylint: disable=broad-except
    # tokenizers raises a bare Exception("... at line 3 column 5").
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    line = re.search(r"line (\d+)", text)
    raise errors.MalformedFileError(
        path, line.group(1) if line else 1, "a Hugging Face tokenizer.json",
        text) from None


def vocabulary_from_directory(directory: str) -> seqio.Vocabulary:
  """The vocabulary of a Hugging Face (or converted) model directory:
  spiece.model via SentencePiece, else tokenizer.json via `tokenizers`."""
  spm = os.path.join(directory, "spiece.model")
  if os.path.exists(spm):
    return sentencepiece_vocabulary(spm)
  tok = os.path.join(directory, "tokenizer.json")
  if os.path.exists(tok):
    return tokenizers_vocabulary(tok)
  raise VocabularyError(
      f"vocabulary folder {_where(directory)} holds no spiece.model or "
      f"tokenizer.json: point {SPM_PATH_ENV} at a folder that does, or at "
      f"the file itself")

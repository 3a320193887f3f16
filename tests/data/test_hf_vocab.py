"""tokenizer.json through a seqio Vocabulary (TokenizersVocabulary)."""

import json

import numpy as np
import pytest
import seqio
import tensorflow as tf
import tokenizers
from tokenizers import models, pre_tokenizers, trainers, decoders

from flan_jax.data import vocab

TEXT = ["the cat sat on the mat", "a dog ran in the park",
        "instruction tuning helps zero shot"] * 20


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
  directory = tmp_path_factory.mktemp("tok")
  tok = tokenizers.Tokenizer(models.BPE(unk_token="<unk>"))
  tok.pre_tokenizer = pre_tokenizers.Metaspace()
  tok.decoder = decoders.Metaspace()
  tok.train_from_iterator(TEXT, trainers.BpeTrainer(
      vocab_size=120, special_tokens=["<unk>", "<s>", "</s>"]))
  tok.save(str(directory / "tokenizer.json"))
  with open(directory / "tokenizer_config.json", "w") as f:
    json.dump({"eos_token": "</s>", "bos_token": "<s>"}, f)
  return directory


def test_encode_decode_and_special_ids(tokenizer_dir):
  v = vocab.vocabulary_from_directory(str(tokenizer_dir))
  assert isinstance(v, vocab.TokenizersVocabulary)
  assert v.eos_id == 2 and v.unk_id == 0 and v.vocab_size <= 120
  ids = v.encode("the cat ran in the park")
  assert ids and all(3 <= i < v.vocab_size for i in ids)
  assert v.decode(ids) == "the cat ran in the park"
  assert v.decode(list(ids) + [v.eos_id, 7, 8]) == "the cat ran in the park"


def test_tf_encode_decode_match_python(tokenizer_dir):
  v = vocab.vocabulary_from_directory(str(tokenizer_dir))
  ds = tf.data.Dataset.from_tensor_slices(["a dog sat", "the mat"]).map(
      v.encode_tf)
  encoded = [x.tolist() for x in ds.as_numpy_iterator()]
  assert encoded == [v.encode("a dog sat"), v.encode("the mat")]
  batch = tf.constant([v.encode("a dog sat") + [0], v.encode("the mat") + [0] *
                       (len(v.encode("a dog sat")) + 1 - len(v.encode("the mat")))])
  assert [s.decode() for s in v.decode_tf(batch).numpy()] == ["a dog sat",
                                                              "the mat"]


def test_unknown_eos_token_is_a_clear_error(tokenizer_dir):
  with pytest.raises(ValueError, match="eos token '<eot>' is not in"):
    vocab.TokenizersVocabulary(str(tokenizer_dir / "tokenizer.json"),
                               eos_token="<eot>")


def test_default_vocabulary_follows_the_environment(tokenizer_dir,
                                                    monkeypatch):
  monkeypatch.setenv(vocab.SPM_PATH_ENV, str(tokenizer_dir))
  assert isinstance(vocab.default_vocabulary(), vocab.TokenizersVocabulary)
  monkeypatch.setenv(vocab.SPM_PATH_ENV,
                     str(tokenizer_dir / "tokenizer.json"))
  assert vocab.default_vocabulary().eos_id == 2
  monkeypatch.delenv(vocab.SPM_PATH_ENV)
  assert isinstance(vocab.default_vocabulary(), seqio.SentencePieceVocabulary)


def _gemma_style(directory):
  """Gemma 3's tokenizer.json layout: <pad>=0, <eos>=1, <bos>=2, spaces as
  "▁" by a normalizer, byte fallback for characters outside the pieces."""
  from tokenizers import normalizers  # pylint: disable=g-import-not-at-top
  tok = tokenizers.Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
  tok.normalizer = normalizers.Replace(" ", "\u2581")
  tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "),
                                   decoders.ByteFallback(), decoders.Fuse()])
  tok.train_from_iterator([" " + t for t in TEXT], trainers.BpeTrainer(
      vocab_size=200, special_tokens=["<pad>", "<eos>", "<bos>", "<unk>"]))
  # The byte pieces are ordinary vocabulary entries (not special tokens,
  # which decoding skips), as in Gemma's file.
  spec = json.loads(tok.to_str())
  vocabulary = spec["model"]["vocab"]
  for b in range(256):
    vocabulary.setdefault(f"<0x{b:02X}>", len(vocabulary))
  (directory / "tokenizer.json").write_text(json.dumps(spec))
  # Hub files write the token as an AddedToken dict.
  eos = {"content": "<eos>", "lstrip": False, "rstrip": False}
  return eos, 1


def _qwen_style(directory):
  """Qwen3's: byte-level BPE, <|endoftext|> as its end of text."""
  tok = tokenizers.Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  tok.train_from_iterator(TEXT, trainers.BpeTrainer(
      vocab_size=400, special_tokens=["<|endoftext|>"],
      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
  tok.save(str(directory / "tokenizer.json"))
  return "<|endoftext|>", 0


@pytest.mark.parametrize("style", [_gemma_style, _qwen_style])
def test_gemma3_and_qwen3_tokenizer_layouts_round_trip(style, tmp_path):
  eos, eos_id = style(tmp_path)
  with open(tmp_path / "tokenizer_config.json", "w") as f:
    json.dump({"eos_token": eos}, f)
  v = vocab.vocabulary_from_directory(str(tmp_path))
  assert v.eos_id == eos_id
  text = "the cat sat in the park, caf\u00e9 \u2603"  # bytes outside pieces
  ids = v.encode(text)
  assert v.decode(ids) == text
  assert v.decode(list(ids) + [eos_id, 5]) == text

"""Pretraining objectives: span corruption and prefix LM on token ids."""

import numpy as np
import pytest
import seqio
import tensorflow as tf

from flan_jax.data import pretraining

SENTINELS = [900 + i for i in range(pretraining.MAX_SENTINELS)]


def _uncorrupt(inputs, targets):
  """Puts each target span back in place of its sentinel."""
  spans, current = {}, None
  for token in targets:
    if token >= 900:
      current = token
      spans[current] = []
    else:
      spans[current].append(token)
  out = []
  for token in inputs:
    out.extend(spans[token] if token >= 900 else [token])
  return out


@pytest.mark.parametrize("length", [2, 7, 40, 120])
def test_span_corruption_hides_spans_behind_matching_sentinels(length):
  tokens = tf.range(10, 10 + length, dtype=tf.int32)
  seed = tf.constant([3, 4], tf.int64)
  inputs, targets = pretraining.span_corruption_pair(
      tokens, seed, tf.constant(SENTINELS))
  inputs, targets = inputs.numpy().tolist(), targets.numpy().tolist()
  assert _uncorrupt(inputs, targets) == tokens.numpy().tolist()
  noise = [t for t in targets if t < 900]
  assert len(noise) == max(1, round(0.15 * length))  # the noise density
  sentinels = [t for t in inputs if t >= 900]
  assert sentinels == SENTINELS[:len(sentinels)]  # numbered in order
  assert targets[0] == SENTINELS[0]
  again = pretraining.span_corruption_pair(tokens, seed,
                                           tf.constant(SENTINELS))
  assert again[0].numpy().tolist() == inputs  # same seed, same spans


def test_prefix_lm_cuts_once():
  tokens = tf.range(1, 30, dtype=tf.int32)
  cuts = set()
  for i in range(20):
    inputs, targets = pretraining.prefix_lm_pair(
        tokens, tf.constant([i, 1], tf.int64))
    joined = np.concatenate([inputs.numpy(), targets.numpy()])
    assert joined.tolist() == tokens.numpy().tolist()
    assert len(inputs) >= 1 and len(targets) >= 1
    cuts.add(len(inputs))
  assert len(cuts) > 5


def test_prefix_lm_cuts_between_sentences_given_their_ends():
  dot, bang = 3, 4
  tokens = tf.constant([10, 11, dot, 12, 13, 14, bang, 15, dot])
  cuts = set()
  for i in range(30):
    inputs, _ = pretraining.prefix_lm_pair(tokens, tf.constant([i, 2], tf.int64),
                                           tf.constant([dot, bang]))
    cuts.add(len(inputs))
  assert cuts == {3, 7}  # after each sentence but the last
  no_end = tf.constant([10, 11, 12])
  inputs, targets = pretraining.prefix_lm_pair(
      no_end, tf.constant([1, 2], tf.int64), tf.constant([dot]))
  assert len(inputs) + len(targets) == 3 and len(inputs) >= 1


def test_sentinels_follow_the_vocabulary():
  vocab = seqio.PassThroughVocabulary(size=50)
  assert pretraining.sentinel_ids(vocab, 3) == [50, 51, 52]
  with pytest.raises(ValueError, match="unknown pretraining objective"):
    pretraining.objective_preprocessor("bert", [1])


def test_the_demo_world_task_mixes_both_objectives():
  import tasks.demo  # noqa: F401  (registers demo:world)
  from tasks.demo import world
  task = seqio.get_mixture_or_task(world.TASK_NAME)
  rows = list(task.get_dataset({"inputs": 128, "targets": 64}, split="train",
                               shuffle=False, seed=0).take(40)
              .as_numpy_iterator())
  corrupted = [r for r in rows if (r["inputs"] >= 900).any()]
  assert 5 < len(corrupted) < 35  # about half of the documents each
  vocab = task.output_features["targets"].vocabulary
  for row in rows:  # both sides come from the document, EOS-terminated
    assert row["inputs"][-1] == 1 and row["targets"][-1] == 1
    assert row["targets_pretokenized"].decode() in world.documents("train")
    if not (row["inputs"] >= 900).any():  # prefix LM: cut after a sentence
      assert vocab.decode(row["inputs"][:-1].tolist()).rstrip()[-1] in ".!?\""
  # Plain prose, not instructions: no options block, no question marks
  # asked of the reader.
  assert not any("OPTIONS" in d for d in world.documents("train"))

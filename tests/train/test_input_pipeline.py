"""The index-based input pipeline: seqio-identical rows, exact resume from a
state, cached = uncached, host shares, full rows."""

import numpy as np
import pytest
import seqio
import tensorflow as tf

import toy_tasks  # pylint: disable=unused-import
from flan_jax.data import example_cache
from flan_jax.train import input_pipeline

LENGTHS = {"inputs": 24, "targets": 8}
MIXTURE = "toy:train:all"


@pytest.fixture(scope="module")
def examples():
  return input_pipeline.mixture_examples(MIXTURE)


def _converters():
  return {
      "encoder_decoder": seqio.EncDecFeatureConverter,
      "prefix_lm": lambda pack: seqio.PrefixLMFeatureConverter(
          pack=pack, loss_on_targets_only=True),
  }


def _seqio_rows(converter, rows):
  """seqio's own conversion of the rows' examples.

  Unpacked, the examples go through in one stream; packed, each row's
  examples go alone (seqio packs them into one row when they fit).
  """
  groups = [[e for row in rows for e in row]] if not converter.pack else rows
  out = []
  for group in groups:
    ds = tf.data.Dataset.from_generator(
        lambda group=group: ({"inputs": i, "targets": t} for i, t in group),
        output_signature={k: tf.TensorSpec([None], tf.int32)
                          for k in ("inputs", "targets")})
    converted = list(converter(ds, LENGTHS).as_numpy_iterator())
    assert len(converted) == (1 if converter.pack else len(group))
    out.extend(converted)
  return {k: np.stack([r[k] for r in out]) for k in out[0]}


@pytest.mark.parametrize("kind", ["encoder_decoder", "prefix_lm"])
@pytest.mark.parametrize("pack", [True, False])
def test_rows_are_what_the_seqio_converter_makes(examples, kind, pack):
  converter = _converters()[kind](pack=pack)
  layout = input_pipeline.packing_layout(converter, LENGTHS)
  assert layout.kind == kind
  batches = input_pipeline.PackedBatches(examples, layout, batch_size=3,
                                         seed=3, prefetch=1)
  order = input_pipeline._Order(  # pylint: disable=protected-access
      examples, layout, 3, 3, input_pipeline.initial_state(4))
  rows = [[batches._tokens(ref) for ref in row]  # pylint: disable=protected-access
          for row in order.next_rows()]
  ours = layout.features(rows)
  theirs = _seqio_rows(converter, rows)
  assert sorted(ours) == sorted(theirs)
  for name in ours:
    np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
  if pack:
    assert max(len(r) for r in rows) > 1  # rows really hold several examples
  np.testing.assert_array_equal(next(batches)["decoder_target_tokens"],
                                ours["decoder_target_tokens"])
  batches.close()


def _take(batches, n):
  return [next(batches) for _ in range(n)]


@pytest.fixture(scope="module")
def layout():
  return input_pipeline.packing_layout(
      seqio.EncDecFeatureConverter(pack=True), LENGTHS)


def _assert_same(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    assert x.keys() == y.keys()
    for k in x:
      np.testing.assert_array_equal(x[k], y[k], err_msg=k)


def test_resuming_from_a_state_continues_exactly(examples, layout):
  # 40 batches of 8 rows: several epochs of every toy task (64 examples).
  full = input_pipeline.PackedBatches(examples, layout, batch_size=8, seed=0)
  expected = _take(full, 40)
  full.close()
  first = input_pipeline.PackedBatches(examples, layout, batch_size=8, seed=0)
  _take(first, 25)
  state = first.state()  # after the 25 batches `next` returned
  first.close()
  assert state["batches"] == 25 and min(state["draws"]) > 64
  resumed = input_pipeline.PackedBatches(examples, layout, batch_size=8,
                                         seed=0, state=state)
  _assert_same(_take(resumed, 15), expected[25:])
  resumed.close()
  # Planning alone (an old checkpoint with no state) reaches the same place.
  skipped = input_pipeline.PackedBatches(examples, layout, batch_size=8,
                                         seed=0)
  skipped.skip(25)
  assert skipped.state() == state
  skipped.close()
  other_seed = input_pipeline.PackedBatches(examples, layout, batch_size=8,
                                            seed=1)
  assert not np.array_equal(next(other_seed)["encoder_input_tokens"],
                            expected[0]["encoder_input_tokens"])
  other_seed.close()


def test_every_example_once_per_epoch_and_tasks_at_their_rates(examples,
                                                               layout):
  order = input_pipeline._Order(  # pylint: disable=protected-access
      examples, layout, 8, 0, input_pipeline.initial_state(4))
  seen = [order.example_index(0, k) for k in range(3 * 64)]
  for epoch in range(3):
    assert sorted(seen[64 * epoch:64 * (epoch + 1)]) == list(range(64))
  assert seen[:64] != seen[64:128]  # a new permutation each epoch
  for _ in range(200):
    order.next_rows()
  drawn = np.array(order.draws) / sum(order.draws)
  np.testing.assert_allclose(drawn, examples.rates, atol=0.03)


def test_hosts_rows_make_up_the_global_batch(examples, layout):
  whole = input_pipeline.PackedBatches(examples, layout, batch_size=8, seed=0)
  halves = [input_pipeline.PackedBatches(examples, layout, batch_size=8,
                                         seed=0, rows=rows)
            for rows in ((0, 4), (4, 8))]
  for _ in range(3):
    parts = [next(h) for h in halves]
    batch = next(whole)
    for k in batch:
      np.testing.assert_array_equal(
          np.concatenate([p[k] for p in parts]), batch[k], err_msg=k)
  assert halves[0].state() == halves[1].state() == whole.state()
  for b in (whole, *halves):
    b.close()


def test_packed_rows_are_nearly_full(examples):
  # Toy examples are 5 to 12 tokens: rows of 80 leave room to fill.
  lengths = {"inputs": 64, "targets": 16}
  layout = input_pipeline.packing_layout(
      seqio.PrefixLMFeatureConverter(pack=True), lengths)
  batches = input_pipeline.PackedBatches(examples, layout, batch_size=16,
                                         seed=0)
  efficiency = input_pipeline.packing_efficiency(_take(batches, 10))
  batches.close()
  assert efficiency["overall"] > 0.95


def test_cached_and_uncached_examples_and_batches_are_identical(
    examples, layout, tmp_path):
  tasks = [seqio.get_mixture_or_task(n) for n in examples.names]
  with pytest.raises(example_cache.CacheError, match="cache_tasks.py"):
    input_pipeline.mixture_examples(MIXTURE, cache_dir=str(tmp_path),
                                    require_cache=True)
  for task in tasks:
    assert example_cache.write(task, "train", str(tmp_path))
  # Half of the tasks cached: those are read, the rest tokenised.
  for task in tasks[:2]:
    example_cache.write(task, "train", str(tmp_path / "half"))
  mixed, tokenised = example_cache.read_or_tokenize(tasks, "train",
                                                    str(tmp_path / "half"))
  assert tokenised == list(examples.names[2:])
  cached = input_pipeline.mixture_examples(MIXTURE, cache_dir=str(tmp_path),
                                           require_cache=True)
  for a, b in zip(mixed, examples.examples):
    np.testing.assert_array_equal(a.tokens["inputs"], b.tokens["inputs"])
  for a, b in zip(cached.examples, examples.examples):
    for f in ("inputs", "targets"):
      np.testing.assert_array_equal(a.tokens[f], b.tokens[f])
      np.testing.assert_array_equal(a.offsets[f], b.offsets[f])
  batches = [input_pipeline.PackedBatches(e, layout, batch_size=8, seed=0)
             for e in (examples, cached)]
  _assert_same(*[_take(b, 5) for b in batches])
  for b in batches:
    b.close()

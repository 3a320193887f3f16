"""The T5 v1.1-style encoder-decoder: shapes, axes, masks and cached decoding."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec

from flan_jax.models import api
from flan_jax.models import encoder_decoder
from flan_jax.models import t5

CONFIG = t5.T5Config(vocab_size=64, d_model=32, num_heads=4, head_dim=8,
                     d_ff=48, num_encoder_layers=2, num_decoder_layers=2)


@pytest.fixture(scope="module")
def model_and_params():
  model = encoder_decoder.EncoderDecoderModel(CONFIG, max_decode_length=10)
  shapes = {"encoder_input_tokens": (2, 12), "decoder_input_tokens": (2, 10)}
  variables = jax.jit(lambda rng: model.init_variables(rng, shapes))(
      jax.random.key(0))
  return model, variables


def _apply(model, params, *args, **kwargs):
  """Jitted forward pass (eager flax runs op by op and is slow on CPU)."""
  return jax.jit(lambda p, *a: model.module.apply({"params": p}, *a, **kwargs))(
      params, *args)


def _tokens(shape, seed=0, pad_from=None):
  tokens = np.random.RandomState(seed).randint(2, CONFIG.vocab_size, shape)
  if pad_from is not None:
    tokens[-1, pad_from:] = 0
  return jnp.asarray(tokens, jnp.int32)


def test_logits_and_encoding_shapes(model_and_params):
  model, variables = model_and_params
  params = nn.unbox(variables["params"])
  enc, dec = _tokens((3, 12)), _tokens((3, 7), seed=1)
  logits = _apply(model, params, enc, dec)
  assert logits.shape == (3, 7, CONFIG.vocab_size)
  encoded = _apply(model, params, enc, method=model.module.encode)
  assert encoded.shape == (3, 12, CONFIG.d_model)


def test_every_parameter_carries_a_logical_axis_per_dimension(model_and_params):
  _, variables = model_and_params
  specs = nn.get_partition_spec(variables["params"])
  shapes = nn.unbox(variables["params"])
  flat_specs = jax.tree.leaves(specs, is_leaf=lambda x: isinstance(
      x, PartitionSpec))
  flat_shapes = jax.tree.leaves(shapes)
  assert len(flat_specs) == len(flat_shapes) > 20
  for spec, leaf in zip(flat_specs, flat_shapes):
    assert len(spec) == leaf.ndim and all(isinstance(a, str) for a in spec)


def test_relative_position_buckets_match_t5():
  rel = jnp.array([0, -1, 1, -7, 7, -200, 200])
  bidirectional = t5.relative_position_bucket(
      rel, bidirectional=True, num_buckets=32, max_distance=128)
  assert bidirectional.tolist() == [0, 1, 17, 7, 23, 15, 31]
  causal = t5.relative_position_bucket(
      jnp.array([5, 0, -5, -20, -500]), bidirectional=False, num_buckets=32,
      max_distance=128)
  assert causal.tolist() == [0, 0, 5, 17, 31]


def test_packed_sequences_do_not_see_each_other(model_and_params):
  model, variables = model_and_params
  params = nn.unbox(variables["params"])
  a_in, b_in = _tokens((1, 5), 2), _tokens((1, 4), 3)
  a_dec, b_dec = _tokens((1, 3), 4), _tokens((1, 4), 5)
  separate = [_apply(model, params, i, d)
              for i, d in ((a_in, a_dec), (b_in, b_dec))]
  packed = _apply(model, params, jnp.concatenate([a_in, b_in], 1),
                  jnp.concatenate([a_dec, b_dec], 1),
                  jnp.array([[1] * 5 + [2] * 4]), jnp.array([[1] * 3 + [2] * 4]))
  np.testing.assert_allclose(packed[:, :3], separate[0], atol=1e-5)
  np.testing.assert_allclose(packed[:, 3:], separate[1], atol=1e-5)


def test_cached_greedy_decoding_equals_full_recomputation(model_and_params):
  model, variables = model_and_params
  params = nn.unbox(variables["params"])
  enc = _tokens((2, 12), pad_from=7)
  cached = jax.jit(model.predict_batch)(params, {"encoder_input_tokens": enc})
  # Recompute everything for each new token: a fixed-length, causally
  # masked decoder input whose first t+1 positions hold the prefix.
  length = model.max_decode_length
  full = jax.jit(lambda p, e, d: model.module.apply({"params": p}, e, d))
  decoder_inputs = np.zeros((2, length), np.int32)
  for t in range(length):
    logits = full(params, enc, jnp.asarray(decoder_inputs))
    token = np.asarray(jnp.argmax(logits[:, t], -1))
    if t + 1 < length:
      decoder_inputs[:, t + 1] = token
  expected = np.concatenate([decoder_inputs[:, 1:], token[:, None]], 1)
  for row in expected:  # greedy output stops at EOS (1) and pads after it
    eos = np.where(row == 1)[0]
    if eos.size:
      row[eos[0] + 1:] = 0
  np.testing.assert_array_equal(cached, expected)


def test_score_batch_is_the_summed_target_log_likelihood(model_and_params):
  model, variables = model_and_params
  params = nn.unbox(variables["params"])
  enc, targets = _tokens((2, 12)), _tokens((2, 5), seed=7)
  weights = jnp.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], jnp.float32)
  dec_in = jnp.concatenate([jnp.zeros((2, 1), jnp.int32), targets[:, :-1]], 1)
  batch = {"encoder_input_tokens": enc, "decoder_input_tokens": dec_in,
           "decoder_target_tokens": targets, "decoder_loss_weights": weights}
  logits = _apply(model, params, enc, dec_in)
  log_probs = np.asarray(jax.nn.log_softmax(logits))
  targets, weights = np.asarray(targets), np.asarray(weights)
  expected = [
      sum(log_probs[b, t, targets[b, t]] for t in range(5) if weights[b, t])
      for b in range(2)
  ]
  np.testing.assert_allclose(jax.jit(model.score_batch)(params, batch),
                             expected, rtol=1e-5)


def test_beam_search_with_one_beam_is_greedy_and_more_beams_score_higher(
    model_and_params):
  model, variables = model_and_params
  params = nn.unbox(variables["params"])
  batch = {"encoder_input_tokens": _tokens((2, 12), pad_from=7)}
  greedy = jax.jit(model.predict_batch)(params, batch)
  beam1 = encoder_decoder.EncoderDecoderModel(CONFIG, max_decode_length=10,
                                        decode_method="beam", num_beams=1,
                                        length_penalty_alpha=0.0)
  np.testing.assert_array_equal(jax.jit(beam1.predict_batch)(params, batch),
                                greedy)
  beam4 = encoder_decoder.EncoderDecoderModel(CONFIG, max_decode_length=10,
                                        decode_method="beam", num_beams=4,
                                        length_penalty_alpha=0.0)
  wide = jax.jit(beam4.predict_batch)(params, batch)

  def log_likelihood(tokens):
    targets = jnp.asarray(tokens)
    return model.score_batch(params, {
        **batch, "decoder_target_tokens": targets,
        "decoder_input_tokens": api.shift_right(targets),
        "decoder_loss_weights": (targets > 0).astype(jnp.float32)})

  # Wider beams find sequences at least as likely (alpha 0: plain log P).
  assert np.all(np.asarray(log_likelihood(wide)) >=
                np.asarray(log_likelihood(greedy)) - 1e-4)

"""Decoder-only model: masks, cached decoding, option scoring, scan, search."""

import dataclasses
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flan_jax.models import decoder
from flan_jax.models import decoder_only
from flan_jax.models import masks
from tests.models.test_score_options import _option_batch

CONFIG = decoder.DecoderConfig(vocab_size=64, d_model=32, num_layers=2,
                               num_heads=4, num_kv_heads=2, head_dim=8,
                               d_ff=48, qkv_bias=True)


def _params(config, seed=0):
  model = decoder_only.DecoderOnlyModel(config)
  shapes = {"decoder_input_tokens": (2, 16)}
  variables = jax.jit(lambda r: model.init_variables(r, shapes))(
      jax.random.key(seed))
  return nn.unbox(variables["params"])


@pytest.fixture(scope="module")
def params():
  return _params(CONFIG)


def _prefix_lm_features(inputs, targets, width):
  """seqio PrefixLM features (unpacked) for one example, numpy."""
  seq = list(inputs) + list(targets)
  dec_target = np.zeros(width, np.int32)
  dec_target[:len(seq)] = seq
  dec_input = np.concatenate([[0], dec_target[:-1]]).astype(np.int32)
  weights = np.zeros(width, np.int32)
  weights[len(inputs):len(seq)] = 1
  causal = np.zeros(width, np.int32)
  causal[:len(inputs) + 1] = 1
  return dict(decoder_target_tokens=dec_target, decoder_input_tokens=dec_input,
              decoder_loss_weights=weights, decoder_causal_attention=causal)


def _stack(rows):
  return {k: jnp.asarray(np.stack([r[k] for r in rows])) for k in rows[0]}


@pytest.mark.parametrize("prefix_lm,sliding_window", [
    (True, None), (False, None), (False, 3), (True, 3)])
def test_score_options_equals_per_option_score_batch(params, prefix_lm,
                                                     sliding_window):
  """The option-tree pass equals scoring each (input, option) on its own,
  also when a sliding window hides keys more than 3 positions back."""
  config = dataclasses.replace(CONFIG, sliding_window=sliding_window)
  model = decoder_only.DecoderOnlyModel(config, prefix_lm=prefix_lm)
  batch = _option_batch(CONFIG.vocab_size)
  scores = np.asarray(jax.jit(model.score_options)(params, batch))
  inputs, options = np.asarray(batch["inputs"]), np.asarray(
      batch["option_targets"])
  rows = []
  for b in range(inputs.shape[0]):
    for k in range(options.shape[1]):
      rows.append(_prefix_lm_features(inputs[b][inputs[b] > 0],
                                      options[b, k][options[b, k] > 0], 16))
  naive = np.asarray(jax.jit(model.score_batch)(params, _stack(rows)))
  np.testing.assert_allclose(scores, naive.reshape(scores.shape), atol=1e-5,
                             rtol=1e-5)
  assert scores[2, 2] == 0.0


def _prompts():
  rng = np.random.RandomState(3)
  prompts = rng.randint(2, CONFIG.vocab_size, (3, 7)).astype(np.int32)
  lengths = np.array([7, 4, 2], np.int32)
  for row, n in zip(prompts, lengths):
    row[n:] = 0
  return jnp.asarray(prompts), jnp.asarray(lengths)


def test_cached_greedy_equals_full_recomputation(params):
  model = decoder_only.DecoderOnlyModel(CONFIG, prefix_lm=False, eos_id=-1)
  prompts, lengths = _prompts()
  generated = np.asarray(jax.jit(model.generate, static_argnums=3)(
      params, prompts, lengths, 8))
  logits_fn = jax.jit(model.logits)
  for b in range(prompts.shape[0]):
    seq = list(np.asarray(prompts[b, :lengths[b]]))
    for _ in range(8):
      logits = logits_fn(params, jnp.asarray([seq], jnp.int32))
      seq.append(int(jnp.argmax(logits[0, -1])))
    assert generated[b].tolist() == seq[int(lengths[b]):]


def test_prefix_lm_mask_lets_inputs_see_each_other():
  segments = jnp.array([[1, 1, 1, 1, 0]])
  causal_attention = jnp.array([[1, 1, 1, 0, 0]])
  mask = np.asarray(masks.decoder_mask(segments, causal_attention))[0, 0]
  assert mask[0, 2] and not mask[2, 3] and mask[3, 0] and not mask[:, 4].any()
  causal = np.asarray(masks.decoder_mask(segments))[0, 0]
  assert not causal[0, 2] and causal[2, 0]


def test_beam_one_equals_greedy_and_beams_score_higher(params):
  prompts, lengths = _prompts()
  greedy_model = decoder_only.DecoderOnlyModel(CONFIG, eos_id=5)
  beam1 = decoder_only.DecoderOnlyModel(CONFIG, eos_id=5, decode_method="beam",
                                     num_beams=1, length_penalty_alpha=0.0)
  run = lambda m: np.asarray(jax.jit(m.generate, static_argnums=3)(
      params, prompts, lengths, 10))
  np.testing.assert_array_equal(run(beam1), run(greedy_model))
  beam4 = decoder_only.DecoderOnlyModel(CONFIG, eos_id=5, decode_method="beam",
                                     num_beams=4, length_penalty_alpha=0.0)
  assert run(beam4).shape == (3, 10)


def test_sampling_is_seeded_and_top_k_one_is_greedy(params):
  prompts, lengths = _prompts()
  gen = lambda m, seed: np.asarray(jax.jit(m.generate, static_argnums=3)(
      params, prompts, lengths, 10, jax.random.key(seed)))
  sampler = decoder_only.DecoderOnlyModel(CONFIG, decode_method="sample",
                                       temperature=2.0, eos_id=-1)
  a, b, c = gen(sampler, 0), gen(sampler, 0), gen(sampler, 1)
  np.testing.assert_array_equal(a, b)
  assert (a != c).any()
  top1 = decoder_only.DecoderOnlyModel(CONFIG, decode_method="sample",
                                    temperature=2.0, top_k=1, eos_id=-1)
  greedy = decoder_only.DecoderOnlyModel(CONFIG, eos_id=-1)
  np.testing.assert_array_equal(gen(top1, 0), gen(greedy, 0))


# Gemma 3's shape in miniature: sliding (window 3) and global layers in a
# two-layer pattern over three layers (scanned: one block, one layer left
# over), q/k norms, (1 + w) pre- and post-norms, GeGLU, soft-capped logits.
GEMMA_LIKE = dataclasses.replace(
    CONFIG, num_layers=3, qkv_bias=False, qk_norm=True, norm_plus_one=True,
    post_norms=True, scale_embeddings=True, mlp_activation="gelu_tanh",
    query_pre_attn_scalar=6.0, sliding_window=3, rope_local_theta=100.0,
    layer_types=("sliding_attention", "full_attention"),
    final_logit_softcap=15.0, family="gemma3_text")


@pytest.mark.parametrize("scan", [False, True])
def test_layer_patterns_score_and_decode_consistently(scan):
  """Option-tree scoring equals per-option scoring, and cached greedy on
  ragged prompts equals recomputing the whole row, with a mask and a RoPE
  per layer kind (scanned: as repeating blocks)."""
  config = dataclasses.replace(GEMMA_LIKE, scan_layers=scan)
  params = _params(config, seed=4)
  if scan:
    assert set(params) == {"blocks", "layers_2", "token_embedder",
                           "final_norm", "logits_dense"}
  for prefix_lm in (True, False):
    model = decoder_only.DecoderOnlyModel(config, prefix_lm=prefix_lm)
    batch = _option_batch(config.vocab_size)
    scores = np.asarray(jax.jit(model.score_options)(params, batch))
    inputs, options = np.asarray(batch["inputs"]), np.asarray(
        batch["option_targets"])
    rows = [_prefix_lm_features(inputs[b][inputs[b] > 0],
                                options[b, k][options[b, k] > 0], 16)
            for b in range(inputs.shape[0]) for k in range(options.shape[1])]
    naive = np.asarray(jax.jit(model.score_batch)(params, _stack(rows)))
    np.testing.assert_allclose(scores, naive.reshape(scores.shape),
                               atol=1e-4, rtol=1e-5)
  model = decoder_only.DecoderOnlyModel(config, prefix_lm=False, eos_id=-1)
  prompts, lengths = _prompts()
  generated = np.asarray(jax.jit(model.generate, static_argnums=3)(
      params, prompts, lengths, 6))
  for b in range(prompts.shape[0]):
    # Each generated token is the argmax of the whole row recomputed
    # without a cache (teacher-forced on the generated tokens).
    n = int(lengths[b])
    seq = np.concatenate([np.asarray(prompts[b, :n]), generated[b]])
    logits = model.logits(params, jnp.asarray(seq[None], jnp.int32))
    assert np.argmax(logits[0, n - 1:-1], -1).tolist() == generated[b].tolist()

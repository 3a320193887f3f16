"""Scan over layers and remat give the unscanned numbers; bfloat16 is close.

Stated tolerances: scanned/remat vs plain float32 logits within 1e-5;
bfloat16 compute vs float32 logits within 0.15 (max abs) on logits of
scale ~3, i.e. a few bfloat16 ulps accumulated over two layers.
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flan_jax.models import api
from flan_jax.models import decoder
from flan_jax.models import decoder_only
from flan_jax.models import encoder_decoder
from flan_jax.models import hf
from flan_jax.models import t5

T5 = t5.T5Config(vocab_size=64, d_model=32, num_heads=4, head_dim=8, d_ff=48,
                 num_encoder_layers=2, num_decoder_layers=3)
DEC = decoder.DecoderConfig(vocab_size=64, d_model=32, num_layers=3,
                            num_heads=4, num_kv_heads=2, head_dim=8, d_ff=48)
SHAPES = {"encoder_input_tokens": (2, 8), "decoder_input_tokens": (2, 8)}


def _model(config):
  if isinstance(config, t5.T5Config):
    return encoder_decoder.EncoderDecoderModel(config, max_decode_length=6)
  return decoder_only.DecoderOnlyModel(config, max_decode_length=6)


def _batch(config):
  rng = np.random.RandomState(0)
  tokens = lambda shape: jnp.asarray(rng.randint(2, 64, shape), jnp.int32)
  targets = tokens((2, 8))
  batch = {"decoder_target_tokens": targets,
           "decoder_input_tokens": api.shift_right(targets),
           "decoder_loss_weights": jnp.ones((2, 8), jnp.int32)}
  if isinstance(config, t5.T5Config):
    batch["encoder_input_tokens"] = tokens((2, 8))
  else:
    batch["decoder_causal_attention"] = jnp.asarray([[1] * 4 + [0] * 4] * 2)
  return batch


def _loss_and_grads(config, params, batch):
  model = _model(config)
  fn = jax.jit(jax.value_and_grad(lambda p: model.loss_fn(p, batch)[0]))
  return fn(params)


@pytest.mark.parametrize("base", [T5, DEC], ids=["t5", "decoder"])
def test_scan_and_remat_match_unscanned(base):
  params = nn.unbox(jax.jit(lambda r: _model(base).init_variables(r, SHAPES))(
      jax.random.key(0))["params"])
  batch = _batch(base)
  loss, grads = _loss_and_grads(base, params, batch)
  scanned = dataclasses.replace(base, scan_layers=True, remat_policy="dots")
  stacked = hf.stack_layers(params)
  # The scanned model's own init has the same tree as the stacked params.
  init = jax.eval_shape(lambda r: _model(scanned).init_variables(r, SHAPES),
                        jax.random.key(0))["params"]
  assert jax.tree.structure(nn.unbox(init)) == jax.tree.structure(stacked)
  loss_s, grads_s = _loss_and_grads(scanned, stacked, batch)
  np.testing.assert_allclose(loss_s, loss, rtol=1e-6, atol=1e-6)
  for a, b in zip(jax.tree.leaves(hf.unstack_layers(grads_s)),
                  jax.tree.leaves(grads)):
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-4)
  model, model_s = _model(base), _model(scanned)
  gen = lambda m, p: np.asarray(jax.jit(m.predict_batch)(p, batch))
  np.testing.assert_array_equal(gen(model_s, stacked), gen(model, params))


def test_scanned_parameters_carry_the_layers_axis():
  scanned = dataclasses.replace(DEC, scan_layers=True)
  init = jax.eval_shape(lambda r: _model(scanned).init_variables(r, SHAPES),
                        jax.random.key(0))["params"]
  spec = nn.get_partition_spec(init)
  assert spec["layers"]["mlp"]["up"]["kernel"] == jax.sharding.PartitionSpec(
      "layers", "embed", "mlp")
  assert spec["layers"]["attention"]["key"]["kernel"] == (
      jax.sharding.PartitionSpec("layers", "embed", "kv_heads", "kv"))


@pytest.mark.parametrize("base", [T5, DEC], ids=["t5", "decoder"])
def test_bfloat16_compute_is_close_to_float32(base):
  params = nn.unbox(jax.jit(lambda r: _model(base).init_variables(r, SHAPES))(
      jax.random.key(0))["params"])
  batch = _batch(base)
  bf16 = dataclasses.replace(base, dtype="bfloat16")
  logits = jax.jit(_model(base)._logits)(params, batch)
  logits_bf16 = jax.jit(_model(bf16)._logits)(params, batch)
  assert logits_bf16.dtype == jnp.float32  # logits are returned in float32
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(params))
  delta = float(jnp.max(jnp.abs(logits_bf16 - logits)))
  print(f"\nmax |delta logit| bfloat16 vs float32 ({type(base).__name__}): "
        f"{delta:.3g}, logit std {float(jnp.std(logits)):.3g}")
  assert 0 < delta < 0.15 * max(1.0, float(jnp.std(logits)))


def test_layer_pattern_scan_and_remat_match_unscanned():
  """Gemma-style layers in a (sliding, full) pattern over five layers:
  scanned as two blocks plus one layer left over, rematerialised, the loss
  and gradients of the plain stack; block parameters carry "layers"."""
  base = dataclasses.replace(
      DEC, num_layers=5, sliding_window=3, rope_local_theta=100.0,
      layer_types=("sliding_attention", "full_attention"), qk_norm=True,
      norm_plus_one=True, post_norms=True, scale_embeddings=True,
      mlp_activation="gelu_tanh", final_logit_softcap=10.0)
  params = nn.unbox(jax.jit(lambda r: _model(base).init_variables(r, SHAPES))(
      jax.random.key(0))["params"])
  # Non-zero (1 + w) norm scales, so each norm's gradient path matters.
  params = jax.tree.map(lambda x: x + 0.1, params)
  batch = _batch(base)
  loss, grads = _loss_and_grads(base, params, batch)
  scanned = dataclasses.replace(base, scan_layers=True, remat_policy="dots")
  stacked = hf.stack_layers(params, block=2)
  assert sorted(k for k in stacked if "layers" in k or k == "blocks") == [
      "blocks", "layers_4"]
  init = jax.eval_shape(lambda r: _model(scanned).init_variables(r, SHAPES),
                        jax.random.key(0))["params"]
  assert jax.tree.structure(nn.unbox(init)) == jax.tree.structure(stacked)
  spec = nn.get_partition_spec(init)
  assert spec["blocks"]["layers_1"]["mlp"]["up"]["kernel"] == (
      jax.sharding.PartitionSpec("layers", "embed", "mlp"))
  loss_s, grads_s = _loss_and_grads(scanned, stacked, batch)
  np.testing.assert_allclose(loss_s, loss, rtol=1e-6, atol=1e-6)
  unstacked = hf.unstack_layers(grads_s)
  assert jax.tree.structure(unstacked) == jax.tree.structure(grads)
  for a, b in zip(jax.tree.leaves(unstacked), jax.tree.leaves(grads)):
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-4)

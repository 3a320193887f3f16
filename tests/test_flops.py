"""Model FLOPs from the config agree with XLA's count; peak lookup; MFU."""

import dataclasses

import jax

import toy_training
from flan_jax import flops
from flan_jax import model as model_lib
from flan_jax import train_state


def test_config_flops_match_xla_cost_analysis():
  config = dataclasses.replace(toy_training.CONFIG, d_model=256, num_heads=4,
                               head_dim=64, d_ff=512)
  model = model_lib.EncoderDecoderModel(config)
  shapes = train_state.model_input_shapes(model.feature_converter(pack=True),
                                          {"inputs": 64, "targets": 16}, 4)
  abstract, _ = train_state.param_logical_axes(model, shapes)
  from_config = flops.t5_train_flops(config, 4, 64, 16)
  from_xla = flops.xla_train_flops(model, abstract, shapes)
  # XLA also counts element-wise work (softmax, GELU, norms): a little more.
  assert from_config <= from_xla <= 1.05 * from_config
  assert flops.train_flops(model, abstract, shapes) == from_config


def test_peak_flops_and_mfu():
  peak, source = flops.peak_flops_per_device("float32")
  assert peak > 1e8 and source  # CPU: a measured matmul
  if jax.devices()[0].platform == "cpu":
    assert source == "measured float32 matmul"
  assert abs(flops.mfu(50.0, 1.0, 2, 50.0) - 0.5) < 1e-12


def test_decoder_only_config_flops_match_xla_cost_analysis():
  from flan_jax import decoder_only_model  # pylint: disable=g-import-not-at-top
  from flan_jax.models import decoder  # pylint: disable=g-import-not-at-top
  config = decoder.DecoderConfig(vocab_size=1024, d_model=256, num_layers=2,
                                 num_heads=4, num_kv_heads=2, head_dim=64,
                                 d_ff=512)
  model = decoder_only_model.DecoderOnlyModel(config)
  shapes = train_state.model_input_shapes(model.feature_converter(pack=True),
                                          {"inputs": 48, "targets": 16}, 4)
  abstract, _ = train_state.param_logical_axes(model, shapes)
  from_config = flops.train_flops(model, abstract, shapes)
  from_xla = flops.xla_train_flops(model, abstract, shapes)
  assert from_config == flops.decoder_train_flops(config, 4, 64)
  assert from_config <= from_xla <= 1.08 * from_config

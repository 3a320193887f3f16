"""Model FLOPs from the config agree with XLA's count; peak lookup; MFU."""

import dataclasses

import flax.linen as nn
import jax

import toy_training
from flan_jax.models import encoder_decoder
from flan_jax.steps import builder
from flan_jax.train import mfu


def test_config_flops_match_xla_cost_analysis():
  config = dataclasses.replace(toy_training.CONFIG, d_model=256, num_heads=4,
                               head_dim=64, d_ff=512)
  model = encoder_decoder.EncoderDecoderModel(config)
  shapes = builder.model_input_shapes(model.feature_converter(pack=True),
                                          {"inputs": 64, "targets": 16}, 4)
  abstract = nn.unbox(model.abstract_params())
  from_config = config.train_flops(4, 64, 16)
  from_xla = mfu.xla_train_flops(model, abstract, shapes)
  # XLA also counts element-wise work (softmax, GELU, norms): a little more.
  assert from_config <= from_xla <= 1.05 * from_config
  assert model.train_flops(shapes) == from_config


def test_peak_flops_and_mfu():
  peak, source = mfu.peak_flops_per_device("float32")
  assert peak > 1e8 and source  # CPU: a measured matmul
  if jax.devices()[0].platform == "cpu":
    assert source == "measured float32 matmul"
  assert abs(mfu.mfu(50.0, 1.0, 2, 50.0) - 0.5) < 1e-12


def test_decoder_only_config_flops_match_xla_cost_analysis():
  from flan_jax.models import decoder_only  # pylint: disable=g-import-not-at-top
  from flan_jax.models import decoder  # pylint: disable=g-import-not-at-top
  config = decoder.DecoderConfig(vocab_size=1024, d_model=256, num_layers=2,
                                 num_heads=4, num_kv_heads=2, head_dim=64,
                                 d_ff=512)
  model = decoder_only.DecoderOnlyModel(config)
  shapes = builder.model_input_shapes(model.feature_converter(pack=True),
                                          {"inputs": 48, "targets": 16}, 4)
  abstract = nn.unbox(model.abstract_params())
  from_config = model.train_flops(shapes)
  from_xla = mfu.xla_train_flops(model, abstract, shapes)
  assert from_config == config.train_flops(4, 64)
  assert from_config <= from_xla <= 1.08 * from_config


def test_throughput_benchmark_times_a_gin_model_with_fsdp():
  import importlib.util  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  import gin  # pylint: disable=g-import-not-at-top
  path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__)))), "benchmarks", "train_throughput.py")
  spec = importlib.util.spec_from_file_location("train_throughput", path)
  benchmark = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(benchmark)
  tiny = ["DecoderConfig.num_layers = 1", "DecoderConfig.d_model = 32",
          "DecoderConfig.d_ff = 64", "DecoderConfig.num_heads = 2",
          "DecoderConfig.num_kv_heads = 1", "DecoderConfig.head_dim = 16",
          "DecoderConfig.vocab_size = 256"]
  with gin.unlock_config():
    gin.clear_config()
    try:
      model, shapes, step = benchmark.gin_model_step("llama_1b", tiny, 2, 32,
                                                     fsdp=True)
    finally:
      gin.clear_config()
  step()
  assert str(model.compute_dtype) == "bfloat16"  # llama_1b.gin's dtype
  assert model.train_flops(shapes) > 0

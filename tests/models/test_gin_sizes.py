"""gin/models/*.gin build the advertised shapes (parameter counts, no arrays)."""

import math
import os

import gin
import jax
import pytest

from flan_jax.cli import gin_config

# Parameter counts of the public checkpoints of the same shapes (and of the
# paper's 137B for the planning file), within 1.5%: t5-small/base/large
# (60.5M, 223M, 738M), Qwen3 (the model cards' 0.6B, 1.7B, 4.0B, 8.2B),
# Gemma 3 (270M, 1B, and 4B's text model: 3.88B of its 4.3B).
EXPECTED = {
    "t5_1_1_small": 77.0e6, "t5_1_1_base": 247.6e6, "t5_1_1_large": 783.2e6,
    "t5_1_1_xl": 2.85e9, "t5_1_1_xxl": 11.14e9, "llama_1b": 1.236e9,
    "llama_7b": 6.738e9, "lamda_pt_137b": 137e9,
    "t5_small": 60.5e6, "t5_base": 222.9e6, "t5_large": 737.7e6,
    "qwen3_0_6b": 0.6e9, "qwen3_1_7b": 1.7e9, "qwen3_4b": 4.0e9,
    "qwen3_8b": 8.2e9, "gemma3_270m": 268e6, "gemma3_1b": 1.0e9,
    "gemma3_4b": 3.88e9, "llama3_8b": 8.03e9,
}


def _param_count(name):
  # finalize_config locks gin; parse and clear inside one unlocked scope.
  with gin.unlock_config():
    gin.clear_config()
    try:
      gin_config.parse_gin([os.path.join(gin_config.REPO_GIN_DIR, "models", f"{name}.gin")])
      model = gin_config.model_macro()
    finally:
      gin.clear_config()
  shapes = {"encoder_input_tokens": (1, 8), "decoder_input_tokens": (1, 8)}
  abstract = jax.eval_shape(lambda r: model.init_variables(r, shapes),
                            jax.random.key(0))["params"]
  import flax.linen as nn  # pylint: disable=g-import-not-at-top
  return sum(math.prod(x.shape) for x in jax.tree.leaves(nn.unbox(abstract)))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_model_gin_has_expected_parameter_count(name):
  count = _param_count(name)
  assert abs(count - EXPECTED[name]) / EXPECTED[name] < 0.015, count


def test_every_model_gin_is_covered():
  names = {f[:-4] for f in os.listdir(os.path.join(gin_config.REPO_GIN_DIR,
                                                   "models"))}
  assert set(EXPECTED) | {"t5_demo", "t5_1_1_tiny", "decoder_tiny"} == names

"""Files written by transformers 5's own `save_pretrained` convert exactly.

Each case builds a tiny random model with transformers, saves it with
`save_pretrained` (float32, or bfloat16 as the hub ships large models), and
compares our converted model's logits with transformers' on the same files:
`from_pretrained(dtype=float32)`, i.e. for bfloat16 files the very same
bfloat16 weights upcast to float32, which is also what the converter does.
Within 1e-4 (the logits are of order 1 to 10).

The T5 cases cover what transformers 5 writes beside `tie_word_embeddings`
(always true in its T5 files): `scale_decoder_outputs`, false for a T5
v1.1-shaped model, and an `lm_head.weight` of its own for a re-saved
FLAN-T5. Each converted model, exported again, gives transformers the same
logits as the original files.
"""

import numpy as np
import pytest
import torch
from safetensors import safe_open

import hf_fixtures
from flan_jax.models import hf

LOGIT_TOLERANCE = 1e-4
T5 = hf_fixtures.T5_CONFIG
DECODERS = hf_fixtures.DECODER_CONFIGS

# name -> (model_type, config kwargs, what config.json and weights must say)
CASES = {
    # T5 v1.1 built untied: transformers 5 ties it anyway and records "no
    # rescaling" in scale_decoder_outputs (the issue's case).
    "t5_v1_1": ("t5", dict(T5, tie_word_embeddings=False),
                dict(tie_word_embeddings=True, scale_decoder_outputs=False,
                     lm_head=False)),
    # Original-T5 convention: tied and rescaled by d_model**-0.5.
    "t5_tied_scaled": ("t5", dict(T5), dict(
        tie_word_embeddings=True, scale_decoder_outputs=True, lm_head=False)),
    # A FLAN-T5 (own lm_head) loaded and saved again by transformers 5.
    "t5_flan_resaved": ("t5", None, dict(
        tie_word_embeddings=True, scale_decoder_outputs=False, lm_head=True)),
    # UL2 / Flan-UL2 use a gated SiLU MLP.
    "t5_gated_silu": ("t5", dict(T5, feed_forward_proj="gated-silu",
                                 tie_word_embeddings=False),
                      dict(dense_act_fn="silu", lm_head=False)),
    # mT5 never rescales, whatever tie_word_embeddings says.
    "mt5": ("mt5", dict(T5), dict(tie_word_embeddings=True, lm_head=False)),
    "llama_gqa_untied": ("llama", DECODERS["llama_gqa_untied"][1], {}),
    "llama_mqa_tied_bias_rope3": (
        "llama", dict(DECODERS["llama_mqa_tied_bias_rope3"][1], mlp_bias=True),
        dict(mlp_bias=True, lm_head=False)),
    "qwen2_bias": ("qwen2", DECODERS["qwen2_bias"][1], {}),
    # Every layer windowed (max_window_layers 0): one window for the stack.
    "qwen2_window": ("qwen2", dict(DECODERS["qwen2_bias"][1],
                                   use_sliding_window=True, sliding_window=5,
                                   max_window_layers=0),
                     dict(layer_types=["sliding_attention"] * 2)),
    "mistral_window": ("mistral", DECODERS["mistral_window"][1], {}),
}
BFLOAT16_CASES = ("t5_v1_1", "t5_flan_resaved", "llama_mqa_tied_bias_rope3",
                  "qwen2_bias", "mistral_window")
PARAMS = ([(name, "float32") for name in CASES] +
          [(name, "bfloat16") for name in BFLOAT16_CASES])


def _save(directory, name, dtype, tmp_path):
  model_type, kwargs, _ = CASES[name]
  torch_dtype = getattr(torch, dtype)
  if name == "t5_flan_resaved":
    source = str(tmp_path / "flan_t5_v4_layout")
    hf_fixtures.write_model(source, "t5", T5, seed=5, untie_t5=True)
    return hf_fixtures.save_pretrained(directory, "t5", None,
                                       dtype=torch_dtype, source_dir=source)
  return hf_fixtures.save_pretrained(directory, model_type, kwargs, seed=5,
                                     dtype=torch_dtype)


def _check_files(directory, config_json, name, dtype):
  """The files hold what the case claims (so the test tests that)."""
  expected = dict(CASES[name][2])
  lm_head = expected.pop("lm_head", None)
  for field, value in expected.items():
    assert config_json.get(field) == value, field
  with safe_open(f"{directory}/model.safetensors", framework="numpy") as f:
    names = set(f.keys())
    dtypes = {f.get_slice(n).get_dtype() for n in names}
  assert dtypes == {"F32" if dtype == "float32" else "BF16"}
  if lm_head is not None:
    assert ("lm_head.weight" in names) == lm_head


@pytest.mark.parametrize("name,dtype", PARAMS)
def test_save_pretrained_files_convert_within_tolerance(name, dtype, tmp_path):
  directory = str(tmp_path / name)
  config_json = _save(directory, name, dtype, tmp_path)
  _check_files(directory, config_json, name, dtype)
  model_type = CASES[name][0]
  config, params, theirs = hf_fixtures.check_logits(
      directory, model_type, f"{name} {dtype}", LOGIT_TOLERANCE)

  # Exported back (config.json with scale_decoder_outputs, lm_head.weight
  # only when untied), transformers computes the same logits again.
  exported = hf.save_hf(config, params, str(tmp_path / "exported"))
  again = hf_fixtures.reference_logits(
      exported, "t5" if model_type == "mt5" else model_type)
  np.testing.assert_allclose(again, theirs, rtol=0, atol=1e-5)

"""The original T5, Qwen3 and Gemma 3 convert exactly, both ways.

Each case builds a tiny random model with transformers, saves it with its
own `save_pretrained` (float32 and bfloat16), converts it, and checks:
logits within 1e-4 of transformers on the same files (read as float32);
greedy decoding with our KV cache equals transformers' `generate`; export
and re-import give identical parameters, and transformers computes the
same logits from the exported files. Gemma 3's runs are longer than its
sliding window and mix local and global layers, with a pattern whose
repeats leave layers over, scanned and not.
"""

import dataclasses

import jax
import numpy as np
import pytest
import torch

import hf_fixtures
import script_runner
from flan_jax.models import hf
from flan_jax.models import hf_config
from flan_jax.models.hf_config import HfConversionError

LOGIT_TOLERANCE = 1e-4
GREEDY_TOKENS = 16
VOCAB = hf_fixtures.VOCAB

_QWEN3 = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=48,
              num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6,
              max_position_embeddings=64,
              rope_parameters=dict(rope_type="default", rope_theta=1e6))
# Five layers in a repeating (local, local, global) pattern: one whole
# block and two layers left over; a window of 4 under 13-token rows; the
# global layers' RoPE scaled (as gemma-3-4b's), the local ones' not.
_GEMMA3 = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=48,
               num_hidden_layers=5, num_attention_heads=4,
               num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6,
               query_pre_attn_scalar=24, sliding_window=4,
               layer_types=["sliding_attention", "sliding_attention",
                            "full_attention"] * 2,
               final_logit_softcapping=20.0, max_position_embeddings=64,
               rope_parameters=dict(
                   full_attention=dict(rope_type="linear", factor=2.0,
                                       rope_theta=1e5),
                   sliding_attention=dict(rope_type="default",
                                          rope_theta=1e3)))
_GEMMA3["layer_types"] = _GEMMA3["layer_types"][:5]

CASES = {
    # t5-small's shape in miniature: ReLU MLP, tied and scaled output.
    "t5_1_0": ("t5", dict(hf_fixtures.T5_CONFIG, feed_forward_proj="relu")),
    "qwen3_tied": ("qwen3", dict(_QWEN3, tie_word_embeddings=True)),
    "qwen3_untied_bias": ("qwen3", dict(_QWEN3, tie_word_embeddings=False,
                                        attention_bias=True)),
    "gemma3": ("gemma3_text", dict(_GEMMA3, tie_word_embeddings=True)),
    "gemma3_untied": ("gemma3_text", dict(_GEMMA3, tie_word_embeddings=False,
                                          final_logit_softcapping=None)),
}
PARAMS = [(name, dtype) for name in CASES
          for dtype in ("float32", "bfloat16")]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
  """name, dtype -> the directory save_pretrained wrote (built once)."""
  cache = {}

  def get(name, dtype):
    if (name, dtype) not in cache:
      model_type, kwargs = CASES[name]
      directory = str(tmp_path_factory.mktemp(f"{name}_{dtype}"))
      hf_fixtures.save_pretrained(directory, model_type, kwargs, seed=7,
                                  dtype=getattr(torch, dtype))
      cache[name, dtype] = directory
    return cache[name, dtype]

  return get


@pytest.mark.parametrize("name,dtype", PARAMS)
def test_logits_match_transformers(name, dtype, saved):
  hf_fixtures.check_logits(saved(name, dtype), CASES[name][0],
                           f"{name} {dtype}", LOGIT_TOLERANCE)


def test_configs_read_as_transformers_builds_them(saved):
  t5_config, _ = hf.load_hf(saved("t5_1_0", "float32"))
  assert (t5_config.mlp_gated, t5_config.mlp_activation,
          t5_config.tie_word_embeddings, t5_config.scales_decoder_outputs
          ) == (False, "relu", True, True)
  qwen3, _ = hf.load_hf(saved("qwen3_untied_bias", "float32"))
  assert (qwen3.qk_norm, qwen3.head_dim, qwen3.qkv_bias, qwen3.out_bias,
          qwen3.tie_word_embeddings) == (True, 16, True, True, False)
  gemma, _ = hf.load_hf(saved("gemma3", "float32"))
  assert gemma.layer_types == ("sliding_attention", "sliding_attention",
                               "full_attention")
  assert (gemma.sliding_window, gemma.rope_theta, gemma.rope_scaling,
          gemma.rope_factor, gemma.rope_local_theta,
          gemma.query_pre_attn_scalar, gemma.final_logit_softcap) == (
              4, 1e5, "linear", 2.0, 1e3, 24.0, 20.0)


@pytest.mark.parametrize("name", ["qwen3_tied", "gemma3", "gemma3_untied"])
def test_greedy_decoding_with_cache_matches_generate(name, saved):
  directory = saved(name, "float32")
  config, params = hf.load_hf(directory)
  reference = hf_fixtures.load_reference(directory, CASES[name][0])
  ours, theirs = hf_fixtures.decoder_greedy(
      reference, config, params, hf_fixtures.tokens((2, 5), 4), GREEDY_TOKENS)
  assert theirs.shape == (2, GREEDY_TOKENS)
  np.testing.assert_array_equal(ours, theirs)


def test_t5_1_0_greedy_decoding_matches_generate(saved):
  directory = saved("t5_1_0", "float32")
  reference = hf_fixtures.load_reference(directory, "t5")
  config, params = hf.load_hf(directory)
  enc, _ = hf_fixtures.t5_tokens()
  ours, theirs = hf_fixtures.t5_greedy(reference, config, params, enc,
                                       GREEDY_TOKENS)
  np.testing.assert_array_equal(ours, theirs)


def test_gemma3_scanned_blocks_compute_the_same(saved):
  """Scanned over (local, local, global) blocks plus two layers left over:
  the same logits and greedy tokens as layer by layer."""
  directory = saved("gemma3", "float32")
  config, params = hf.load_hf(directory)
  scanned_config, scanned = hf.load_hf(directory, scan_layers=True)
  assert sorted(scanned) == ["blocks", "final_norm", "layers_3", "layers_4",
                             "token_embedder"]
  assert scanned["blocks"]["layers_2"]["mlp"]["up"]["kernel"].shape[0] == 1
  np.testing.assert_allclose(
      hf_fixtures.our_logits(scanned_config, scanned),
      hf_fixtures.our_logits(config, params), atol=1e-5, rtol=0)
  ours, theirs = hf_fixtures.decoder_greedy(
      hf_fixtures.load_reference(directory, "gemma3_text"), scanned_config,
      scanned, hf_fixtures.tokens((2, 5), 4), GREEDY_TOKENS)
  np.testing.assert_array_equal(ours, theirs)
  for a, b in zip(jax.tree.leaves(hf.unstack_layers(scanned)),
                  jax.tree.leaves(params)):
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", sorted(CASES))
def test_export_and_reimport_give_identical_parameters(name, saved,
                                                       tmp_path):
  model_type = CASES[name][0]
  directory = saved(name, "float32")
  config, params = hf_fixtures.check_exported_tensors(directory)
  out = hf.save_hf(config, params, str(tmp_path / "export"))
  again_config, again = hf.load_hf(out)
  assert again_config == config
  for a, b in zip(jax.tree.leaves(again), jax.tree.leaves(params)):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_allclose(
      hf_fixtures.reference_logits(out, model_type),
      hf_fixtures.reference_logits(directory, model_type), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name,scan", [("t5_1_0", False),
                                       ("qwen3_tied", False),
                                       ("gemma3", True)])
def test_convert_and_export_scripts_round_trip(name, scan, saved, tmp_path):
  """scripts/convert_hf.py, then scripts/export_hf.py with the model.gin it
  wrote: the same tensors as the original files (Gemma 3 via its scanned
  block layout)."""
  directory = saved(name, "float32")
  converted, exported = tmp_path / "converted", tmp_path / "exported"
  result = script_runner.run(
      "convert_hf.py", f"--hf_dir={directory}", f"--output_dir={converted}",
      *(["--scan_layers"] if scan else []))
  assert result.status == 0, result.stderr[-3000:]
  result = script_runner.run(
      "export_hf.py", f"--gin_file={converted / 'model.gin'}",
      f"--checkpoint={converted / 'checkpoints' / '0'}",
      f"--output_dir={exported}")
  assert result.status == 0, result.stderr[-3000:]
  original, again = hf.read_tensors(directory), hf.read_tensors(exported)
  assert set(again) == set(original)
  for tensor, value in original.items():
    np.testing.assert_array_equal(again[tensor], value, err_msg=tensor)


REFUSALS = {
    "t5_gelu_not_gated": ("t5", dict(feed_forward_proj="gelu"),
                          ["is_gated_act", "gelu/False"]),
    "gemma3_attn_softcap": ("gemma3_text", dict(attn_logit_softcapping=50.0),
                            ["attn_logit_softcapping", "50.0"]),
    "gemma3_scaled_local_rope": ("gemma3_text", dict(rope_parameters=dict(
        full_attention=dict(rope_type="default", rope_theta=1e6),
        sliding_attention=dict(rope_type="linear", factor=2.0,
                               rope_theta=1e4))), ["sliding_attention",
                                                   "linear"]),
    "gemma3_activation": ("gemma3_text", dict(hidden_activation="relu"),
                          ["hidden_activation", "relu"]),
    "gemma3_vision": ("gemma3", {}, ["gemma3_text", "vision"]),
    "qwen3_some_windows": ("qwen3", dict(use_sliding_window=True,
                                         sliding_window=4,
                                         max_window_layers=1),
                           ["layer_types"]),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_what_does_not_convert_is_refused_in_one_line(case):
  model_type, fields, words = REFUSALS[case]
  base = {"t5": hf_fixtures.T5_CONFIG, "qwen3": _QWEN3,
          "gemma3_text": _GEMMA3, "gemma3": _GEMMA3}[model_type]
  config_json = {**base, **fields, "model_type": model_type}
  with pytest.raises(HfConversionError) as error:
    hf_config.from_hf_config(config_json)
  message = str(error.value)
  assert "\n" not in message and message.startswith("config.json: ")
  for word in words:
    assert word in message, (word, message)


def test_export_refuses_what_the_family_cannot_express():
  gemma = hf_config.from_hf_config({**_GEMMA3, "model_type": "gemma3_text"})
  as_llama = dataclasses.replace(gemma, family="llama")
  with pytest.raises(HfConversionError, match="cannot be expressed as a "
                     "llama config"):
    hf_config.to_hf_config(as_llama)
  qwen3 = hf_config.from_hf_config({**_QWEN3, "model_type": "qwen3"})
  with pytest.raises(HfConversionError, match="qk_norm"):
    hf_config.to_hf_config(dataclasses.replace(qwen3, family="qwen2",
                                               qkv_bias=True))

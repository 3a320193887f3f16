"""config.json fields are read as transformers 5 reads them, or refused.

Each check compares our reading of a config dict with the config object the
installed transformers builds from the same dict (no model weights), or
asserts a one-line refusal naming the field and its value.
"""

import copy
import json

import numpy as np
import pytest
import torch
import transformers
from transformers.activations import ACT2FN

from flan_jax.models import hf_config
from flan_jax.models import t5
from flan_jax.models.hf_config import HfConversionError

_SMALL = dict(vocab_size=96, hidden_size=32, intermediate_size=48,
              num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2)
_CONFIG_CLASSES = {"t5": transformers.T5Config, "mt5": transformers.MT5Config,
                   "llama": transformers.LlamaConfig,
                   "mistral": transformers.MistralConfig,
                   "qwen2": transformers.Qwen2Config}


def _saved(model_type, tmp_path, **kwargs):
  """config.json as transformers 5's save_pretrained writes it."""
  if model_type in ("t5", "mt5"):
    kwargs = dict(vocab_size=96, d_model=32, d_kv=8, d_ff=48, num_layers=2,
                  num_heads=4, feed_forward_proj="gated-gelu", **kwargs)
  else:
    kwargs = dict(_SMALL, **kwargs)
  directory = tmp_path / model_type
  _CONFIG_CLASSES[model_type](**kwargs).save_pretrained(directory)
  return json.loads((directory / "config.json").read_text())


def _transformers(config_json):
  return _CONFIG_CLASSES[config_json["model_type"]].from_dict(
      copy.deepcopy(config_json))


ROPE_VARIANTS = {
    "v5_default": dict(rope_parameters=dict(rope_type="default",
                                            rope_theta=5e5)),
    "v4_theta_only": dict(rope_theta=123.0),
    "v4_linear_legacy_type": dict(rope_theta=5e5, rope_scaling=dict(
        type="linear", factor=2.0)),
    # rope_scaling replaces rope_parameters; its theta comes from rope_theta.
    "both_scaling_wins": dict(
        rope_parameters=dict(rope_type="linear", factor=2.0, rope_theta=1e6),
        rope_scaling=dict(rope_type="linear", factor=3.0)),
    "llama3_original_from_max_positions": dict(
        max_position_embeddings=64, rope_parameters=dict(
            rope_type="llama3", factor=8.0, low_freq_factor=1.0,
            high_freq_factor=4.0, rope_theta=5e5)),
}


@pytest.mark.parametrize("variant", sorted(ROPE_VARIANTS))
def test_rope_fields_resolve_as_transformers_does(variant):
  config_json = dict(_SMALL, model_type="llama", **ROPE_VARIANTS[variant])
  theirs = _transformers(config_json).rope_parameters
  ours = hf_config.from_hf_config(copy.deepcopy(config_json))
  assert ours.rope_scaling == theirs["rope_type"]
  assert ours.rope_theta == theirs["rope_theta"]
  if theirs["rope_type"] != "default":
    assert ours.rope_factor == theirs["factor"]
  if theirs["rope_type"] == "llama3":
    assert ours.rope_original_max_positions == theirs[
        "original_max_position_embeddings"]
    assert (ours.rope_low_freq_factor, ours.rope_high_freq_factor) == (
        theirs["low_freq_factor"], theirs["high_freq_factor"])


@pytest.mark.parametrize("model_type", ["t5", "mt5"])
def test_t5_output_scaling_resolves_as_transformers_does(model_type,
                                                         tmp_path):
  saved = _saved(model_type, tmp_path)
  for tie in (None, True, False):
    for scale in (None, True, False):
      config_json = {k: v for k, v in saved.items()
                     if k not in ("tie_word_embeddings",
                                  "scale_decoder_outputs")}
      if tie is not None:
        config_json["tie_word_embeddings"] = tie
      if scale is not None:
        config_json["scale_decoder_outputs"] = scale
      theirs = _transformers(config_json)
      # MT5ForConditionalGeneration never reads the field: no scaling.
      expected = (model_type == "t5" and theirs.scale_decoder_outputs)
      ours = hf_config.from_hf_config(config_json)
      assert ours.scales_decoder_outputs == expected, (tie, scale)


@pytest.mark.parametrize("fields", [
    dict(feed_forward_proj="gated-gelu"),
    dict(feed_forward_proj="gated-silu"),
    dict(feed_forward_proj="gated-gelu", dense_act_fn="gelu_pytorch_tanh"),
    dict(feed_forward_proj="gated-silu", dense_act_fn="gelu_new"),
    dict(feed_forward_proj="gated-relu", is_gated_act=True,
         dense_act_fn="swish"),
])
def test_t5_activation_resolves_as_transformers_does(fields, tmp_path):
  config_json = _saved("t5", tmp_path)
  del config_json["dense_act_fn"]  # written from feed_forward_proj
  config_json.update(fields)
  theirs = _transformers(config_json)
  ours = hf_config.from_hf_config(config_json)
  assert theirs.is_gated_act
  assert ours.mlp_activation == hf_config.T5_ACTIVATIONS[theirs.dense_act_fn]


def test_t5_activations_are_the_same_functions():
  x = np.linspace(-8, 8, 2001, dtype=np.float32)
  for name, ours in hf_config.T5_ACTIVATIONS.items():
    theirs = ACT2FN[name](torch.tensor(x)).numpy()
    np.testing.assert_allclose(np.asarray(t5.MLP_ACTIVATIONS[ours](x)),
                               theirs, atol=2e-6, err_msg=name)


@pytest.mark.parametrize("fields,window", [
    (dict(), None),
    (dict(use_sliding_window=True, sliding_window=5, max_window_layers=0), 5),
    (dict(use_sliding_window=True, sliding_window=5, max_window_layers=1),
     "refused"),
    (dict(use_sliding_window=False, sliding_window=5, max_window_layers=0),
     None),
])
def test_qwen2_windows_resolve_as_transformers_does(fields, window, tmp_path):
  config_json = _saved("qwen2", tmp_path, **fields)
  theirs = _transformers(config_json)
  per_layer = {theirs.sliding_window if kind == "sliding_attention" else None
               for kind in theirs.layer_types}
  if window == "refused":
    assert len(per_layer) > 1
    with pytest.raises(HfConversionError, match="layer_types"):
      hf_config.from_hf_config(config_json)
  else:
    assert per_layer == {window}
    assert hf_config.from_hf_config(config_json).sliding_window == window


# (model_type, fields set in a save_pretrained config.json, words the one
# line must hold: the field and its value)
REFUSALS = {
    "unknown_field": ("llama", dict(quantization_config={"bits": 4}),
                      ["'quantization_config'", "{'bits': 4}"]),
    "rope_yarn": ("llama", dict(rope_parameters=dict(
        rope_type="yarn", factor=4.0, rope_theta=1e4)), ["rope_type", "yarn"]),
    "partial_rotary": ("llama", dict(partial_rotary_factor=0.5),
                       ["partial_rotary_factor", "0.5"]),
    "rope_per_layer_type": ("llama", dict(layer_types=["full_attention"] * 2,
                                          rope_parameters=dict(
                                              full_attention=dict(
                                                  rope_type="default"))),
                            ["rope_parameters", "full_attention"]),
    "hidden_act": ("mistral", dict(hidden_act="gelu"), ["hidden_act",
                                                        "gelu"]),
    "mistral_layer_types": ("mistral", dict(
        layer_types=["full_attention", "sliding_attention"]),
                            ["layer_types", "full_attention"]),
    "t5_not_gated": ("t5", dict(is_gated_act=False), ["is_gated_act",
                                                      "False"]),
    "t5_activation": ("t5", dict(dense_act_fn="gelu"), ["dense_act_fn",
                                                        "'gelu'"]),
    "t5_pad_id": ("t5", dict(pad_token_id=3), ["pad_token_id", "3"]),
    "pruned_heads": ("t5", dict(pruned_heads={"0": [1]}), ["pruned_heads"]),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_fields_that_do_not_convert_are_refused_in_one_line(case, tmp_path):
  model_type, fields, words = REFUSALS[case]
  config_json = {**_saved(model_type, tmp_path), **fields}
  with pytest.raises(HfConversionError) as error:
    hf_config.from_hf_config(config_json)
  message = str(error.value)
  assert "\n" not in message and message.startswith("config.json: ")
  for word in words:
    assert word in message, (word, message)


def test_mistral_ignores_attention_and_mlp_bias_as_transformers_does(
    tmp_path):
  config_json = {**_saved("mistral", tmp_path), "attention_bias": True,
                 "mlp_bias": True}
  ours = hf_config.from_hf_config(config_json)
  assert (ours.qkv_bias, ours.out_bias, ours.mlp_bias) == (False,) * 3
  model = transformers.MistralForCausalLM(_transformers(config_json))
  layer = model.model.layers[0]
  assert layer.self_attn.q_proj.bias is None and layer.mlp.up_proj.bias is None


@pytest.mark.parametrize("model_type", ["llama", "mistral", "qwen2"])
def test_missing_decoder_fields_take_transformers_defaults(model_type):
  # More heads than the class's default key/value heads (Mistral 8, Qwen2
  # 32), so that default shows.
  heads = {"llama": 8, "mistral": 16, "qwen2": 64}[model_type]
  config_json = dict(model_type=model_type, vocab_size=96, hidden_size=64,
                     intermediate_size=48, num_hidden_layers=2,
                     num_attention_heads=heads,
                     rope_parameters=dict(
                         rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                         high_freq_factor=4.0))
  theirs = _transformers(config_json)
  ours = hf_config.from_hf_config(copy.deepcopy(config_json))
  window = theirs.sliding_window if model_type == "mistral" else None
  # Without head_dim the three modeling files use hidden // heads.
  head_dim = 64 // heads
  assert (ours.num_kv_heads, ours.head_dim, ours.rms_norm_eps,
          ours.sliding_window, ours.tie_word_embeddings) == (
              theirs.num_key_value_heads, head_dim, theirs.rms_norm_eps,
              window, theirs.tie_word_embeddings)
  assert ours.rope_original_max_positions == theirs.rope_parameters[
      "original_max_position_embeddings"]

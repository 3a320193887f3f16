"""The Llama family's Hugging Face adapter: llama, mistral, qwen2, qwen3.

All four share Llama's tensor names and become a `DecoderConfig`; what
differs per model_type is data here (`_TYPES`: defaults, biases, windows,
q/k norms). config.json, as transformers 5 reads it -> what we do:

  vocab_size hidden_size intermediate_size num_hidden_layers
  num_attention_heads num_key_value_heads head_dim (null or missing:
  hidden_size // num_attention_heads; qwen3: 128) rms_norm_eps
      the DecoderConfig field of the same meaning; a missing field takes
      the default of transformers' class for the model type (e.g. Mistral:
      8 key/value heads, a 4096-token window)
  hidden_act            "silu" only
  rope_scaling, rope_parameters, rope_theta, partial_rotary_factor
      rope_scaling (transformers 4), when set, replaces rope_parameters
      (transformers 5); rope_theta fills in a missing theta (default 1e4);
      rope_type (or legacy "type"): "default", "linear" (factor), "llama3"
      (factor, low_freq_factor, high_freq_factor,
      original_max_position_embeddings); partial_rotary_factor must be 1;
      other types and per-layer-type dicts are refused
  max_position_embeddings, original_max_position_embeddings
      llama3's original_max_position_embeddings when the dict has none
      (a top-level original_max_position_embeddings wins); nothing else
  attention_bias        llama, qwen3: biases on q, k, v and o; ignored by
                        the others (qwen2 always has q, k, v biases, no o)
  mlp_bias              llama: biases on the MLP; ignored by the others
  sliding_window        mistral: every layer's window (null: none)
  use_sliding_window, max_window_layers, layer_types
      qwen2, qwen3: layer i has the window when use_sliding_window and
      layer_types[i] is "sliding_attention" (default: i >=
      max_window_layers); one window for every layer or none, else refused.
      llama and mistral ignore layer_types: it must then agree with the
      window every layer gets, else refused
  tie_word_embeddings   the output layer is embed_tokens, unless the
                        weights hold an lm_head.weight that differs (then
                        transformers does not tie, nor do we)
  (qwen3, no field)     RMSNorm on each head's queries and keys (q_norm,
                        k_norm: DecoderConfig.qk_norm)
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any, Iterator

import numpy as np

from flan_jax.models import decoder
from flan_jax.models.hf_family import (Entry, Family, HfConversionError,
                                       refuse, require)

# Per model_type: transformers' defaults for missing fields, and what the
# architecture has (biases, windows per layer type, q/k norms).
_TYPES = {
    "llama": dict(architecture="LlamaForCausalLM",
                  defaults=dict(num_key_value_heads=None,
                                max_position_embeddings=2048,
                                sliding_window=None, head_dim=None),
                  biases="attention_bias+mlp_bias", windows="none",
                  qk_norm=False),
    "mistral": dict(architecture="MistralForCausalLM",
                    defaults=dict(num_key_value_heads=8,
                                  max_position_embeddings=131072,
                                  sliding_window=4096, head_dim=None),
                    biases="none", windows="all", qk_norm=False),
    "qwen2": dict(architecture="Qwen2ForCausalLM",
                  defaults=dict(num_key_value_heads=32,
                                max_position_embeddings=32768,
                                sliding_window=4096, head_dim=None),
                  biases="qkv", windows="per_layer", qk_norm=False),
    "qwen3": dict(architecture="Qwen3ForCausalLM",
                  defaults=dict(num_key_value_heads=32,
                                max_position_embeddings=32768,
                                sliding_window=4096, head_dim=128),
                  biases="attention_bias", windows="per_layer",
                  qk_norm=True),
}
# (qkv_bias, out_bias, mlp_bias) each architecture can express.
_BIASES = {
    "attention_bias+mlp_bias": {(False, False, False), (True, True, False),
                                (False, False, True), (True, True, True)},
    "attention_bias": {(False, False, False), (True, True, False)},
    "qkv": {(True, False, False)},
    "none": {(False, False, False)},
}

READS = frozenset({
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
    "num_attention_heads", "num_key_value_heads", "head_dim", "hidden_act",
    "rms_norm_eps", "tie_word_embeddings", "rope_parameters", "rope_scaling",
    "rope_theta", "partial_rotary_factor", "max_position_embeddings",
    "original_max_position_embeddings", "attention_bias", "mlp_bias",
    "sliding_window", "use_sliding_window", "max_window_layers",
    "layer_types"})


def _default(hf, field):
  """A field of config.json, or transformers' default for the model type."""
  return hf.get(field, _TYPES[hf["model_type"]]["defaults"][field])


def _counts(items: list[str]) -> dict[str, int]:
  return dict(collections.Counter(items))


def rope_fields(hf, params: dict[str, Any], source: str) -> dict[str, Any]:
  """DecoderConfig RoPE fields of one rope_parameters dict (resolved)."""
  rope_type = params.get("rope_type", params.get("type", "default"))
  if rope_type not in decoder.ROPE_SCALINGS:
    raise refuse(f"{source} rope_type", rope_type,
                 f"use one of {', '.join(decoder.ROPE_SCALINGS)}")
  partial = params.get("partial_rotary_factor")
  if partial not in (None, 1, 1.0):
    raise refuse(f"{source} partial_rotary_factor", partial,
                 "only 1.0 (RoPE on the whole head) converts")
  fields = {"rope_theta": float(params["rope_theta"]),
            "rope_scaling": rope_type}
  if rope_type != "default":
    fields["rope_factor"] = float(require(params, "factor"))
  if rope_type == "llama3":
    original = hf.get("original_max_position_embeddings") or params.get(
        "original_max_position_embeddings") or _default(
            hf, "max_position_embeddings")
    fields.update(
        rope_low_freq_factor=float(require(params, "low_freq_factor")),
        rope_high_freq_factor=float(require(params, "high_freq_factor")),
        rope_original_max_positions=int(original))
  return fields


def _rope(hf) -> dict[str, Any]:
  """RoPE settings, resolved in the order transformers 5 resolves them."""
  source = "rope_scaling" if hf.get("rope_scaling") else "rope_parameters"
  params = dict(hf.get(source) or {})
  if any(isinstance(v, dict) for v in params.values()):
    raise refuse(source, params, "per-layer-type RoPE does not convert")
  params.setdefault("rope_theta", hf.get("rope_theta", 10000.0))
  if hf.get("partial_rotary_factor") is not None:
    params.setdefault("partial_rotary_factor", hf["partial_rotary_factor"])
  return rope_fields(hf, params, source)


def _sliding_window(hf) -> int | None:
  """The one window every layer gets (None: full attention)."""
  model_type, layers = hf["model_type"], require(hf, "num_hidden_layers")
  layer_types = hf.get("layer_types")
  windows = _TYPES[model_type]["windows"]
  if windows == "per_layer":
    window = (_default(hf, "sliding_window") if hf.get("use_sliding_window")
              else None)
    if layer_types is None:
      first = hf.get("max_window_layers", 28)
      layer_types = ["sliding_attention" if window and i >= first else
                     "full_attention" for i in range(layers)]
    kinds = set(layer_types)
    if (len(kinds) > 1 or not kinds <= {"full_attention", "sliding_attention"}
        or kinds == {"sliding_attention"} and window is None):
      raise refuse("layer_types", _counts(layer_types),
                   "one window for every layer (use_sliding_window with "
                   "max_window_layers 0) or none converts")
    return window if kinds == {"sliding_attention"} else None
  window = _default(hf, "sliding_window") if windows == "all" else None
  expected = "sliding_attention" if window else "full_attention"
  if layer_types is not None and set(layer_types) != {expected}:
    raise refuse("layer_types", _counts(layer_types),
                 f"{_TYPES[model_type]['architecture']} gives every layer "
                 f"{expected}; per-layer attention does not convert")
  return window


def _biases(hf) -> dict[str, bool]:
  kind = _TYPES[hf["model_type"]]["biases"]
  attention = kind.startswith("attention_bias") and bool(
      hf.get("attention_bias"))
  return dict(qkv_bias=attention or kind == "qkv", out_bias=attention,
              mlp_bias=kind.endswith("mlp_bias") and bool(
                  hf.get("mlp_bias", False)))


def from_hf(hf, distinct_lm_head, overrides) -> decoder.DecoderConfig:
  model_type = hf["model_type"]
  act = hf.get("hidden_act", "silu")
  if act != "silu":
    raise refuse("hidden_act", act, "Llama-family models use 'silu'")
  heads = require(hf, "num_attention_heads")
  d_model = require(hf, "hidden_size")
  return decoder.DecoderConfig(
      vocab_size=require(hf, "vocab_size"),
      d_model=d_model,
      num_layers=require(hf, "num_hidden_layers"),
      num_heads=heads,
      num_kv_heads=_default(hf, "num_key_value_heads") or heads,
      head_dim=_default(hf, "head_dim") or d_model // heads,
      d_ff=require(hf, "intermediate_size"),
      rms_norm_eps=hf.get("rms_norm_eps", 1e-6),
      tie_word_embeddings=(bool(hf.get("tie_word_embeddings", False)) and
                           not distinct_lm_head),
      sliding_window=_sliding_window(hf),
      qk_norm=_TYPES[model_type]["qk_norm"],
      family=model_type,
      **_biases(hf),
      **_rope(hf),
      **overrides)


# DecoderConfig fields only Gemma sets: a Llama-family export refuses them.
_NOT_LLAMA = dict(rope_local_theta=None, mlp_activation="silu",
                  norm_plus_one=False, post_norms=False,
                  scale_embeddings=False, query_pre_attn_scalar=None,
                  final_logit_softcap=None)


def check_exportable(config, family: str, allowed: dict[str, Any]) -> None:
  """Refuses (one line) a config whose fields `family` cannot express."""
  fields = dataclasses.asdict(config)
  for field, value in allowed.items():
    if fields[field] != value:
      raise HfConversionError(
          f"DecoderConfig.{field} {fields[field]!r} cannot be "
          f"expressed as a {family} config (it needs {value!r}); pick the "
          f"family that has it")


def shape_fields(config: decoder.DecoderConfig) -> dict[str, Any]:
  """config.json's sizes of a decoder, named alike by every family."""
  return {
      "vocab_size": config.vocab_size,
      "hidden_size": config.d_model,
      "intermediate_size": config.d_ff,
      "num_hidden_layers": config.num_layers,
      "num_attention_heads": config.num_heads,
      "num_key_value_heads": config.num_kv_heads,
      "head_dim": config.head_dim,
      "rms_norm_eps": config.rms_norm_eps,
      "tie_word_embeddings": config.tie_word_embeddings,
  }


def rope_parameters(config: decoder.DecoderConfig) -> dict[str, Any]:
  """transformers' rope_parameters of the (global) RoPE: type, base and
  the scaling's own numbers."""
  rope = {"rope_type": config.rope_scaling, "rope_theta": config.rope_theta}
  if config.rope_scaling != "default":
    rope["factor"] = config.rope_factor
  if config.rope_scaling == "llama3":
    rope.update(low_freq_factor=config.rope_low_freq_factor,
                high_freq_factor=config.rope_high_freq_factor,
                original_max_position_embeddings=(
                    config.rope_original_max_positions))
  return rope


def to_hf(config: decoder.DecoderConfig) -> dict[str, Any]:
  family = config.family
  spec = _TYPES[family]
  check_exportable(config, family, dict(_NOT_LLAMA, qk_norm=spec["qk_norm"]))
  biases = (config.qkv_bias, config.out_bias, config.mlp_bias)
  if biases not in _BIASES[spec["biases"]]:
    raise HfConversionError(
        f"DecoderConfig qkv_bias/out_bias/mlp_bias = {biases} cannot be "
        f"expressed as a {family} config; pick a family that has them")
  if len(set(config.layer_pattern)) > 1:
    raise HfConversionError(
        f"DecoderConfig.layer_types {config.layer_types} cannot be "
        f"expressed as a {family} config: one window for every layer")
  if config.sliding_window is not None and spec["windows"] == "none":
    raise HfConversionError(
        f"DecoderConfig.sliding_window {config.sliding_window} cannot be "
        f"expressed as a {family} config; use family 'mistral' or 'qwen2'")
  rope = rope_parameters(config)
  out = {
      "architectures": [spec["architecture"]],
      "model_type": family,
      **shape_fields(config),
      "hidden_act": "silu",
      "rope_theta": config.rope_theta,
      "rope_parameters": rope,
      "max_position_embeddings": max(config.rope_original_max_positions, 4096),
  }
  if config.rope_scaling != "default":
    out["rope_scaling"] = rope
  if spec["biases"].startswith("attention_bias"):
    out["attention_bias"] = config.qkv_bias
  if spec["biases"] == "attention_bias+mlp_bias":
    out["mlp_bias"] = config.mlp_bias
  if spec["windows"] == "all":
    out["sliding_window"] = config.sliding_window
  elif spec["windows"] == "per_layer":
    windowed = config.sliding_window is not None
    out.update(use_sliding_window=windowed,
               sliding_window=config.sliding_window, max_window_layers=0,
               layer_types=[("sliding_attention" if windowed else
                             "full_attention")] * config.num_layers)
  return out


def tensor_map(cfg: decoder.DecoderConfig) -> Iterator[Entry]:
  yield Entry("model.embed_tokens.weight", ("token_embedder", "embedding"),
              "copy")
  for i in range(cfg.num_layers):
    hf, ours = f"model.layers.{i}", f"layers_{i}"
    yield Entry(f"{hf}.input_layernorm.weight",
                (ours, "pre_attention_norm", "scale"), "copy")
    yield from attention_entries(cfg, f"{hf}.self_attn", (ours, "attention"))
    yield Entry(f"{hf}.post_attention_layernorm.weight",
                (ours, "pre_mlp_norm", "scale"), "copy")
    yield from mlp_entries(cfg, f"{hf}.mlp", (ours, "mlp"))
  yield Entry("model.norm.weight", ("final_norm", "scale"), "copy")
  if not cfg.tie_word_embeddings:
    yield Entry("lm_head.weight", ("logits_dense", "kernel"), "out_proj_t")


def attention_entries(cfg, hf: str, ours: tuple[str, ...]) -> Iterator[Entry]:
  """q/k/v/o projections (and biases, q/k norms): shared with Gemma 3."""
  for name, our in (("q", "query"), ("k", "key"), ("v", "value")):
    yield Entry(f"{hf}.{name}_proj.weight", (*ours, our, "kernel"), "in_proj")
    if cfg.qkv_bias:
      yield Entry(f"{hf}.{name}_proj.bias", (*ours, our, "bias"), "bias")
  yield Entry(f"{hf}.o_proj.weight", (*ours, "out", "kernel"), "out_proj")
  if cfg.out_bias:
    yield Entry(f"{hf}.o_proj.bias", (*ours, "out", "bias"), "bias")
  if cfg.qk_norm:
    yield Entry(f"{hf}.q_norm.weight", (*ours, "query_norm", "scale"), "copy")
    yield Entry(f"{hf}.k_norm.weight", (*ours, "key_norm", "scale"), "copy")


def mlp_entries(cfg, hf: str, ours: tuple[str, ...]) -> Iterator[Entry]:
  for name in ("gate", "up", "down"):
    yield Entry(f"{hf}.{name}_proj.weight", (*ours, name, "kernel"), "in_proj")
    if cfg.mlp_bias:
      yield Entry(f"{hf}.{name}_proj.bias", (*ours, name, "bias"), "bias")


def network(cfg: decoder.DecoderConfig):
  mask = np.ones((1, 1, 4, 4), bool)
  return decoder.Decoder(cfg), (
      np.ones((1, 4), np.int32), np.zeros((1, 4), np.int32),
      {kind: mask for kind in cfg.attention_windows})


def summary(cfg: decoder.DecoderConfig) -> str:
  return (f"(family={cfg.family}, d_model={cfg.d_model}, "
          f"layers={cfg.num_layers}, tied={cfg.tie_word_embeddings}, "
          f"qkv_bias={cfg.qkv_bias})")


FAMILIES = tuple(
    Family(model_type=model_type, architecture=spec["architecture"],
           reads=READS, from_hf=from_hf, to_hf=to_hf, tensor_map=tensor_map,
           embedding_tensor="model.embed_tokens.weight", network=network,
           summary=summary, model_class="DecoderOnlyModel",
           config_class="DecoderConfig", causal=True)
    for model_type, spec in _TYPES.items())

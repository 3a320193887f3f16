"""The Gemma 3 family's Hugging Face adapter: gemma3_text <-> `DecoderConfig`.

Gemma3ForCausalLM (gemma-3-270m, gemma-3-1b and the text model of the
larger ones). What transformers 5 does with config.json -> what we do:

  vocab_size hidden_size intermediate_size num_hidden_layers
  num_attention_heads num_key_value_heads head_dim rms_norm_eps
      the DecoderConfig field of the same meaning (missing: transformers'
      Gemma3TextConfig defaults)
  hidden_activation     gelu_pytorch_tanh (gelu_new, gelu_fast: the same
                        function) -> mlp_activation "gelu_tanh"; else refused
  query_pre_attn_scalar scores scaled by its -1/2 power (default 256)
  sliding_window, layer_types (default: sliding_window_pattern, 6: five
      "sliding_attention" layers then one "full_attention")
      -> DecoderConfig.layer_types, the shortest repeating pattern (one
      kind only: every layer the same); other layer kinds are refused
  rope_parameters {"full_attention": ..., "sliding_attention": ...}
      (transformers 5), or rope_theta (default 1e6), rope_scaling and
      rope_local_base_freq (default 1e4) of transformers 4 files
      -> rope_theta / rope_scaling ("default", "linear", "llama3") of the
      global layers and rope_local_theta of the sliding ones, which must be
      unscaled; a flat (not per-layer-type) rope_parameters is refused
  final_logit_softcapping  -> final_logit_softcap (null: none)
  attn_logit_softcapping   must be null (Gemma 2's, not Gemma 3's)
  use_bidirectional_attention  must be false (EmbeddingGemma)
  attention_bias        biases on q, k, v and o
  tie_word_embeddings   as the Llama family (default true)
  max_position_embeddings, cache_implementation, sliding_window_pattern
  and _sliding_window_pattern (once layer_types is given): no effect on
  the logits

Always: embeddings times sqrt(hidden_size), RMSNorm by (1 + weight), norms
before and after attention and MLP, RMSNorm on each head's queries and
keys. A vision model (model_type gemma3) is refused: convert its text part.
"""

from __future__ import annotations

from typing import Any, Iterator

from flan_jax.models import decoder
from flan_jax.models import hf_llama
from flan_jax.models.hf_family import (Entry, Family, HfConversionError,
                                       refuse, require)

ARCHITECTURE = "Gemma3ForCausalLM"
_ACTIVATIONS = ("gelu_pytorch_tanh", "gelu_new", "gelu_fast")
# What Gemma3TextConfig assumes when config.json lacks a field.
_DEFAULTS = dict(num_key_value_heads=4, head_dim=256, rms_norm_eps=1e-6,
                 query_pre_attn_scalar=256, sliding_window=4096,
                 sliding_window_pattern=6, rope_theta=1e6,
                 rope_local_base_freq=1e4, tie_word_embeddings=True,
                 hidden_activation="gelu_pytorch_tanh")
READS = frozenset({
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
    "num_attention_heads", "num_key_value_heads", "head_dim",
    "hidden_activation", "rms_norm_eps", "tie_word_embeddings",
    "rope_parameters", "rope_scaling", "rope_theta", "rope_local_base_freq",
    "attention_bias", "query_pre_attn_scalar", "sliding_window",
    "sliding_window_pattern", "_sliding_window_pattern", "layer_types", "final_logit_softcapping",
    "attn_logit_softcapping", "use_bidirectional_attention",
    "max_position_embeddings", "cache_implementation"})
# Gemma 3's fixed features, which an export needs the config to have.
GEMMA3_FEATURES = dict(qk_norm=True, mlp_activation="gelu_tanh",
                       norm_plus_one=True, post_norms=True,
                       scale_embeddings=True, mlp_bias=False)


def _get(hf, field):
  return hf[field] if hf.get(field) is not None else _DEFAULTS[field]


def shortest_pattern(layer_types: list[str]) -> tuple[str, ...]:
  """The shortest p-long prefix that, repeated, gives every layer's kind:
  ["s","s","f","s","s","f","s"] -> ("s", "s", "f")."""
  n = len(layer_types)
  for period in range(1, n + 1):
    if all(layer_types[i] == layer_types[i % period] for i in range(n)):
      return tuple(layer_types[:period])
  return tuple(layer_types)


def _layers(hf) -> dict[str, Any]:
  """layer_types / sliding_window fields of our config."""
  layers = require(hf, "num_hidden_layers")
  layer_types = hf.get("layer_types")
  if layer_types is None:
    # transformers 5 writes the pattern it derived as _sliding_window_pattern.
    period = (hf.get("sliding_window_pattern") or
              hf.get("_sliding_window_pattern") or
              _DEFAULTS["sliding_window_pattern"])
    layer_types = ["sliding_attention" if (i + 1) % period else
                   "full_attention" for i in range(layers)]
  unknown = set(layer_types) - set(decoder.LAYER_TYPES)
  if unknown or len(layer_types) != layers:
    raise refuse("layer_types", layer_types,
                 f"one of {decoder.LAYER_TYPES} per layer converts")
  pattern = shortest_pattern(layer_types)
  window = (_get(hf, "sliding_window") if "sliding_attention" in pattern
            else None)
  return dict(layer_types=pattern if len(pattern) > 1 else (),
              sliding_window=window)


def _rope(hf) -> dict[str, Any]:
  params = hf.get("rope_parameters")
  if params and not all(isinstance(v, dict) for v in params.values()):
    raise refuse("rope_parameters", params, "Gemma 3 files give one dict "
                 "per layer type (full_attention, sliding_attention)")
  params = {kind: dict(value) for kind, value in (params or {}).items()}
  full = params.setdefault("full_attention", {"rope_type": "default"})
  if hf.get("rope_scaling"):
    full.update(hf["rope_scaling"])
  full.setdefault("rope_theta", _get(hf, "rope_theta"))
  local = params.setdefault("sliding_attention", {"rope_type": "default"})
  local.setdefault("rope_theta", _get(hf, "rope_local_base_freq"))
  if local.get("rope_type", local.get("type", "default")) != "default":
    raise refuse("rope_parameters sliding_attention", local,
                 "the sliding layers' RoPE must be unscaled ('default')")
  fields = hf_llama.rope_fields(hf, full, "rope_parameters full_attention")
  fields["rope_local_theta"] = float(local["rope_theta"])
  return fields


def from_hf(hf, distinct_lm_head, overrides) -> decoder.DecoderConfig:
  act = _get(hf, "hidden_activation")
  if act not in _ACTIVATIONS:
    raise refuse("hidden_activation", act, f"use one of {_ACTIVATIONS}")
  for field in ("attn_logit_softcapping", "use_bidirectional_attention"):
    if hf.get(field):
      raise refuse(field, hf[field], "Gemma3ForCausalLM converts without it")
  heads = require(hf, "num_attention_heads")
  bias = bool(hf.get("attention_bias", False))
  return decoder.DecoderConfig(
      vocab_size=require(hf, "vocab_size"),
      d_model=require(hf, "hidden_size"),
      num_layers=require(hf, "num_hidden_layers"),
      num_heads=heads,
      num_kv_heads=_get(hf, "num_key_value_heads"),
      head_dim=_get(hf, "head_dim"),
      d_ff=require(hf, "intermediate_size"),
      rms_norm_eps=_get(hf, "rms_norm_eps"),
      tie_word_embeddings=(bool(_get(hf, "tie_word_embeddings")) and
                           not distinct_lm_head),
      qkv_bias=bias, out_bias=bias,
      query_pre_attn_scalar=float(_get(hf, "query_pre_attn_scalar")),
      final_logit_softcap=hf.get("final_logit_softcapping"),
      family="gemma3_text",
      **{k: v for k, v in GEMMA3_FEATURES.items() if k != "mlp_bias"},
      **_layers(hf),
      **_rope(hf),
      **overrides)


def to_hf(config: decoder.DecoderConfig) -> dict[str, Any]:
  hf_llama.check_exportable(config, "gemma3_text", GEMMA3_FEATURES)
  if config.qkv_bias != config.out_bias:
    raise HfConversionError(
        f"DecoderConfig qkv_bias {config.qkv_bias} and out_bias "
        f"{config.out_bias} cannot be expressed as a gemma3_text config "
        f"(attention_bias sets both)")
  full = hf_llama.rope_parameters(config)
  if config.rope_local_theta is not None:
    local = {"rope_type": "default", "rope_theta": config.rope_local_theta}
  elif config.rope_scaling == "default":
    local = dict(full)
  else:
    raise HfConversionError(
        "DecoderConfig.rope_local_theta None with a scaled RoPE cannot be "
        "expressed as a gemma3_text config; set rope_local_theta")
  pattern = config.layer_pattern
  return {
      "architectures": [ARCHITECTURE],
      "model_type": "gemma3_text",
      **hf_llama.shape_fields(config),
      "hidden_activation": "gelu_pytorch_tanh",
      "rope_parameters": {"full_attention": full,
                          "sliding_attention": local},
      "attention_bias": config.qkv_bias,
      # transformers' Gemma3TextConfig takes an int here.
      "query_pre_attn_scalar": _int_if_whole(config.query_pre_attn_scalar or
                                             config.head_dim),
      "sliding_window": config.sliding_window,
      "layer_types": [pattern[i % len(pattern)]
                      for i in range(config.num_layers)],
      "final_logit_softcapping": config.final_logit_softcap,
      "attn_logit_softcapping": None,
      "max_position_embeddings": max(config.rope_original_max_positions,
                                     32768),
      "pad_token_id": 0, "bos_token_id": 2, "eos_token_id": 1,
  }


def _int_if_whole(value: float) -> float | int:
  return int(value) if float(value).is_integer() else value


def tensor_map(cfg: decoder.DecoderConfig) -> Iterator[Entry]:
  yield Entry("model.embed_tokens.weight", ("token_embedder", "embedding"),
              "copy")
  norms = (("input_layernorm", "pre_attention_norm"),
           ("post_attention_layernorm", "post_attention_norm"),
           ("pre_feedforward_layernorm", "pre_mlp_norm"),
           ("post_feedforward_layernorm", "post_mlp_norm"))
  for i in range(cfg.num_layers):
    hf, ours = f"model.layers.{i}", f"layers_{i}"
    for hf_norm, our_norm in norms:
      yield Entry(f"{hf}.{hf_norm}.weight", (ours, our_norm, "scale"), "copy")
    yield from hf_llama.attention_entries(cfg, f"{hf}.self_attn",
                                          (ours, "attention"))
    yield from hf_llama.mlp_entries(cfg, f"{hf}.mlp", (ours, "mlp"))
  yield Entry("model.norm.weight", ("final_norm", "scale"), "copy")
  if not cfg.tie_word_embeddings:
    yield Entry("lm_head.weight", ("logits_dense", "kernel"), "out_proj_t")


FAMILIES = (Family(
    model_type="gemma3_text", architecture=ARCHITECTURE, reads=READS,
    from_hf=from_hf, to_hf=to_hf, tensor_map=tensor_map,
    embedding_tensor="model.embed_tokens.weight", network=hf_llama.network,
    summary=hf_llama.summary, model_class="DecoderOnlyModel",
    config_class="DecoderConfig", causal=True),)

# model_types refused with a hint rather than "not supported".
HINTS = {"gemma3": "a Gemma 3 with vision (Gemma3ForConditionalGeneration)"
                   " does not convert; convert its text model "
                   "(model_type gemma3_text)"}

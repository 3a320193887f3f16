"""Hugging Face config.json <-> flan_jax model configs.

Supported architectures (model_type):
    t5, mt5            T5 v1.1 / FLAN-T5 / mT5 (feed_forward_proj "gated-gelu")
    llama, mistral,    Llama-family decoders (SiLU gated MLP, RoPE "default",
    qwen2              "linear" or "llama3")

Anything else stops with `HfConversionError` naming the field and value.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flan_jax.models import decoder
from flan_jax.models import t5


class HfConversionError(ValueError):
  """A Hugging Face directory or checkpoint that cannot be converted."""


T5_TYPES = ("t5", "mt5")
DECODER_TYPES = ("llama", "mistral", "qwen2")
ARCHITECTURES = {
    "t5": "T5ForConditionalGeneration",
    "mt5": "MT5ForConditionalGeneration",
    "llama": "LlamaForCausalLM",
    "mistral": "MistralForCausalLM",
    "qwen2": "Qwen2ForCausalLM",
}

ModelConfig = t5.T5Config | decoder.DecoderConfig


def _require(hf: dict[str, Any], field: str) -> Any:
  if field not in hf or hf[field] is None:
    raise HfConversionError(f"config.json: missing field {field!r} (needed "
                            f"for model_type {hf.get('model_type')!r})")
  return hf[field]


def from_hf_config(hf: dict[str, Any], **overrides) -> ModelConfig:
  """Our config for a Hugging Face config dict; `overrides` set extra fields
  such as dtype, scan_layers or remat_policy."""
  model_type = hf.get("model_type")
  if model_type in T5_TYPES:
    return _t5_from_hf(hf, **overrides)
  if model_type in DECODER_TYPES:
    return _decoder_from_hf(hf, **overrides)
  raise HfConversionError(
      f"config.json: model_type {model_type!r} is not supported; supported: "
      f"{', '.join(T5_TYPES + DECODER_TYPES)}")


def _t5_from_hf(hf, **overrides) -> t5.T5Config:
  proj = hf.get("feed_forward_proj", "relu")
  if proj != "gated-gelu":
    raise HfConversionError(
        f"config.json: feed_forward_proj {proj!r} is not supported; only T5 "
        f"v1.1 / FLAN-T5 / mT5 ('gated-gelu') models convert")
  num_layers = _require(hf, "num_layers")
  return t5.T5Config(
      vocab_size=_require(hf, "vocab_size"),
      d_model=_require(hf, "d_model"),
      num_heads=_require(hf, "num_heads"),
      head_dim=_require(hf, "d_kv"),
      d_ff=_require(hf, "d_ff"),
      num_encoder_layers=num_layers,
      num_decoder_layers=hf.get("num_decoder_layers") or num_layers,
      relative_attention_num_buckets=hf.get(
          "relative_attention_num_buckets", 32),
      relative_attention_max_distance=hf.get(
          "relative_attention_max_distance", 128),
      dropout_rate=hf.get("dropout_rate", 0.0),
      layer_norm_epsilon=hf.get("layer_norm_epsilon", 1e-6),
      # HF T5 checkpoints tie unless config.json says false (v1.1 does).
      tie_word_embeddings=hf.get("tie_word_embeddings", True) is not False,
      **overrides)


def _rope_fields(hf) -> dict[str, Any]:
  """RoPE settings from transformers 5 `rope_parameters` or 4.x fields."""
  params = dict(hf.get("rope_parameters") or {})
  legacy = hf.get("rope_scaling") or {}
  theta = params.get("rope_theta", hf.get("rope_theta", 10000.0))
  rope_type = (params.get("rope_type") or params.get("type") or
               legacy.get("rope_type") or legacy.get("type") or "default")
  scaling = {**legacy, **params}
  if rope_type not in decoder.ROPE_SCALINGS:
    raise HfConversionError(
        f"config.json: rope type {rope_type!r} (rope_parameters/rope_scaling)"
        f" is not supported; supported: {', '.join(decoder.ROPE_SCALINGS)}")
  fields = {"rope_theta": float(theta), "rope_scaling": rope_type}
  if rope_type != "default":
    fields["rope_factor"] = float(_require(scaling, "factor"))
  if rope_type == "llama3":
    fields.update(
        rope_low_freq_factor=float(_require(scaling, "low_freq_factor")),
        rope_high_freq_factor=float(_require(scaling, "high_freq_factor")),
        rope_original_max_positions=int(
            _require(scaling, "original_max_position_embeddings")))
  return fields


def _decoder_from_hf(hf, **overrides) -> decoder.DecoderConfig:
  model_type = hf["model_type"]
  act = hf.get("hidden_act", "silu")
  if act != "silu":
    raise HfConversionError(f"config.json: hidden_act {act!r} is not "
                            f"supported; Llama-family models use 'silu'")
  heads = _require(hf, "num_attention_heads")
  d_model = _require(hf, "hidden_size")
  sliding_window = None
  if model_type == "mistral":
    sliding_window = hf.get("sliding_window")
  elif model_type == "qwen2" and hf.get("use_sliding_window"):
    raise HfConversionError(
        "config.json: use_sliding_window true (Qwen2 per-layer windows) is not"
        " supported; set it to false")
  attention_bias = bool(hf.get("attention_bias", False))
  return decoder.DecoderConfig(
      vocab_size=_require(hf, "vocab_size"),
      d_model=d_model,
      num_layers=_require(hf, "num_hidden_layers"),
      num_heads=heads,
      num_kv_heads=hf.get("num_key_value_heads") or heads,
      head_dim=hf.get("head_dim") or d_model // heads,
      d_ff=_require(hf, "intermediate_size"),
      rms_norm_eps=hf.get("rms_norm_eps", 1e-6),
      tie_word_embeddings=bool(hf.get("tie_word_embeddings", False)),
      qkv_bias=model_type == "qwen2" or attention_bias,
      out_bias=model_type == "llama" and attention_bias,
      mlp_bias=model_type == "llama" and bool(hf.get("mlp_bias", False)),
      sliding_window=sliding_window,
      family=model_type,
      **_rope_fields(hf),
      **overrides)


def to_hf_config(config: ModelConfig) -> dict[str, Any]:
  """A config.json dict that transformers loads into the same network."""
  if isinstance(config, t5.T5Config):
    return {
        "architectures": [ARCHITECTURES["t5"]],
        "model_type": "t5",
        "vocab_size": config.vocab_size,
        "d_model": config.d_model,
        "d_kv": config.head_dim,
        "d_ff": config.d_ff,
        "num_layers": config.num_encoder_layers,
        "num_decoder_layers": config.num_decoder_layers,
        "num_heads": config.num_heads,
        "relative_attention_num_buckets": config.relative_attention_num_buckets,
        "relative_attention_max_distance":
            config.relative_attention_max_distance,
        "dropout_rate": config.dropout_rate,
        "layer_norm_epsilon": config.layer_norm_epsilon,
        "feed_forward_proj": "gated-gelu",
        "tie_word_embeddings": config.tie_word_embeddings,
        "is_encoder_decoder": True,
        "decoder_start_token_id": 0,
        "pad_token_id": 0,
        "eos_token_id": 1,
    }
  family = config.family
  if family not in DECODER_TYPES:
    raise HfConversionError(f"DecoderConfig.family {family!r}: export needs "
                            f"one of {DECODER_TYPES}")
  biases = (config.qkv_bias, config.out_bias, config.mlp_bias)
  allowed = {"llama": {(False, False, False), (True, True, False),
                       (False, False, True), (True, True, True)},
             "qwen2": {(True, False, False)},
             "mistral": {(False, False, False)}}[family]
  if biases not in allowed:
    raise HfConversionError(
        f"DecoderConfig qkv_bias/out_bias/mlp_bias = {biases} cannot be "
        f"expressed as a {family} config; pick a family that has them")
  rope = {"rope_type": config.rope_scaling, "rope_theta": config.rope_theta}
  if config.rope_scaling != "default":
    rope["factor"] = config.rope_factor
  if config.rope_scaling == "llama3":
    rope.update(low_freq_factor=config.rope_low_freq_factor,
                high_freq_factor=config.rope_high_freq_factor,
                original_max_position_embeddings=(
                    config.rope_original_max_positions))
  out = {
      "architectures": [ARCHITECTURES[family]],
      "model_type": family,
      "vocab_size": config.vocab_size,
      "hidden_size": config.d_model,
      "intermediate_size": config.d_ff,
      "num_hidden_layers": config.num_layers,
      "num_attention_heads": config.num_heads,
      "num_key_value_heads": config.num_kv_heads,
      "head_dim": config.head_dim,
      "hidden_act": "silu",
      "rms_norm_eps": config.rms_norm_eps,
      "tie_word_embeddings": config.tie_word_embeddings,
      "rope_theta": config.rope_theta,
      "rope_parameters": rope,
      "max_position_embeddings": max(config.rope_original_max_positions, 4096),
  }
  if config.rope_scaling != "default":
    out["rope_scaling"] = rope
  if family == "llama":
    out.update(attention_bias=config.qkv_bias, mlp_bias=config.mlp_bias)
  elif family == "mistral":
    out["sliding_window"] = config.sliding_window
  else:
    out["use_sliding_window"] = False
  return out


def model_bindings(hf: dict[str, Any]) -> dict[str, Any]:
  """Model API fields implied by a HF config: the EOS id generation stops at
  and, for decoders, the causal mask they were pretrained with."""
  bindings = {}
  eos = hf.get("eos_token_id")
  if isinstance(eos, list):
    eos = eos[0] if eos else None
  if isinstance(eos, int):
    bindings["eos_id"] = eos
  if hf.get("model_type") in DECODER_TYPES:
    bindings["prefix_lm"] = False
  return bindings


def gin_model_file(config: ModelConfig, *, comment: str = "",
                   model_fields: dict[str, Any] | None = None) -> str:
  """Gin text that rebuilds `config` as MODEL (for --gin_file)."""
  if isinstance(config, t5.T5Config):
    model, cfg = "EncoderDecoderModel", "T5Config"
  else:
    model, cfg = "DecoderOnlyModel", "DecoderConfig"
  lines = [f"# {line}" for line in comment.splitlines()]
  lines += [f"MODEL = @{model}()", f"{model}.config = @{cfg}()"]
  for field, value in (model_fields or {}).items():
    lines.append(f"{model}.{field} = {value!r}")
  for field, value in dataclasses.asdict(config).items():
    lines.append(f"{cfg}.{field} = {value!r}")
  return "\n".join(lines) + "\n"

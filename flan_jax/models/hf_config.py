"""Hugging Face config.json <-> flan_jax model configs.

Supported architectures (model_type): t5, mt5 (T5 v1.1 / FLAN-T5 / mT5 /
UL2: gated MLP) as `T5Config`; llama, mistral, qwen2 as `DecoderConfig`.

Every field of config.json is read the way the installed transformers 5
reads it, checked, or known to leave the logits unchanged; any other field
or value stops with one line (`HfConversionError`) naming the field, its
value and what is supported. Nothing converts silently wrong.

T5 and mT5 (what transformers 5 does with the field -> what we do):

  vocab_size d_model d_kv d_ff num_heads num_layers num_decoder_layers
  (default num_layers) relative_attention_num_buckets
  relative_attention_max_distance layer_norm_epsilon dropout_rate
      the T5Config field of the same meaning (missing: transformers'
      defaults where it has them, e.g. dropout_rate 0.1)
  feed_forward_proj "[gated-]ACT" (t5 default "relu", mt5 "gated-gelu")
      sets dense_act_fn and is_gated_act ("gated-gelu" means gelu_new)
  dense_act_fn, is_gated_act (saved values win over feed_forward_proj)
      gated only; gelu_new, gelu_pytorch_tanh, gelu_fast -> mlp_activation
      "gelu_tanh"; silu, swish -> "silu"; anything else is refused
  lm_head.weight in the weights (not a config field)
      the output layer when it differs from shared.weight, whatever
      tie_word_embeddings says; else shared.weight is (tie_word_embeddings)
  tie_word_embeddings (transformers 5 always writes true)
      t5: the default of scale_decoder_outputs (scaled unless false). false
      with no lm_head.weight is refused (transformers 4 initialises the
      missing output layer at random, 5 ties it)
  scale_decoder_outputs
      t5: multiply the decoder output by d_model**-0.5 before the output
      layer (T5Config.scale_decoder_outputs); mt5 never scales
  pad_token_id, decoder_start_token_id
      must be 0 (our T5 masks id 0 as padding and starts decoding with it)

Llama, Mistral, Qwen2:

  vocab_size hidden_size intermediate_size num_hidden_layers
  num_attention_heads num_key_value_heads head_dim (null:
  hidden_size // num_attention_heads) rms_norm_eps
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
  attention_bias        llama: biases on q, k, v and o; ignored by the
                        others (qwen2 always has q, k, v biases, no o bias)
  mlp_bias              llama: biases on the MLP; ignored by the others
  sliding_window        mistral: every layer's window (null: none)
  use_sliding_window, max_window_layers, layer_types
      qwen2: layer i has the window when use_sliding_window and
      layer_types[i] is "sliding_attention" (default: i >=
      max_window_layers); one window for every layer or none, else refused.
      llama and mistral ignore layer_types: it must then agree with the
      window every layer gets, else refused
  tie_word_embeddings   the output layer is embed_tokens, unless the
                        weights hold an lm_head.weight that differs (then
                        transformers does not tie, nor do we)

Fields that leave the logits unchanged are listed in `_NO_EFFECT` (token
ids, dropout during training, initialisation, caching, generation defaults,
dtype: weights are upcast to float32, the compute dtype is a flag of
scripts/convert_hf.py). Any field not listed here is refused, for example
quantization_config or auto_map.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

from flan_jax import errors
from flan_jax.models import decoder
from flan_jax.models import t5


class HfConversionError(errors.FlanJaxError, ValueError):
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
# The input embedding each family's output layer ties to.
EMBEDDING_TENSORS = {"t5": "shared.weight", "mt5": "shared.weight",
                     "llama": "model.embed_tokens.weight",
                     "mistral": "model.embed_tokens.weight",
                     "qwen2": "model.embed_tokens.weight"}

ModelConfig = t5.T5Config | decoder.DecoderConfig

# transformers' dense_act_fn -> T5Config.mlp_activation (same function).
T5_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh",
                  "gelu_fast": "gelu_tanh", "silu": "silu", "swish": "silu"}

# What transformers' config classes assume when config.json lacks a field.
_DECODER_DEFAULTS = {
    "llama": dict(num_key_value_heads=None, max_position_embeddings=2048,
                  sliding_window=None),
    "mistral": dict(num_key_value_heads=8, max_position_embeddings=131072,
                    sliding_window=4096),
    "qwen2": dict(num_key_value_heads=32, max_position_embeddings=32768,
                  sliding_window=4096),
}

# Fields each family reads (above) ...
_READ = {
    "t5": {"vocab_size", "d_model", "d_kv", "d_ff", "num_layers",
           "num_decoder_layers", "num_heads", "relative_attention_num_buckets",
           "relative_attention_max_distance", "dropout_rate",
           "layer_norm_epsilon", "feed_forward_proj", "dense_act_fn",
           "is_gated_act", "tie_word_embeddings", "scale_decoder_outputs",
           "pad_token_id", "decoder_start_token_id"},
    "decoder": {"vocab_size", "hidden_size", "intermediate_size",
                "num_hidden_layers", "num_attention_heads",
                "num_key_value_heads", "head_dim", "hidden_act",
                "rms_norm_eps", "tie_word_embeddings", "rope_parameters",
                "rope_scaling", "rope_theta", "partial_rotary_factor",
                "max_position_embeddings", "original_max_position_embeddings",
                "attention_bias", "mlp_bias", "sliding_window",
                "use_sliding_window", "max_window_layers", "layer_types"},
}
# ... and those that do not change the logits of the model transformers
# builds (generic PreTrainedConfig fields, generation defaults of
# transformers 4 files, training-only and initialisation settings).
_NO_EFFECT = {
    "architectures", "model_type", "transformers_version", "_name_or_path",
    "dtype", "torch_dtype", "use_bfloat16", "id2label", "label2id",
    "num_labels", "problem_type", "output_attentions", "output_hidden_states",
    "return_dict", "output_scores", "return_dict_in_generate", "torchscript",
    "chunk_size_feed_forward", "tokenizer_class", "prefix", "finetuning_task",
    "task_specific_params", "bos_token_id", "eos_token_id", "pad_token_id",
    "sep_token_id", "decoder_start_token_id", "use_cache", "is_decoder",
    "is_encoder_decoder", "_attn_implementation_autoset", "tf_legacy_loss",
    "xla_device", "gradient_checkpointing", "max_length", "min_length",
    "do_sample", "early_stopping", "num_beams", "num_beam_groups",
    "diversity_penalty", "temperature", "top_k", "top_p", "typical_p",
    "repetition_penalty", "length_penalty", "no_repeat_ngram_size",
    "encoder_no_repeat_ngram_size", "bad_words_ids", "num_return_sequences",
    "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values",
    "exponential_decay_length_penalty", "suppress_tokens",
    "begin_suppress_tokens", "initializer_factor", "initializer_range",
    "classifier_dropout", "attention_dropout", "n_positions", "output_past",
    "pretraining_tp", "use_mrope",
}
# Generic fields that are harmless only at their default value.
_NEUTRAL = {"pruned_heads": ({}, None), "tie_encoder_decoder": (False, None),
            "add_cross_attention": (False, None)}


def _require(hf: dict[str, Any], field: str) -> Any:
  if field not in hf or hf[field] is None:
    raise HfConversionError(f"config.json: missing field {field!r} (needed "
                            f"for model_type {hf.get('model_type')!r})")
  return hf[field]


def _refuse(field: str, value: Any, supported: str) -> HfConversionError:
  return HfConversionError(f"config.json: {field} {value!r} is not "
                           f"supported; {supported}")


def _check_known_fields(hf: dict[str, Any]) -> None:
  family = "t5" if hf.get("model_type") in T5_TYPES else "decoder"
  for field, value in hf.items():
    if field in _READ[family] or field in _NO_EFFECT:
      continue
    if field in _NEUTRAL:
      if value not in _NEUTRAL[field]:
        raise _refuse(field, value, f"only {_NEUTRAL[field][0]!r} converts")
      continue
    raise HfConversionError(
        f"config.json: field {field!r} (value {value!r}) is not one the "
        f"converter knows for model_type {hf['model_type']!r}; it may change "
        f"the model, so nothing was converted (supported fields: "
        f"flan_jax/models/hf_config.py)")


def from_hf_config(hf: dict[str, Any], *, distinct_lm_head: bool = False,
                   **overrides) -> ModelConfig:
  """Our config for a Hugging Face config dict.

  `distinct_lm_head`: the weights hold an lm_head.weight that differs from
  the input embedding; transformers 5 then keeps the output layer untied
  whatever tie_word_embeddings says, and so do we. `overrides` set extra
  fields such as dtype, scan_layers or remat_policy.
  """
  model_type = hf.get("model_type")
  if model_type not in T5_TYPES + DECODER_TYPES:
    raise HfConversionError(
        f"config.json: model_type {model_type!r} is not supported; supported:"
        f" {', '.join(T5_TYPES + DECODER_TYPES)}")
  _check_known_fields(hf)
  if model_type in T5_TYPES:
    return _t5_from_hf(hf, distinct_lm_head, **overrides)
  return _decoder_from_hf(hf, distinct_lm_head, **overrides)


def _t5_activation(hf) -> str:
  """T5Config.mlp_activation, read as transformers' T5Config does."""
  default = "gated-gelu" if hf["model_type"] == "mt5" else "relu"
  proj = hf.get("feed_forward_proj") or default
  act = proj.split("-")[-1]
  act = "gelu_new" if proj == "gated-gelu" else act
  act = hf.get("dense_act_fn") or act
  gated = hf.get("is_gated_act", proj.startswith("gated-"))
  if not gated:
    raise _refuse("feed_forward_proj/is_gated_act", f"{proj}/{gated}",
                  "only gated MLPs (T5 v1.1, FLAN-T5, mT5, UL2) convert")
  if act not in T5_ACTIVATIONS:
    raise _refuse("dense_act_fn", act, f"use one of {sorted(T5_ACTIVATIONS)}")
  return T5_ACTIVATIONS[act]


def _t5_from_hf(hf, distinct_lm_head, **overrides) -> t5.T5Config:
  for field in ("pad_token_id", "decoder_start_token_id"):
    if hf.get(field) not in (0, None):
      raise _refuse(field, hf[field], "flan_jax's T5 uses id 0 for it")
  tied_in_config = hf.get("tie_word_embeddings") is not False
  if hf["model_type"] == "mt5":
    scale = False  # MT5ForConditionalGeneration never rescales
  elif hf.get("scale_decoder_outputs") is not None:
    scale = bool(hf["scale_decoder_outputs"])
  else:
    scale = tied_in_config
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
      dropout_rate=hf.get("dropout_rate", 0.1),
      layer_norm_epsilon=hf.get("layer_norm_epsilon", 1e-6),
      tie_word_embeddings=tied_in_config and not distinct_lm_head,
      scale_decoder_outputs=scale,
      mlp_activation=_t5_activation(hf),
      **overrides)


def _rope_fields(hf) -> dict[str, Any]:
  """RoPE settings, resolved in the order transformers 5 resolves them."""
  source = "rope_scaling" if hf.get("rope_scaling") else "rope_parameters"
  params = dict(hf.get(source) or {})
  if any(isinstance(v, dict) for v in params.values()):
    raise _refuse(source, params, "per-layer-type RoPE does not convert")
  params.setdefault("rope_theta", hf.get("rope_theta", 10000.0))
  if hf.get("partial_rotary_factor") is not None:
    params.setdefault("partial_rotary_factor", hf["partial_rotary_factor"])
  rope_type = params.get("rope_type", params.get("type", "default"))
  if rope_type not in decoder.ROPE_SCALINGS:
    raise _refuse(f"{source} rope_type", rope_type,
                  f"use one of {', '.join(decoder.ROPE_SCALINGS)}")
  partial = params.get("partial_rotary_factor")
  if partial not in (None, 1, 1.0):
    raise _refuse(f"{source} partial_rotary_factor", partial,
                  "only 1.0 (RoPE on the whole head) converts")
  fields = {"rope_theta": float(params["rope_theta"]),
            "rope_scaling": rope_type}
  if rope_type != "default":
    fields["rope_factor"] = float(_require(params, "factor"))
  if rope_type == "llama3":
    original = hf.get("original_max_position_embeddings") or params.get(
        "original_max_position_embeddings") or _default(
            hf, "max_position_embeddings")
    fields.update(
        rope_low_freq_factor=float(_require(params, "low_freq_factor")),
        rope_high_freq_factor=float(_require(params, "high_freq_factor")),
        rope_original_max_positions=int(original))
  return fields


def _default(hf, field):
  """A decoder field, or transformers' default for the model type."""
  return hf.get(field, _DECODER_DEFAULTS[hf["model_type"]][field])


def _counts(items: list[str]) -> dict[str, int]:
  return dict(collections.Counter(items))


def _sliding_window(hf) -> int | None:
  """The one window every layer gets (None: full attention)."""
  model_type, layers = hf["model_type"], _require(hf, "num_hidden_layers")
  layer_types = hf.get("layer_types")
  if model_type == "qwen2":
    window = (_default(hf, "sliding_window") if hf.get("use_sliding_window")
              else None)
    if layer_types is None:
      first = hf.get("max_window_layers", 28)
      layer_types = ["sliding_attention" if window and i >= first else
                     "full_attention" for i in range(layers)]
    kinds = set(layer_types)
    if (len(kinds) > 1 or not kinds <= {"full_attention", "sliding_attention"}
        or kinds == {"sliding_attention"} and window is None):
      raise _refuse("layer_types", _counts(layer_types),
                    "one window for every layer (use_sliding_window with "
                    "max_window_layers 0) or none converts")
    return window if kinds == {"sliding_attention"} else None
  window = _default(hf, "sliding_window") if model_type == "mistral" else None
  expected = "sliding_attention" if window else "full_attention"
  if layer_types is not None and set(layer_types) != {expected}:
    raise _refuse("layer_types", _counts(layer_types),
                  f"{ARCHITECTURES[model_type]} gives every layer "
                  f"{expected}; per-layer attention does not convert")
  return window


def _decoder_from_hf(hf, distinct_lm_head, **overrides
                     ) -> decoder.DecoderConfig:
  model_type = hf["model_type"]
  act = hf.get("hidden_act", "silu")
  if act != "silu":
    raise _refuse("hidden_act", act, "Llama-family models use 'silu'")
  heads = _require(hf, "num_attention_heads")
  d_model = _require(hf, "hidden_size")
  llama_bias = model_type == "llama" and bool(hf.get("attention_bias"))
  return decoder.DecoderConfig(
      vocab_size=_require(hf, "vocab_size"),
      d_model=d_model,
      num_layers=_require(hf, "num_hidden_layers"),
      num_heads=heads,
      num_kv_heads=_default(hf, "num_key_value_heads") or heads,
      head_dim=hf.get("head_dim") or d_model // heads,
      d_ff=_require(hf, "intermediate_size"),
      rms_norm_eps=hf.get("rms_norm_eps", 1e-6),
      tie_word_embeddings=(bool(hf.get("tie_word_embeddings", False)) and
                           not distinct_lm_head),
      qkv_bias=model_type == "qwen2" or llama_bias,
      out_bias=llama_bias,
      mlp_bias=model_type == "llama" and bool(hf.get("mlp_bias", False)),
      sliding_window=_sliding_window(hf),
      family=model_type,
      **_rope_fields(hf),
      **overrides)


def _t5_to_hf(config: t5.T5Config) -> dict[str, Any]:
  act = {"gelu_tanh": "gelu_new", "silu": "silu"}[config.mlp_activation]
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
      "feed_forward_proj": "gated-gelu" if act == "gelu_new" else "gated-silu",
      "dense_act_fn": act,
      "is_gated_act": True,
      # transformers 5 ties exactly when lm_head.weight is absent (export
      # writes it when untied) and reads the scaling from its own field.
      "tie_word_embeddings": config.tie_word_embeddings,
      "scale_decoder_outputs": config.scales_decoder_outputs,
      "is_encoder_decoder": True,
      "decoder_start_token_id": 0,
      "pad_token_id": 0,
      "eos_token_id": 1,
  }


def _decoder_biases(config: decoder.DecoderConfig) -> None:
  biases = (config.qkv_bias, config.out_bias, config.mlp_bias)
  allowed = {"llama": {(False, False, False), (True, True, False),
                       (False, False, True), (True, True, True)},
             "qwen2": {(True, False, False)},
             "mistral": {(False, False, False)}}[config.family]
  if biases not in allowed:
    raise HfConversionError(
        f"DecoderConfig qkv_bias/out_bias/mlp_bias = {biases} cannot be "
        f"expressed as a {config.family} config; pick a family that has them")
  if config.sliding_window is not None and config.family == "llama":
    raise HfConversionError(
        f"DecoderConfig.sliding_window {config.sliding_window} cannot be "
        f"expressed as a llama config; use family 'mistral' or 'qwen2'")


def to_hf_config(config: ModelConfig) -> dict[str, Any]:
  """A config.json dict that transformers loads into the same network."""
  if isinstance(config, t5.T5Config):
    return _t5_to_hf(config)
  family = config.family
  if family not in DECODER_TYPES:
    raise HfConversionError(f"DecoderConfig.family {family!r}: export needs "
                            f"one of {DECODER_TYPES}")
  _decoder_biases(config)
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
    windowed = config.sliding_window is not None
    out.update(use_sliding_window=windowed,
               sliding_window=config.sliding_window, max_window_layers=0,
               layer_types=[("sliding_attention" if windowed else
                             "full_attention")] * config.num_layers)
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

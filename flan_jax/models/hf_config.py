"""Hugging Face config.json <-> flan_jax model configs: what families share.

Each family's adapter (`hf_family.Family`, one per model_type) owns its
config mapping both ways and its refusals; this module holds the table of
them (`FAMILIES`), the fields no family needs to read, and the gin file a
conversion writes. Supported model types:

    t5, mt5          T5Config        models/hf_t5.py   (T5 1.0, T5 v1.1,
                                                        FLAN-T5, mT5, UL2)
    llama, mistral,  DecoderConfig   models/hf_llama.py
    qwen2, qwen3
    gemma3_text      DecoderConfig   models/hf_gemma3.py

Every field of config.json is read the way the installed transformers 5
reads it (the family's `reads`, documented in its module), checked, or
known to leave the logits unchanged (`_NO_EFFECT`: token ids, dropout
during training, initialisation, caching, generation defaults, dtype:
weights are upcast to float32, the compute dtype is a flag of
scripts/convert_hf.py); any other field or value stops with one line
(`HfConversionError`) naming the field, its value and what is supported,
for example quantization_config or auto_map. Nothing converts silently
wrong.

To add a family: write its adapter module (a `Family` per model_type:
config mapping, tensor map, refusals), add its FAMILIES to the table
below, and a gin/models file for its sizes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flan_jax.models import decoder
from flan_jax.models import hf_family
from flan_jax.models import hf_gemma3
from flan_jax.models import hf_llama
from flan_jax.models import hf_t5
from flan_jax.models import t5
from flan_jax.models.hf_family import Family, HfConversionError

__all__ = ["FAMILIES", "HfConversionError", "T5_ACTIVATIONS", "ModelConfig",
           "family", "from_hf_config", "to_hf_config", "model_bindings",
           "gin_model_file"]

# model_type -> its adapter; our config's `family` is its model_type.
FAMILIES: dict[str, Family] = {
    f.model_type: f
    for f in hf_t5.FAMILIES + hf_llama.FAMILIES + hf_gemma3.FAMILIES}
_HINTS = dict(hf_gemma3.HINTS)

ModelConfig = t5.T5Config | decoder.DecoderConfig
T5_ACTIVATIONS = hf_t5.T5_ACTIVATIONS

# The fields that do not change the logits of the model transformers
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


def family(model_type: Any) -> Family:
  """The adapter for a config.json model_type (one line if there is none)."""
  if model_type not in FAMILIES:
    hint = _HINTS.get(model_type) or f"supported: {', '.join(FAMILIES)}"
    raise HfConversionError(f"config.json: model_type {model_type!r} is not "
                            f"supported; {hint}")
  return FAMILIES[model_type]


def _check_known_fields(hf: dict[str, Any], reads: frozenset[str]) -> None:
  for field, value in hf.items():
    if field in reads or field in _NO_EFFECT:
      continue
    if field in _NEUTRAL:
      if value not in _NEUTRAL[field]:
        raise hf_family.refuse(field, value,
                               f"only {_NEUTRAL[field][0]!r} converts")
      continue
    raise HfConversionError(
        f"config.json: field {field!r} (value {value!r}) is not one the "
        f"converter knows for model_type {hf['model_type']!r}; it may change "
        f"the model, so nothing was converted (supported fields: "
        f"flan_jax/models/hf_{{t5,llama,gemma3}}.py)")


def from_hf_config(hf: dict[str, Any], *, distinct_lm_head: bool = False,
                   **overrides) -> ModelConfig:
  """Our config for a Hugging Face config dict.

  `distinct_lm_head`: the weights hold an lm_head.weight that differs from
  the input embedding; transformers 5 then keeps the output layer untied
  whatever tie_word_embeddings says, and so do we. `overrides` set extra
  fields such as dtype, scan_layers or remat_policy.
  """
  adapter = family(hf.get("model_type"))
  _check_known_fields(hf, adapter.reads)
  return adapter.from_hf(hf, distinct_lm_head, overrides)


def to_hf_config(config: ModelConfig) -> dict[str, Any]:
  """A config.json dict that transformers loads into the same network."""
  if config.family not in FAMILIES:
    raise HfConversionError(f"{type(config).__name__}.family "
                            f"{config.family!r}: export needs one of "
                            f"{tuple(FAMILIES)}")
  return FAMILIES[config.family].to_hf(config)


def model_bindings(hf: dict[str, Any]) -> dict[str, Any]:
  """Model API fields implied by a HF config: the EOS id generation stops at
  and, for decoders, the causal mask they were pretrained with."""
  bindings = {}
  eos = hf.get("eos_token_id")
  if isinstance(eos, list):
    eos = eos[0] if eos else None
  if isinstance(eos, int):
    bindings["eos_id"] = eos
  if family(hf.get("model_type")).causal:
    bindings["prefix_lm"] = False
  return bindings


def gin_model_file(config: ModelConfig, *, comment: str = "",
                   model_fields: dict[str, Any] | None = None) -> str:
  """Gin text that rebuilds `config` as MODEL (for --gin_file)."""
  adapter = FAMILIES[config.family]
  model, cfg = adapter.model_class, adapter.config_class
  lines = [f"# {line}" for line in comment.splitlines()]
  lines += [f"MODEL = @{model}()", f"{model}.config = @{cfg}()"]
  for field, value in (model_fields or {}).items():
    lines.append(f"{model}.{field} = {value!r}")
  for field, value in dataclasses.asdict(config).items():
    lines.append(f"{cfg}.{field} = {value!r}")
  return "\n".join(lines) + "\n"

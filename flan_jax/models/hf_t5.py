"""The T5 family's Hugging Face adapter: t5 and mt5 <-> `T5Config`.

Covers the original T5 (t5-small/base/large: ReLU MLP, tied embeddings,
output scaled by d_model**-0.5), T5 v1.1 / FLAN-T5 / mT5 (gated GELU) and
UL2 / Flan-UL2 (gated SiLU). config.json, as transformers 5 reads it ->
what we do:

  vocab_size d_model d_kv d_ff num_heads num_layers num_decoder_layers
  (default num_layers) relative_attention_num_buckets
  relative_attention_max_distance layer_norm_epsilon dropout_rate
      the T5Config field of the same meaning (missing: transformers'
      defaults where it has them, e.g. dropout_rate 0.1)
  feed_forward_proj "[gated-]ACT" (t5 default "relu", mt5 "gated-gelu")
      sets dense_act_fn and is_gated_act ("gated-gelu" means gelu_new)
  dense_act_fn, is_gated_act (saved values win over feed_forward_proj)
      gated: gelu_new, gelu_pytorch_tanh, gelu_fast -> mlp_activation
      "gelu_tanh"; silu, swish -> "silu"; relu -> "relu". Not gated: relu
      only (T5 1.0, `mlp_gated=False`). Anything else is refused
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
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from flan_jax.models import t5
from flan_jax.models.hf_family import Entry, Family, refuse, require

# transformers' dense_act_fn -> T5Config.mlp_activation (same function).
T5_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh",
                  "gelu_fast": "gelu_tanh", "silu": "silu", "swish": "silu",
                  "relu": "relu"}
_HF_ACTIVATIONS = {"gelu_tanh": "gelu_new", "silu": "silu", "relu": "relu"}

READS = frozenset({
    "vocab_size", "d_model", "d_kv", "d_ff", "num_layers",
    "num_decoder_layers", "num_heads", "relative_attention_num_buckets",
    "relative_attention_max_distance", "dropout_rate", "layer_norm_epsilon",
    "feed_forward_proj", "dense_act_fn", "is_gated_act",
    "tie_word_embeddings", "scale_decoder_outputs", "pad_token_id",
    "decoder_start_token_id"})


def _activation(hf) -> tuple[str, bool]:
  """(T5Config.mlp_activation, mlp_gated), read as transformers' T5Config
  does."""
  default = "gated-gelu" if hf["model_type"] == "mt5" else "relu"
  proj = hf.get("feed_forward_proj") or default
  act = proj.split("-")[-1]
  act = "gelu_new" if proj == "gated-gelu" else act
  act = hf.get("dense_act_fn") or act
  gated = hf.get("is_gated_act", proj.startswith("gated-"))
  if not gated and act != "relu":
    raise refuse("feed_forward_proj/is_gated_act", f"{proj}/{gated}",
                 "gated MLPs (T5 v1.1, FLAN-T5, mT5, UL2) and the original "
                 "T5's ReLU MLP convert")
  if act not in T5_ACTIVATIONS:
    raise refuse("dense_act_fn", act, f"use one of {sorted(T5_ACTIVATIONS)}")
  return T5_ACTIVATIONS[act], bool(gated)


def from_hf(hf, distinct_lm_head, overrides) -> t5.T5Config:
  for field in ("pad_token_id", "decoder_start_token_id"):
    if hf.get(field) not in (0, None):
      raise refuse(field, hf[field], "flan_jax's T5 uses id 0 for it")
  tied_in_config = hf.get("tie_word_embeddings") is not False
  if hf["model_type"] == "mt5":
    scale = False  # MT5ForConditionalGeneration never rescales
  elif hf.get("scale_decoder_outputs") is not None:
    scale = bool(hf["scale_decoder_outputs"])
  else:
    scale = tied_in_config
  num_layers = require(hf, "num_layers")
  activation, gated = _activation(hf)
  return t5.T5Config(
      vocab_size=require(hf, "vocab_size"),
      d_model=require(hf, "d_model"),
      num_heads=require(hf, "num_heads"),
      head_dim=require(hf, "d_kv"),
      d_ff=require(hf, "d_ff"),
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
      mlp_activation=activation,
      mlp_gated=gated,
      **overrides)


def to_hf(config: t5.T5Config) -> dict[str, Any]:
  act = _HF_ACTIVATIONS[config.mlp_activation]
  short = "gelu" if act == "gelu_new" else act
  return {
      "architectures": ["T5ForConditionalGeneration"],
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
      "feed_forward_proj": ("gated-" if config.mlp_gated else "") + short,
      "dense_act_fn": act,
      "is_gated_act": config.mlp_gated,
      # transformers 5 ties exactly when lm_head.weight is absent (export
      # writes it when untied) and reads the scaling from its own field.
      "tie_word_embeddings": config.tie_word_embeddings,
      "scale_decoder_outputs": config.scales_decoder_outputs,
      "is_encoder_decoder": True,
      "decoder_start_token_id": 0,
      "pad_token_id": 0,
      "eos_token_id": 1,
  }


def tensor_map(cfg: t5.T5Config) -> Iterator[Entry]:
  yield Entry("shared.weight", ("token_embedder", "embedding"), "copy")
  yield Entry("encoder.block.0.layer.0.SelfAttention.relative_attention_bias"
              ".weight", ("encoder_relpos_bias", "rel_embedding"), "copy")
  yield Entry("decoder.block.0.layer.0.SelfAttention.relative_attention_bias"
              ".weight", ("decoder_relpos_bias", "rel_embedding"), "copy")

  def attention(hf, ours):
    for name, our in (("q", "query"), ("k", "key"), ("v", "value")):
      yield Entry(f"{hf}.{name}.weight", (*ours, our, "kernel"), "in_proj")
    yield Entry(f"{hf}.o.weight", (*ours, "out", "kernel"), "out_proj")

  def mlp(hf, ours):
    names = ("wi_0", "wi_1", "wo") if cfg.mlp_gated else ("wi", "wo")
    for name in names:
      yield Entry(f"{hf}.{name}.weight", (*ours, name, "kernel"), "in_proj")

  for i in range(cfg.num_encoder_layers):
    hf, ours = f"encoder.block.{i}.layer", ("encoder", f"layers_{i}")
    yield Entry(f"{hf}.0.layer_norm.weight",
                (*ours, "pre_attention_layer_norm", "scale"), "copy")
    yield from attention(f"{hf}.0.SelfAttention", (*ours, "attention"))
    yield Entry(f"{hf}.1.layer_norm.weight",
                (*ours, "pre_mlp_layer_norm", "scale"), "copy")
    yield from mlp(f"{hf}.1.DenseReluDense", (*ours, "mlp"))
  for i in range(cfg.num_decoder_layers):
    hf, ours = f"decoder.block.{i}.layer", ("decoder", f"layers_{i}")
    yield Entry(f"{hf}.0.layer_norm.weight",
                (*ours, "pre_self_attention_layer_norm", "scale"), "copy")
    yield from attention(f"{hf}.0.SelfAttention", (*ours, "self_attention"))
    yield Entry(f"{hf}.1.layer_norm.weight",
                (*ours, "pre_cross_attention_layer_norm", "scale"), "copy")
    yield from attention(f"{hf}.1.EncDecAttention",
                         (*ours, "encoder_decoder_attention"))
    yield Entry(f"{hf}.2.layer_norm.weight",
                (*ours, "pre_mlp_layer_norm", "scale"), "copy")
    yield from mlp(f"{hf}.2.DenseReluDense", (*ours, "mlp"))
  yield Entry("encoder.final_layer_norm.weight", ("encoder_norm", "scale"),
              "copy")
  yield Entry("decoder.final_layer_norm.weight", ("decoder_norm", "scale"),
              "copy")
  if not cfg.tie_word_embeddings:
    yield Entry("lm_head.weight", ("logits_dense", "kernel"), "out_proj_t")


def network(cfg: t5.T5Config):
  return t5.Transformer(cfg), (np.ones((1, 4), np.int32),
                               np.ones((1, 4), np.int32))


def summary(cfg: t5.T5Config) -> str:
  return (f"(d_model={cfg.d_model}, layers={cfg.num_encoder_layers}/"
          f"{cfg.num_decoder_layers}, tied={cfg.tie_word_embeddings})")


def _family(model_type: str, architecture: str) -> Family:
  return Family(
      model_type=model_type, architecture=architecture, reads=READS,
      from_hf=from_hf, to_hf=to_hf, tensor_map=tensor_map,
      embedding_tensor="shared.weight", network=network, summary=summary,
      model_class="EncoderDecoderModel", config_class="T5Config",
      causal=False)


# Export always writes model_type t5 (T5ForConditionalGeneration computes
# an mT5 exactly: mT5 never scales, and scale_decoder_outputs says so).
FAMILIES = (_family("t5", "T5ForConditionalGeneration"),
            _family("mt5", "MT5ForConditionalGeneration"))

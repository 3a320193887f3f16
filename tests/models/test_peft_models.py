"""LoRA and prompt tuning in both families: numbers against the base model."""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flan_jax.models import decoder
from flan_jax.models import decoder_only
from flan_jax.models import encoder_decoder
from flan_jax.models import lora
from flan_jax.models import prompt_tuning
from flan_jax.models import t5

T5_CONFIG = t5.T5Config(vocab_size=64, d_model=16, num_heads=2, head_dim=8,
                        d_ff=32, num_encoder_layers=2, num_decoder_layers=2)
DECODER_CONFIG = decoder.DecoderConfig(vocab_size=64, d_model=16,
                                       num_layers=2, num_heads=4,
                                       num_kv_heads=2, head_dim=8, d_ff=24)
SHAPES = {"t5": {"encoder_input_tokens": (2, 6), "decoder_input_tokens": (2, 4)},
          "decoder": {"decoder_input_tokens": (2, 8)}}
ALL = lora.LoraConfig(rank=4, alpha=8.0, target_pattern=lora.ALL_DENSE_TARGETS)


def _model(family, model_fields=None, **fields):
  if family == "t5":
    return encoder_decoder.EncoderDecoderModel(
        dataclasses.replace(T5_CONFIG, **fields), **(model_fields or {}))
  return decoder_only.DecoderOnlyModel(
      dataclasses.replace(DECODER_CONFIG, **fields), **(model_fields or {}))


def _params(model, seed=0):
  variables = model.init_variables(jax.random.key(seed),
                                   SHAPES["t5" if isinstance(
                                       model.config, t5.T5Config)
                                          else "decoder"])
  return nn.unbox(variables["params"])


def _batch(family):
  rng = np.random.default_rng(0)
  if family == "t5":
    enc = rng.integers(2, 64, (2, 6)).astype(np.int32)
    enc[1, 4:] = 0
    targets = rng.integers(2, 64, (2, 4)).astype(np.int32)
    return {"encoder_input_tokens": enc, "decoder_target_tokens": targets,
            "decoder_input_tokens": np.asarray(
                jnp.pad(targets[:, :-1], ((0, 0), (1, 0)))),
            "decoder_loss_weights": (targets > 0).astype(np.float32)}
  tokens = rng.integers(2, 64, (2, 8)).astype(np.int32)
  tokens[1, 6:] = 0
  inputs = np.concatenate([np.zeros((2, 1), np.int32), tokens[:, :-1]], 1)
  causal = np.zeros((2, 8), np.int32)
  causal[:, :4] = 1
  return {"decoder_input_tokens": inputs, "decoder_target_tokens": tokens,
          "decoder_causal_attention": causal,
          "decoder_loss_weights": ((tokens > 0) & (causal == 0)).astype(
              np.float32)}


def _with_base(params, base):
  """Adapter params with the base's kernels (the adapters keep their own)."""
  if not isinstance(params, dict):
    return base
  return {k: (_with_base(v, base[k]) if k in base else v)
          for k, v in params.items()}


@pytest.mark.parametrize("family", ["t5", "decoder"])
@pytest.mark.parametrize("scan", [False, True])
def test_lora_with_zero_b_gives_the_base_logits_exactly(family, scan):
  base_model = _model(family, scan_layers=scan,
                      remat_policy="full" if scan else "none")
  base = _params(base_model)
  model = _model(family, scan_layers=scan, lora=ALL,
                 remat_policy="full" if scan else "none")
  params = _with_base(_params(model, seed=1), base)
  assert len(lora.adapter_paths(params)) > 0
  leaves = jax.tree_util.tree_leaves_with_path(params)
  b_leaves = [x for p, x in leaves if "lora_b" in jax.tree_util.keystr(p)]
  a_leaves = [x for p, x in leaves if "lora_a" in jax.tree_util.keystr(p)]
  assert all(np.all(np.asarray(b) == 0) for b in b_leaves)
  assert all(np.any(np.asarray(a) != 0) for a in a_leaves)
  batch = _batch(family)
  np.testing.assert_array_equal(model._logits(params, batch),
                                base_model._logits(base, batch))


@pytest.mark.parametrize("family", ["t5", "decoder"])
@pytest.mark.parametrize("scan", [False, True])
def test_merged_kernels_are_w_plus_scaled_ab_and_give_the_same_logits(
    family, scan):
  model = _model(family, scan_layers=scan, lora=ALL)
  params = _params(model)
  # Non-zero B, as after training.
  rng = iter(jax.random.split(jax.random.key(7), 100))
  params = jax.tree_util.tree_map_with_path(
      lambda p, x: (0.1 * jax.random.normal(next(rng), x.shape)
                    if "lora_b" in jax.tree_util.keystr(p) else x), params)
  merged = lora.merge(params, ALL)
  path = (("encoder",) if family == "t5" else ()) + (
      ("layers",) if scan else ("layers_0",)) + ("attention", "query")
  node = params
  merged_node = merged
  for key in path:
    node, merged_node = node[key], merged_node[key]
  a, b, w = (np.asarray(node[k], np.float64)
             for k in ("lora_a", "lora_b", "kernel"))
  if scan:  # layer 1 of the stack
    a, b, w = a[1], b[1], w[1]
  expected = w + (ALL.alpha / ALL.rank) * np.tensordot(a, b, axes=1)
  got = np.asarray(merged_node["kernel"])[1 if scan else slice(None)]
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
  assert set(merged_node) == {"kernel"}
  base_model = _model(family, scan_layers=scan)
  batch = _batch(family)
  np.testing.assert_allclose(base_model._logits(merged, batch),
                             model._logits(params, batch), atol=1e-4)


def test_a_pattern_that_matches_no_layer_is_refused():
  model = _model("decoder", lora=lora.LoraConfig(target_pattern="attn/q_proj"))
  with pytest.raises(lora.LoraError, match="matches no dense layer"):
    _params(model)


def test_adapter_axes_have_rules_in_the_one_table():
  from flan_jax.parallel import partitioning
  rules = dict(partitioning.make_rules(fsdp=True))
  assert "lora_rank" in rules and "prompt" in rules
  model = _model("t5", lora=ALL)
  variables = model.init_variables(jax.random.key(0), SHAPES["t5"])
  query = variables["params"]["encoder"]["layers_0"]["attention"]["query"]
  assert query["lora_a"].names == ("embed", "lora_rank")
  assert query["lora_b"].names == ("lora_rank", "heads", "kv")


@pytest.mark.parametrize("family", ["t5", "decoder"])
def test_prompt_from_tokens_equals_the_base_on_the_tokens_then_the_input(
    family):
  prompt_ids = (11, 12, 13)
  base_model = _model(family)
  base = _params(base_model)
  config = prompt_tuning.PromptConfig(length=3, init="tokens",
                                      init_tokens=prompt_ids)
  model = _model(family, prompt=config)
  params = prompt_tuning.initialize(_with_base(_params(model), base), config,
                                    jax.random.key(0))
  batch = _batch(family)
  with_tokens = dict(batch)
  ids = np.broadcast_to(np.asarray(prompt_ids, np.int32), (2, 3))
  if family == "t5":
    enc = batch["encoder_input_tokens"]
    with_tokens["encoder_input_tokens"] = np.concatenate([ids, enc], 1)
    np.testing.assert_allclose(model._logits(params, batch),
                               base_model._logits(base, with_tokens),
                               atol=1e-5)
    return
  # Decoder: [BOS, t1..tP, x]; the base's logits after its prompt tokens.
  for name, fill in (("decoder_input_tokens", ids), ("decoder_target_tokens",
                                                     ids),
                     ("decoder_causal_attention", np.ones_like(ids))):
    row = batch[name]
    with_tokens[name] = np.concatenate([row[:, :1], fill, row[:, 1:]], 1)
  np.testing.assert_allclose(model._logits(params, batch),
                             base_model._logits(base, with_tokens)[:, 3:],
                             atol=1e-5)


def test_decoder_prompt_follows_into_option_trees_and_the_cache():
  """Scoring options and greedy generation with the prompt agree with the
  base run on the prompt's tokens."""
  prompt_ids = (11, 12)
  base_model = _model("decoder", {"max_decode_length": 3})
  base = _params(base_model)
  config = prompt_tuning.PromptConfig(length=2, init="tokens",
                                      init_tokens=prompt_ids)
  model = _model("decoder", {"max_decode_length": 3}, prompt=config)
  params = prompt_tuning.initialize(_with_base(_params(model), base), config,
                                    jax.random.key(0))
  inputs = np.array([[0, 5, 6, 7], [0, 9, 0, 0]], np.int32)
  with_tokens = np.array([[0, 11, 12, 5, 6, 7], [0, 11, 12, 9, 0, 0]],
                         np.int32)
  options = np.array([[[7, 1, 0], [8, 9, 1]], [[3, 1, 0], [4, 1, 0]]],
                     np.int32)
  # Option trees put the start token before the inputs themselves.
  np.testing.assert_allclose(
      model.score_options(params, {"inputs": inputs[:, 1:],
                                   "option_targets": options}),
      base_model.score_options(base, {"inputs": with_tokens[:, 1:],
                                      "option_targets": options}),
      atol=1e-4)
  lengths = np.array([4, 2], np.int32)
  np.testing.assert_array_equal(
      model.generate(params, jnp.asarray(inputs), jnp.asarray(lengths), 3),
      base_model.generate(base, jnp.asarray(with_tokens),
                          jnp.asarray(lengths + 2), 3))


def test_prompt_initialisations():
  embedding = np.arange(40 * 4, dtype=np.float32).reshape(40, 4)
  rng = jax.random.key(3)
  uniform = prompt_tuning.initial_prompt(
      prompt_tuning.PromptConfig(length=5, init="uniform"), embedding, rng)
  assert uniform.shape == (5, 4) and float(jnp.max(jnp.abs(uniform))) <= 0.5
  vocab = prompt_tuning.initial_prompt(
      prompt_tuning.PromptConfig(length=5, init="vocab",
                                 vocab_sample_size=10), embedding, rng)
  rows = {tuple(np.asarray(r)) for r in embedding[1:10]}
  assert all(tuple(np.asarray(r)) in rows for r in vocab)
  labels = prompt_tuning.initial_prompt(
      prompt_tuning.PromptConfig(length=3, init="class_labels",
                                 label_tokens=((2, 4), (7,))), embedding, rng)
  np.testing.assert_array_equal(labels[0], embedding[[2, 4]].mean(0))
  np.testing.assert_array_equal(labels[1], embedding[7])
  with pytest.raises(prompt_tuning.PromptTuningError, match="exactly 3"):
    prompt_tuning.PromptConfig(length=3, init="tokens", init_tokens=(1,))


def test_prompt_tuning_refuses_packed_batches():
  model = _model("t5", prompt=prompt_tuning.PromptConfig(length=2,
                                                         init="uniform"))
  params = _params(model)
  batch = dict(_batch("t5"))
  batch["encoder_segment_ids"] = np.ones((2, 6), np.int32)
  batch["decoder_segment_ids"] = np.ones((2, 4), np.int32)
  with pytest.raises(prompt_tuning.PromptTuningError, match="unpacked"):
    model._logits(params, batch)

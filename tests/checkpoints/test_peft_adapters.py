"""LoRA adapters to and from Hugging Face PEFT, checked against `peft` itself.

Export: our LoRA adapters written with `save_peft` load with
`peft.PeftModel.from_pretrained` onto the Hugging Face base and give our
logits (1e-4). Import: an adapter made by `peft` (random B, as after
training) put onto our converted base with `load_peft` gives peft's logits.
Tiny random models, built in the test.
"""

import dataclasses
import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import peft
import pytest
import torch
from safetensors.numpy import load_file

import hf_fixtures
from flan_jax.checkpoints import peft_adapters
from flan_jax.models import decoder_only
from flan_jax.models import encoder_decoder
from flan_jax.models import hf
from flan_jax.models import lora

LOGIT_TOLERANCE = 1e-4
FAMILIES = {"t5": ("t5", hf_fixtures.T5_CONFIG, ["q", "v", "wo"]),
            "llama": ("llama", hf_fixtures.DECODER_CONFIGS[
                "llama_gqa_untied"][1], ["q_proj", "o_proj", "up_proj"])}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def base_dir(request, tmp_path_factory):
  model_type, kwargs, _ = FAMILIES[request.param]
  directory = str(tmp_path_factory.mktemp(request.param))
  hf_fixtures.write_model(directory, model_type, kwargs, seed=5)
  return request.param, directory


def _inputs():
  rng = np.random.RandomState(0)
  enc = rng.randint(2, hf_fixtures.VOCAB, (2, 7)).astype(np.int64)
  enc[1, 5:] = 0
  dec = rng.randint(2, hf_fixtures.VOCAB, (2, 5)).astype(np.int64)
  dec[:, 0] = 0
  return enc, dec


def _ours(family, config, params):
  enc, dec = _inputs()
  if family == "t5":
    model = encoder_decoder.EncoderDecoderModel(config)
    return np.asarray(model.module.apply(
        {"params": params}, jnp.asarray(enc, jnp.int32),
        jnp.asarray(dec, jnp.int32)))
  model = decoder_only.DecoderOnlyModel(config, prefix_lm=False)
  return np.asarray(model.logits(params, jnp.asarray(enc, jnp.int32)))


def _theirs(family, torch_model):
  enc, dec = _inputs()
  with torch.no_grad():
    if family == "t5":
      return torch_model(input_ids=torch.tensor(enc),
                         attention_mask=torch.tensor(enc > 0),
                         decoder_input_ids=torch.tensor(dec)).logits.numpy()
    return torch_model(input_ids=torch.tensor(enc)).logits.numpy()


def _with_random_adapters(family, config, params, pattern):
  lora_config = lora.LoraConfig(rank=4, alpha=8.0, target_pattern=pattern)
  config = dataclasses.replace(config, lora=lora_config)
  model = (encoder_decoder.EncoderDecoderModel(config) if family == "t5"
           else decoder_only.DecoderOnlyModel(config))
  shapes = ({"encoder_input_tokens": (1, 4), "decoder_input_tokens": (1, 4)}
            if family == "t5" else {"decoder_input_tokens": (1, 4)})
  fresh = jax.tree.map(np.asarray, nn.unbox(model.init_variables(
      jax.random.key(1), shapes)["params"]))
  keys = iter(jax.random.split(jax.random.key(2), 1000))

  def fill(tree, base):
    out = {}
    for k, v in tree.items():
      if isinstance(v, dict):
        out[k] = fill(v, base.get(k, {}))
      elif k == "lora_b":  # non-zero, as after training
        out[k] = np.asarray(0.3 * jax.random.normal(next(keys), v.shape))
      elif k == "lora_a":
        out[k] = v
      else:
        out[k] = base[k]
    return out

  return config, fill(fresh, params)


@pytest.mark.parametrize("scan", [False, True])
def test_peft_export_loads_in_peft_with_our_logits(base_dir, tmp_path, scan):
  family, directory = base_dir
  config, params = hf.load_hf(directory, scan_layers=scan)
  pattern = (r"(attention/(query|value)|mlp/wo)$" if family == "t5"
             else r"(attention/(query|out)|mlp/up)$")
  config, params = _with_random_adapters(family, config, params, pattern)
  ours = _ours(family, config, params)
  out = peft_adapters.save_peft(config, params, str(tmp_path / "adapter"),
                                base_model_name_or_path=directory)
  with open(os.path.join(out, "adapter_config.json")) as f:
    written = json.load(f)
  assert written["target_modules"] == sorted(FAMILIES[family][2])
  assert written["r"] == 4 and written["lora_alpha"] == 8.0
  base = hf_fixtures.load_reference(directory, FAMILIES[family][0])
  without = _theirs(family, base)
  model = peft.PeftModel.from_pretrained(base, out).eval()
  theirs = _theirs(family, model)
  assert np.max(np.abs(theirs - without)) > 1e-2  # the adapter matters
  delta = float(np.max(np.abs(ours - theirs)))
  print(f"\nPEFT export {family} scan={scan}: max |delta logit| {delta:.3g}")
  assert delta < LOGIT_TOLERANCE


def test_a_peft_adapter_imports_with_peft_logits(base_dir, tmp_path):
  family, directory = base_dir
  base = hf_fixtures.load_reference(directory, FAMILIES[family][0])
  torch.manual_seed(0)
  peft_model = peft.get_peft_model(base, peft.LoraConfig(
      r=4, lora_alpha=16, target_modules=FAMILIES[family][2],
      init_lora_weights=False))  # random B: an adapter that changes things
  peft_model.eval()
  peft_model.save_pretrained(str(tmp_path / "adapter"))
  theirs = _theirs(family, peft_model)
  config, params = hf.load_hf(directory)
  config, params = peft_adapters.load_peft(str(tmp_path / "adapter"), config,
                                           params)
  assert config.lora.rank == 4 and config.lora.scale == 4.0
  delta = float(np.max(np.abs(_ours(family, config, params) - theirs)))
  print(f"\nPEFT import {family}: max |delta logit| {delta:.3g}")
  assert delta < LOGIT_TOLERANCE
  # The imported adapter exports again to the same tensors.
  tensors, _ = peft_adapters.peft_tensors(config, params)
  original = load_file(str(tmp_path / "adapter" /
                           "adapter_model.safetensors"))
  assert sorted(tensors) == sorted(original)
  for name, value in original.items():
    np.testing.assert_array_equal(tensors[name], value)


def test_an_adapter_for_another_base_is_refused(base_dir, tmp_path):
  family, directory = base_dir
  model_type, kwargs, targets = FAMILIES[family]
  other = dict(kwargs)  # "wo" / "up_proj" adapters meet another MLP width
  other["d_ff" if family == "t5" else "intermediate_size"] = 40
  other_dir = str(tmp_path / "other")
  hf_fixtures.write_model(other_dir, model_type, other, seed=1)
  peft_model = peft.get_peft_model(
      hf_fixtures.load_reference(other_dir, model_type),
      peft.LoraConfig(r=2, target_modules=targets))
  peft_model.save_pretrained(str(tmp_path / "adapter"))
  config, params = hf.load_hf(directory)
  with pytest.raises(peft_adapters.PeftAdapterError,
                     match="made for another base"):
    peft_adapters.load_peft(str(tmp_path / "adapter"), config, params)


def test_scripts_import_a_peft_adapter_and_export_it_merged_and_as_peft(
    tmp_path):
  """convert_hf.py --peft_dir, then export_hf.py --peft (the same tensors)
  and export_hf.py (merged: transformers alone gives peft's logits)."""
  import script_runner
  from transformers import LlamaForCausalLM
  base_dir, adapter_dir = str(tmp_path / "base"), str(tmp_path / "adapter")
  hf_fixtures.write_model(base_dir, *FAMILIES["llama"][:2], seed=5)
  torch.manual_seed(0)
  peft_model = peft.get_peft_model(
      hf_fixtures.load_reference(base_dir, "llama"),
      peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                      init_lora_weights=False)).eval()
  peft_model.save_pretrained(adapter_dir)
  theirs = _theirs("llama", peft_model)
  converted = tmp_path / "converted"
  run = script_runner.run("convert_hf.py", f"--hf_dir={base_dir}",
                          f"--peft_dir={adapter_dir}",
                          f"--output_dir={converted}")
  assert run.status == 0, run.stderr[-3000:]
  assert "LoraConfig.rank = 4" in (converted / "model.gin").read_text()
  common = [f"--gin_file={converted}/model.gin",
            f"--checkpoint={converted}/checkpoints/0"]
  run = script_runner.run("export_hf.py", *common, "--peft",
                          f"--output_dir={tmp_path}/peft_out")
  assert run.status == 0, run.stderr[-3000:]
  exported = load_file(f"{tmp_path}/peft_out/adapter_model.safetensors")
  original = load_file(f"{adapter_dir}/adapter_model.safetensors")
  assert sorted(exported) == sorted(original)
  for name in original:
    np.testing.assert_array_equal(exported[name], original[name])
  run = script_runner.run("export_hf.py", *common,
                          f"--output_dir={tmp_path}/merged")
  assert run.status == 0, run.stderr[-3000:]
  merged = LlamaForCausalLM.from_pretrained(f"{tmp_path}/merged",
                                            dtype=torch.float32).eval()
  np.testing.assert_allclose(_theirs("llama", merged), theirs, atol=1e-4)
  # An adapter for another base: one line, and no output directory.
  other = dict(FAMILIES["llama"][1], hidden_size=16)
  hf_fixtures.write_model(str(tmp_path / "other"), "llama", other, seed=1)
  run = script_runner.run("convert_hf.py", f"--hf_dir={tmp_path}/other",
                          f"--peft_dir={adapter_dir}",
                          f"--output_dir={tmp_path}/refused")
  assert run.status == 1
  line = run.stderr.strip().splitlines()[-1]
  assert line.startswith("convert_hf: ") and "another base model" in line
  assert "Traceback" not in run.stderr
  assert not (tmp_path / "refused").exists()

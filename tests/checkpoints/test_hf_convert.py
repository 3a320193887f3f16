"""convert_hf -> orbax checkpoint + model.gin -> trainer / export_hf."""

import glob
import json
import os
import subprocess
import sys

import gin
import jax
import numpy as np
import pytest

import hf_fixtures
from flan_jax.checkpoints import hf_conversion
from flan_jax.cli import gin_config
from flan_jax.models import hf
from flan_jax.models.hf_config import HfConversionError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
LLAMA = hf_fixtures.DECODER_CONFIGS["llama_gqa_untied"][1]


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
  directory = str(tmp_path_factory.mktemp("llama"))
  hf_fixtures.write_model(directory, "llama", LLAMA, seed=1)
  return directory


def _model_from_gin(path):
  # finalize_config locks gin; parse and clear inside one unlocked scope.
  with gin.unlock_config():
    gin.clear_config()
    try:
      gin_config.parse_gin([path])
      model = gin_config.model_macro()
    finally:
      gin.clear_config()
  return model


def test_convert_writes_checkpoint_and_gin_that_export_back(llama_dir,
                                                            tmp_path):
  out = str(tmp_path / "converted")
  checkpoint = hf_conversion.convert_to_checkpoint(llama_dir, out)
  assert checkpoint == os.path.join(out, "checkpoints", "0")
  model = _model_from_gin(os.path.join(out, "model.gin"))
  config, params = hf.load_hf(llama_dir)
  assert model.config == config
  # The tokenizer's EOS stops generation; pretrained decoders stay causal.
  assert model.eos_id == 2 and model.prefix_lm is False
  restored = hf_conversion.restore_params(model, checkpoint)
  for a, b in zip(*(sorted(hf.tensors_from_params(config, p).items())
                    for p in (params, restored))):
    np.testing.assert_array_equal(a[1], b[1], err_msg=a[0])
  exported = hf_conversion.export_checkpoint(model, checkpoint, str(tmp_path / "hf"))
  original = hf.read_tensors(llama_dir)
  again = hf.read_tensors(exported)
  assert set(again) == set(original)
  for name in original:
    np.testing.assert_array_equal(again[name], original[name], err_msg=name)


def test_scanned_conversion_stacks_layers(llama_dir):
  config, params = hf.load_hf(llama_dir, scan_layers=True)
  assert params["layers"]["mlp"]["up"]["kernel"].shape == (2, 32, 48)
  assert hf.read_tensors(llama_dir).keys() == hf.tensors_from_params(
      config, params).keys()


def _rewrite(directory, edit_tensors=None, edit_config=None):
  path = os.path.join(directory, "model.safetensors")
  tensors = hf.read_tensors(directory)
  if edit_tensors:
    edit_tensors(tensors)
    from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
    save_file(tensors, path, metadata={"format": "pt"})
  if edit_config:
    with open(os.path.join(directory, "config.json")) as f:
      config = json.load(f)
    edit_config(config)
    with open(os.path.join(directory, "config.json"), "w") as f:
      json.dump(config, f)


def _truncate(directory):
  path = os.path.join(directory, "model.safetensors")
  with open(path, "rb") as f:
    data = f.read()
  with open(path, "wb") as f:
    f.write(data[:len(data) // 2])


BAD_INPUTS = {
    "unsupported_architecture": (
        lambda d: _rewrite(d, edit_config=lambda c: c.update(model_type="gpt2")),
        "model_type 'gpt2' is not supported"),
    "missing_tensor": (
        lambda d: _rewrite(d, edit_tensors=lambda t: t.pop(
            "model.layers.1.mlp.up_proj.weight")),
        "missing tensor model.layers.1.mlp.up_proj.weight"),
    "extra_tensor": (
        lambda d: _rewrite(d, edit_tensors=lambda t: t.update({
            "model.layers.0.adapter.weight": np.zeros((2, 2), np.float32)})),
        "unexpected tensor model.layers.0.adapter.weight"),
    "shape_mismatch": (
        lambda d: _rewrite(d, edit_tensors=lambda t: t.update({
            "model.layers.0.self_attn.k_proj.weight":
                np.zeros((32, 32), np.float32)})),
        r"tensor model.layers.0.self_attn.k_proj.weight has shape \(32, 32\), "
        r"expected \(16, 32\)"),
    "dtype_mismatch": (
        lambda d: _rewrite(d, edit_tensors=lambda t: t.update({
            "model.norm.weight": np.ones((32,), np.int32)})),
        "tensor model.norm.weight has dtype I32"),
    "truncated_file": (_truncate, "unreadable safetensors file"),
    "no_config": (lambda d: os.remove(os.path.join(d, "config.json")),
                  "no config.json; pass a Hugging Face model directory"),
    "config_field": (
        lambda d: _rewrite(d, edit_config=lambda c: c.update(hidden_act="gelu")),
        "hidden_act 'gelu' is not supported"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gives_one_clear_error_and_no_output(case, tmp_path):
  directory = str(tmp_path / "hf")
  hf_fixtures.write_model(directory, "llama", LLAMA, seed=2)
  corrupt, message = BAD_INPUTS[case]
  corrupt(directory)
  out = tmp_path / "out"
  with pytest.raises(HfConversionError, match=message):
    hf_conversion.convert_to_checkpoint(directory, str(out))
  assert not out.exists()
  assert not glob.glob(str(tmp_path / ".out*"))  # no partial temp directory


def test_pickled_weights_are_refused(tmp_path):
  directory = tmp_path / "hf"
  directory.mkdir()
  with open(directory / "config.json", "w") as f:
    json.dump({"model_type": "llama", **LLAMA}, f)
  (directory / "pytorch_model.bin").write_bytes(b"not read")
  with pytest.raises(HfConversionError, match="pickled .bin weights"):
    hf.load_hf(str(directory))


def test_convert_script_refuses_a_field_it_cannot_honour_in_one_line(
    tmp_path):
  # A YaRN-scaled Llama as transformers 5 saves it: that RoPE does not
  # convert, so the script says so in one line and writes nothing.
  hf_dir = str(tmp_path / "yarn")
  hf_fixtures.save_pretrained(hf_dir, "llama", dict(
      LLAMA, rope_parameters=dict(rope_type="yarn", factor=4.0,
                                  rope_theta=1e4,
                                  original_max_position_embeddings=16)))
  out = tmp_path / "out"
  result = subprocess.run(
      [sys.executable, os.path.join(REPO, "scripts", "convert_hf.py"),
       f"--hf_dir={hf_dir}", f"--output_dir={out}"],
      capture_output=True, text=True, env={**os.environ, "PYTHONPATH": REPO},
      check=False)
  assert result.returncode == 1, result.stderr
  assert "Traceback" not in result.stderr
  last = result.stderr.strip().splitlines()[-1]
  assert last == ("convert_hf: config.json: rope_parameters rope_type 'yarn' "
                  "is not supported; use one of default, linear, llama3")
  assert not out.exists()
  assert not glob.glob(str(tmp_path / ".out*"))  # no partial temp directory


def test_sharded_checkpoint_with_index_reads_like_one_file(llama_dir, tmp_path):
  from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
  tensors = hf.read_tensors(llama_dir)
  names = sorted(tensors)
  shards = {"model-00001-of-00002.safetensors": names[:len(names) // 2],
            "model-00002-of-00002.safetensors": names[len(names) // 2:]}
  directory = tmp_path / "sharded"
  directory.mkdir()
  for shard, keys in shards.items():
    save_file({k: tensors[k] for k in keys}, str(directory / shard),
              metadata={"format": "pt"})
  with open(directory / "model.safetensors.index.json", "w") as f:
    json.dump({"weight_map": {k: s for s, ks in shards.items() for k in ks}},
              f)
  with open(os.path.join(llama_dir, "config.json")) as f:
    (directory / "config.json").write_text(f.read())
  _, sharded = hf.load_hf(str(directory))
  _, single = hf.load_hf(llama_dir)
  for a, b in zip(jax.tree.leaves(sharded), jax.tree.leaves(single)):
    np.testing.assert_array_equal(a, b)
  os.remove(directory / "model-00002-of-00002.safetensors")
  with pytest.raises(HfConversionError,
                     match="shard model-00002-of-00002.safetensors is missing"):
    hf.load_hf(str(directory))

"""LoRA adapters <-> Hugging Face PEFT directories.

A PEFT LoRA directory holds `adapter_config.json` (r, lora_alpha,
lora_dropout, target_modules, the base's name) and
`adapter_model.safetensors` with two tensors per adapted torch Linear:

    base_model.model.<hf module>.lora_A.weight   [r, in]
    base_model.model.<hf module>.lora_B.weight   [out, r]

where <hf module> is the Linear's name in the base model ("encoder.block.0.
layer.0.SelfAttention.q", "model.layers.0.self_attn.q_proj"). The module
names come from the family's tensor table (`flan_jax.models.hf.tensor_map`),
so a kernel and its adapter are named by the same entry. Our A [*in, r] and
B [r, *out] flatten their multi-dimensional sides as the kernel does:

    A_hf = A.reshape(-1, r).T        B_hf = B.reshape(r, -1).T

Import refuses, in one line and before writing anything, an adapter that is
not plain LoRA (DoRA, rsLoRA, biases, modules_to_save, per-layer ranks), one
whose tensors name modules the base does not have or have shapes the base's
kernels do not fit, and one that adapts some but not all layers of a kind
(our pattern selects layer kinds, in every layer of the stack).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Any

import jax
import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from flan_jax import storage
from flan_jax.models import hf
from flan_jax.models import hf_config
from flan_jax.models import lora
from flan_jax.models import t5

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
_PREFIX = "base_model.model."


class PeftAdapterError(hf_config.HfConversionError):
  """A PEFT adapter that cannot go onto (or come from) this model."""


@dataclasses.dataclass(frozen=True)
class _Module:
  hf_name: str             # e.g. model.layers.0.self_attn.q_proj
  path: tuple[str, ...]    # our unscanned module path, e.g. (layers_0, ...)
  in_dims: int             # leading kernel dims that are the Linear's input


def _adaptable(config: hf.ModelConfig) -> list[_Module]:
  """Every torch Linear of the base that a LoRA adapter may sit on."""
  modules = []
  for entry in hf.tensor_map(config):
    if entry.kind not in ("in_proj", "out_proj") or entry.path[-1] != "kernel":
      continue
    module = entry.path[:-1]
    modules.append(_Module(entry.hf_name[:-len(".weight")], module,
                           1 if entry.kind == "in_proj" else -1))
  return modules


def _base(config: hf.ModelConfig) -> hf.ModelConfig:
  return dataclasses.replace(config, lora=None, prompt=None,
                             scan_layers=False)


def _get(tree, path):
  for key in path:
    if not isinstance(tree, dict) or key not in tree:
      return None
    tree = tree[key]
  return tree


def _task_type(config: hf.ModelConfig) -> str:
  return "SEQ_2_SEQ_LM" if isinstance(config, t5.T5Config) else "CAUSAL_LM"


def _target_modules(adapted: list[str], all_names: list[str]) -> list[str]:
  """PEFT's `target_modules`: the short names (q, v_proj...) when they pick
  exactly the adapted Linears, else the full names."""
  short = sorted({name.rsplit(".", 1)[-1] for name in adapted})
  picked = [n for n in all_names if n.rsplit(".", 1)[-1] in short]
  return short if sorted(picked) == sorted(adapted) else sorted(adapted)


def peft_tensors(config: hf.ModelConfig, params: hf.Params
                 ) -> tuple[dict[str, np.ndarray], list[str]]:
  """Our adapters as PEFT tensors, and the adapted Linears' names."""
  if config.lora is None:
    raise PeftAdapterError("--peft exports LoRA adapters, and this model has "
                           "none (its config has no LoraConfig): export the "
                           "whole model without --peft")
  if config.scan_layers:
    params = hf.unstack_layers(jax.device_get(params))
  rank = config.lora.rank
  tensors, adapted = {}, []
  for module in _adaptable(_base(config)):
    node = _get(params, module.path)
    if node is None or "lora_a" not in node:
      continue
    a = np.asarray(jax.device_get(node["lora_a"]), np.float32)
    b = np.asarray(jax.device_get(node["lora_b"]), np.float32)
    tensors[f"{_PREFIX}{module.hf_name}.lora_A.weight"] = (
        np.ascontiguousarray(a.reshape(-1, rank).T))
    tensors[f"{_PREFIX}{module.hf_name}.lora_B.weight"] = (
        np.ascontiguousarray(b.reshape(rank, -1).T))
    adapted.append(module.hf_name)
  if len(adapted) != len(lora.adapter_paths(params)):
    raise PeftAdapterError(
        "an adapter sits on a layer PEFT cannot name (the output layer); "
        "narrow LoraConfig.target_pattern to the transformer layers")
  return tensors, adapted


def save_peft(config: hf.ModelConfig, params: hf.Params, output_dir: str, *,
              base_model_name_or_path: str | None = None,
              overwrite: bool = False) -> str:
  """Writes the LoRA adapters of `params` as a PEFT directory."""
  if config.prompt is not None:
    raise PeftAdapterError("--peft writes LoRA adapters; this model also has "
                           "a trained prompt, which PEFT places differently "
                           "(before BOS): export without the prompt")
  tensors, adapted = peft_tensors(config, params)
  all_names = [m.hf_name for m in _adaptable(_base(config))]
  adapter_config = {
      "peft_type": "LORA", "task_type": _task_type(config),
      "r": config.lora.rank, "lora_alpha": config.lora.alpha,
      "lora_dropout": config.lora.dropout_rate,
      "target_modules": _target_modules(adapted, all_names),
      "base_model_name_or_path": base_model_name_or_path,
      "bias": "none", "fan_in_fan_out": False, "inference_mode": True,
      "init_lora_weights": True, "use_rslora": False, "use_dora": False,
      "modules_to_save": None, "layers_to_transform": None,
      "rank_pattern": {}, "alpha_pattern": {}}
  with hf.atomic_directory(output_dir, overwrite=overwrite) as tmp:
    with open(os.path.join(tmp, ADAPTER_CONFIG), "w") as f:
      json.dump(adapter_config, f, indent=2, sort_keys=True)
    save_file(tensors, os.path.join(tmp, ADAPTER_WEIGHTS),
              metadata={"format": "pt"})
  return storage.absolute(output_dir)


# ---- import -----------------------------------------------------------------

# adapter_config.json fields whose non-default values change the numbers in
# ways our LoRA does not compute.
_PLAIN_LORA = {"use_dora": False, "use_rslora": False, "bias": "none",
               "fan_in_fan_out": False, "modules_to_save": None,
               "rank_pattern": {}, "alpha_pattern": {},
               "layers_to_transform": None, "layer_replication": None,
               "use_qalora": False, "lora_bias": False,
               "trainable_token_indices": None, "target_parameters": None}


def read_adapter_config(peft_dir: str) -> dict[str, Any]:
  path = os.path.join(peft_dir, ADAPTER_CONFIG)
  if not os.path.isfile(path):
    raise PeftAdapterError(f"{peft_dir} has no {ADAPTER_CONFIG}: "
                           f"--peft_dir takes a PEFT adapter directory")
  with open(path) as f:
    adapter = json.load(f)
  if adapter.get("peft_type") != "LORA":
    raise PeftAdapterError(f"{path}: peft_type {adapter.get('peft_type')!r}"
                           f" is not supported; only LORA adapters import")
  for field, plain in _PLAIN_LORA.items():
    value = adapter.get(field, plain)
    if value != plain and not (plain is None and value in ([], {})):
      raise PeftAdapterError(f"{path}: {field}={value!r} is not supported "
                             f"(plain LoRA only: {field}={plain!r})")
  return adapter


def _pattern(paths: list[tuple[str, ...]]) -> str:
  """A target_pattern picking these layer kinds (parent/name) exactly."""
  kinds = sorted({"/".join(p[-2:]) for p in paths})
  return "(^|/)(" + "|".join(re.escape(k) for k in kinds) + ")$"


def load_peft(peft_dir: str, config: hf.ModelConfig, params: hf.Params
              ) -> tuple[hf.ModelConfig, hf.Params]:
  """(config with its LoraConfig, params with adapters) from a PEFT LoRA
  directory put onto a base whose `config` and float32 `params` are given."""
  adapter = read_adapter_config(peft_dir)
  try:
    tensors = load_file(os.path.join(peft_dir, ADAPTER_WEIGHTS))
  except (FileNotFoundError, SafetensorError) as e:
    raise PeftAdapterError(f"{peft_dir}/{ADAPTER_WEIGHTS} cannot be read "
                           f"({e})") from None
  rank, base = int(adapter["r"]), _base(config)
  modules = {m.hf_name: m for m in _adaptable(base)}
  unscanned = hf.unstack_layers(params) if config.scan_layers else params
  unscanned = jax.tree.map(np.asarray, unscanned)
  found: dict[str, dict[str, np.ndarray]] = {}
  for name, value in tensors.items():
    m = re.fullmatch(re.escape(_PREFIX) + r"(.+)\.lora_([AB])(?:\.\w+)?"
                     r"\.weight", name)
    if m is None or m.group(1) not in modules:
      raise PeftAdapterError(
          f"adapter tensor {name} names no adaptable layer of this "
          f"{type(base).__name__} "
          f"{hf_config.FAMILIES[base.family].summary(base)}: the adapter "
          f"was made "
          f"for another base model")
    found.setdefault(m.group(1), {})[m.group(2)] = value
  for hf_name, pair in sorted(found.items()):
    module = modules[hf_name]
    kernel = _get(unscanned, (*module.path, "kernel"))
    in_shape = kernel.shape[:module.in_dims]
    out_shape = kernel.shape[module.in_dims:]
    want = {"A": (rank, int(np.prod(in_shape))),
            "B": (int(np.prod(out_shape)), rank)}
    for side in "AB":
      got = pair[side].shape if side in pair else None
      if got != want[side]:
        raise PeftAdapterError(
            f"adapter tensor {hf_name}.lora_{side} has shape {got}, the base "
            f"needs {want[side]} (r={rank}): the adapter was made for "
            f"another base model")
    node = _get(unscanned, module.path)
    node["lora_a"] = pair["A"].astype(np.float32).T.reshape(*in_shape, rank)
    node["lora_b"] = pair["B"].astype(np.float32).T.reshape(rank, *out_shape)
  if not found:
    raise PeftAdapterError(f"{peft_dir}/{ADAPTER_WEIGHTS} holds no LoRA "
                           f"tensors")
  paths = [modules[n].path for n in found]
  lora_config = lora.LoraConfig(
      rank=rank, alpha=float(adapter["lora_alpha"]),
      dropout_rate=float(adapter.get("lora_dropout", 0.0)),
      target_pattern=_pattern(paths))
  chosen = [m.path for m in modules.values()
            if lora_config.targets(m.path)]
  if sorted(chosen) != sorted(paths):
    missing = sorted(set(map("/".join, chosen)) - set(map("/".join, paths)))
    raise PeftAdapterError(
        f"the adapter leaves out {missing[0]} ({len(missing)} layers in all) "
        f"of a layer kind it adapts elsewhere; flan_jax adapts a kind in "
        f"every layer")
  config = dataclasses.replace(config, lora=lora_config)
  return config, (hf.stack_layers(unscanned,
                                  block=config.layers_per_scan_step)
                  if config.scan_layers
                  else unscanned)

"""Hugging Face model directories <-> flan_jax checkpoints.

    convert_to_checkpoint   HF dir -> <output>/checkpoints/0 (parameters only),
                            <output>/model.gin, <output>/tokenizer/; with
                            `peft_dir`, a PEFT LoRA adapter put onto it
    restore_params          a checkpoint step -> float32 parameters
    export_checkpoint       a checkpoint step -> HF dir (config.json,
                            model.safetensors, tokenizer files; LoRA
                            adapters merged: W + (alpha/r) A B), or with
                            `peft` the adapters alone as a PEFT directory

The tensor mapping and its checks live in `flan_jax.models.hf`; this module
adds the checkpoint side. Outputs are written under a temporary name and
renamed when complete (`hf.atomic_directory`).
"""

from __future__ import annotations

import dataclasses
import os
import shutil

from flan_jax import storage
from flan_jax.checkpoints import loading
from flan_jax.checkpoints import peft_adapters
from flan_jax.checkpoints.checkpointer import Checkpointer
from flan_jax.models import api
from flan_jax.models import hf
from flan_jax.models import hf_config
from flan_jax.models import lora


def convert_to_checkpoint(hf_dir: str, output_dir: str, *,
                          overwrite: bool = False, peft_dir: str | None = None,
                          **overrides) -> str:
  """Hugging Face directory -> `<output_dir>/checkpoints/0` + `model.gin`.

  The checkpoint has the trainer's layout (orbax, items "params" and
  "meta", no optimizer state: a fresh run builds its own), so
  `train.initial_checkpoint` and eval jobs read it. `overrides` set
  DecoderConfig/T5Config fields such as dtype or scan_layers. Returns the
  checkpoint step directory. With `peft_dir` (a PEFT LoRA directory, e.g.
  one trained with trl) the adapter is checked against the base and joins
  the checkpoint; model.gin then carries its LoraConfig.
  """
  with storage.staged_directory(hf_dir) as local_hf:
    return _convert(hf_dir, local_hf, output_dir, overwrite, overrides,
                    peft_dir)


def _convert(hf_dir: str, local_hf: str, output_dir: str, overwrite: bool,
             overrides, peft_dir: str | None = None) -> str:
  """convert_to_checkpoint with `hf_dir`'s files in local directory
  `local_hf`; the checkpoint is written locally, then moved or uploaded."""
  config, params = hf.load_hf(local_hf, **overrides)
  if peft_dir is not None:
    config, params = peft_adapters.load_peft(peft_dir, config, params)
  with hf.atomic_directory(output_dir, overwrite=overwrite) as tmp:
    checkpointer = Checkpointer(os.path.join(tmp, "checkpoints"),
                                async_save=False)
    checkpointer.save_params(0, params,
                             {"converted_from": storage.absolute(hf_dir)})
    checkpointer.close()
    comment = (f"Converted from {storage.absolute(hf_dir)} by "
               f"scripts/convert_hf.py.\nInitial checkpoint: "
               f"{storage.absolute(output_dir)}/checkpoints/0")
    if peft_dir is not None:
      comment += f"\nLoRA adapter: {storage.absolute(peft_dir)}"
    with open(os.path.join(tmp, "model.gin"), "w") as f:
      f.write(_gin_model_file(
          config, comment=comment,
          model_fields=hf_config.model_bindings(hf.read_config(local_hf))))
    tokenizer = os.path.join(tmp, "tokenizer")
    os.makedirs(tokenizer)
    hf.copy_tokenizer(local_hf, tokenizer)
    shutil.copy(os.path.join(local_hf, "config.json"),
                os.path.join(tokenizer, "hf_config.json"))
  return os.path.join(storage.absolute(output_dir), "checkpoints", "0")


def _gin_model_file(config, **kwargs) -> str:
  """`hf_config.gin_model_file`, with a LoraConfig bound by reference."""
  text = hf_config.gin_model_file(
      dataclasses.replace(config, lora=None, prompt=None), **kwargs)
  if config.lora is None:
    return text
  name = type(config).__name__
  lines = [f"{name}.lora = @LoraConfig()" if line == f"{name}.lora = None"
           else line for line in text.splitlines()]
  lines += [f"LoraConfig.{field} = {value!r}"
            for field, value in dataclasses.asdict(config.lora).items()]
  return "\n".join(lines) + "\n"


def restore_params(model: api.Model, checkpoint: str) -> hf.Params:
  """float32 params of `<model_dir>/checkpoints/<step>` for `model`."""
  try:
    directory, step = loading.step_directory(checkpoint)
  except FileNotFoundError as e:
    raise hf_config.HfConversionError(str(e)) from None
  return loading.load_params(model, directory, step)


def export_checkpoint(model: api.Model, checkpoint: str, output_dir: str, *,
                      tokenizer_dir: str | None = None,
                      overwrite: bool = False, peft: bool = False,
                      base_model_name_or_path: str | None = None) -> str:
  """A checkpoint of ours -> a Hugging Face directory (see `hf.save_hf`).

  LoRA adapters are merged into their kernels (W + (alpha/r) A B); with
  `peft`, only the adapters are written, as a PEFT directory that
  `peft.PeftModel.from_pretrained` puts onto the exported base.
  """
  config = model.config
  if peft and config.lora is None:
    raise peft_adapters.PeftAdapterError(
        "--peft exports LoRA adapters, and this run has none (its model has "
        "no LoraConfig): export the whole model without --peft")
  if config.prompt is not None:
    raise peft_adapters.PeftAdapterError(
        "this model has a trained prompt, which a Hugging Face model has no "
        "place for: evaluate it with flan_jax (a prompt export is not "
        "supported)")
  params = restore_params(model, checkpoint)
  if peft:
    return peft_adapters.save_peft(
        config, params, output_dir, overwrite=overwrite,
        base_model_name_or_path=base_model_name_or_path)
  if config.lora is not None:
    params = lora.merge(params, config.lora)
    config = dataclasses.replace(config, lora=None)
  return hf.save_hf(config, params, output_dir,
                    tokenizer_dir=tokenizer_dir, overwrite=overwrite)

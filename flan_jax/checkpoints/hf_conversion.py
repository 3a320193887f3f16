"""Hugging Face model directories <-> flan_jax checkpoints.

    convert_to_checkpoint   HF dir -> <output>/checkpoints/0 (parameters only),
                            <output>/model.gin, <output>/tokenizer/
    restore_params          a checkpoint step -> float32 parameters
    export_checkpoint       a checkpoint step -> HF dir (config.json,
                            model.safetensors, tokenizer files)

The tensor mapping and its checks live in `flan_jax.models.hf`; this module
adds the checkpoint side. Outputs are written under a temporary name and
renamed when complete (`hf.atomic_directory`).
"""

from __future__ import annotations

import os
import shutil

from flan_jax import storage
from flan_jax.checkpoints import loading
from flan_jax.checkpoints.checkpointer import Checkpointer
from flan_jax.models import api
from flan_jax.models import hf
from flan_jax.models import hf_config


def convert_to_checkpoint(hf_dir: str, output_dir: str, *,
                          overwrite: bool = False, **overrides) -> str:
  """Hugging Face directory -> `<output_dir>/checkpoints/0` + `model.gin`.

  The checkpoint has the trainer's layout (orbax, items "params" and
  "meta", no optimizer state: a fresh run builds its own), so
  `train.initial_checkpoint` and eval jobs read it. `overrides` set
  DecoderConfig/T5Config fields such as dtype or scan_layers. Returns the
  checkpoint step directory.
  """
  with storage.staged_directory(hf_dir) as local_hf:
    return _convert(hf_dir, local_hf, output_dir, overwrite, overrides)


def _convert(hf_dir: str, local_hf: str, output_dir: str, overwrite: bool,
             overrides) -> str:
  """convert_to_checkpoint with `hf_dir`'s files in local directory
  `local_hf`; the checkpoint is written locally, then moved or uploaded."""
  config, params = hf.load_hf(local_hf, **overrides)
  with hf.atomic_directory(output_dir, overwrite=overwrite) as tmp:
    checkpointer = Checkpointer(os.path.join(tmp, "checkpoints"),
                                async_save=False)
    checkpointer.save_params(0, params,
                             {"converted_from": storage.absolute(hf_dir)})
    checkpointer.close()
    comment = (f"Converted from {storage.absolute(hf_dir)} by "
               f"scripts/convert_hf.py.\nInitial checkpoint: "
               f"{storage.absolute(output_dir)}/checkpoints/0")
    with open(os.path.join(tmp, "model.gin"), "w") as f:
      f.write(hf_config.gin_model_file(
          config, comment=comment,
          model_fields=hf_config.model_bindings(hf.read_config(local_hf))))
    tokenizer = os.path.join(tmp, "tokenizer")
    os.makedirs(tokenizer)
    hf.copy_tokenizer(local_hf, tokenizer)
    shutil.copy(os.path.join(local_hf, "config.json"),
                os.path.join(tokenizer, "hf_config.json"))
  return os.path.join(storage.absolute(output_dir), "checkpoints", "0")


def restore_params(model: api.Model, checkpoint: str) -> hf.Params:
  """float32 params of `<model_dir>/checkpoints/<step>` for `model`."""
  try:
    directory, step = loading.step_directory(checkpoint)
  except FileNotFoundError as e:
    raise hf_config.HfConversionError(str(e)) from None
  return loading.load_params(model, directory, step)


def export_checkpoint(model: api.Model, checkpoint: str, output_dir: str, *,
                      tokenizer_dir: str | None = None,
                      overwrite: bool = False) -> str:
  """A checkpoint of ours -> a Hugging Face directory (see `hf.save_hf`)."""
  params = restore_params(model, checkpoint)
  return hf.save_hf(model.config, params, output_dir,
                    tokenizer_dir=tokenizer_dir, overwrite=overwrite)

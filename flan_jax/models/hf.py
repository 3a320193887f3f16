"""Hugging Face safetensors <-> flan_jax parameters, checked tensor by tensor.

Each family's adapter (`hf_family.Family`, in `hf_t5`, `hf_llama`,
`hf_gemma3`) lists every Hugging Face tensor with the parameter path it
becomes and how it is laid out (`hf_family.Entry`); this module does what
all families share: reading and checking files, the layout conversions,
scanned layouts, writing.

Import checks the directory against the table before converting anything:
a missing or unexpected tensor, a wrong shape or a non-float dtype, or an
unreadable (e.g. truncated) safetensors file stops with one
`HfConversionError` naming the tensor and file. Only safetensors are read;
pickled `.bin` checkpoints are refused.

Scanned models (`scan_layers=True`) keep per-layer tensors stacked under one
"layers" name; `stack_layers` / `unstack_layers` convert between the layouts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import json
import os
import re
import shutil
import tempfile
from typing import Any, Iterator

import jax
import ml_dtypes  # noqa: F401  (comes with jax) numpy reads BF16 tensors
import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from flan_jax import errors
from flan_jax import storage
from flan_jax.models import hf_config
from flan_jax.models.hf_config import (HfConversionError, ModelConfig,
                                       from_hf_config, to_hf_config)
from flan_jax.models.hf_family import Entry

Params = dict[str, Any]
FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")


def tensor_map(config: ModelConfig) -> list[Entry]:
  """Every Hugging Face tensor of `config`'s family (its adapter's map)."""
  return list(hf_config.FAMILIES[config.family].tensor_map(config))


# Tensors a checkpoint may hold that duplicate another one (tied copies) or
# that transformers recomputes; import ignores them.
_IGNORED = re.compile(r"(encoder|decoder)\.embed_tokens\.weight$|"
                      r".*rotary_emb\.inv_freq$")


def _hf_shape(kind: str, shape: tuple[int, ...]) -> tuple[int, ...]:
  if kind == "copy":
    return shape
  if kind == "in_proj":  # ours [in, *out]
    return (int(np.prod(shape[1:])), shape[0])
  if kind == "out_proj":  # ours [*in, out]
    return (shape[-1], int(np.prod(shape[:-1])))
  if kind == "out_proj_t":  # ours [embed, vocab] <- torch [vocab, embed]
    return (shape[1], shape[0])
  if kind == "bias":
    return (int(np.prod(shape)),)
  raise AssertionError(kind)


def _to_ours(kind: str, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
  if kind in ("copy", "bias"):
    return x.reshape(shape)
  return x.T.reshape(shape)  # in_proj, out_proj, out_proj_t


def _to_hf(kind: str, x: np.ndarray) -> np.ndarray:
  if kind == "copy":
    return x
  if kind == "bias":
    return x.reshape(-1)
  if kind == "in_proj":
    return x.reshape(x.shape[0], -1).T
  if kind == "out_proj":
    return x.reshape(-1, x.shape[-1]).T
  return x.T  # out_proj_t


# ---- reading a Hugging Face directory -------------------------------------


def read_config(directory: str) -> dict[str, Any]:
  path = os.path.join(directory, "config.json")
  if not os.path.isfile(path):
    raise HfConversionError(f"{directory}: no config.json; pass a Hugging "
                            f"Face model directory")
  try:
    with open(path) as f:
      return json.load(f)
  except json.JSONDecodeError as e:
    raise HfConversionError(errors.malformed(
        path, e.lineno, "JSON (a Hugging Face config)", e.msg)) from None


def safetensors_files(directory: str) -> list[str]:
  """The checkpoint files: the sharded index's shards, else *.safetensors."""
  index = os.path.join(directory, "model.safetensors.index.json")
  if os.path.isfile(index):
    with open(index) as f:
      try:
        weight_map = json.load(f).get("weight_map")
      except (json.JSONDecodeError, AttributeError) as e:
        raise HfConversionError(errors.malformed(
            index, getattr(e, "lineno", 1), "a JSON object with a "
            "'weight_map'", getattr(e, "msg", "another JSON value"))
        ) from None
    if not isinstance(weight_map, dict):
      raise HfConversionError(f"{index}: no 'weight_map' object")
    files = sorted(set(weight_map.values()))
    for name in files:
      if not os.path.isfile(os.path.join(directory, name)):
        raise HfConversionError(f"{index}: shard {name} is missing")
    return [os.path.join(directory, name) for name in files]
  files = sorted(glob.glob(os.path.join(directory, "*.safetensors")))
  if not files:
    pickled = glob.glob(os.path.join(directory, "*.bin"))
    hint = (" (found pickled .bin weights, which are not read: convert them "
            "to safetensors with transformers first)" if pickled else "")
    raise HfConversionError(f"{directory}: no .safetensors files{hint}")
  return files


def read_tensors(directory: str) -> dict[str, np.ndarray]:
  """Every tensor in the directory's safetensors files (numpy, any dtype)."""
  tensors: dict[str, np.ndarray] = {}
  for path in safetensors_files(directory):
    try:
      with safe_open(path, framework="numpy") as f:
        for name in f.keys():
          dtype = f.get_slice(name).get_dtype()
          if dtype not in FLOAT_DTYPES:
            raise HfConversionError(
                f"{os.path.basename(path)}: tensor {name} has dtype {dtype}; "
                f"weights must be floating point ({', '.join(FLOAT_DTYPES)})")
          if name in tensors:
            raise HfConversionError(f"tensor {name} appears in two files")
          tensors[name] = f.get_tensor(name)
    except SafetensorError as e:
      raise HfConversionError(errors.malformed(
          path, "header", "a whole safetensors file (it may be truncated: "
          "download it again)", f"unreadable safetensors file: {e}")
      ) from None
  return tensors


def _set(tree: Params, path: tuple[str, ...], value) -> None:
  for key in path[:-1]:
    tree = tree.setdefault(key, {})
  tree[path[-1]] = value


def _get(tree: Params, path: tuple[str, ...]):
  for key in path:
    tree = tree[key]
  return tree


def expected_shapes(config: ModelConfig) -> Params:
  """Our unscanned parameter shapes for `config` (no arrays allocated)."""
  unscanned = dataclasses.replace(config, scan_layers=False)
  module, args = hf_config.FAMILIES[config.family].network(unscanned)
  import flax.linen as nn  # pylint: disable=g-import-not-at-top
  abstract = jax.eval_shape(lambda r: module.init(r, *args)["params"],
                            jax.random.key(0))
  return jax.tree.map(lambda x: tuple(x.shape), nn.unbox(abstract))


def params_from_tensors(config: ModelConfig,
                        tensors: dict[str, np.ndarray]) -> Params:
  """Checks every tensor against the table, then builds float32 params."""
  entries = tensor_map(config)
  shapes = expected_shapes(config)
  known = {e.hf_name for e in entries}
  extra = sorted(n for n in tensors if n not in known and not _IGNORED.match(n))
  if "lm_head.weight" in extra and config.tie_word_embeddings:
    embed = entries[0].hf_name
    if np.array_equal(tensors["lm_head.weight"], tensors.get(embed)):
      extra.remove("lm_head.weight")  # a saved copy of the tied embedding
  if extra:
    raise HfConversionError(
        f"unexpected tensor {extra[0]} ({len(extra)} unexpected in all) for "
        f"{type(config).__name__} "
        f"{hf_config.FAMILIES[config.family].summary(config)}; the "
        f"config.json does not"
        f" match the weights")
  params: Params = {}
  for entry in entries:
    if entry.hf_name not in tensors:
      hint = ("; config.json says tie_word_embeddings false, so the output "
              "layer is not the input embedding" if entry.hf_name ==
              "lm_head.weight" else "")
      raise HfConversionError(f"missing tensor {entry.hf_name} (needed for "
                              f"parameter {'/'.join(entry.path)}){hint}")
    ours = _get(shapes, entry.path)
    want = _hf_shape(entry.kind, ours)
    got = tuple(tensors[entry.hf_name].shape)
    if got != want:
      raise HfConversionError(f"tensor {entry.hf_name} has shape {got}, "
                              f"expected {want} from config.json")
    value = tensors[entry.hf_name].astype(np.float32)
    _set(params, entry.path, _to_ours(entry.kind, value, ours))
  return (stack_layers(params, block=config.layers_per_scan_step)
          if config.scan_layers else params)


def tensors_from_params(config: ModelConfig, params: Params
                        ) -> dict[str, np.ndarray]:
  """Our parameters as Hugging Face tensors (float32, contiguous)."""
  if config.scan_layers:
    params = unstack_layers(params)
  out = {}
  for entry in tensor_map(config):
    value = np.asarray(jax.device_get(_get(params, entry.path)), np.float32)
    out[entry.hf_name] = np.ascontiguousarray(_to_hf(entry.kind, value))
  return out


def has_distinct_lm_head(config_json: dict[str, Any],
                         tensors: dict[str, np.ndarray]) -> bool:
  """Whether the weights hold an output layer of their own.

  transformers 5 decides tying from the weights: an lm_head.weight that
  differs from the input embedding stays untied even when config.json says
  tie_word_embeddings (it always does in T5 files transformers 5 writes).
  """
  adapter = hf_config.family(config_json.get("model_type"))
  embedding = tensors.get(adapter.embedding_tensor)
  head = tensors.get("lm_head.weight")
  return head is not None and not (embedding is not None and
                                   np.array_equal(head, embedding))


def load_hf(directory: str, **overrides) -> tuple[ModelConfig, Params]:
  """(config, float32 params) of a local Hugging Face model directory."""
  config_json = read_config(directory)
  from_hf_config(config_json, **overrides)  # config errors before reading
  tensors = read_tensors(directory)
  config = from_hf_config(
      config_json, distinct_lm_head=has_distinct_lm_head(config_json,
                                                         tensors),
      **overrides)
  return config, params_from_tensors(config, tensors)


# ---- scanned layouts --------------------------------------------------------

_LAYER_KEY = re.compile(r"^layers_(\d+)$")


def stack_layers(params: Params, block: int = 1) -> Params:
  """{"layers_0": t0, "layers_1": t1} -> {"layers": stacked}, at any depth.

  The scanned layout of `scan_layers=True` (flax nn.scan, axis 0). With
  `block` > 1 (a layer pattern of that length), the scanned layout of
  `layers.run_layers` over blocks: "blocks"/"layers_j" stacks layers j,
  j + block, ...; the layers after the last whole block stay as they are.
  """
  if not isinstance(params, dict):
    return params
  layer_items = sorted((int(m.group(1)), v) for k, v in params.items()
                       if (m := _LAYER_KEY.match(k)))
  out = {k: stack_layers(v, block) for k, v in params.items()
         if not _LAYER_KEY.match(k)}
  stack = lambda values: jax.tree.map(lambda *xs: np.stack(xs), *values)
  if layer_items and block == 1:
    out["layers"] = stack([v for _, v in layer_items])
  elif layer_items:
    values = [v for _, v in layer_items]
    whole = len(values) // block * block
    if whole:
      out["blocks"] = {f"layers_{j}": stack(values[j:whole:block])
                       for j in range(block)}
    out.update({f"layers_{i}": values[i]
                for i in range(whole, len(values))})
  return out


def unstack_layers(params: Params) -> Params:
  """Inverse of `stack_layers`."""
  if not isinstance(params, dict):
    return params
  out = {}
  for key, value in params.items():
    if key == "layers":
      n = jax.tree.leaves(value)[0].shape[0]
      for i in range(n):
        out[f"layers_{i}"] = jax.tree.map(lambda x, i=i: x[i], value)
    elif key == "blocks":  # blocks/layers_j[b] is layer b * block + j
      block = len(value)
      for j in range(block):
        layer = value[f"layers_{j}"]
        for b in range(jax.tree.leaves(layer)[0].shape[0]):
          out[f"layers_{b * block + j}"] = jax.tree.map(
              lambda x, b=b: x[b], layer)
    else:
      out[key] = unstack_layers(value)
  return out


# ---- writing: atomic directories, Hugging Face export, orbax import ---------

TOKENIZER_FILES = ("spiece.model", "tokenizer.json", "tokenizer_config.json",
                   "special_tokens_map.json", "generation_config.json")


@contextlib.contextmanager
def atomic_directory(path: str, *, overwrite: bool = False):
  """Yields a temporary directory that becomes `path` on success.

  Local: a sibling renamed to `path`, so `path` is either absent, untouched,
  or complete. A ``gs://`` URI: a local directory, uploaded on success with
  `storage.commit_marker` written last (a bucket cannot rename a folder).
  On any error the temporary directory is removed.
  """
  path = storage.absolute(path.rstrip("/"))
  if storage.exists(path) and not overwrite:
    raise HfConversionError(f"{path} already exists; choose a new output "
                            f"directory or pass --overwrite")
  if storage.is_uri(path):
    with tempfile.TemporaryDirectory(prefix="flan_jax_hf-") as tmp:
      yield tmp
      if storage.exists(path):
        storage.rmtree(path)
      storage.upload_directory(tmp, path)
    return
  parent = os.path.dirname(path)
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.partial-",
                         dir=parent)
  try:
    yield tmp
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  if os.path.exists(path):
    shutil.rmtree(path)
  os.rename(tmp, path)


def copy_tokenizer(source_dir: str | None, target_dir: str) -> list[str]:
  copied = []
  for name in TOKENIZER_FILES if source_dir else ():
    source = os.path.join(source_dir, name)
    if os.path.isfile(source):
      shutil.copy(source, os.path.join(target_dir, name))
      copied.append(name)
  return copied


def save_hf(config: ModelConfig, params: Params, output_dir: str, *,
            tokenizer_dir: str | None = None, overwrite: bool = False) -> str:
  """Writes config.json + model.safetensors that `from_pretrained` loads."""
  config_json = to_hf_config(config)
  tensors = tensors_from_params(config, params)
  with atomic_directory(output_dir, overwrite=overwrite) as tmp:
    with open(os.path.join(tmp, "config.json"), "w") as f:
      json.dump(config_json, f, indent=2, sort_keys=True)
    save_file(tensors, os.path.join(tmp, "model.safetensors"),
              metadata={"format": "pt"})
    if tokenizer_dir:
      with storage.staged_directory(tokenizer_dir) as local_tokenizer:
        copy_tokenizer(local_tokenizer, tmp)
  return storage.absolute(output_dir)

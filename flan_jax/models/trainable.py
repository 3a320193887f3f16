"""Which parameters a run trains: everything, or only its adapters.

A model whose config has a `lora` or a `prompt` (parameter-efficient tuning)
trains only those parameters: LoRA's "lora_a"/"lora_b" beside each targeted
kernel and the "prompt" vectors; the rest is the frozen base. Any other
model trains everything (full finetuning), and its frozen part is None.

    split(params)  -> (trainable, frozen)     two trees of nested dicts,
                                              each holding its own leaves
    combine(trainable, frozen) -> params      the model's whole tree again

Example (LoRA on query): {"attention": {"query": {"kernel": W, "lora_a": A,
"lora_b": B}}} splits into {"attention": {"query": {"lora_a": A, "lora_b":
B}}} and {"attention": {"query": {"kernel": W}}}.

The trees hold any leaves (arrays, shapes, logical axes, shardings), so the
step builder splits parameters, their axes and their shardings alike.
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from flan_jax.models import lora

PROMPT = "prompt"


def is_parameter_efficient(config) -> bool:
  """Whether a network config trains adapters only (LoRA and/or a prompt)."""
  return config.lora is not None or config.prompt is not None


def _is_adapter(path: tuple[str, ...]) -> bool:
  return path[-1] in lora.ADAPTER_NAMES or path[0] == PROMPT


def split(config, params: Mapping[str, Any]) -> tuple[Any, Any]:
  """(trainable, frozen) parts of `params`; (params, None) for full tuning."""
  if not is_parameter_efficient(config):
    return params, None

  def walk(tree, path):
    trained, frozen = {}, {}
    for key, value in tree.items():
      if isinstance(value, Mapping):
        t, f = walk(value, (*path, key))
        if t:
          trained[key] = t
        if f:
          frozen[key] = f
      elif _is_adapter((*path, key)):
        trained[key] = value
      else:
        frozen[key] = value
    return trained, frozen

  return walk(params, ())


def combine(trainable: Any, frozen: Any) -> Any:
  """The whole parameter tree from its two parts (inverse of `split`)."""
  if frozen is None:
    return trainable

  def merge(a, b):
    out = dict(b)
    for key, value in a.items():
      out[key] = merge(value, b[key]) if (
          isinstance(value, Mapping) and key in b) else value
    return out

  return merge(trainable, frozen)


FINGERPRINT_ELEMENTS = 65536


def fingerprint(params: Any) -> str:
  """A short hash of the parameters' names, shapes and values (the base's
  identity in an adapter-only checkpoint); the same on any mesh.

  Each leaf contributes its first `FINGERPRINT_ELEMENTS` values (in
  row-major order), so a 7B base is not gathered to the host for it; a
  changed base that kept those values would pass, one retrained or
  replaced does not.
  """
  digest = hashlib.sha256()
  for path, leaf in sorted(jax.tree_util.tree_leaves_with_path(params),
                           key=lambda item: jax.tree_util.keystr(item[0])):
    head = jax.device_get(jnp.ravel(leaf)[:FINGERPRINT_ELEMENTS])
    value = np.ascontiguousarray(head)
    digest.update(jax.tree_util.keystr(path).encode())
    digest.update(str(tuple(leaf.shape)).encode() + value.dtype.str.encode())
    digest.update(value.tobytes())
  return digest.hexdigest()[:16]

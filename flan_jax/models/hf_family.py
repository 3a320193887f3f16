"""What a Hugging Face model family's adapter holds, and the helpers it uses.

Each family (`hf_t5`, `hf_llama`, `hf_gemma3`) owns, for each model_type it
reads, one `Family`: its config.json mapping both ways (`from_hf`,
`to_hf`, the fields it `reads`), its tensor map (`tensor_map`: every
Hugging Face tensor, the parameter path it becomes and how it is laid out)
and its refusals (raised from `from_hf` / `to_hf` as one-line
`HfConversionError`s). `hf_config.FAMILIES` is the table the shared code
dispatches through, by config.json's model_type on import and by our
config's `family` on export; nothing there asks which class a config is.

Tensor layouts (`Entry.kind`):

    copy        same array (norm scales, embeddings, relative-position tables)
    in_proj     torch Linear [out, in] -> our kernel [in, *out_split]
    out_proj    torch Linear [out, in] -> our kernel [*in_split, out]
    out_proj_t  torch Linear [vocab, embed] -> our output kernel [embed, vocab]
    bias        [n] -> our bias [*split]

The tensor maps are data (lists of `Entry`), so other code (e.g. a PEFT
export naming adapter tensors after the dense layers they wrap) can read
the Hugging Face name of any of our parameters from them.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable

import flax.linen as nn

from flan_jax import errors


class HfConversionError(errors.FlanJaxError, ValueError):
  """A Hugging Face directory or checkpoint that cannot be converted."""


@dataclasses.dataclass(frozen=True)
class Entry:
  """One Hugging Face tensor: its name, our parameter path, its layout."""
  hf_name: str
  path: tuple[str, ...]
  kind: str  # copy | in_proj | out_proj | out_proj_t | bias


@dataclasses.dataclass(frozen=True)
class Family:
  """One model_type's adapter (see the module docstring).

  Attributes:
    model_type: config.json's model_type.
    architecture: the transformers class that builds it (export writes it).
    reads: config.json fields `from_hf` reads (the shared no-effect fields
      are `hf_config._NO_EFFECT`); any other field is refused.
    from_hf: (config.json dict, distinct_lm_head, overrides) -> our config.
    to_hf: our config -> config.json dict (refuses what it cannot say).
    tensor_map: our config -> its `Entry`s.
    embedding_tensor: the input embedding a tied output layer reuses.
    network: our config -> (flax module, dummy init args), for shapes.
    summary: our config -> a short description for error messages.
    model_class, config_class: the gin names a converted model.gin binds.
    causal: pretrained causally (model.gin sets prefix_lm = False).
  """
  model_type: str
  architecture: str
  reads: frozenset[str]
  from_hf: Callable[[dict[str, Any], bool, dict[str, Any]], Any]
  to_hf: Callable[[Any], dict[str, Any]]
  tensor_map: Callable[[Any], Iterable[Entry]]
  embedding_tensor: str
  network: Callable[[Any], tuple[nn.Module, tuple]]
  summary: Callable[[Any], str]
  model_class: str
  config_class: str
  causal: bool


def require(hf: dict[str, Any], field: str) -> Any:
  if field not in hf or hf[field] is None:
    raise HfConversionError(f"config.json: missing field {field!r} (needed "
                            f"for model_type {hf.get('model_type')!r})")
  return hf[field]


def refuse(field: str, value: Any, supported: str) -> HfConversionError:
  return HfConversionError(f"config.json: {field} {value!r} is not "
                           f"supported; {supported}")

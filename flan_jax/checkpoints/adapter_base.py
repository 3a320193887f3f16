"""The frozen base of an adapter-only checkpoint: its record and its loading.

A LoRA or prompt-tuning run (`models.trainable`) saves only what it trains
(items "params" = the adapters, "opt_state" = theirs, "meta"); "meta" holds
a record of the base the adapters sit on:

    {"base": {"path": "/ckpt/flan-t5-base/checkpoints/0",   # or None
              "seed": 0,              # the init seed when path is None
              "fingerprint": "3f9c0a..."}}   # `trainable.fingerprint`

Whoever reads the adapters (a resumed run, an eval job, inference, export)
loads the base from the record (`loading.load_base`) and checks the
fingerprint here, so adapters are never put onto a base other than theirs,
and nothing is merged on disk.
"""

from __future__ import annotations

import logging
from typing import Any

from flan_jax import errors
from flan_jax import storage
from flan_jax.models import trainable

log = logging.getLogger("flan_jax")


class BaseMismatchError(errors.FlanJaxError, ValueError):
  """Adapters met a base other than the one they were trained on."""


def record(path: str | None, seed: int, frozen: Any) -> dict[str, Any]:
  return {"path": None if path is None else storage.absolute(path),
          "seed": int(seed), "fingerprint": trainable.fingerprint(frozen)}


def check(saved: dict[str, Any], frozen: Any, where: str) -> None:
  """Raises BaseMismatchError if `frozen` is not the recorded base."""
  found = trainable.fingerprint(frozen)
  if saved["fingerprint"] != found:
    source = saved.get("path") or f"the seed-{saved.get('seed')} init"
    raise BaseMismatchError(
        f"{where} holds adapters trained on the base {source} (fingerprint "
        f"{saved['fingerprint']}), but the base given now has fingerprint "
        f"{found}: use the base the adapters were trained on (or train the "
        f"adapters anew into another MODEL_DIR)")

"""TPU topologies without a TPU: their devices, for compiling ahead of time.

libtpu (the `aot` extra) describes any TPU slice on a CPU-only machine:
`jax.experimental.topologies.get_topology_desc` returns compile-only
devices with the slice's physical layout, enough to build a mesh, lower a
step on sharded abstract inputs and let XLA compile it for that chip.

    devices = topology_devices("v5e:16x16")              # 256 TPU v5 lite
    devices = topology_devices("v5e:16x16", num_slices=2) # 512, two slices

Names are `<generation>:<chips per physical axis>`, as Cloud TPU spells
them: v2/v3 "4x4" (two devices per chip), v4 and v5p "4x4x4" (one per
chip: v4 as megacore), v5e and v6e "16x16".

HBM per JAX device (what the plan compares XLA's peak with):

    v2   TPU v2         8 GiB   (per core)
    v3   TPU v3        16 GiB   (per core)
    v4   TPU v4        32 GiB
    v5e  TPU v5 lite   16 GiB
    v5p  TPU v5        95 GiB
    v6e  TPU v6 lite   32 GiB
"""

from __future__ import annotations

import importlib.util
import os
import re
from typing import Sequence

import jax

from flan_jax import errors

INSTALL = 'pip install "flan_jax[aot]" (or: pip install "jax[tpu]>=0.10,<0.11")'

# JAX device kind -> (topology generation, HBM per JAX device in GiB).
# v2 and v3 expose each of a chip's two cores as a device (half the chip's
# HBM each); v4 (as megacore) and later expose the chip.
DEVICE_KINDS = {
    "TPU v2": ("v2", 8),
    "TPU v3": ("v3", 16),
    "TPU v4": ("v4", 32),
    "TPU v5 lite": ("v5e", 16),
    "TPU v5": ("v5p", 95),
    "TPU v6 lite": ("v6e", 32),
}
GENERATIONS = {generation: (kind, hbm) for kind, (generation, hbm)
               in DEVICE_KINDS.items()}

_NAME = re.compile(r"^(v\d+[a-z]?):(\d+(?:x\d+){1,2})$")


class TopologyError(errors.FlanJaxError, ValueError):
  """A topology name that is not one, or a mesh it cannot hold."""


class MissingLibtpuError(errors.FlanJaxError, ImportError):
  """Compiling for a TPU topology needs libtpu, which is not installed."""


def parse(name: str) -> tuple[str, tuple[int, ...]]:
  """"v5e:16x16" -> ("v5e", (16, 16)); a one-line error for anything else."""
  match = _NAME.match(name or "")
  if not match or match.group(1) not in GENERATIONS:
    raise TopologyError(
        f"TPU topology {name!r}: name one as <generation>:<chips per axis>, "
        f"e.g. v5e:16x16, v4:4x4x4; generations: {', '.join(GENERATIONS)}")
  return match.group(1), tuple(int(n) for n in match.group(2).split("x"))


def hbm_bytes(device: jax.Device) -> int | None:
  """HBM of one TPU device (None for a kind this table does not know)."""
  entry = DEVICE_KINDS.get(device.device_kind)
  return None if entry is None else entry[1] * 1024**3


def quiet_libtpu() -> None:
  """Sets libtpu up for describing topologies on a machine that is not a TPU
  VM; call before JAX starts its backends.

  Without these every backend start logs an "unexpected worker hostname"
  line and asks a metadata server that is not there, and a second process
  that loads libtpu (a test's subprocess, a planner beside a CPU job) fails
  on libtpu's one-process lockfile: describing a topology needs no chip, so
  several processes may share libtpu.
  """
  os.environ.setdefault("TPU_SKIP_MDS_QUERY", "1")
  os.environ.setdefault("TPU_WORKER_HOSTNAMES", "localhost")
  os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")


def topology_devices(name: str, num_slices: int = 1) -> Sequence[jax.Device]:
  """The compile-only devices of `num_slices` slices of topology `name`."""
  generation, _ = parse(name)
  errors.require_positive_int(num_slices, "--num_slices",
                              "slices joined over the data-centre network")
  if importlib.util.find_spec("libtpu") is None:
    raise MissingLibtpuError(
        f"compiling for TPU topology {name} needs libtpu: {INSTALL}")
  quiet_libtpu()
  from jax.experimental import topologies  # pylint: disable=g-import-not-at-top
  kwargs = {"num_slices": num_slices} if num_slices > 1 else {}
  if generation == "v4":  # one device per chip, as Cloud TPU runs v4
    kwargs["chip_config_name"] = "megacore"
  try:
    return topologies.get_topology_desc(name, "tpu", **kwargs).devices
  except Exception as e:  # pylint: disable=broad-except
    first = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
    raise TopologyError(f"libtpu does not know TPU topology {name}: {first}"
                        ) from e

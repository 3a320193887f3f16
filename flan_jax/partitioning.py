"""Device mesh, logical axis rules, and host-local <-> global arrays.

Model code names the axes of every parameter and large activation with
logical names (`flan_jax.models.layers`). One rule table maps each logical
name to a mesh axis (or to None: replicated). Changing the parallelism means
changing the mesh shape and the rules, never the model.

Default rules: batch over "data"; heads, mlp and vocab over "model"
(Megatron-style tensor parallelism); everything else replicated.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

LogicalRules = Sequence[tuple[str, str | tuple[str, ...] | None]]

DEFAULT_RULES: LogicalRules = (
    ("batch", "data"),
    ("vocab", "model"),
    ("mlp", "model"),
    ("heads", "model"),
    ("kv", None),
    ("embed", None),
    ("length", None),
    ("relpos_buckets", None),
)


def make_mesh(mesh_shape: Mapping[str, int],
              devices: Sequence[jax.Device] | None = None) -> Mesh:
  """Builds a mesh; one axis may be -1 to take every remaining device.

  Example: {"data": -1, "model": 4} on 8 devices is a (2, 4) mesh.
  """
  devices = list(devices if devices is not None else jax.devices())
  names = tuple(mesh_shape)
  sizes = list(mesh_shape.values())
  if sizes.count(-1) > 1:
    raise ValueError(f"mesh {dict(mesh_shape)}: at most one axis may be -1")
  known = int(np.prod([s for s in sizes if s != -1]))
  if -1 in sizes:
    if len(devices) % known:
      raise ValueError(f"mesh {dict(mesh_shape)} does not divide "
                       f"{len(devices)} devices")
    sizes[sizes.index(-1)] = len(devices) // known
  if int(np.prod(sizes)) != len(devices):
    raise ValueError(f"mesh {dict(zip(names, sizes))} needs "
                     f"{int(np.prod(sizes))} devices, found {len(devices)}")
  return jax.make_mesh(tuple(sizes), names, devices=devices,
                       axis_types=(AxisType.Auto,) * len(names))


@dataclasses.dataclass
class Partitioner:
  """Holds the mesh and the rules; turns logical specs into shardings."""
  mesh_shape: Mapping[str, int] = dataclasses.field(
      default_factory=lambda: {"data": -1, "model": 1})
  logical_axis_rules: LogicalRules = DEFAULT_RULES

  def __post_init__(self):
    self.mesh = make_mesh(self.mesh_shape)

  @contextlib.contextmanager
  def context(self):
    """Mesh and rules in scope, for tracing models that constrain activations."""
    with jax.set_mesh(self.mesh), nn.logical_axis_rules(self.logical_axis_rules):
      yield

  def logical_to_sharding(self, logical_specs: Any) -> Any:
    """Maps a pytree of logical PartitionSpecs to NamedShardings."""
    return nn.logical_to_mesh_sharding(logical_specs, self.mesh,
                                       self.logical_axis_rules)

  def sharding(self, *logical_axes: str | None) -> NamedSharding:
    mesh_axes = nn.logical_to_mesh_axes(logical_axes, self.logical_axis_rules)
    return NamedSharding(self.mesh, mesh_axes)

  @property
  def replicated(self) -> NamedSharding:
    return NamedSharding(self.mesh, PartitionSpec())

  @property
  def batch_sharding(self) -> NamedSharding:
    """Leading (batch) dimension over the data axes, the rest replicated."""
    return self.sharding("batch")

  @property
  def data_parallel_size(self) -> int:
    spec = self.batch_sharding.spec
    axes = spec[0] if spec else None
    if axes is None:
      return 1
    axes = (axes,) if isinstance(axes, str) else axes
    return int(np.prod([self.mesh.shape[a] for a in axes]))

  def global_batch(self, host_batch: Mapping[str, np.ndarray]
                   ) -> dict[str, jax.Array]:
    """Builds global arrays from this host's share of the batch."""
    sharding = self.batch_sharding
    return {
        k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
        for k, v in host_batch.items()
    }

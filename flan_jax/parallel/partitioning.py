"""Device mesh, logical axis rules, and host-local <-> global arrays.

Model code names the axes of every parameter and large activation with
logical names (`flan_jax.models.layers`). One rule table maps each logical
name to a mesh axis (or to None: replicated). Changing the parallelism means
changing the mesh shape and the rules, never the model.

The mesh has two axes, "data" and "model" (and "slice" across the slices
of a multi-slice TPU job):

    data parallel     batch -> data (-> slice and data, multi-slice)
    tensor parallel   heads, kv_heads, mlp, vocab -> model (Megatron style;
                      a no-op while the model axis has size 1)
    FSDP (fsdp=True)  additionally embed -> data: every parameter and its
                      optimizer state is split over the data axis too
                      (t5x's "2D parameter partitioning"); the step gathers
                      each weight when it needs it.

Logical names the table does not mention (e.g. a model's `layers` axis) are
replicated. Activations take the same table: an activation tagged
(batch, length, embed) under FSDP puts batch on "data" and, the data axis
being taken, leaves embed replicated.

Example, 8 devices, `Partitioner({"data": 2, "model": 4}, fsdp=True)`:
a kernel with axes (embed, mlp) and shape (512, 1024) is stored as
(256, 256) blocks, one per device.

Meshes real pods accept. On TPUs the mesh follows the chips' physical
layout (`mesh_utils.create_device_mesh`), and a mesh axis may span several
physical axes or split one (v6e 16x16 as data 32 x model 8). Devices of
several slices, joined over the data-centre network (DCN), need a "slice"
axis of the slice count: it alone crosses slices (the batch, hence only the
gradient all-reduce), while data (FSDP) and model stay on each slice's fast
interconnect (`mesh_utils.create_hybrid_device_mesh`). Example, two v5e
16x16 slices: {"slice": 2, "data": 32, "model": 8}, 512 devices.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import numpy as np
from jax.experimental import mesh_utils
from jax.sharding import (AbstractMesh, AxisType, Mesh, NamedSharding,
                          PartitionSpec)

from flan_jax import errors

log = logging.getLogger("flan_jax")

LogicalRules = Sequence[tuple[str, str | tuple[str, ...] | None]]

# The mesh axis that crosses slices (multi-slice jobs only).
SLICE_AXIS = "slice"


class MeshError(errors.ConfigError):
  """A mesh these devices cannot form."""

DEFAULT_RULES: LogicalRules = (
    ("batch", "data"),
    ("vocab", "model"),
    ("mlp", "model"),
    ("heads", "model"),
    ("kv_heads", "model"),
    ("kv", None),
    ("embed", None),
    ("length", None),
    ("relpos_buckets", None),
    ("layers", None),
    # Parameter-efficient tuning: a LoRA adapter's rank and a prompt's
    # length are small; their other axis (embed, heads, mlp...) carries the
    # split, as the kernel's would.
    ("lora_rank", None),
    ("prompt", None),
)

# FSDP: parameters' embed dimension over the data axis (activations keep
# their batch there instead).
FSDP_RULES: LogicalRules = (("embed", "data"),)


def make_rules(fsdp: bool = False, extra_rules: LogicalRules = (),
               multi_slice: bool = False) -> tuple[tuple[Any, Any], ...]:
  """The rule table: batch, then `extra_rules`, then FSDP, then defaults.

  Order matters: flax gives a mesh axis to the first rule that claims it, so
  `batch` comes first and activations split over batch, not embed. With
  `multi_slice` the batch spans the slices too.
  """
  batch_axes = (SLICE_AXIS, "data") if multi_slice else "data"
  rules = [("batch", batch_axes), *extra_rules]
  if fsdp:
    rules += FSDP_RULES
  named = {name for name, _ in rules}
  rules += [(n, a) for n, a in DEFAULT_RULES if n not in named]
  return tuple(rules)


def make_mesh(mesh_shape: Mapping[str, int],
              devices: Sequence[jax.Device] | None = None) -> Mesh:
  """Builds a mesh; one axis may be -1 to take every remaining device.

  Example: {"data": -1, "model": 4} on 8 devices is a (2, 4) mesh. TPU
  devices are placed by their physical layout, several slices by a hybrid
  mesh (module docstring); a mesh they cannot form is a `MeshError`.
  """
  devices = list(devices if devices is not None else jax.devices())
  names = tuple(mesh_shape)
  sizes = resolve_mesh_shape(mesh_shape, len(devices))
  axis_types = (AxisType.Auto,) * len(names)
  # Devices other than multi-slice TPUs carry no slice index: one slice.
  slices = {getattr(d, "slice_index", 0) for d in devices}
  if len(slices) > 1 or sizes.get(SLICE_AXIS, 1) > 1:
    grid = _multi_slice_grid(sizes, devices, len(slices))
  elif devices[0].platform == "tpu":
    grid = _physical_grid(
        lambda: mesh_utils.create_device_mesh(
            tuple(sizes.values()), devices, allow_split_physical_axes=True),
        sizes, devices)
  else:  # CPU and GPU: as JAX lays them out
    return jax.make_mesh(tuple(sizes.values()), names, devices=devices,
                         axis_types=axis_types)
  return Mesh(grid, names, axis_types=axis_types)


def _multi_slice_grid(sizes: Mapping[str, int],
                      devices: Sequence[jax.Device],
                      num_slices: int) -> np.ndarray:
  """Devices of several slices: only the slice axis crosses slices."""
  if sizes.get(SLICE_AXIS) != num_slices:
    example = {SLICE_AXIS: num_slices,
               **{k: -1 if k == "data" else v for k, v in sizes.items()
                  if k != SLICE_AXIS}}
    raise MeshError(
        f"Partitioner.mesh_shape {dict(sizes)}: these {len(devices)} devices "
        f"form {num_slices} slice(s), so the mesh needs a '{SLICE_AXIS}' axis "
        f"of {num_slices} (e.g. {example})", setting="Partitioner.mesh_shape")
  within = [1 if name == SLICE_AXIS else n for name, n in sizes.items()]
  across = [n if name == SLICE_AXIS else 1 for name, n in sizes.items()]
  return _physical_grid(
      lambda: mesh_utils.create_hybrid_device_mesh(
          within, across, devices, allow_split_physical_axes=True),
      sizes, devices)


def _physical_grid(build, sizes: Mapping[str, int],
                   devices: Sequence[jax.Device]) -> np.ndarray:
  try:
    return build()
  except (AssertionError, ValueError, NotImplementedError) as e:
    reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
    raise MeshError(
        f"Partitioner.mesh_shape {dict(sizes)} does not fit the physical "
        f"layout of these {len(devices)} {devices[0].device_kind} devices "
        f"({reason}): pick axis sizes that tile the slice",
        setting="Partitioner.mesh_shape") from e


def resolve_mesh_shape(mesh_shape: Mapping[str, int],
                       num_devices: int) -> dict[str, int]:
  """Replaces a -1 axis size by what the device count leaves for it."""
  sizes = list(mesh_shape.values())
  if sizes.count(-1) > 1:
    raise errors.ConfigError(
        f"Partitioner.mesh_shape {dict(mesh_shape)}: at most one axis may be "
        f"-1", setting="Partitioner.mesh_shape")
  known = int(np.prod([s for s in sizes if s != -1]))
  if -1 in sizes:
    if num_devices % known:
      raise errors.ConfigError(
          f"Partitioner.mesh_shape {dict(mesh_shape)} does not divide the "
          f"{num_devices} devices: use axis sizes whose product divides it",
          setting="Partitioner.mesh_shape")
    sizes[sizes.index(-1)] = num_devices // known
  if int(np.prod(sizes)) != num_devices:
    raise errors.ConfigError(
        f"Partitioner.mesh_shape {dict(zip(mesh_shape, sizes))} needs "
        f"{int(np.prod(sizes))} devices, there are {num_devices}: use "
        f"a mesh of {num_devices} (one axis may be -1) or another "
        f"gin/hardware file", setting="Partitioner.mesh_shape")
  return dict(zip(mesh_shape, sizes))


def logical_to_mesh_spec(logical_axes: Sequence[str | None],
                         rules: LogicalRules) -> PartitionSpec:
  """Logical names -> mesh axes; each mesh axis is used at most once."""
  return nn.logical_to_mesh_axes(tuple(logical_axes), rules)


def fit_spec_to_shape(spec: PartitionSpec, shape: Sequence[int],
                      mesh_shape: Mapping[str, int]) -> PartitionSpec:
  """Drops mesh axes that do not divide their dimension (that dim replicates).

  Stored arrays must split evenly (activations may not need to): a toy model
  with 4 heads on an 8-way model axis keeps its heads replicated instead of
  failing.
  """
  fitted = []
  for dim, axes in zip(shape, tuple(spec) + (None,) * (len(shape) - len(spec))):
    if axes is None:
      fitted.append(None)
      continue
    names = (axes,) if isinstance(axes, str) else tuple(axes)
    size = int(np.prod([mesh_shape[a] for a in names]))
    fitted.append(axes if dim % size == 0 else None)
  return PartitionSpec(*fitted)


@dataclasses.dataclass
class Partitioner:
  """Holds the mesh and the rules; turns logical specs into shardings.

  Attributes:
    mesh_shape: mesh axis sizes, e.g. {"data": -1, "model": 1}.
    fsdp: shard parameters and optimizer state over "data" as well.
    logical_axis_rules: a whole rule table; overrides `fsdp` when given.
    devices: the devices to lay out (all of them when None).
    mesh: a mesh built elsewhere, used as it is: an `AbstractMesh` (plans
      from shapes alone, `Partitioner.abstract`) or a TPU topology's mesh
      (ahead-of-time compilation); None builds one from `devices`.
  """
  mesh_shape: Mapping[str, int] = dataclasses.field(
      default_factory=lambda: {"data": -1, "model": 1})
  fsdp: bool = False
  logical_axis_rules: LogicalRules | None = None
  devices: Sequence[jax.Device] | None = None
  mesh: Mesh | AbstractMesh | None = None

  def __post_init__(self):
    if self.mesh is None:
      self.mesh = make_mesh(self.mesh_shape, self.devices)
    if self.logical_axis_rules is None:
      self.logical_axis_rules = make_rules(
          self.fsdp, multi_slice=SLICE_AXIS in self.mesh.shape)
    self.logical_axis_rules = tuple(
        (n, tuple(a) if isinstance(a, list) else a)
        for n, a in self.logical_axis_rules)

  def for_local_devices(self) -> "Partitioner":
    """The same layout over this host's devices only (per-host eval jobs)."""
    return dataclasses.replace(self, devices=jax.local_devices(), mesh=None)

  @classmethod
  def abstract(cls, mesh_shape: Mapping[str, int], num_devices: int,
               **kwargs) -> "Partitioner":
    """The same layout on `num_devices` devices that need not exist: an
    abstract mesh, enough for shardings and memory from shapes alone."""
    sizes = resolve_mesh_shape(mesh_shape, num_devices)
    return cls(mesh_shape=sizes, mesh=AbstractMesh(tuple(sizes.values()),
                                                   tuple(sizes)), **kwargs)

  @contextlib.contextmanager
  def context(self):
    """Mesh and rules in scope, for tracing models that constrain activations."""
    with jax.set_mesh(self.mesh), nn.logical_axis_rules(self.logical_axis_rules):
      yield

  def spec(self, logical_axes: Sequence[str | None],
           shape: Sequence[int] | None = None) -> PartitionSpec:
    spec = logical_to_mesh_spec(logical_axes, self.logical_axis_rules)
    if shape is not None:
      spec = fit_spec_to_shape(spec, shape, self.mesh.shape)
    return spec

  def sharding(self, *logical_axes: str | None) -> NamedSharding:
    return NamedSharding(self.mesh, self.spec(logical_axes))

  def param_shardings(self, abstract_params: Any, logical_specs: Any) -> Any:
    """NamedShardings for a parameter tree, fitted to each array's shape."""
    return jax.tree.map(
        lambda x, axes: NamedSharding(self.mesh, self.spec(tuple(axes), x.shape)),
        abstract_params, logical_specs,
        is_leaf=lambda x: isinstance(x, PartitionSpec))

  def logical_to_sharding(self, logical_specs: Any) -> Any:
    """Maps a pytree of logical PartitionSpecs to NamedShardings."""
    return nn.logical_to_mesh_sharding(logical_specs, self.mesh,
                                       self.logical_axis_rules)

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
    """Builds global arrays from this host's share of the batch.

    Each process passes its own rows (global batch / process count); the
    result is one array spanning every process's devices. With a single
    process the host batch is the global batch: one `device_put` moves it.
    """
    sharding = self.batch_sharding
    if jax.process_count() == 1:
      return jax.device_put({k: np.asarray(v) for k, v in host_batch.items()},
                            sharding)
    return {
        k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
        for k, v in host_batch.items()
    }


def state_shardings_like(tree: Any, params: Any, param_shardings: Any,
                         replicated: NamedSharding) -> Any:
  """Shardings for an optimizer state from the parameters' shardings.

  Any sub-tree with the parameters' structure (Adam's mu and nu, Adafactor's
  row/column statistics) takes each parameter's sharding, with the mesh axes
  of dimensions the statistic reduced away (size 1 where the parameter is
  larger) dropped. Everything else (step counters) is replicated.
  """
  params_def = jax.tree.structure(params)

  def is_param_tree(node):
    try:
      return jax.tree.structure(node) == params_def
    except Exception:  # pylint: disable=broad-except
      return False

  def for_param_tree(node):
    return jax.tree.map(_reduced_sharding, node, params, param_shardings)

  def leaf(node):
    if is_param_tree(node) and params_def.num_leaves > 0:
      return for_param_tree(node)
    return jax.tree.map(lambda _: replicated, node)

  return jax.tree.map(leaf, tree, is_leaf=is_param_tree)


def _reduced_sharding(stat, param, sharding: NamedSharding) -> NamedSharding:
  if getattr(stat, "ndim", 0) == 0:
    return NamedSharding(sharding.mesh, PartitionSpec())
  if tuple(stat.shape) == tuple(param.shape):
    return sharding
  spec = tuple(sharding.spec) + (None,) * (len(param.shape) - len(sharding.spec))
  if len(stat.shape) != len(param.shape):
    return NamedSharding(sharding.mesh, PartitionSpec())
  kept = [axes if s == p else None
          for axes, s, p in zip(spec, stat.shape, param.shape)]
  return NamedSharding(sharding.mesh, PartitionSpec(*kept))

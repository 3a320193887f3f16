"""Memory per device of a train step, planned from shapes alone.

`plan_memory` answers "does this model train on this mesh?" before renting
the hardware. Parameters and optimizer state are exact: shapes come from
`jax.eval_shape` over the model's init (any model class), shardings from the
trainer's own rule table on an abstract mesh (no devices needed).
Activations are the model's own estimate (`Model.activation_bytes`, the
formula in `flan_jax.models.sizing`): what the backward pass keeps per token
and layer under the config's remat policy.

Two terms come from reading XLA's buffer assignments of compiled steps
(`XLA_FLAGS=--xla_dump_to=...`, the `*buffer-assignment.txt` files):

  compute copy     parameters stored in float32 and computed in bfloat16
                   are converted once per step, the whole stack of a
                   scanned layer at a time: a bfloat16 copy of the
                   parameters lives through the step (2.0 GiB per device
                   for the 137B model on a v3-128).
  gathered (FSDP)  a parameter split over the batch's mesh axes is
                   all-gathered, in the compute dtype, where it is used:
                   one layer's at a time (the largest) plus those outside
                   the layer stack (embeddings, the logits kernel).
"""

from __future__ import annotations

import collections
import dataclasses
import math
import re
from typing import Any, Mapping

import jax
import jax.numpy as jnp

from flan_jax.models import api
from flan_jax.parallel import partitioning
from flan_jax.steps import builder as builder_lib
from flan_jax.steps.builder import StepBuilder
from flan_jax.train import train_state

GIB = 1024**3
# Leave room for XLA's temporaries and fragmentation.
USABLE_FRACTION = 0.9


@dataclasses.dataclass(frozen=True)
class MemoryPlan:
  mesh_shape: dict[str, int]
  num_params: int
  params_total_bytes: int
  params_bytes: int          # all of these: per device
  gradients_bytes: int
  optimizer_bytes: int
  activations_bytes: int
  device_memory_bytes: int | None
  tokens_per_device: int
  # Parameters that train (all of them unless LoRA or prompt tuning):
  # gradients and optimizer state exist for these alone.
  trainable_total_bytes: int | None = None
  gathered_bytes: int = 0      # FSDP: weights gathered at once
  compute_copy_bytes: int = 0  # parameters converted to the compute dtype

  @property
  def total_bytes(self) -> int:
    return (self.params_bytes + self.gradients_bytes + self.optimizer_bytes +
            self.compute_copy_bytes + self.gathered_bytes +
            self.activations_bytes)

  @property
  def fits(self) -> bool | None:
    if self.device_memory_bytes is None:
      return None
    return self.total_bytes <= USABLE_FRACTION * self.device_memory_bytes


def plan_builder(*, model: api.Model, optimizer, mesh_shape: Mapping[str, int],
                 num_devices: int, batch_size: int,
                 task_feature_lengths: Mapping[str, int], fsdp: bool = False,
                 logical_axis_rules=None, pack: bool = True,
                 partitioner: partitioning.Partitioner | None = None,
                 seed: int = 0) -> StepBuilder:
  """The trainer's step builder for a plan: on `partitioner` when given (a
  TPU topology's mesh), else on an abstract mesh of `num_devices`."""
  if partitioner is None:
    partitioner = partitioning.Partitioner.abstract(
        mesh_shape, num_devices, fsdp=fsdp,
        logical_axis_rules=logical_axis_rules)
  shapes = builder_lib.model_input_shapes(model.feature_converter(pack=pack),
                                          task_feature_lengths, batch_size)
  return train_state.step_builder(model, optimizer, partitioner, shapes, seed)


def plan_memory(*, model: api.Model | None, optimizer, mesh_shape: Mapping[str, int],
                num_devices: int, batch_size: int,
                task_feature_lengths: Mapping[str, int], fsdp: bool = False,
                logical_axis_rules=None, num_microbatches: int = 1,
                pack: bool = True,
                device_memory_gib: float | None = None,
                partitioner: partitioning.Partitioner | None = None
                ) -> MemoryPlan:
  """Per-device memory of one train step of `model` on `mesh_shape` (on an
  abstract mesh, or on `partitioner`'s when given)."""
  if model is None or optimizer is None or batch_size is None:
    raise ValueError("plan needs MODEL, train.optimizer and train.batch_size "
                     "bound (include a gin/runs file or bind them)")
  builder = plan_builder(model=model, optimizer=optimizer,
                         mesh_shape=mesh_shape, num_devices=num_devices,
                         batch_size=batch_size,
                         task_feature_lengths=task_feature_lengths, fsdp=fsdp,
                         logical_axis_rules=logical_axis_rules, pack=pack,
                         partitioner=partitioner)
  sizes = dict(builder.partitioner.mesh.shape)
  rules = builder.partitioner.logical_axis_rules
  lengths = {k: v[1] for k, v in builder.input_shapes.items()}
  state = builder.abstract_state
  shardings = builder.state_shardings
  opt_shardings = shardings.opt_state
  trained_bytes = train_state.bytes_per_device(state.params, shardings.params,
                                               sizes)
  params_bytes = trained_bytes + (0 if state.frozen is None else
                                  train_state.bytes_per_device(
                                      state.frozen, shardings.frozen, sizes))
  # Gradients are float32 like the parameters, for the trained ones only;
  # accumulating microbatches keeps a float32 running sum beside each
  # microbatch's gradient.
  gradients_bytes = trained_bytes * (2 if num_microbatches > 1 else 1)
  optimizer_bytes = train_state.bytes_per_device(state.opt_state,
                                                 opt_shardings, sizes)

  def ways(logical_name):
    spec = partitioning.logical_to_mesh_spec((logical_name,), rules)
    axes_ = spec[0] if len(spec) else None
    if axes_ is None:
      return 1
    return math.prod(sizes[a] for a in ((axes_,) if isinstance(axes_, str)
                                        else axes_))

  batch_axes = partitioning.logical_to_mesh_spec(("batch",), rules)[0]
  compute_size = jnp.dtype(model.compute_dtype).itemsize
  # FSDP gathers and compute-dtype copies concern every parameter, trained
  # or frozen.
  all_params, param_shardings = builder.abstract_params, builder.param_shardings
  gathered = _gathered_bytes(
      all_params, param_shardings, builder.param_axes, sizes,
      {batch_axes} if isinstance(batch_axes, str) else set(batch_axes or ()),
      compute_size)
  compute_copy = sum(
      train_state.bytes_per_device(p, sh, sizes) // jnp.dtype(p.dtype).itemsize
      * compute_size
      for p, sh in zip(jax.tree.leaves(all_params),
                       jax.tree.leaves(param_shardings))
      if jnp.dtype(p.dtype).itemsize > compute_size)
  batch_per_device = max(batch_size // (num_microbatches * ways("batch")), 1)
  acts = model.activation_bytes(lengths, batch_per_device=batch_per_device,
                                tensor_parallel=ways("heads"))
  # Tokens of one example: the encoder's and the decoder's (decoder-only
  # models have only the latter, inputs included).
  tokens_per_example = (lengths.get("encoder_input_tokens", 0) +
                        lengths["decoder_target_tokens"])
  total = lambda tree: sum(math.prod(p.shape) * jnp.dtype(p.dtype).itemsize
                           for p in jax.tree.leaves(tree))
  params_total = total(state.params) + total(state.frozen)
  return MemoryPlan(
      mesh_shape=dict(sizes), num_params=model.num_params,
      params_total_bytes=params_total, params_bytes=params_bytes,
      gradients_bytes=gradients_bytes, optimizer_bytes=optimizer_bytes,
      activations_bytes=acts, gathered_bytes=gathered,
      compute_copy_bytes=compute_copy,
      device_memory_bytes=(None if device_memory_gib is None
                           else int(device_memory_gib * GIB)),
      tokens_per_device=batch_per_device * tokens_per_example,
      trainable_total_bytes=total(state.params))


_UNROLLED_LAYER = re.compile(r"layers_\d+$")


def _gathered_bytes(params: Any, shardings: Any, axes: Any,
                    sizes: Mapping[str, int], gather_axes: set[str],
                    compute_size: int) -> int:
  """Bytes per device that FSDP's all-gathers add (module docstring)."""
  layers: dict[tuple, int] = collections.defaultdict(int)
  outside = 0
  leaves = jax.tree_util.tree_leaves_with_path(params)
  for (path, leaf), sharding, names in zip(
      leaves, jax.tree.leaves(shardings),
      jax.tree.leaves(axes, is_leaf=lambda x: isinstance(x, tuple))):
    whole, split = math.prod(leaf.shape), False
    for dim_axes in sharding.spec:
      for a in (dim_axes,) if isinstance(dim_axes, str) else dim_axes or ():
        if a in gather_axes:
          split = True
        else:
          whole //= sizes[a]
    if not split:
      continue
    extra = whole * compute_size
    keys = [str(getattr(k, "key", k)) for k in path]
    if "layers" in names:  # a scanned stack: one layer of it at a time
      layers[tuple(keys[:1])] += extra // leaf.shape[names.index("layers")]
    elif any(_UNROLLED_LAYER.match(k) for k in keys):
      cut = next(i for i, k in enumerate(keys) if _UNROLLED_LAYER.match(k))
      layers[tuple(keys[:cut + 1])] += extra
    else:
      outside += extra
  return outside + max(layers.values(), default=0)


def format_plan(plan: MemoryPlan) -> str:
  gib = lambda b: f"{b / GIB:8.2f} GiB"
  lines = [
      f"mesh                 {plan.mesh_shape} "
      f"({math.prod(plan.mesh_shape.values())} devices)",
      f"parameters           {plan.num_params / 1e9:.3f} B "
      f"({plan.params_total_bytes / GIB:.1f} GiB in all" + (
          "" if plan.trainable_total_bytes in (None, plan.params_total_bytes)
          else f"; {plan.trainable_total_bytes / 2**20:.2f} MiB trainable"
          f" ({plan.trainable_total_bytes / plan.params_total_bytes:.3%})")
      + ")",
      "per device:",
      f"  parameters         {gib(plan.params_bytes)}",
      f"  gradients          {gib(plan.gradients_bytes)}",
      f"  optimizer state    {gib(plan.optimizer_bytes)}",
      f"  compute copy       {gib(plan.compute_copy_bytes)}"
      f"   (parameters in the compute dtype)",
      f"  gathered (FSDP)    {gib(plan.gathered_bytes)}"
      f"   (one layer's weights and the embeddings', gathered)",
      f"  activations (est.) {gib(plan.activations_bytes)}"
      f"   ({plan.tokens_per_device} tokens per microbatch)",
      f"  total              {gib(plan.total_bytes)}",
  ]
  if plan.device_memory_bytes is None:
    lines.append("fits                 unknown (bind DEVICE_MEMORY_GIB)")
  else:
    lines.append(
        f"device memory        {gib(plan.device_memory_bytes)} -> "
        f"{'FITS' if plan.fits else 'DOES NOT FIT'} (using at most "
        f"{USABLE_FRACTION:.0%})")
  return "\n".join(lines)

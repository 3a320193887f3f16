"""Memory per device planned from shapes alone."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

import toy_training
from flan_jax.train import planning
from flan_jax.train import train_state


def test_bytes_per_device_from_shapes_alone():
  tree = {"a": jax.ShapeDtypeStruct((64, 32), jnp.float32),
          "b": jax.ShapeDtypeStruct((7,), jnp.float32)}
  specs = {"a": P("data", "model"), "b": P()}
  assert train_state.bytes_per_device(tree, specs, {"data": 2, "model": 4}) \
      == 64 * 32 * 4 // 8 + 7 * 4


def test_plan_memory_from_shapes_alone():
  kwargs = dict(model=toy_training.tiny_model(),
                optimizer=toy_training.tiny_optimizer(), batch_size=16,
                task_feature_lengths=toy_training.LENGTHS, num_devices=8)
  whole = planning.plan_memory(mesh_shape={"data": 1, "model": 1},
                               device_memory_gib=1, **{**kwargs,
                                                       "num_devices": 1})
  assert whole.num_params == sum(
      int(np.prod(p.shape)) for p in jax.tree.leaves(
          toy_training.tiny_model().abstract_params()))
  assert whole.params_bytes == whole.params_total_bytes == 4 * whole.num_params
  assert whole.fits
  dp = planning.plan_memory(mesh_shape={"data": 8, "model": 1}, **kwargs)
  fsdp = planning.plan_memory(mesh_shape={"data": 8, "model": 1}, fsdp=True,
                              **kwargs)
  assert dp.params_bytes == whole.params_bytes
  # Everything but the 8-way-indivisible leftovers is split 8 ways.
  assert fsdp.params_bytes < whole.params_bytes / 6
  assert fsdp.optimizer_bytes < dp.optimizer_bytes
  # FSDP gathers weights where they are used; data parallelism keeps them
  # whole and gathers nothing.
  assert dp.gathered_bytes == 0 < fsdp.gathered_bytes < whole.params_bytes
  assert fsdp.total_bytes == (fsdp.params_bytes + fsdp.gradients_bytes +
                              fsdp.optimizer_bytes + fsdp.compute_copy_bytes +
                              fsdp.gathered_bytes + fsdp.activations_bytes)
  assert dp.activations_bytes < whole.activations_bytes / 4
  tiny = planning.plan_memory(mesh_shape={"data": 1, "model": 1},
                              device_memory_gib=1e-4, **{**kwargs,
                                                         "num_devices": 1})
  assert tiny.fits is False and "DOES NOT FIT" in planning.format_plan(tiny)


def test_a_lora_plan_counts_gradients_and_optimizer_state_for_adapters_only():
  kwargs = dict(optimizer=toy_training.tiny_optimizer(name="adamw"),
                batch_size=16, task_feature_lengths=toy_training.LENGTHS,
                num_devices=1, mesh_shape={"data": 1, "model": 1})
  full = planning.plan_memory(model=toy_training.tiny_model(), **kwargs)
  lora = planning.plan_memory(model=toy_training.tiny_model(
      lora={"rank": 4, "target_pattern": "attention/(query|value)$"}),
                              **kwargs)
  # Query and value adapters of 2 + 2 self- and 2 cross-attention layers:
  # A [32, 4] and B [4, 4, 8] each, float32.
  adapters = 6 * 2 * (32 * 4 + 4 * 4 * 8) * 4
  assert lora.trainable_total_bytes == adapters
  assert lora.params_bytes == full.params_bytes + adapters
  assert lora.gradients_bytes == adapters
  assert lora.optimizer_bytes == 2 * adapters + 4  # AdamW mu, nu, count
  assert "trainable" in planning.format_plan(lora)
  assert "trainable" not in planning.format_plan(full)

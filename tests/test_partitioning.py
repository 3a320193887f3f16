"""Rule tables, FSDP layouts, optimizer-state shardings and axis-factored Adafactor."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

import toy_training
from flan_jax import optimizers
from flan_jax import partitioning
from flan_jax import train_state


def test_rule_tables_map_logical_names():
  dp = partitioning.make_rules(fsdp=False)
  fsdp = partitioning.make_rules(fsdp=True)
  spec = partitioning.logical_to_mesh_spec
  assert spec(("embed", "mlp"), dp) == P(None, "model")
  assert spec(("embed", "mlp"), fsdp) == P("data", "model")
  # Activations: batch takes "data" first, so embed stays replicated.
  assert spec(("batch", "length", "embed"), fsdp) == P("data", None, None)
  # Names the table never heard of are replicated.
  assert spec(("layers", "something_new"), fsdp) == P(None, None)


def test_specs_that_do_not_divide_fall_back_to_replicated():
  fitted = partitioning.fit_spec_to_shape(P("data", "model"), (32, 4),
                                          {"data": 2, "model": 8})
  assert fitted == P("data", None)


def test_mesh_shape_errors_name_the_fix():
  try:
    partitioning.resolve_mesh_shape({"data": 3, "model": 1}, 8)
  except ValueError as e:
    assert "Partitioner.mesh_shape" in str(e)
  else:
    raise AssertionError("expected a ValueError")


def test_adafactor_factors_by_logical_axes():
  params = {"wi": jnp.ones((16, 32)), "wo": jnp.ones((32, 16)),
            "q": jnp.ones((16, 4, 8)), "scale": jnp.ones((16,)),
            "rel": jnp.ones((32, 4)), "stacked": jnp.ones((3, 16, 32))}
  axes = {"wi": ("embed", "mlp"), "wo": ("mlp", "embed"),
          "q": ("embed", "heads", "kv"), "scale": ("embed",),
          "rel": ("relpos_buckets", "heads"),
          "stacked": ("layers", "embed", "mlp")}
  tx = optimizers.adafactor(1e-2, axes, min_dim_size_to_factor=4)
  state = tx.init(params)
  shape = lambda tree, k: tuple(tree[k].shape)
  assert shape(state.v_row, "wi") == (16, 1) and shape(state.v_col, "wi") == (1, 32)
  assert shape(state.v_row, "wo") == (1, 16) and shape(state.v_col, "wo") == (32, 1)
  assert shape(state.v_row, "q") == (16, 1, 1) and shape(state.v_col, "q") == (1, 4, 8)
  # The layers axis keeps one statistic per layer.
  assert shape(state.v_row, "stacked") == (3, 16, 1)
  assert shape(state.v_col, "stacked") == (3, 1, 32)
  # Vectors and (relpos_buckets, heads) keep a full second moment.
  assert shape(state.v, "scale") == (16,) and shape(state.v, "rel") == (32, 4)
  assert shape(state.v, "wi") == (1, 1)
  grads = jax.tree.map(lambda p: jnp.full(p.shape, 0.5), params)
  updates, state = jax.jit(tx.update)(grads, state, params)
  # A constant gradient gives the same relative step everywhere: -lr * 1.
  for u in jax.tree.leaves(updates):
    np.testing.assert_allclose(u, -1e-2, rtol=1e-5)


def test_optimizer_state_follows_parameter_shardings():
  script = textwrap.dedent("""
      import jax, toy_training
      from flan_jax import partitioning, train_state
      from jax.sharding import PartitionSpec as P
      model = toy_training.tiny_model()
      shapes = train_state.model_input_shapes(
          model.feature_converter(pack=True), toy_training.LENGTHS, 8)
      part = partitioning.Partitioner({"data": 2, "model": 4}, fsdp=True)
      state, sh, _ = train_state.initial_state(
          model, toy_training.tiny_optimizer(), part, shapes, 0)
      def find(tree, suffix="wi_0/kernel"):
        for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
          if "/".join(str(k.key) for k in path).endswith(suffix):
            return leaf
      wi = find(state.params)
      assert wi.sharding.spec == P("data", "model"), wi.sharding.spec
      # (embed 32, mlp 64) over (data 2, model 4): a (16, 16) block each.
      assert wi.addressable_shards[0].data.shape == (16, 16)
      v_row, v_col = find(state.opt_state.v_row), find(state.opt_state.v_col)
      assert v_row.sharding.spec == P("data", None), v_row.sharding.spec
      assert v_col.sharding.spec == P(None, "model"), v_col.sharding.spec
      print("ok")
  """)
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
             PYTHONPATH=os.pathsep.join([os.path.dirname(__file__),
                                         os.path.dirname(os.path.dirname(
                                             os.path.abspath(__file__)))]))
  out = subprocess.run([sys.executable, "-c", script], env=env,
                       capture_output=True, text=True, timeout=600,
                       check=False)
  assert out.returncode == 0 and out.stdout.strip().endswith("ok"), \
      out.stderr[-3000:]


def test_bytes_per_device_from_shapes_alone():
  tree = {"a": jax.ShapeDtypeStruct((64, 32), jnp.float32),
          "b": jax.ShapeDtypeStruct((7,), jnp.float32)}
  specs = {"a": P("data", "model"), "b": P()}
  assert train_state.bytes_per_device(tree, specs, {"data": 2, "model": 4}) \
      == 64 * 32 * 4 // 8 + 7 * 4


def test_plan_memory_from_shapes_alone():
  from flan_jax import planning  # pylint: disable=g-import-not-at-top
  kwargs = dict(model=toy_training.tiny_model(),
                optimizer=toy_training.tiny_optimizer(), batch_size=16,
                task_feature_lengths=toy_training.LENGTHS, num_devices=8)
  whole = planning.plan_memory(mesh_shape={"data": 1, "model": 1},
                               device_memory_gib=1, **{**kwargs,
                                                       "num_devices": 1})
  assert whole.num_params == sum(
      int(np.prod(p.shape)) for p in jax.tree.leaves(
          train_state.param_logical_axes(
              toy_training.tiny_model(),
              train_state.model_input_shapes(
                  toy_training.tiny_model().feature_converter(pack=True),
                  toy_training.LENGTHS, 16))[0]))
  assert whole.params_bytes == whole.params_total_bytes == 4 * whole.num_params
  assert whole.fits
  dp = planning.plan_memory(mesh_shape={"data": 8, "model": 1}, **kwargs)
  fsdp = planning.plan_memory(mesh_shape={"data": 8, "model": 1}, fsdp=True,
                              **kwargs)
  assert dp.params_bytes == whole.params_bytes
  # Everything but the 8-way-indivisible leftovers is split 8 ways.
  assert fsdp.params_bytes < whole.params_bytes / 6
  assert fsdp.optimizer_bytes < dp.optimizer_bytes
  assert dp.activations_bytes < whole.activations_bytes / 4
  tiny = planning.plan_memory(mesh_shape={"data": 1, "model": 1},
                              device_memory_gib=1e-4, **{**kwargs,
                                                         "num_devices": 1})
  assert tiny.fits is False and "DOES NOT FIT" in planning.format_plan(tiny)

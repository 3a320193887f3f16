"""Rule tables, FSDP layouts and optimizer-state shardings."""

import os
import subprocess
import sys
import textwrap

from jax.sharding import PartitionSpec as P

from flan_jax.parallel import partitioning

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def test_optimizer_state_follows_parameter_shardings():
  script = textwrap.dedent("""
      import jax, toy_training
      from flan_jax.parallel import partitioning
      from flan_jax.steps import builder
      from flan_jax.train import train_state
      from jax.sharding import PartitionSpec as P
      model = toy_training.tiny_model()
      shapes = builder.model_input_shapes(
          model.feature_converter(pack=True), toy_training.LENGTHS, 8)
      part = partitioning.Partitioner({"data": 2, "model": 4}, fsdp=True)
      state = train_state.step_builder(
          model, toy_training.tiny_optimizer(), part, shapes, 0).init_state()
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
             PYTHONPATH=os.pathsep.join([TESTS_DIR, os.path.dirname(TESTS_DIR)]))
  out = subprocess.run([sys.executable, "-c", script], env=env,
                       capture_output=True, text=True, timeout=600,
                       check=False)
  assert out.returncode == 0 and out.stdout.strip().endswith("ok"), \
      out.stderr[-3000:]

"""Adafactor factors its second moments by logical axis names."""

import jax
import jax.numpy as jnp
import numpy as np

from flan_jax.train import optimizers


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

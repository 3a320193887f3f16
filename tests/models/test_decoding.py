"""Pure search helpers: top-k / top-p filtering and the length penalty."""

import jax.numpy as jnp
import numpy as np

from flan_jax.models import decoding


def test_top_k_and_top_p_keep_the_expected_tokens():
  probs = jnp.array([[0.5, 0.2, 0.15, 0.1, 0.05]])
  logits = jnp.log(probs)
  kept = lambda out: (np.asarray(out)[0] > decoding.NEG_INF / 2).tolist()
  assert kept(decoding.filter_logits(logits, top_k=2)) == [1, 1, 0, 0, 0]
  # 0.5 < 0.6, 0.5 + 0.2 >= 0.6: the two likeliest reach top_p.
  assert kept(decoding.filter_logits(logits, top_p=0.6)) == [1, 1, 0, 0, 0]
  assert kept(decoding.filter_logits(logits, top_p=0.75)) == [1, 1, 1, 0, 0]
  assert kept(decoding.filter_logits(logits, top_p=0.1)) == [1, 0, 0, 0, 0]
  assert kept(decoding.filter_logits(logits, top_k=3, top_p=0.6)) == [
      1, 1, 0, 0, 0]


def test_length_penalty_is_gnmt():
  assert float(decoding.length_penalty(jnp.float32(1.0), 0.0)) == 1.0
  np.testing.assert_allclose(decoding.length_penalty(jnp.float32(7.0), 0.6),
                             2.0**0.6, rtol=1e-6)

"""flan_jax: instruction tuning and zero-shot evaluation in JAX (FLAN, 2021)."""

__version__ = "0.1.0"

"""Test set-up: quiet TensorFlow, tests/ importable (for toy_tasks)."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# libtpu (the test extra brings it for the TPU-topology tests) probes for a
# TPU VM at every JAX start on this CPU machine and lets one process at a
# time load it: skip the probes, let tests and their subprocesses share it.
os.environ.setdefault("TPU_SKIP_MDS_QUERY", "1")
os.environ.setdefault("TPU_WORKER_HOSTNAMES", "localhost")
os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
sys.path.insert(0, os.path.dirname(__file__))

# Several tests compile the same programs (each training run jits its step);
# a session-wide persistent cache compiles each one once.
import tempfile  # pylint: disable=g-import-not-at-top

import jax  # pylint: disable=g-import-not-at-top

jax.config.update("jax_compilation_cache_dir",
                  os.path.join(tempfile.gettempdir(), "flan_jax_test_jax_cache"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def pytest_configure(config):
  config.addinivalue_line(
      "markers", "slow: a long test (minutes); deselect with -m 'not slow'")

"""The train and eval steps compiled for TPU topologies on a CPU machine."""

import importlib.util
import os
import subprocess
import sys

import jax
from jax.experimental.compilation_cache import compilation_cache
import pytest

import toy_training
from flan_jax.parallel import topologies
from flan_jax.train import compiled_plan

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("libtpu") is None,
    reason=f"libtpu missing: {topologies.INSTALL}")


@pytest.fixture(autouse=True)
def no_compilation_cache():
  """Each test compiles for real (conftest's cache would replay programs).

  JAX decides once per process whether it uses the cache: reset_cache makes
  it decide again, with the cache off here and back on after.
  """
  previous = jax.config.jax_enable_compilation_cache
  jax.config.update("jax_enable_compilation_cache", False)
  compilation_cache.reset_cache()
  yield
  jax.config.update("jax_enable_compilation_cache", previous)
  compilation_cache.reset_cache()


def _compile(topology, mesh_shape, num_slices=1, lines=None):
  return compiled_plan.compile_plan(
      model=toy_training.tiny_model(), optimizer=toy_training.tiny_optimizer(),
      mesh_shape=mesh_shape, topology=topology, num_slices=num_slices,
      batch_size=8, task_feature_lengths=toy_training.LENGTHS, fsdp=True,
      num_microbatches=2,
      progress=(lines.append if lines is not None else lambda line: None))


def test_tiny_model_compiles_for_a_small_topology():
  lines = []
  plan = _compile("v5e:2x2", {"data": 2, "model": 2}, lines=lines)
  analytic, train = plan.analytic, plan.train.memory
  assert plan.num_devices == 4 and plan.device_kind == "TPU v5 lite"
  # Each device's arguments hold its shards of the state (the planner's
  # parameters and optimizer state, exact from shapes) plus its batch rows,
  # laid out in the chip's tiles: this toy's (16, 16) blocks pad to
  # (16, 128), so XLA holds several times the bytes here.
  state = analytic.params_bytes + analytic.optimizer_bytes
  assert train.argument_bytes >= state > 0
  # The donated state comes back in place.
  assert train.alias_bytes >= analytic.params_bytes
  assert train.peak_bytes >= train.argument_bytes + train.temp_bytes
  # FSDP gathers weights; the gradients are reduced over the data axis.
  assert plan.train.collectives["all-gather"] > 0
  assert plan.train.collectives["all-reduce"] > 0
  assert plan.score.memory.argument_bytes >= analytic.params_bytes
  assert plan.fits and plan.train.compile_seconds > 0
  assert any("compiling with XLA" in line for line in lines)
  text = compiled_plan.format_compiled_plan(plan)
  assert "FITS" in text and "v5e:2x2" in text


def test_two_slice_topology_builds_its_mesh_and_compiles():
  plan = _compile("v5e:2x2", {"slice": 2, "data": 2, "model": 2},
                  num_slices=2)
  assert plan.num_devices == 8 and plan.fits
  assert plan.analytic.mesh_shape == {"slice": 2, "data": 2, "model": 2}
  # Gradients are summed across the slices as well.
  assert plan.train.collectives["all-reduce"] > 0


def test_a_model_too_large_for_the_chip_exits_1_with_one_line(tmp_path):
  # One wide layer each side: 2 x 32128 x 32768 embeddings, replicated over
  # a data-parallel mesh, with their gradients: over a v5e chip's 16 GiB.
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, "scripts", "plan.py"),
       "--gin_file=models/t5_1_1_tiny.gin", "--gin_file=runs/finetune.gin",
       "--gin.MIXTURE='planning_only'", f"--gin.MODEL_DIR='{tmp_path}'",
       "--gin.TRAIN_STEPS=1", "--gin.LEARNING_RATE=1e-3",
       "--gin.BATCH_SIZE=8",
       "--gin.TASK_FEATURE_LENGTHS={'inputs': 32, 'targets': 8}",
       "--gin.Partitioner.mesh_shape={'data': 4, 'model': 1}",
       "--gin.T5Config.d_model=32768", "--gin.T5Config.num_encoder_layers=1",
       "--gin.T5Config.num_decoder_layers=1", "--topology=v5e:2x2"],
      cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True,
      text=True, timeout=900, check=False)
  assert result.returncode == 1, result.stderr[-3000:]
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("plan: the train step does not fit on v5e:2x2"), \
      result.stderr[-3000:]
  assert "HBM" in last
  # Progress was shown while it compiled.
  assert "compiling with XLA" in result.stderr

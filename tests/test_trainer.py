"""The trainer: a step that learns, checkpoints, resume, and mesh invariance."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import toy_training
from flan_jax import checkpoints
from flan_jax import optimizers
from flan_jax import partitioning
from flan_jax import trainer

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def setup():
  model = toy_training.tiny_model()
  tx = optimizers.make_optimizer(learning_rate=1e-2)
  partitioner = partitioning.Partitioner()
  converter = model.feature_converter(pack=True)
  shapes = trainer.model_input_shapes(converter, toy_training.LENGTHS, 8)
  state, shardings = trainer.initial_state(model, tx, partitioner, shapes, 0)
  batch = next(trainer.training_batches(
      "toy:train:all", task_feature_lengths=toy_training.LENGTHS,
      feature_converter=converter, batch_size=8, seed=0))
  return model, tx, partitioner, state, shardings, batch


def test_train_step_lowers_the_loss_on_a_fixed_batch(setup):
  model, tx, partitioner, state, shardings, batch = setup
  step = jax.jit(trainer.make_train_step(model, tx, 0))
  losses = []
  with partitioner.context():
    for _ in range(30):
      state, metrics = step(state, partitioner.global_batch(batch))
      losses.append(float(metrics["loss"]))
  assert int(state.step) == 30
  assert losses[-1] < 0.5 * losses[0]


def test_checkpoint_save_then_restore_is_exact(setup, tmp_path):
  _, _, _, state, _, _ = setup
  checkpointer = checkpoints.Checkpointer(str(tmp_path))
  checkpointer.save(7, state.params, state.opt_state, {"note": "x"})
  checkpointer.wait()
  zeros = jax.tree.map(lambda x: x * 0, (state.params, state.opt_state))
  params, opt_state, meta = checkpointer.restore(7, *zeros)
  assert meta == {"step": 7, "note": "x"}
  for restored, original in zip(jax.tree.leaves((params, opt_state)),
                                jax.tree.leaves((state.params, state.opt_state))):
    np.testing.assert_array_equal(restored, original)
    assert restored.sharding == original.sharding
  with pytest.raises(checkpoints.CheckpointNotFoundError, match="step 8"):
    checkpointer.restore(8, *zeros)


def _losses(result):
  return [m["loss"] for _, m in result.history]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
  return toy_training.run(str(tmp_path_factory.mktemp("full")), steps=12)


def test_a_resumed_run_continues_where_it_stopped(uninterrupted, tmp_path):
  first = toy_training.run(str(tmp_path), steps=5)
  assert first.checkpoint_steps == [0, 5]
  resumed = toy_training.run(str(tmp_path), steps=12)
  assert [s for s, _ in resumed.history] == list(range(6, 13))
  np.testing.assert_allclose(_losses(first) + _losses(resumed),
                             _losses(uninterrupted), rtol=1e-6)


def test_eight_devices_on_a_2x4_mesh_give_the_same_losses(uninterrupted,
                                                          tmp_path):
  env = dict(os.environ,
             XLA_FLAGS="--xla_force_host_platform_device_count=8")
  output = subprocess.run(
      [sys.executable, os.path.join(TESTS_DIR, "toy_training.py"),
       str(tmp_path), "12", json.dumps({"data": 2, "model": 4})],
      env=env, capture_output=True, text=True, timeout=600, check=False)
  assert output.returncode == 0, output.stderr[-3000:]
  sharded = json.loads(output.stdout.strip().splitlines()[-1])
  np.testing.assert_allclose(sharded, _losses(uninterrupted), rtol=2e-4)

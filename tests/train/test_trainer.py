"""The trainer: a step that learns, microbatching, and mesh invariance."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import toy_training
from flan_jax import errors
from flan_jax.parallel import partitioning
from flan_jax.steps import builder
from flan_jax.train import train_state

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(args, *, devices: int = 1, timeout: int = 900):
  """Runs tests/toy_training.py in a fresh process with `devices` CPUs."""
  env = dict(os.environ,
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
             PYTHONPATH=os.path.dirname(TESTS_DIR))
  output = subprocess.run(
      [sys.executable, os.path.join(TESTS_DIR, "toy_training.py"),
       json.dumps(args)],
      env=env, capture_output=True, text=True, timeout=timeout, check=False)
  assert output.returncode == 0, output.stderr[-3000:]
  return json.loads(output.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def setup():
  model = toy_training.tiny_model()
  partitioner = partitioning.Partitioner()
  shapes = builder.model_input_shapes(model.feature_converter(pack=True),
                                      toy_training.LENGTHS, 8)
  steps = train_state.step_builder(model, toy_training.tiny_optimizer(1e-2),
                                   partitioner, shapes, 0)
  state, tx = steps.init_state(), steps.tx
  return (model, tx, partitioner, state, steps,
          toy_training.first_batch(model))


def test_train_step_lowers_the_loss_on_a_fixed_batch(setup):
  model, tx, partitioner, state, steps, batch = setup
  step = steps.jit_train_step(train_state.make_train_step(model, tx, 0))
  # The step donates its input state: work on a copy.
  state = jax.tree.map(jnp.copy, state)
  losses = []
  with partitioner.context():
    for _ in range(30):
      state, metrics = step(state, partitioner.global_batch(batch))
      losses.append(float(metrics["loss"]))
  assert int(state.step) == 30
  assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("normalizing_factor", [None, 100.0])
def test_microbatched_step_equals_the_full_batch(setup, normalizing_factor):
  _, tx, partitioner, state, _, batch = setup
  model = toy_training.tiny_model(loss_normalizing_factor=normalizing_factor)
  # Padding differs between rows, so token-weighting really matters here.
  weights = batch["decoder_loss_weights"].sum(axis=1)
  assert len(set(weights.tolist())) > 1
  results = []
  with partitioner.context():
    for n in (1, 4):
      step = jax.jit(train_state.make_train_step(model, tx, 0, num_microbatches=n))
      results.append(step(state, partitioner.global_batch(batch)))
  (full, full_metrics), (micro, micro_metrics) = results
  for key in ("loss", "accuracy", "grad_norm", "num_target_tokens"):
    np.testing.assert_allclose(micro_metrics[key], full_metrics[key],
                               rtol=2e-5, err_msg=key)
  for a, b in zip(jax.tree.leaves(micro.params), jax.tree.leaves(full.params)):
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-7)
  moved = [np.abs(np.asarray(a) - np.asarray(b)).max() for a, b in zip(
      jax.tree.leaves(full.params), jax.tree.leaves(state.params))]
  assert max(moved) > 1e-4  # the step did change the parameters


@pytest.fixture(scope="module")
def one_device_losses(tmp_path_factory):
  result = toy_training.run(str(tmp_path_factory.mktemp("one")), steps=6)
  return toy_training.losses(result)


@pytest.mark.slow  # six compiled 8-device runs: minutes on 2 cores
def test_eight_devices_under_every_mesh_and_fsdp_give_the_same_losses(
    one_device_losses, tmp_path):
  meshes = [{"data": 8, "model": 1}, {"data": 2, "model": 4},
            {"data": 1, "model": 8}]
  runs = [{"model_dir": str(tmp_path / f"{i}-{fsdp}"), "steps": 6,
           "mesh_shape": mesh, "fsdp": fsdp}
          for i, mesh in enumerate(meshes) for fsdp in (False, True)]
  results = run_script(runs, devices=8)
  for run, result in zip(runs, results):
    np.testing.assert_allclose(result["losses"], one_device_losses, rtol=2e-4,
                               err_msg=str(run))


def test_a_batch_that_does_not_split_is_refused_naming_the_mesh():
  partitioner = partitioning.Partitioner()  # one data-parallel device
  train_state.check_batch_split(6, 3, partitioner)  # 3 x 2 rows: fine
  with pytest.raises(errors.ConfigError,
                     match=r"train.batch_size is 7, .* 3 microbatch\(es\) "
                           r"over the 1 data-parallel devices of v5e:2x2: "
                           r"use a multiple of 3"):
    train_state.check_batch_split(7, 3, partitioner, "v5e:2x2")

"""Checkpoints and resume: exact restore, SIGTERM/SIGKILL, corruption, NaN, retention."""

import dataclasses
import glob
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import optax
import pytest

import toy_training
from flan_jax.checkpoints import checkpointer as checkpointer_lib
from flan_jax.parallel import partitioning
from flan_jax.steps import builder
from flan_jax.train import optimizers
from flan_jax.train import train_state
from flan_jax.train import trainer

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 24


def test_checkpoint_save_then_restore_is_exact(tmp_path):
  model = toy_training.tiny_model()
  shapes = builder.model_input_shapes(model.feature_converter(pack=True),
                                      toy_training.LENGTHS, 8)
  state = train_state.step_builder(model, toy_training.tiny_optimizer(),
                                   partitioning.Partitioner(), shapes,
                                   0).init_state()
  checkpointer = checkpointer_lib.Checkpointer(str(tmp_path))
  checkpointer.save(7, state.params, state.opt_state, {"note": "x"})
  checkpointer.wait()
  zeros = jax.tree.map(lambda x: x * 0, (state.params, state.opt_state))
  params, opt_state, meta = checkpointer.restore(7, *zeros)
  assert meta == {"step": 7, "note": "x"}
  for restored, original in zip(jax.tree.leaves((params, opt_state)),
                                jax.tree.leaves((state.params, state.opt_state))):
    np.testing.assert_array_equal(restored, original)
    assert restored.sharding == original.sharding
  with pytest.raises(checkpointer_lib.CheckpointNotFoundError, match="step 8"):
    checkpointer.restore(8, *zeros)


def _run_args(model_dir):
  return {"model_dir": model_dir, "steps": STEPS, "checkpoint_every_steps": 3}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
  model_dir = str(tmp_path_factory.mktemp("uninterrupted"))
  result = toy_training.run(**_run_args(model_dir))
  return model_dir, result


def _start(args):
  env = dict(os.environ, PYTHONPATH=os.path.dirname(TESTS_DIR),
             XLA_FLAGS="--xla_force_host_platform_device_count=1")
  return subprocess.Popen(
      [sys.executable, os.path.join(TESTS_DIR, "toy_training.py"),
       json.dumps(args)], env=env, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True)


def _wait_for_step(process, step: int, timeout: float = 600) -> None:
  """Reads the child's log until it reports `step`."""
  deadline = time.time() + timeout
  for line in process.stderr:
    if f"step {step}/{STEPS}" in line:
      return
    assert time.time() < deadline, "child too slow"
  raise AssertionError(f"child ended before step {step}: "
                       f"{process.wait()} {process.stdout.read()[-2000:]}")


@pytest.mark.slow  # three training processes: minutes on 2 cores
def test_sigterm_then_sigkill_then_resume_is_bit_exact(uninterrupted,
                                                       tmp_path):
  model_dir = str(tmp_path)
  # 1. Preemption: SIGTERM saves the current step and exits cleanly.
  child = _start(_run_args(model_dir))
  _wait_for_step(child, 4)
  child.send_signal(signal.SIGTERM)
  out, err = child.communicate(timeout=600)
  assert child.returncode == 0, err[-3000:]
  first = json.loads(out.strip().splitlines()[-1])
  assert first["preempted"] and 4 <= first["final_step"] < STEPS
  assert first["final_step"] in first["checkpoint_steps"]

  # 2. SIGKILL at an arbitrary moment (mid-step or mid-save).
  child = _start(_run_args(model_dir))
  _wait_for_step(child, first["final_step"] + 7)
  child.kill()
  child.wait(timeout=60)
  assert child.returncode == -signal.SIGKILL

  # 3. Restart and finish: the same parameters as never interrupted.
  resumed = toy_training.run(**_run_args(model_dir))
  assert first["final_step"] < resumed.start_step < STEPS
  assert resumed.final_step == STEPS
  expected = toy_training.final_params(uninterrupted[0])
  got = toy_training.final_params(model_dir)
  assert expected.keys() == got.keys()
  for name in expected:
    np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
  full_losses = toy_training.losses(uninterrupted[1])
  assert toy_training.losses(resumed) == full_losses[resumed.start_step:]


def test_a_corrupt_latest_checkpoint_falls_back_to_the_previous(
    uninterrupted, tmp_path, caplog):
  model_dir = str(tmp_path)
  toy_training.run(model_dir, 6, checkpoint_every_steps=3)
  data_files = glob.glob(os.path.join(model_dir, "checkpoints", "6", "params",
                                      "**", "d", "*"), recursive=True)
  biggest = max(data_files, key=os.path.getsize)
  with open(biggest, "r+b") as f:
    f.truncate(os.path.getsize(biggest) // 2)
  with caplog.at_level("WARNING", logger="flan_jax"):
    resumed = toy_training.run(model_dir, 9, checkpoint_every_steps=3)
  assert "checkpoint 6" in caplog.text and "cannot be restored" in caplog.text
  assert biggest in caplog.text  # the warning names the file
  assert resumed.start_step == 3
  assert glob.glob(os.path.join(model_dir, "checkpoints", "6.corrupt-*"))
  assert resumed.checkpoint_steps == [0, 3, 6, 9]
  full_losses = toy_training.losses(uninterrupted[1])
  assert toy_training.losses(resumed) == full_losses[3:9]


def _poisoned(at_update: int) -> optimizers.OptimizerDef:
  """The toy optimizer, but update number `at_update` is NaN."""
  base = toy_training.tiny_optimizer()

  def poison():
    def update(updates, count, params=None):
      del params
      scale = jax.numpy.where(count == at_update, jax.numpy.nan, 1.0)
      return jax.tree.map(lambda u: u * scale, updates), count + 1
    return optax.GradientTransformation(lambda _: jax.numpy.zeros([], "int32"),
                                        update)

  return optimizers.OptimizerDef(
      lambda axes: optax.chain(base.for_params(axes), poison()))


def test_a_nan_stops_the_run_and_keeps_the_good_checkpoints(tmp_path):
  model = toy_training.tiny_model()
  with pytest.raises(trainer.NonFiniteLossError, match="step 5") as error:
    trainer.train(model=model, mixture_or_task_name="toy:train:all",
                  model_dir=str(tmp_path), num_train_steps=12, batch_size=8,
                  task_feature_lengths=toy_training.LENGTHS,
                  optimizer=_poisoned(at_update=4), log_every_steps=3,
                  checkpoint_every_steps=2)
  assert error.value.step == 5
  assert not np.isfinite(error.value.metrics["param_norm"])
  ckpt = checkpointer_lib.Checkpointer(os.path.join(str(tmp_path), "checkpoints"),
                                  read_only=True)
  assert ckpt.all_steps() == [0, 2, 4]
  params = toy_training.final_params(str(tmp_path))
  assert all(np.isfinite(p).all() for p in params.values())


def test_retention_keeps_the_last_n_and_every_kth(tmp_path):
  result = toy_training.run(str(tmp_path), 12, checkpoint_every_steps=2,
                            keep_checkpoints=2, keep_checkpoint_period=4)
  assert result.checkpoint_steps == [0, 4, 8, 10, 12]


def test_a_parameters_only_checkpoint_is_not_taken_for_a_corrupt_one(tmp_path):
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  params = {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}
  manager = ocp.CheckpointManager(
      str(tmp_path), options=ocp.CheckpointManagerOptions(create=True),
      item_names=("params", "opt_state", "meta"))
  manager.save(0, args=ocp.args.Composite(
      params=ocp.args.StandardSave(params), meta=ocp.args.JsonSave({})))
  manager.wait_until_finished()
  manager.close()
  ckpt = checkpointer_lib.Checkpointer(str(tmp_path))
  with pytest.raises(ValueError, match="initial_checkpoint"):
    ckpt.restore_latest(params, {"v": np.zeros(3, np.float32)})
  assert ckpt.all_steps() == [0]  # left in place


def _digest(directory: str) -> dict[str, str]:
  """Every file under `directory` with a hash of its bytes."""
  digests = {}
  for path in sorted(glob.glob(os.path.join(directory, "**"), recursive=True)):
    if os.path.isfile(path):
      with open(path, "rb") as f:
        digests[os.path.relpath(path, directory)] = hashlib.sha256(
            f.read()).hexdigest()
  return digests


@pytest.fixture(scope="module")
def three_step_run(tmp_path_factory):
  model_dir = str(tmp_path_factory.mktemp("three_steps"))
  toy_training.run(model_dir, 3)
  return model_dir


def test_resuming_with_another_model_stops_and_changes_no_file(three_step_run):
  before = _digest(three_step_run)
  wider = toy_training.tiny_model()
  wider = dataclasses.replace(
      wider, config=dataclasses.replace(wider.config, d_ff=96))
  with pytest.raises(checkpointer_lib.CheckpointMismatchError) as error:
    toy_training.run(three_step_run, 6, model=wider)
  message = str(error.value)
  assert "\n" not in message
  assert "/wi_0/kernel has shape (32, 64) in the checkpoint but (32, 96)" in (
      message), message
  assert os.path.join(three_step_run, "checkpoints", "3") in message
  assert "another model" in message
  assert _digest(three_step_run) == before  # nothing renamed, nothing written


def test_resuming_with_another_optimizer_names_the_optimizer(three_step_run):
  before = _digest(three_step_run)
  with pytest.raises(checkpointer_lib.CheckpointMismatchError,
                     match=r"opt_state .*another optimizer"):
    toy_training.run(three_step_run, 6, optimizer="adamw")
  assert _digest(three_step_run) == before


def test_a_failed_background_save_stops_the_run(tmp_path, monkeypatch):
  from orbax.checkpoint._src.path import atomicity  # pylint: disable=g-import-not-at-top
  finalize = atomicity.AtomicRenameTemporaryPath.finalize

  async def failing_for_step_2(self, *args, **kwargs):
    if os.path.basename(str(self.get_final())) == "2":
      raise OSError("injected write failure")
    return await finalize(self, *args, **kwargs)

  monkeypatch.setattr(atomicity.AtomicRenameTemporaryPath, "finalize",
                      failing_for_step_2)
  with pytest.raises(checkpointer_lib.CheckpointSaveError,
                     match="saving checkpoint step 2 .* failed"):
    toy_training.run(str(tmp_path), 6, checkpoint_every_steps=2)
  steps = checkpointer_lib.Checkpointer(
      os.path.join(str(tmp_path), "checkpoints"), read_only=True).all_steps()
  assert 2 not in steps and max(steps) <= 2  # it stopped at the next save

"""Checksums recorded at save catch bytes changed afterwards (bit rot, a
half-synced copy), which orbax itself restores as other numbers."""

import glob
import json
import logging
import os

import jax
import numpy as np
import pytest

import toy_training
from flan_jax.checkpoints import checkpointer as checkpointer_lib
from flan_jax.checkpoints import integrity
from flan_jax.parallel import partitioning
from flan_jax.steps import builder
from flan_jax.train import train_state


def _state():
  model = toy_training.tiny_model()
  shapes = builder.model_input_shapes(model.feature_converter(pack=True),
                                      toy_training.LENGTHS, 8)
  return train_state.step_builder(model, toy_training.tiny_optimizer(),
                                  partitioning.Partitioner(), shapes
                                  ).init_state()


def damage_largest_array_file(step_dir: str, item: str = "params") -> str:
  """Overwrites 300 bytes in the middle of the item's largest data file."""
  files = glob.glob(os.path.join(step_dir, item, "**", "d", "*"),
                    recursive=True)
  target = max(files, key=os.path.getsize)
  with open(target, "r+b") as f:
    f.seek(os.path.getsize(target) // 2)
    f.write(np.random.default_rng(0).bytes(300))
  return target


@pytest.fixture(name="saved")
def fixture_saved(tmp_path):
  state = _state()
  checkpointer = checkpointer_lib.Checkpointer(str(tmp_path))
  checkpointer.save(3, state.params, state.opt_state)
  checkpointer.wait()
  return checkpointer, state


def test_every_file_of_a_step_is_recorded_before_the_commit(saved):
  checkpointer, _ = saved
  step_dir = checkpointer.step_directory(3)
  recorded = json.load(open(os.path.join(step_dir, integrity.MANIFEST)))
  on_disk = {os.path.relpath(p, step_dir)
             for p in glob.glob(os.path.join(step_dir, "**", "*"),
                                recursive=True) if os.path.isfile(p)}
  assert set(recorded["files"]) == on_disk - {
      integrity.MANIFEST, "commit_success.txt", "_CHECKPOINT_METADATA",
      "params/commit_success.txt", "opt_state/commit_success.txt",
      "meta/commit_success.txt"}
  assert any("/d/" in name for name in recorded["files"])
  assert integrity.verify(step_dir) == integrity.Verification(recorded=True)


def test_orbax_alone_restores_damaged_bytes_as_other_numbers(saved):
  """Why flan_jax records its own checksums (integrity's docstring)."""
  checkpointer, state = saved
  step_dir = checkpointer.step_directory(3)
  os.remove(os.path.join(step_dir, integrity.MANIFEST))  # as before
  damage_largest_array_file(step_dir)
  params, _, _ = checkpointer.restore(3, state.params, None)
  differs = [not np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
             for a, b in zip(jax.tree.leaves(params),
                             jax.tree.leaves(state.params))]
  assert any(differs)  # no error: other numbers


def test_a_damaged_step_is_refused_naming_the_file(saved):
  checkpointer, state = saved
  damaged = damage_largest_array_file(checkpointer.step_directory(3))
  with pytest.raises(checkpointer_lib.CheckpointDamagedError) as e:
    checkpointer.restore(3, state.params, None)
  message = str(e.value)
  assert damaged in message and "SHA-256 differs" in message
  assert len(message.splitlines()) == 1


def test_damaged_optimizer_state_is_named(saved):
  checkpointer, state = saved
  damaged = damage_largest_array_file(checkpointer.step_directory(3),
                                      "opt_state")
  with pytest.raises(checkpointer_lib.CheckpointDamagedError,
                     match=damaged):
    checkpointer.restore(3, state.params, state.opt_state)


def test_a_step_without_checksums_loads_with_a_note(saved, caplog):
  checkpointer, state = saved
  os.remove(os.path.join(checkpointer.step_directory(3), integrity.MANIFEST))
  with caplog.at_level(logging.INFO, logger="flan_jax"):
    params, _, _ = checkpointer.restore(3, state.params, None)
  assert "no recorded checksums" in caplog.text
  for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(state.params)):
    np.testing.assert_array_equal(a, b)


def test_a_missing_or_truncated_file_is_damage(saved):
  checkpointer, _ = saved
  step_dir = checkpointer.step_directory(3)
  victim = os.path.join(step_dir, "meta", "metadata")
  with open(victim, "r+b") as f:
    f.truncate(10)
  found = integrity.verify(step_dir)
  assert found.damaged.startswith(victim) and "bytes, but" in found.damaged
  os.remove(victim)
  assert "missing" in integrity.verify(step_dir).damaged

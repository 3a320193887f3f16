"""Two processes on one machine (gloo CPU collectives) train like one process."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

import toy_training
from flan_jax.parallel import distributed

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 6


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.mark.slow  # three training processes: minutes on 2 cores
def test_two_processes_give_the_same_losses_as_one(tmp_path):
  # One process: the global batches do not depend on the process count.
  single = toy_training.run(str(tmp_path / "single"), STEPS)
  port = _free_port()
  env = dict(os.environ, PYTHONPATH=os.path.dirname(TESTS_DIR),
             XLA_FLAGS="--xla_force_host_platform_device_count=1")
  children = []
  for process_id in range(2):
    args = {"model_dir": str(tmp_path / "multi"), "steps": STEPS,
            "distributed": {"coordinator_address": f"127.0.0.1:{port}",
                            "num_processes": 2, "process_id": process_id}}
    children.append(subprocess.Popen(
        [sys.executable, os.path.join(TESTS_DIR, "toy_training.py"),
         json.dumps(args)], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True))
  outputs = []
  for child in children:
    try:
      out, err = child.communicate(timeout=900)
    except subprocess.TimeoutExpired:
      for c in children:
        c.kill()
      raise
    assert child.returncode == 0, err[-3000:]
    assert "process 1 of 2" in err or "process 0 of 2" in err
    outputs.append(json.loads(out.strip().splitlines()[-1]))
  # Both processes see the same global losses, equal to the single process's.
  np.testing.assert_allclose(outputs[0]["losses"], outputs[1]["losses"],
                             rtol=0)
  np.testing.assert_allclose(outputs[0]["losses"], toy_training.losses(single),
                             rtol=1e-5)
  assert outputs[0]["checkpoint_steps"] == [0, STEPS]
  # Only process 0 wrote summaries.
  events = os.listdir(tmp_path / "multi" / "train")
  assert len(events) == 1


def test_single_process_start_up_needs_no_coordinator(monkeypatch):
  for name in ("SLURM_JOB_ID", "TPU_WORKER_HOSTNAMES", "OMPI_COMM_WORLD_SIZE",
               "JOBSET_NAME", "FLAN_JAX_COORDINATOR_ADDRESS"):
    monkeypatch.delenv(name, raising=False)
  assert distributed.detected_cluster() is None
  monkeypatch.setenv("SLURM_JOB_ID", "1")
  monkeypatch.setenv("SLURM_NTASKS", "4")
  assert distributed.detected_cluster() == "SLURM"
  monkeypatch.setenv("FLAN_JAX_COORDINATOR_ADDRESS", "127.0.0.1:1")
  with pytest.raises(ValueError, match="num_processes"):
    distributed.initialize()

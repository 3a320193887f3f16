"""Two processes on one machine (gloo CPU collectives) train like one process,
stop together on a SIGTERM to either, and resume on a different count."""

import json
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest

import toy_training
from flan_jax.parallel import distributed

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 12


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _start(args: dict, process_id: int, port: int) -> subprocess.Popen:
  env = dict(os.environ, PYTHONPATH=os.path.dirname(TESTS_DIR),
             XLA_FLAGS="--xla_force_host_platform_device_count=1")
  args = {**args, "distributed": {"coordinator_address": f"127.0.0.1:{port}",
                                  "num_processes": 2,
                                  "process_id": process_id}}
  return subprocess.Popen(
      [sys.executable, os.path.join(TESTS_DIR, "toy_training.py"),
       json.dumps(args)], env=env, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True)


def _wait_for_step(child: subprocess.Popen, step: int) -> list[str]:
  lines = []
  for line in child.stderr:
    lines.append(line)
    if f"step {step}/{STEPS}" in line:
      return lines
  raise AssertionError(f"child ended before step {step}: {''.join(lines)}")


@pytest.mark.slow  # three training processes: minutes on 2 cores
def test_two_processes_train_like_one_stop_together_and_resume_on_one(
    tmp_path):
  # One process: the global batches do not depend on the process count.
  single = toy_training.run(str(tmp_path / "single"), STEPS)
  # Two processes; SIGTERM reaches process 1 only, as a preemption notice
  # may; they agree on it every 2 steps and both save and stop.
  args = {"model_dir": str(tmp_path / "multi"), "steps": STEPS,
          "preemption_check_every_steps": 2}
  port = _free_port()
  children = [_start(args, process_id, port) for process_id in range(2)]
  outputs = []
  try:
    early = _wait_for_step(children[1], 3)
    children[1].send_signal(signal.SIGTERM)
    for child in children:
      out, err = child.communicate(timeout=900)
      assert child.returncode == 0, err[-3000:]
      outputs.append((json.loads(out.strip().splitlines()[-1]),
                      "".join(early) + err if child is children[1] else err))
  finally:
    for child in children:
      child.kill()
  (first, first_log), (second, _) = outputs
  assert "process 0 of 2" in first_log
  # Both stopped at the same step: a check step (every 2), at most two
  # checks after the signal (sent at step 3 or, the parent lagging, soon after).
  assert first["preempted"] and second["preempted"]
  stopped = first["final_step"]
  assert second["final_step"] == stopped and stopped % 2 == 0
  assert 4 <= stopped <= 10 < STEPS
  assert stopped in first["checkpoint_steps"]
  # Same global losses on both processes, equal to the single process's.
  np.testing.assert_allclose(first["losses"], second["losses"], rtol=0)
  full = toy_training.losses(single)
  np.testing.assert_allclose(first["losses"], full[:stopped], rtol=1e-5)
  events = os.listdir(tmp_path / "multi" / "train")
  assert len(events) == 1  # only process 0 wrote summaries
  # Resumed on ONE process: the batches an uninterrupted run would see.
  resumed = toy_training.run(str(tmp_path / "multi"), STEPS)
  assert resumed.start_step == stopped and resumed.final_step == STEPS
  np.testing.assert_allclose(toy_training.losses(resumed), full[stopped:],
                             rtol=1e-5)


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

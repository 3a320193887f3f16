"""One writer per directory: a second holder is refused, a dead one is not."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from flan_jax.checkpoints import run_lock

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _lock(directory, **kwargs):
  return run_lock.RunLock(str(directory), "training", setting="x.dir",
                          **kwargs)


def _write_holder(directory, **fields):
  record = {"purpose": "training", "host": socket.gethostname(),
            "pid": os.getpid(), "started": time.time(),
            "renewed": time.time(), **fields}
  (directory / run_lock.LOCK_FILE).write_text(json.dumps(record))


def test_a_second_holder_is_refused_naming_the_first(tmp_path):
  with _lock(tmp_path):
    with pytest.raises(run_lock.RunLockedError) as error:
      _lock(tmp_path).acquire()
    message = str(error.value)
    assert f"pid {os.getpid()}" in message and socket.gethostname() in message
    assert "training" in message and "\n" not in message
  assert not (tmp_path / run_lock.LOCK_FILE).exists()  # released
  with _lock(tmp_path):  # and free again
    pass


def test_a_dead_holders_lock_is_taken_over(tmp_path):
  dead = subprocess.Popen([sys.executable, "-c", "pass"])
  dead.wait()
  _write_holder(tmp_path, pid=dead.pid)
  with _lock(tmp_path) as lock:
    holder = json.loads((tmp_path / run_lock.LOCK_FILE).read_text())
    assert holder["pid"] == os.getpid() and lock.path.endswith(
        run_lock.LOCK_FILE)


def test_a_lease_not_renewed_elsewhere_expires(tmp_path):
  _write_holder(tmp_path, host="another-host", pid=1,
                renewed=time.time() - 30)
  with pytest.raises(run_lock.RunLockedError, match="another-host"):
    _lock(tmp_path, lease_seconds=60).acquire()
  with _lock(tmp_path, lease_seconds=10):  # 30 s without renewal: stale
    pass


def test_the_holder_renews_its_lease(tmp_path):
  with _lock(tmp_path, lease_seconds=0.6):
    first = json.loads((tmp_path / run_lock.LOCK_FILE).read_text())
    time.sleep(0.5)
    later = json.loads((tmp_path / run_lock.LOCK_FILE).read_text())
  assert later["renewed"] > first["renewed"]
  assert later["started"] == first["started"]


def test_a_model_dir_that_is_a_file_is_a_config_error(tmp_path):
  path = tmp_path / "run"
  path.write_text("not a directory")
  with pytest.raises(run_lock.errors.ConfigError, match="is a file"):
    _lock(path).acquire()
  assert path.read_text() == "not a directory"


def _start(model_dir, steps, every):
  env = dict(os.environ, PYTHONPATH=os.path.dirname(TESTS_DIR))
  args = {"model_dir": model_dir, "steps": steps,
          "checkpoint_every_steps": every}
  return subprocess.Popen(
      [sys.executable, os.path.join(TESTS_DIR, "toy_training.py"),
       json.dumps(args)], env=env, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True)


def test_two_trainers_on_one_model_dir_the_second_stops(tmp_path):
  model_dir = str(tmp_path / "run")
  # Long enough to outlast the second's start-up; stopped by SIGTERM below.
  first = _start(model_dir, 100_000, 20)
  for line in first.stderr:  # progress lines: "step N/100000 | ..."
    if line.startswith("step 2/"):
      break
  else:
    raise AssertionError("the first trainer never reached step 2")
  second = _start(model_dir, 100_000, 20)
  _, err = second.communicate(timeout=600)
  assert second.returncode != 0
  assert "RunLockedError" in err and "is in use by training" in err
  assert f"pid {first.pid}" in err
  first.send_signal(signal.SIGTERM)  # preemption: save and stop cleanly
  out, _ = first.communicate(timeout=900)
  assert first.returncode == 0
  summary = json.loads(out.strip().splitlines()[-1])
  final = summary["final_step"]
  # Every checkpoint the first was due to write is there, none clobbered.
  assert summary["checkpoint_steps"] == sorted(
      set(range(0, final + 1, 20)) | {final})

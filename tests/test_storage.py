"""Runs in a bucket: every output of train → kill → resume → eval →
report lands in a local GCS emulator, and nothing on the local disk.

The emulator (tests/gcs_emulator.py) is reached by each storage client the
run uses: tf.io.gfile (flan_jax.storage, orbax's etils.epath, TensorBoard,
the example cache) through an HTTPS proxy, tensorstore (orbax's arrays)
and google-cloud-storage (the run lock) directly. The run's processes work
in an empty folder: a URI taken for a local path (``os.path.abspath`` makes
``<cwd>/gs:/runs/...``) would leave files there, and the test fails.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import jax
import pytest

import gcs_emulator  # the test extra installs it: missing, this fails
from flan_jax import storage
from flan_jax.checkpoints import integrity
from flan_jax.checkpoints import run_lock
from flan_jax.models import hf

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def gcs():
  with gcs_emulator.GcsEmulator() as emulator:
    emulator.create_bucket("runs")
    saved = dict(os.environ)
    os.environ.update(emulator.environment())
    try:
      yield emulator
    finally:
      os.environ.clear()
      os.environ.update(saved)


def _start(phase, gcs, cwd):
  env = dict(os.environ, **gcs.environment(),
             PYTHONPATH=os.path.dirname(TESTS_DIR),
             XLA_FLAGS="--xla_force_host_platform_device_count=1",
             # The two processes (and other tests) compile the same steps.
             JAX_COMPILATION_CACHE_DIR=jax.config.jax_compilation_cache_dir,
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
             JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
  return subprocess.Popen(
      [sys.executable, os.path.join(TESTS_DIR, "gcs_workflow.py"), phase,
       "gs://runs"], env=env, cwd=cwd, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True)


def test_storage_calls_on_the_emulator(gcs):
  base = "gs://runs/unit"
  assert storage.absolute(base + "/") == base
  storage.write_atomic(f"{base}/a/x.json", '{"a": 1}')
  storage.write_atomic(f"{base}/a/sub/y.bin", b"\x00\x01")
  assert storage.read_text(f"{base}/a/x.json") == '{"a": 1}'
  assert storage.exists(f"{base}/a/x.json") and storage.isdir(f"{base}/a")
  assert storage.isfile(f"{base}/a/x.json")
  assert not storage.isfile(f"{base}/a")
  assert storage.listdir(f"{base}/a") == ["sub", "x.json"]
  storage.move_directory(f"{base}/a", f"{base}/b")
  assert not storage.exists(f"{base}/a/x.json")
  assert storage.read_bytes(f"{base}/b/sub/y.bin") == b"\x00\x01"
  with pytest.raises(FileNotFoundError):
    storage.read_bytes(f"{base}/missing")
  with storage.staged_output(f"{base}/staged.txt") as local:
    assert not storage.is_uri(local)
    with open(local, "w") as f:
      f.write("staged")
  with storage.staged_input(f"{base}/staged.txt") as local:
    with open(local) as f:
      assert f.read() == "staged"
  names = gcs.object_names("runs")
  assert "unit/b/x.json" in names
  assert not [n for n in names if ".tmp" in n]  # one upload, no temporary
  assert gcs.tunnels > 0  # tf.io.gfile went to the emulator


def test_directories_appear_whole_in_a_bucket(gcs):
  target = "gs://runs/unit/hf_export"
  with pytest.raises(ZeroDivisionError):
    with hf.atomic_directory(target) as tmp:
      with open(os.path.join(tmp, "config.json"), "w") as f:
        f.write("{}")
      raise ZeroDivisionError  # a writer that fails half-way uploads nothing
  assert not storage.exists(target + "/config.json")
  with hf.atomic_directory(target) as tmp:
    os.makedirs(os.path.join(tmp, "tokenizer"))
    for name in ("config.json", "tokenizer/spiece.model"):
      with open(os.path.join(tmp, name), "w") as f:
        f.write(name)
  names = gcs.object_names("runs")
  assert {"unit/hf_export/config.json", "unit/hf_export/tokenizer/spiece.model",
          "unit/hf_export/" + storage.COMMIT_MARKER} <= set(names)
  with pytest.raises(hf.HfConversionError, match="already exists"):
    with hf.atomic_directory(target):
      pass
  with storage.staged_directory(target) as local:
    with open(os.path.join(local, "tokenizer", "spiece.model")) as f:
      assert f.read() == "tokenizer/spiece.model"


def test_the_run_lock_in_a_bucket_has_one_holder(gcs):
  first = run_lock.RunLock("gs://runs/locked", "train", setting="MODEL_DIR")
  with first:
    assert "locked/.flan_jax.lock" in gcs.object_names("runs")
    second = run_lock.RunLock("gs://runs/locked", "train", setting="MODEL_DIR")
    with pytest.raises(run_lock.RunLockedError):
      second.acquire()
  assert "locked/.flan_jax.lock" not in gcs.object_names("runs")
  with run_lock.RunLock("gs://runs/locked", "train", setting="MODEL_DIR"):
    pass  # free again


def test_train_kill_resume_eval_report_all_in_the_bucket(gcs, tmp_path):
  cwd = tmp_path / "cwd"
  cwd.mkdir()
  child = _start("train", gcs, str(cwd))
  deadline = time.time() + 300
  for line in child.stderr:
    if "step 4/6" in line:
      break
    assert time.time() < deadline, "training too slow"
  else:
    raise AssertionError(f"ended before step 4: {child.wait()}")
  # Killed once step 2's checkpoint is committed (saves are asynchronous).
  while "run/checkpoints/2/commit_success.txt" not in gcs.object_names("runs"):
    assert time.time() < deadline and child.poll() is None, "no checkpoint 2"
    time.sleep(0.2)
  child.kill()
  child.wait(timeout=60)
  assert child.returncode == -signal.SIGKILL

  # The fault: 300 bytes overwritten inside an array file of the newest
  # committed step. The resumed run sets that step aside and restores the
  # one before, with a warning naming the file.
  committed = sorted(int(m.group(1)) for m in (
      re.fullmatch(r"run/checkpoints/(\d+)/commit_success.txt", n)
      for n in gcs.object_names("runs")) if m)
  assert committed[-1] >= 2, committed
  data = [f"gs://runs/{n}" for n in gcs.object_names("runs")
          if n.startswith(f"run/checkpoints/{committed[-1]}/params/")
          and "/d/" in n]
  damaged = max(data, key=lambda path: len(storage.read_bytes(path)))
  content = bytearray(storage.read_bytes(damaged))
  content[len(content) // 2:len(content) // 2 + 300] = bytes(300)
  storage.write_atomic(damaged, bytes(content))

  child = _start("resume", gcs, str(cwd))
  out, err = child.communicate(timeout=600)
  assert child.returncode == 0, err[-4000:]
  done = json.loads(out.strip().splitlines()[-1])
  assert done["train"]["start_step"] == committed[-2]
  warning = next(l for l in err.splitlines() if "cannot be restored" in l)
  assert damaged in warning and "SHA-256 differs" in warning
  assert any(n.startswith(f"run/checkpoints/{committed[-1]}.corrupt-")
             for n in gcs.object_names("runs"))
  assert done["train"]["final_step"] == 6 and done["eval_step"] == 6
  assert all(path.startswith("gs://runs/report/")
             for path in done["report"].values())

  names = gcs.object_names("runs")
  def under(prefix):
    return [n for n in names if n.startswith(prefix)]
  assert "run/config.gin" in names
  assert under("run/train/events.out.tfevents")  # TensorBoard
  assert "run/checkpoints/6/commit_success.txt" in names  # orbax's marker
  assert f"run/checkpoints/6/{integrity.MANIFEST}" in names  # checksums
  assert under("run/checkpoints/6/params/")
  assert under("cache/") and "eval/results.json" in names
  assert len(under("eval/tasks/")) >= 2 and "eval/job.json" in names
  assert {"report/report.md", "report/clusters.png"} <= set(names)
  assert "infer/echo.jsonl" in names
  assert not any(".flan_jax.lock" in n for n in names)  # released
  assert not list(cwd.iterdir())  # nothing written on the local disk
  results = json.loads(storage.read_text("gs://runs/eval/results.json"))
  assert results["step"] == 6
  # HF export into the bucket and conversion back from it, losslessly.
  assert {"hf/config.json", "hf/model.safetensors",
          "converted/model.gin"} <= set(names)
  assert "converted/checkpoints/0/commit_success.txt" in names
  assert done["converted"] == "gs://runs/converted/checkpoints/0"
  assert done["hf_round_trip_max_diff"] == 0.0

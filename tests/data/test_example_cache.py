"""The example cache: shards committed one by one, resumed after a kill,
shared by workers; scripts/cache_tasks.py's progress and one-line errors."""

import os
import subprocess
import sys

import numpy as np
import pytest
import seqio

import toy_tasks  # pylint: disable=unused-import
from flan_jax.data import example_cache

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TASK = "toy:echo:train"


@pytest.fixture
def small_shards(monkeypatch):
  monkeypatch.setattr(example_cache, "EXAMPLES_PER_SHARD", 20)  # 64 -> 4


def _assert_equal(a, b):
  for f in ("inputs", "targets"):
    np.testing.assert_array_equal(a.tokens[f], b.tokens[f])
    np.testing.assert_array_equal(a.offsets[f], b.offsets[f])


def test_a_killed_writer_resumes_at_the_first_missing_shard(small_shards,
                                                           tmp_path):
  task = seqio.get_mixture_or_task(TASK)
  progress = []
  assert example_cache.write(task, "train", str(tmp_path),
                             on_progress=lambda *a: progress.append(a))
  assert progress[-1] == (64, 64) and len(progress) == 4
  directory = example_cache.split_dir(str(tmp_path), TASK, "train")
  names = sorted(os.listdir(directory))
  assert names[0] == "info.json" and len(names) == 9
  # As if killed while writing shard 2: its marker and info.json missing.
  os.remove(os.path.join(directory, "info.json"))
  os.remove(os.path.join(directory, "shard-00002-of-00004.json"))
  assert example_cache.read(str(tmp_path), task, "train") is None
  stamps = {n: os.path.getmtime(os.path.join(directory, n)) for n in names
            if n.endswith(".npz")}
  progress.clear()
  assert example_cache.write(task, "train", str(tmp_path),
                             on_progress=lambda *a: progress.append(a))
  assert progress == [(64, 64)]  # only shard 2 was written again
  for name, stamp in stamps.items():
    if "00002" not in name:
      assert os.path.getmtime(os.path.join(directory, name)) == stamp
  _assert_equal(example_cache.read(str(tmp_path), task, "train"),
                example_cache.tokenize(task, "train"))


def test_workers_share_the_shards_and_the_last_commits(small_shards,
                                                       tmp_path):
  task = seqio.get_mixture_or_task(TASK)
  assert not example_cache.write(task, "train", str(tmp_path), worker=(0, 2))
  assert example_cache.read_info(str(tmp_path), TASK, "train") is None
  assert example_cache.write(task, "train", str(tmp_path), worker=(1, 2))
  assert example_cache.read_info(str(tmp_path), TASK, "train")[
      "examples_per_shard"] == [16, 16, 16, 16]


def _script(*args):
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      [ROOT, os.path.join(ROOT, "tests")]))
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, "scripts", "cache_tasks.py"),
       "--module=toy_tasks", *args], env=env, capture_output=True, text=True,
      timeout=300, check=False)


def test_cache_tasks_script_progress_and_one_line_errors(tmp_path):
  out = str(tmp_path / "cache")
  done = _script("--tasks=toy:train:no_mood", f"--output_cache_dir={out}")
  assert done.returncode == 0, done.stderr[-2000:]
  assert "ETA" in done.stdout and "2 of 2 task splits complete" in done.stdout
  assert sorted(os.listdir(out)) == ["toy:echo:train", "toy:shout:train"]
  # A misspelt name and an unwritable directory: one line each, no traceback.
  blocker = tmp_path / "a_file"
  blocker.write_text("")
  for args, expected in (
      (["--tasks=toy:train:no_moood", f"--output_cache_dir={out}"],
       "closest registered names: toy:train:no_mood"),
      (["--tasks=toy:train:no_mood", f"--output_cache_dir={blocker}/cache"],
       "is not writable")):
    failed = _script(*args)
    assert failed.returncode == 1
    assert expected in failed.stderr and "Traceback" not in failed.stderr


def _assert_same_rows(got, expected):
  assert len(got) == len(expected) > 0
  for a, b in zip(got, expected):
    assert a.keys() == b.keys()
    for key in a:
      assert type(a[key]) is type(b[key]), key  # pylint: disable=unidiomatic-typecheck
      if isinstance(a[key], np.ndarray):
        assert a[key].dtype == b[key].dtype, key
      np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.parametrize("task_name", ["toy:choice:t0:score",
                                       "toy:echo:t0:gen"])
def test_eval_rows_read_back_as_the_eval_job_builds_them(tmp_path, task_name):
  from flan_jax.evaluation import examples  # pylint: disable=g-import-not-at-top
  task = seqio.get_mixture_or_task(task_name)
  assert example_cache.read_rows(str(tmp_path), task, "test") is None
  count = example_cache.write_rows(task, "test", str(tmp_path))
  cached = example_cache.read_rows(str(tmp_path), task, "test")
  assert count == len(cached)
  _assert_same_rows(cached, example_cache.rows(task, "test"))
  # What the eval job reads (tokens capped, option rows kept) is the same.
  lengths = {"inputs": 12, "targets": 4}
  _assert_same_rows(
      examples.load_examples(task, "test", feature_lengths=lengths,
                             cache_dir=str(tmp_path)),
      examples.load_examples(task, "test", feature_lengths=lengths))

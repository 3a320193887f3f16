"""scripts/demo.py on tiny settings: tunes from the shipped pretrained base,
whose parameters are step 0 of the run, and reports both."""

import os
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

from flan_jax.checkpoints import loading
from flan_jax.cli import gin_config

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = ["--gin.TRAIN_STEPS=2", "--gin.BATCH_SIZE=2",
        "--gin.EVAL_MIXTURE='demo:eval:sentiment'",
        "--gin.evaluate.max_examples=2", "--gin.train.log_every_steps=1"]


def _demo(model_dir, *flags):
  env = {**os.environ, "PYTHONPATH": str(ROOT)}
  return subprocess.run(
      [sys.executable, str(ROOT / "scripts" / "demo.py"),
       f"--model_dir={model_dir}", *TINY, *flags],
      capture_output=True, text=True, env=env, cwd=str(ROOT), check=False)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
  model_dir = tmp_path_factory.mktemp("demo")
  return model_dir, _demo(model_dir)


def test_the_demo_prints_base_and_tuned_scores(demo_run):
  model_dir, result = demo_run
  assert result.returncode == 0, result.stderr[-2000:]
  assert "tuning from the pretrained base" in result.stdout
  assert ("| cluster | status | pretrained base (step 0) | tuned (step 2) |"
          in result.stdout)
  assert "| sentiment | HELD OUT |" in result.stdout
  assert (model_dir / "report" / "clusters.png").exists()
  assert "| sentiment | HELD OUT |" in (model_dir /
                                        "demo_results.md").read_text()


def test_step_0_is_the_shipped_base(demo_run):
  model_dir, _ = demo_run
  import gin  # pylint: disable=g-import-not-at-top
  with gin.unlock_config():
    gin.clear_config()
    # By absolute path: under pytest, "models/..." can resolve to the
    # tests/models package, which gin then fails to read.
    gin_config.parse_gin([os.path.join(gin_config.REPO_GIN_DIR, "models",
                                       "t5_demo.gin")])
    model = gin_config.model_macro()
    gin.clear_config()
  base_dir, base_step = loading.step_directory(
      gin_config.demo_base_checkpoint())
  base = loading.load_params(model, base_dir, base_step)
  step0 = loading.load_params(model, str(model_dir / "checkpoints"), 0)
  for a, b in zip(jax.tree.leaves(base), jax.tree.leaves(step0)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_run_of_another_cluster_is_not_mixed_in(demo_run):
  model_dir, _ = demo_run
  result = _demo(model_dir, "--held_out=nli")
  assert result.returncode != 0
  assert ("holds a demo run with MIXTURE = 'demo:train:no_sentiment', not "
          "'demo:train:no_nli'; use another --model_dir") in result.stderr
  assert "Traceback" not in result.stderr

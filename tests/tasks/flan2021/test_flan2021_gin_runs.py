"""One gin line names a FLAN 2021 mixture; trainer and eval job run on it.

Uses gin/runs/flan2021_t5.gin with the model shrunk and TFDS mocked.
"""

import json
import os
import pathlib
import subprocess
import sys

import gin
import pytest

import mock_helpers
from flan_jax.cli import gin_config
from flan_jax.data import lookup

RUNS = pathlib.Path(gin_config.REPO_GIN_DIR) / "runs"
TINY = [
    "T5Config.vocab_size = 1024", "T5Config.d_model = 32",
    "T5Config.num_heads = 2", "T5Config.head_dim = 16", "T5Config.d_ff = 64",
    "T5Config.num_encoder_layers = 1", "T5Config.num_decoder_layers = 1",
    "T5Config.dtype = 'float32'", "TRAIN_STEPS = 2", "BATCH_SIZE = 4",
    "TASK_FEATURE_LENGTHS = {'inputs': 256, 'targets': 32}",
    "train.checkpoint_every_steps = 2", "train.log_every_steps = 1",
    "evaluate.batch_size = 32",
]


@pytest.fixture(autouse=True)
def clean_gin():
  gin.clear_config()
  yield
  gin.clear_config()


@pytest.mark.slow  # about 40 s of CPU: builds every task of two mixtures
def test_flan_t5_run_trains_and_evaluates_on_flan_mixtures(tmp_path):
  import tasks.flan2021  # noqa: F401  (what the gin file's import does)
  gin_config.parse_gin(["runs/flan2021_t5.gin"], [
      *TINY,
      "MIXTURE = 'flan2021:ablation:num_clusters:1:train'",
      "EVAL_MIXTURE = 'flan2021:eval:linguistic_acceptability'",
      f"MODEL_DIR = '{tmp_path}'",
      f"EVAL_OUTPUT_DIR = '{tmp_path / 'eval'}'",
  ])
  with mock_helpers.preloaded_tfds(
      ["flan2021:ablation:num_clusters:1:train",
       "flan2021:eval:linguistic_acceptability"], num_examples=4):
    result = gin_config.train()
    assert result.final_step == 2
    results = gin_config.evaluate()
  cola = results["datasets"]["flan2021:cola"]
  assert len(cola["per_template"]) == 9  # one per non-inverted template
  assert 0.0 <= cola["score"] <= 100.0
  assert cola["status"] == "held_out"  # CoLA is not in the training mixture
  saved = json.loads((tmp_path / "eval" / "results.json").read_text())
  assert saved["eval_mixture"] == "flan2021:eval:linguistic_acceptability"


def test_a_misspelt_mixture_stops_with_suggestions(tmp_path):
  import tasks.flan2021  # noqa: F401
  gin_config.parse_gin(["runs/flan2021_t5.gin"], [
      *TINY, "MIXTURE = 'flan2021:train:no_nil'", f"MODEL_DIR = '{tmp_path}'"])
  with pytest.raises(lookup.UnknownTaskOrMixtureError,
                     match="closest registered names: flan2021:train:no_nli"):
    gin_config.train()
  assert not os.listdir(tmp_path)  # stopped before any work


def test_paper_run_file_names_the_paper_setup():
  text = (RUNS / "flan2021_lamda_pt_137b.gin").read_text()
  for line in ("include 'models/lamda_pt_137b.gin'",
               "include 'hardware/tpu_v3_128.gin'", "TRAIN_STEPS = 30000",
               "LEARNING_RATE = 3e-5",
               "TASK_FEATURE_LENGTHS = {'inputs': 1024, 'targets': 256}",
               "train.pack = True", "make_optimizer.name = 'adafactor'",
               "MIXTURE = 'flan2021:train:no_nli'",
               "EVAL_MIXTURE = 'flan2021:eval:nli'"):
    assert line in text, line


def test_paper_run_file_parses_and_its_step_fits_the_tpu_v3_slice():
  """The paper's run file, as a user launches it, through scripts/plan.py:
  the 137B model, the 128-core mesh and the 8 x 1,280-token batch resolve."""
  root = pathlib.Path(gin_config.REPO_GIN_DIR).parent
  out = subprocess.run(
      [sys.executable, str(root / "scripts" / "plan.py"),
       "--gin_file=runs/flan2021_lamda_pt_137b.gin"],
      capture_output=True, text=True, timeout=600, check=False, cwd=root)
  assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
  assert "137.9" in out.stdout and "fits" in out.stdout.lower(), out.stdout

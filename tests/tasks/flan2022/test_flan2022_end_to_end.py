"""Flan 2022 through scripts/train.py and scripts/eval.py: every template
type, input inversion, CoT with answer extraction, and the pre-rendered
Parquet and JSON-lines submixes, in one training and one eval run of a tiny
T5 (task module flan2022_e2e_tasks.py beside this file: the toy datasets in
the four types, CoT and pre-rendered data from fixture files written here).
And a missing FLAN checkout stops a script with one line."""

import json
import os
import pathlib
import subprocess
import sys
import tempfile

import pandas as pd
import pytest

import flan_checkout_fixture as fixture
from flan_jax.data import chain_of_thought
from flan_jax.data import prerendered

REPO = pathlib.Path(__file__).resolve().parents[3]
HERE = pathlib.Path(__file__).resolve().parent  # flan2022_e2e_tasks.py
GIN_FILES = ("models/t5_demo.gin", "runs/finetune.gin", "runs/eval.gin",
             "hardware/cpu.gin")
TINY = [
    "T5Config.d_model = 32", "T5Config.num_heads = 2", "T5Config.head_dim = 16",
    "T5Config.d_ff = 64", "T5Config.num_encoder_layers = 1",
    "T5Config.num_decoder_layers = 1", "TRAIN_STEPS = 2", "BATCH_SIZE = 4",
    "LEARNING_RATE = 0.01",
    "TASK_FEATURE_LENGTHS = {'inputs': 192, 'targets': 32}",
    "train.checkpoint_every_steps = 2", "train.log_every_steps = 1",
    "EncoderDecoderModel.max_decode_length = 12",
]


def _write_submix(directory, submix, form):
  directory.mkdir(parents=True)
  for split, count in (("train", 12), ("test", 3)):
    rows = [(f"{submix} question {i}?", f"answer {i}", f"{submix}_task",
             ("zsopt", "fsopt")[i % 2]) for i in range(count)]
    frame = pd.DataFrame(rows, columns=list(prerendered.COLUMNS))
    if form == "parquet":
      frame.to_parquet(directory / f"{split}-00000-of-00001.parquet")
    else:
      with open(directory / f"{split}.jsonl", "w") as f:
        for row in frame.to_dict("records"):
          f.write(json.dumps(row) + "\n")


def _run(script, tmp_path, bindings):
  env = dict(os.environ,
             PYTHONPATH=os.pathsep.join([str(REPO), str(HERE)]),
             HF_DATASETS_CACHE=str(tmp_path / "hf_cache"),
             HF_DATASETS_OFFLINE="1",
             # The test session's compilation cache (tests/conftest.py).
             JAX_COMPILATION_CACHE_DIR=os.path.join(
                 tempfile.gettempdir(), "flan_jax_test_jax_cache"),
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
             JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
  args = [sys.executable, str(REPO / "scripts" / script),
          "--module=flan2022_e2e_tasks",
          *[f"--gin_file={f}" for f in GIN_FILES],
          *[f"--gin.{b}" for b in bindings]]
  return subprocess.run(args, cwd=REPO, env=env, capture_output=True,
                        text=True, timeout=900, check=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("flan2022_e2e")
  checkout = fixture.write_checkout(str(tmp / "FLAN"))
  _write_submix(tmp / "flan2022" / "flan2021_submix", "flan2021", "parquet")
  _write_submix(tmp / "flan2022" / "t0_submix", "t0", "jsonl")
  model_dir = tmp / "run"
  data = [*TINY, f"FLAN_CHECKOUT = '{checkout}'",
          f"FLAN2022_DIR = '{tmp / 'flan2022'}'", "MIXTURE = 'e2e:train'",
          f"MODEL_DIR = '{model_dir}'", f"CHECKPOINT = '{model_dir}'",
          "EVAL_MIXTURE = 'e2e:eval'", "TRAINING_MIXTURE = 'e2e:train'",
          f"EVAL_OUTPUT_DIR = '{tmp / 'eval'}'"]
  train = _run("train.py", tmp, [*data, "INPUT_INVERSION = True"])
  assert train.returncode == 0, train.stdout[-3000:] + train.stderr[-3000:]
  evaluation = _run("eval.py", tmp, [
      *data, "evaluate.selection_split = None", "evaluate.max_examples = 3",
      "evaluate.write_examples = True", "evaluate.batch_size = 16"])
  assert evaluation.returncode == 0, (evaluation.stdout[-3000:] +
                                      evaluation.stderr[-3000:])
  return tmp, train, evaluation


def test_training_runs_the_mixture_with_input_inversion(runs):
  tmp, train, _ = runs
  log = train.stdout + train.stderr
  assert "e2e:train+inversion" in log
  assert (tmp / "run" / "checkpoints" / "2").is_dir()
  config = (tmp / "run" / "config.gin").read_text()
  assert "INPUT_INVERSION = True" in config


def test_every_kind_of_task_is_evaluated(runs):
  tmp, _, _ = runs
  results = json.loads((tmp / "eval" / "results.json").read_text())
  tasks = results["tasks"]
  assert len(tasks) == 8
  for kind in ("zsopt", "zsnoopt", "fsopt", "fsnoopt"):
    metrics = tasks[f"e2etoy:polarity:{kind}:t0:score"]["metrics"]
    assert 0.0 <= metrics["accuracy"] <= 100.0
  for kind in ("zsopt", "fsopt"):
    metrics = tasks[f"flan2022:cot_gsm8k:{kind}:t0:gen"]["metrics"]
    assert set(metrics) == {"exact_match", "numeric_match"}
  generated = [n for n in tasks if n.startswith("flan2022:prerendered:")]
  assert sorted(generated) == [
      "flan2022:prerendered:flan2021_submix:flan2021_task:t0:gen",
      "flan2022:prerendered:t0_submix:t0_task:t0:gen"]
  datasets = results["datasets"]
  assert {d["status"] for d in datasets.values()} == {"seen"}
  assert datasets["flan2022:cot_gsm8k:fsopt"]["clusters"] == ["cot"]


def _examples(tmp, task):
  path = tmp / "eval" / "examples" / f"{task}.test.jsonl"
  return [json.loads(line) for line in path.read_text().splitlines()]


def test_prompts_of_each_type_and_the_cot_answers(runs):
  tmp, _, _ = runs
  shown = _examples(tmp, "e2etoy:polarity:zsopt:t0:score")
  hidden = _examples(tmp, "e2etoy:polarity:zsnoopt:t0:score")
  assert all("OPTIONS:" in e["inputs"] for e in shown)
  assert hidden and not any("OPTIONS" in e["inputs"] for e in hidden)
  for kind, options in (("fsopt", 3), ("fsnoopt", 0)):  # 2 shots + query
    few = _examples(tmp, f"e2etoy:polarity:{kind}:t0:score")
    assert all(e["inputs"].count("Good or bad?") == 3 and
               e["inputs"].count("OPTIONS:") == options for e in few)
    assert all(e["options"] == ["bad", "good"] for e in few)
  cot = _examples(tmp, "flan2022:cot_gsm8k:zsopt:t0:gen")
  assert cot and all("Work it out step by step" in e["inputs"] for e in cot)
  # Targets are read back as the final answer after the rationale.
  rows = dict(line.split("\t")[:2] for line in
              (tmp / "FLAN" / "flan" / "v2" / "cot_data" /
               "gsm8k_train.tsv").read_text().splitlines())
  for e in cot:
    question = e["inputs"].split("\n")[0]
    assert e["target"].endswith(f"\nAnswer: {rows[question]}")
    assert chain_of_thought.final_answer(e["target"]) == rows[question]


def test_a_missing_checkout_stops_a_script_in_one_line(tmp_path):
  env = dict(os.environ, PYTHONPATH=str(REPO))
  missing = tmp_path / "no_flan"
  run = subprocess.run(
      [sys.executable, "scripts/train.py", "--gin_file=runs/demo.gin",
       "--gin.TEMPLATE_SET='paper'", f"--gin.FLAN_CHECKOUT='{missing}'",
       f"--gin.MODEL_DIR='{tmp_path / 'run'}'"],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
      check=False)
  assert run.returncode == 1
  assert "Traceback" not in run.stderr
  last = run.stderr.strip().splitlines()[-1]
  assert last == (f"train: FLAN_CHECKOUT '{missing}': no such directory; set "
                  "FLAN_CHECKOUT to a clone of https://github.com/google-"
                  "research/FLAN (git clone https://github.com/google-"
                  "research/FLAN <dir>)"), last
  assert not (tmp_path / "run").exists()

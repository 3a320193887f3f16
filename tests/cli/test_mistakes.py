"""Every expected mistake, in every script: one line, the right status, nothing lost.

Each case runs a real script (tests/script_runner.py) with one mistake a
user makes and checks, like a user reading the terminal:

- the exit status: 1 for a mistake in a setting, a name or a file, 2 for
  command-line usage (an unknown flag, a missing required flag, stray
  arguments);
- stderr ends with one line, `<script>: ...`, that names the setting or
  file (each case gives the words it must contain), and holds no traceback;
- no file of an existing run (MODEL_DIR) or eval output changed.
"""

import hashlib
import json
import pathlib

import pytest

import script_runner

SETTINGS = ["--gin.TRAIN_STEPS=2", "--gin.BATCH_SIZE=2",
            "--gin.TASK_FEATURE_LENGTHS={'inputs': 32, 'targets': 8}",
            "--gin.train.log_every_steps=1"]
# Mistake cases train into {w}/new_run, which must never be created.
TINY_RUN = ["--gin_file=runs/demo.gin", *SETTINGS,
            "--gin.MODEL_DIR='{w}/new_run'"]
ONE_TASK = "'demo:movie_review:t0:score'"


def _digest(directory) -> dict[str, str]:
  out = {}
  for path in sorted(pathlib.Path(directory).rglob("*")):
    if path.is_file():
      out[str(path.relative_to(directory))] = hashlib.sha256(
          path.read_bytes()).hexdigest()
  return out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
  """An existing run and eval output that no mistake may touch."""
  root = tmp_path_factory.mktemp("world")
  run_dir, eval_dir = root / "run", root / "eval"
  trained = script_runner.run("train.py", "--gin_file=runs/demo.gin",
                              *SETTINGS, f"--gin.MODEL_DIR='{run_dir}'")
  assert trained.status == 0, trained.stderr[-3000:]
  evaluated = script_runner.run(
      "eval.py", "--gin_file=runs/demo.gin", f"--gin.CHECKPOINT='{run_dir}'",
      f"--gin.EVAL_MIXTURE={ONE_TASK}", f"--gin.EVAL_OUTPUT_DIR='{eval_dir}'",
      "--gin.evaluate.max_examples=2", "--gin.evaluate.selection_split=None")
  assert evaluated.status == 0, evaluated.stderr[-3000:]
  (root / "empty").mkdir()
  (root / "a_file").write_text("not a directory\n")
  (root / "not_spm.model").write_text("this is not a SentencePiece model\n")
  (root / "bad.gin").write_text("include 'runs/demo.gin'\ntrain.seed = = 3\n")
  (root / "results.json").write_text("{not json")
  hf = root / "bert"
  hf.mkdir()
  (hf / "config.json").write_text(json.dumps({"model_type": "bert"}))
  return root


# (case id, script, arguments, environment, status, words the line names)
# "{w}" in an argument is the world fixture's folder.
CASES = [
    # --- train: gin files and bindings
    ("gin file missing", "train.py", ["--gin_file=runs/nope.gin"], {}, 1,
     ["gin file runs/nope.gin not found"]),
    ("gin file syntax", "train.py", ["--gin_file={w}/bad.gin"], {}, 1,
     ["bad.gin line 2", "does not parse"]),
    ("binding syntax", "train.py", [*TINY_RUN, "--gin.train.seed==3"], {}, 1,
     ["gin binding 'train.seed = =3'", "does not parse"]),
    ("unquoted string", "train.py", [*TINY_RUN, "--gin.MODEL_DIR=/tmp/x"],
     {}, 1, ["'MODEL_DIR = /tmp/x'", "inner quotes"]),
    ("misspelt configurable", "train.py", [*TINY_RUN, "--gin.trian.seed=1"],
     {}, 1, ["No configurable matching 'trian'"]),
    ("misspelt parameter", "train.py",
     [*TINY_RUN, "--gin.train.num_train_step=5"], {}, 1,
     ["doesn't have a parameter named 'num_train_step'"]),
    ("misspelt macro", "train.py", [*TINY_RUN, "--gin.TRAIN_STEP=5"], {}, 1,
     ["sets the macro TRAIN_STEP", "TRAIN_STEPS"]),
    ("gin flag without value", "train.py", [*TINY_RUN, "--gin.TRAIN_STEPS"],
     {}, 2, ["--gin.TRAIN_STEPS", "need a value"]),
    # --- train: settings
    ("steps not a number", "train.py", [*TINY_RUN, "--gin.TRAIN_STEPS='abc'"],
     {}, 1, ["is 'abc'", "whole number", "--gin.TRAIN_STEPS"]),
    ("negative steps", "train.py", [*TINY_RUN, "--gin.TRAIN_STEPS=-5"], {}, 1,
     ["is -5", "above 0", "--gin.TRAIN_STEPS"]),
    ("batch size 0", "train.py", [*TINY_RUN, "--gin.BATCH_SIZE=0"], {}, 1,
     ["train.batch_size is 0"]),
    ("batch does not split", "train.py",
     [*TINY_RUN, "--gin.train.num_microbatches=3"], {}, 1,
     ["train.batch_size is 2", "3 microbatch"]),
    ("lengths without targets", "train.py",
     [*TINY_RUN, "--gin.TASK_FEATURE_LENGTHS={'inputs': 32}"], {}, 1,
     ["train.task_feature_lengths", "lacks ['targets']"]),
    ("length not a number", "train.py",
     [*TINY_RUN, "--gin.TASK_FEATURE_LENGTHS={'inputs': 32, 'targets': 'x'}"],
     {}, 1, ["train.task_feature_lengths['targets'] is 'x'"]),
    ("learning rate not a number", "train.py",
     [*TINY_RUN, "--gin.LEARNING_RATE='fast'"], {}, 1,
     ["base_learning_rate is 'fast'"]),
    ("unknown optimizer", "train.py",
     [*TINY_RUN, "--gin.make_optimizer.name='sgd'"], {}, 1,
     ["make_optimizer.name is 'sgd'"]),
    ("unknown decay", "train.py",
     [*TINY_RUN, "--gin.learning_rate_schedule.decay='linear'"], {}, 1,
     ["learning_rate_schedule.decay is 'linear'"]),
    ("mesh larger than the machine", "train.py",
     [*TINY_RUN, "--gin.Partitioner.mesh_shape={'data': 4, 'model': 2}"], {},
     1, ["Partitioner.mesh_shape", "needs 8 devices"]),
    ("module that does not import", "train.py",
     [*TINY_RUN, "--module=no_such_tasks"], {}, 1,
     ["--module=no_such_tasks", "no module named"]),
    ("model dir is a file", "train.py",
     [*TINY_RUN, "--gin.MODEL_DIR='{w}/a_file'"], {}, 1,
     ["train.model_dir", "a_file, which is a file"]),
    ("misspelt mixture", "train.py",
     [*TINY_RUN, "--gin.MIXTURE='demo:train:no_nil'"], {}, 1,
     ["unknown task or mixture 'demo:train:no_nil'", "demo:train:no_nli"]),
    ("vocabulary missing", "train.py", TINY_RUN,
     {"FLAN_JAX_SPM_PATH": "/nonexistent/spiece.model"}, 1,
     ["FLAN_JAX_SPM_PATH=/nonexistent/spiece.model", "does not exist"]),
    ("vocabulary not sentencepiece", "train.py", TINY_RUN,
     {"FLAN_JAX_SPM_PATH": "{w}/not_spm.model"}, 1,
     ["not_spm.model is not a SentencePiece model"]),
    ("resume with another model", "train.py",
     [*TINY_RUN, "--gin_file=models/t5_1_1_tiny.gin",
      "--gin.MODEL_DIR='{w}/run'"], {}, 1,
     ["{w}/run/checkpoints/2 does not fit", "another model"]),
    ("resume a full run as LoRA", "train.py",
     [*TINY_RUN, "--gin_file=runs/lora.gin", "--gin.MODEL_DIR='{w}/run'"],
     {}, 1, ["{w}/run/checkpoints/2 does not fit", "LoRA rank"]),
    ("initial checkpoint not a step", "train.py",
     [*TINY_RUN, "--gin.MODEL_DIR='{w}/fresh'",
      "--gin.train.initial_checkpoint='{w}/run'"], {}, 1,
     ["not a checkpoint step directory"]),
    ("unknown flag", "train.py", [*TINY_RUN, "--gin_fil=runs/demo.gin"], {},
     2, ["gin_fil"]),
    ("stray argument", "train.py", [*TINY_RUN, "runs/demo.gin"], {}, 2,
     ["unexpected arguments: runs/demo.gin"]),
    # --- eval
    ("eval checkpoint missing", "eval.py",
     ["--gin_file=runs/demo.gin", "--gin.CHECKPOINT='{w}/nowhere'",
      "--gin.EVAL_OUTPUT_DIR='{w}/out1'"], {}, 1,
     ["{w}/nowhere does not exist"]),
    ("eval dir without checkpoints", "eval.py",
     ["--gin_file=runs/demo.gin", "--gin.CHECKPOINT='{w}/empty'",
      "--gin.EVAL_OUTPUT_DIR='{w}/out2'"], {}, 1,
     ["no checkpoints under {w}/empty"]),
    ("eval with another model", "eval.py",
     ["--gin_file=runs/demo.gin", "--gin_file=models/t5_1_1_tiny.gin",
      "--gin.CHECKPOINT='{w}/run'", f"--gin.EVAL_MIXTURE={ONE_TASK}",
      "--gin.EVAL_OUTPUT_DIR='{w}/out3'"], {}, 1,
     ["does not fit", "params"]),
    ("misspelt training mixture", "eval.py",
     ["--gin_file=runs/demo.gin", "--gin.CHECKPOINT='{w}/run'",
      f"--gin.EVAL_MIXTURE={ONE_TASK}", "--gin.EVAL_OUTPUT_DIR='{w}/out4'",
      "--gin.TRAINING_MIXTURE='demo:train:no_sentimnt'"], {}, 1,
     ["evaluate.training_mixture 'demo:train:no_sentimnt' is not registered",
      "demo:train:no_sentiment"]),
    ("misspelt split", "eval.py",
     ["--gin_file=runs/demo.gin", "--gin.CHECKPOINT='{w}/run'",
      f"--gin.EVAL_MIXTURE={ONE_TASK}", "--gin.EVAL_OUTPUT_DIR='{w}/out5'",
      "--gin.evaluate.split='tset'"], {}, 1,
     ["evaluate.split 'tset'"]),
    ("misspelt eval mixture", "eval.py",
     ["--gin_file=runs/demo.gin", "--gin.CHECKPOINT='{w}/run'",
      "--gin.EVAL_MIXTURE='demo:eval:nil'", "--gin.EVAL_OUTPUT_DIR='{w}/o6'"],
     {}, 1, ["unknown task or mixture 'demo:eval:nil'"]),
    ("eval output of another job", "eval.py",
     ["--gin_file=runs/demo.gin", "--gin.CHECKPOINT='{w}/run'",
      "--gin.EVAL_MIXTURE='demo:movie_review:t1:score'",
      "--gin.EVAL_OUTPUT_DIR='{w}/eval'", "--gin.evaluate.max_examples=2",
      "--gin.evaluate.selection_split=None"], {}, 1,
     ["{w}/eval holds results of a different eval job"]),
    ("eval batch size 0", "eval.py",
     ["--gin_file=runs/demo.gin", "--gin.CHECKPOINT='{w}/run'",
      f"--gin.EVAL_MIXTURE={ONE_TASK}", "--gin.EVAL_OUTPUT_DIR='{w}/out7'",
      "--gin.evaluate.batch_size=0"], {}, 1, ["evaluate.batch_size is 0"]),
    # --- infer
    ("infer a mixture", "infer.py",
     ["--gin_file=models/t5_demo.gin", "--gin_file=runs/infer.gin",
      "--module=tasks.demo", "--gin.CHECKPOINT='{w}/run'",
      "--gin.INFER_TASK='demo:eval:all'", "--gin.INFER_OUTPUT='{w}/p.jsonl'"],
     {}, 1, ["infer.task_name 'demo:eval:all' is a mixture"]),
    ("infer unknown mode", "infer.py",
     ["--gin_file=models/t5_demo.gin", "--gin_file=runs/infer.gin",
      "--module=tasks.demo", "--gin.CHECKPOINT='{w}/run'",
      f"--gin.INFER_TASK={ONE_TASK}", "--gin.INFER_OUTPUT='{w}/p.jsonl'",
      "--gin.infer.mode='guess'"], {}, 1, ["infer.mode is 'guess'"]),
    ("infer output is a folder", "infer.py",
     ["--gin_file=models/t5_demo.gin", "--gin_file=runs/infer.gin",
      "--module=tasks.demo", "--gin.CHECKPOINT='{w}/run'",
      f"--gin.INFER_TASK={ONE_TASK}", "--gin.INFER_OUTPUT='{w}/empty'"], {},
     1, ["infer.output_path is {w}/empty, which is a directory"]),
    # --- report
    ("report results missing", "report.py",
     ["--results={w}/nowhere", "--output_dir={w}/report1"], {}, 1,
     ["--results: {w}/nowhere does not exist"]),
    ("report results not json", "report.py",
     ["--results={w}/results.json", "--output_dir={w}/report2"], {}, 1,
     ["results.json is not a results.json"]),
    ("report labels mismatch", "report.py",
     ["--results={w}/eval", "--labels=a,b", "--output_dir={w}/report3"], {},
     1, ["1 results but 2 labels"]),
    ("report output missing", "report.py", ["--results={w}/eval"], {}, 2,
     ["--output_dir"]),
    # --- plan, convert, export, demo, catalogue
    ("plan -1 axis", "plan.py",
     ["--gin_file=plan/flan_t5_xxl.gin", "--gin_file=hardware/cpu.gin"], {}, 2,
     ["pass --num_devices"]),
    ("convert dir missing", "convert_hf.py",
     ["--hf_dir={w}/nowhere", "--output_dir={w}/converted"], {}, 1,
     ["{w}/nowhere"]),
    ("convert unsupported", "convert_hf.py",
     ["--hf_dir={w}/bert", "--output_dir={w}/converted"], {}, 1,
     ["model_type 'bert' is not supported"]),
    ("export not a step dir", "export_hf.py",
     ["--gin_file=models/t5_demo.gin", "--checkpoint={w}/run",
      "--output_dir={w}/exported"], {}, 1,
     ["not a checkpoint step directory"]),
    ("export with another model", "export_hf.py",
     ["--gin_file=models/t5_1_1_tiny.gin", "--checkpoint={w}/run/checkpoints/2",
      "--output_dir={w}/exported"], {}, 1, ["does not fit", "another model"]),
    ("export --peft on a full run", "export_hf.py",
     ["--gin_file=models/t5_demo.gin", "--checkpoint={w}/run/checkpoints/2",
      "--output_dir={w}/exported", "--peft"], {}, 1,
     ["--peft exports LoRA adapters", "without --peft"]),
    ("lora pattern matches no layer", "train.py",
     [*TINY_RUN, "--gin.T5Config.lora=@LoraConfig()",
      "--gin.LoraConfig.target_pattern='SelfAttention/q'"], {}, 1,
     ["LoraConfig.target_pattern 'SelfAttention/q' matches no dense layer"]),
    ("demo misspelt macro", "demo.py",
     ["--model_dir={w}/demo", "--gin.TRAIN_STEP=5"], {}, 1,
     ["sets the macro TRAIN_STEP"]),
    ("demo model dir is a file", "demo.py", ["--model_dir={w}/a_file"], {}, 1,
     ["a_file, which is a file"]),
    ("catalogue output unwritable", "catalogue.py",
     ["--output={w}/a_file/catalogue.md"], {}, 1,
     ["--output is {w}/a_file/catalogue.md, which cannot be written"]),
    ("catalogue stray argument", "catalogue.py", ["all"], {}, 2,
     ["unexpected arguments"]),
]


def test_the_table_covers_every_script_with_at_least_30_mistakes():
  scripts = {script for _, script, *_ in CASES}
  assert scripts >= {"train.py", "eval.py", "infer.py", "report.py",
                     "plan.py", "convert_hf.py", "export_hf.py", "demo.py",
                     "catalogue.py"}
  assert len({case[0] for case in CASES}) == len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_a_mistake_is_one_line_and_loses_nothing(world, case):
  _, script, args, env, status, words = case
  fill = lambda text: text.replace("{w}", str(world))
  before = {d: _digest(world / d) for d in ("run", "eval")}
  # A vocabulary setting acts when tasks are imported: a fresh process.
  result = script_runner.run(script, *map(fill, args),
                             env={k: fill(v) for k, v in env.items()},
                             fresh="FLAN_JAX_SPM_PATH" in env)
  lines = [l for l in result.stderr.splitlines() if l.strip()]
  assert "Traceback" not in result.stderr, result.stderr[-3000:]
  assert lines, f"no message; stdout: {result.stdout[-2000:]}"
  name = script[:-len(".py")]
  assert lines[-1].startswith(f"{name}: "), result.stderr[-3000:]
  assert sum(l.startswith(f"{name}: ") for l in lines) == 1, result.stderr
  for word in words:
    assert fill(word) in lines[-1], lines[-1]
  assert result.status == status, (result.status, lines[-1])
  assert {d: _digest(world / d) for d in ("run", "eval")} == before
  assert not (world / "new_run").exists()  # not even an empty folder


def test_the_readme_example_is_the_real_message(world):
  del world  # only for the shared fork server's warm start
  readme = (script_runner.REPO / "README.md").read_text()
  command = "python scripts/train.py --gin_file=runs/demo.gin --gin.TRAIN_STEPS=-5"
  shown = readme.split(f"$ {command}\n", 1)[1].splitlines()[0]
  result = script_runner.run("train.py", *command.split()[2:])
  assert result.status == 1
  assert result.stderr.strip().splitlines()[-1] == shown
